import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/events/event.ts';
import { MAX_JSON_DEPTH, nestingBeyond } from '../../src/ingest/json-body.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { hmacHex } from '../support/signers.ts';
import { renderEveryDefault } from '../support/render-defaults.ts';

/**
 * Property-based tests over ingest (issue 10, "Fuzzing"): for every preset, arbitrary bodies,
 * headers and timestamps — some of them correctly signed, so some are accepted — never crash
 * the process, never answer 5xx, store nothing unless the answer is 202, and every accepted
 * event renders for every default template. fast-check prints the seed and the shrunk
 * counterexample of a failure; rerun it with `fc.configureGlobal({ seed })`.
 */

const NUM_RUNS = 100;

const TAPEMETRIC = 'tm-fuzz-secret';
const STATUSPULSE = 'whsec_fuzz_statuspulse';
const STATUSSENTRY = 'whsec_fuzz_statussentry';
const BILLING = `whsec_${Buffer.from('fuzz-standard-webhooks-key').toString('base64')}`;
const ACME = 'acme-fuzz-secret';
const TAPE_TOKEN = 'tape-fuzz-token';
const ALERTMANAGER_TOKEN = 'am-fuzz-token';

let relay: TestRelay;
let tapeApi: FakeReceiver;
let db: DatabaseSync;

beforeAll(async () => {
  tapeApi = await FakeReceiver.start();
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${TAPEMETRIC}"] }
  - { name: statuspulse, preset: statuspulse, secrets: ["${STATUSPULSE}"] }
  - { name: statussentry, preset: statussentry, secrets: ["${STATUSSENTRY}"] }
  - { name: tape, preset: tape, token: ${TAPE_TOKEN}, api_key: tape-api-key, api_url: "${tapeApi.url('')}" }
  - { name: billing, preset: standard-webhooks, secrets: ["${BILLING}"] }
  - { name: prometheus, preset: alertmanager, token: ${ALERTMANAGER_TOKEN} }
  - name: acme
    preset: hmac
    header: X-Acme-Signature
    prefix: "sha256="
    signed: timestamp.body
    timestamp_header: X-Acme-Timestamp
    id_header: X-Acme-Delivery
    secrets: ["${ACME}"]
admin: { token: ${ADMIN_TOKEN} }
`);
  db = new DatabaseSync(join(relay.dataDir, 'hookrelay.db'), { readOnly: true });
});

afterAll(async () => {
  db.close();
  await relay.close();
  await tapeApi.close();
});

function stored(): string {
  const count = (table: string): number => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  return `receipts ${count('receipts')}, events ${count('events')}, deliveries ${count('deliveries')}`;
}

// ---------------------------------------------------------------------------------------------
// Independent signers (from the senders' documents), over exact bytes.
// ---------------------------------------------------------------------------------------------

interface Signing {
  /** The request as the sender would sign it: headers (and query) for these bytes at this time. */
  sign(body: Buffer, unixSeconds: number): { headers: Record<string, string>; query?: string };
  /** Headers this preset reads, so arbitrary values for them are tried too. */
  readonly headerNames: readonly string[];
}

const hmac = (secret: string | Buffer, ...parts: (string | Buffer)[]): Buffer => {
  const mac = createHmac('sha256', secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
};

const SIGNING: Readonly<Record<string, Signing>> = {
  tapemetric: {
    sign: (body) => ({ headers: { 'x-tapemetric-signature': `sha256=${hmacHex(TAPEMETRIC, body)}` } }),
    headerNames: ['x-tapemetric-signature', 'x-tapemetric-delivery'],
  },
  statuspulse: {
    sign: (body, t) => ({ headers: { 'x-statuspulse-timestamp': String(t), 'x-statuspulse-signature': hmac(STATUSPULSE, `${t}.`, body).toString('hex') } }),
    headerNames: ['x-statuspulse-timestamp', 'x-statuspulse-signature'],
  },
  statussentry: {
    sign: (body, t) => ({ headers: { 'x-statussentry-signature': `t=${t},v1=${hmac(STATUSSENTRY, `${t}.`, body).toString('hex')}` } }),
    headerNames: ['x-statussentry-signature'],
  },
  tape: {
    sign: () => ({ headers: {}, query: `?token=${TAPE_TOKEN}` }),
    headerNames: [],
  },
  billing: {
    sign: (body, t) => {
      const id = `msg_${createHmac('sha1', 'id').update(body).digest('hex').slice(0, 12)}`;
      const key = Buffer.from(BILLING.slice('whsec_'.length), 'base64');
      return { headers: { 'webhook-id': id, 'webhook-timestamp': String(t), 'webhook-signature': `v1,${hmac(key, `${id}.${t}.`, body).toString('base64')}` } };
    },
    headerNames: ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
  },
  prometheus: {
    sign: () => ({ headers: { authorization: `Bearer ${ALERTMANAGER_TOKEN}` } }),
    headerNames: ['authorization'],
  },
  acme: {
    sign: (body, t) => ({ headers: { 'x-acme-timestamp': String(t), 'x-acme-signature': `sha256=${hmac(ACME, `${t}.`, body).toString('hex')}` } }),
    headerNames: ['x-acme-signature', 'x-acme-timestamp', 'x-acme-delivery'],
  },
};

// ---------------------------------------------------------------------------------------------
// Arbitraries
// ---------------------------------------------------------------------------------------------

const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', ' ', 'critical', 'resolved', 'firing', 'DOWN', 'UP', '<!channel>', '`', '\u2028'));
const scalar = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const anyJson = fc.jsonValue({ maxDepth: 4 });
const timeLike = fc.oneof(fc.date({ noInvalidDate: true }).map((date) => date.toISOString()), fc.integer(), text);

/** Payloads shaped like the senders' (known keys, arbitrary values), so normalizers go deep. */
const shaped = fc.record(
  {
    id: fc.oneof(text, fc.integer()),
    type: fc.oneof(
      fc.constantFrom('qos.rebuffer_spike', 'qos.recovered', 'incident.created', 'incident.resolved', 'monitor.status_change', 'sla.breach_warning', 'hook.verify', 'record.create', 'record.update', 'latency_spike', 'certificate_expiry'),
      text,
    ),
    event: text,
    hook_id: fc.oneof(text, fc.integer()),
    code: text,
    created_at: timeLike,
    timestamp: timeLike,
    severity: scalar,
    status: scalar,
    current_status: scalar,
    title: scalar,
    summary: scalar,
    check_id: scalar,
    monitor_name: scalar,
    data: fc.oneof(
      anyJson,
      fc.record({ severity: scalar, status: scalar, region: scalar, incident_id: scalar, title: scalar, affected_sessions: scalar, record_id: scalar, fields: anyJson }, { requiredKeys: [] }),
    ),
    alerts: fc.array(
      fc.record(
        { status: scalar, labels: fc.dictionary(fc.string(), scalar), annotations: fc.dictionary(fc.string(), scalar), startsAt: timeLike, endsAt: timeLike, fingerprint: scalar },
        { requiredKeys: [] },
      ),
      { maxLength: 3 },
    ),
    version: scalar,
    groupKey: scalar,
  },
  { requiredKeys: [] },
);

const str = fc.oneof(fc.string({ minLength: 1 }), fc.constantFrom('critical', 'major', 'minor', 'down', 'DOWN', 'UP', 'degraded', 'resolved', '<!here>', 'a`b'));
const strings = fc.dictionary(fc.string(), str, { maxKeys: 4 });

/** Per preset, payloads its schema accepts, with arbitrary values where the schema allows them. */
const PRESET_SHAPED: Readonly<Record<string, fc.Arbitrary<unknown>>> = {
  tapemetric: fc.record(
    { id: str, type: str, created_at: str, data: fc.record({ severity: str, status: str, region: str, pop: str, current_rate: fc.double(), affected_sessions: fc.integer(), extra: anyJson }, { requiredKeys: [] }) },
    { requiredKeys: ['type'] },
  ),
  statuspulse: fc.record(
    {
      event_id: str, timestamp: str, monitor_name: str, status: str, event_type: str, check_id: str, current_status: str, previous_status: str,
      metadata: fc.record({ region: str, affected_endpoints: fc.array(fc.string(), { maxLength: 3 }), response_time_ms: fc.double(), error_rate_pct: fc.double() }, { requiredKeys: [] }),
    },
    { requiredKeys: ['event_id'] },
  ),
  statussentry: fc.record(
    {
      id: str, type: fc.oneof(str, fc.constantFrom('incident.created', 'incident.resolved', 'monitor.status_change', 'sla.breach_warning')), created_at: str,
      data: fc.record({ incident_id: str, title: str, status: str, severity: str, monitor_id: str, components: fc.array(fc.record({ name: str, status: str }, { requiredKeys: [] }), { maxLength: 3 }) }, { requiredKeys: [] }),
    },
    { requiredKeys: ['id', 'type'] },
  ),
  prometheus: fc.record({
    version: fc.constant('4'), groupKey: fc.string(), status: fc.constantFrom('firing', 'resolved'), receiver: fc.string(), commonLabels: strings,
    alerts: fc.array(fc.record({ status: fc.constantFrom('firing', 'resolved'), labels: strings, annotations: strings, startsAt: str, endsAt: str, fingerprint: str }), { maxLength: 4 }),
  }),
};

const nested = fc.integer({ min: 0, max: MAX_JSON_DEPTH + 40 }).map((levels) => `{"id":"deep","data":${'['.repeat(levels)}1${']'.repeat(levels)}}`);

/** The body's text (before any byte-level damage). */
const bodyText = (source: string): fc.Arbitrary<string> => fc.oneof(
  { weight: 4, arbitrary: (PRESET_SHAPED[source] ?? shaped).map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: shaped.map((value) => JSON.stringify(value)) },
  { weight: 2, arbitrary: fc.json({ maxDepth: 5 }) },
  { weight: 1, arbitrary: nested },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
);

/** Byte-level variations: as is, raw random bytes, a BOM, or invalid UTF-8 spliced in. */
const bodyBytes = (source: string): fc.Arbitrary<Buffer> => fc.oneof(
  { weight: 6, arbitrary: bodyText(source).map((value) => Buffer.from(value)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)) },
  { weight: 1, arbitrary: bodyText(source).map((value) => Buffer.from(`\ufeff${value}`)) },
  {
    weight: 1,
    arbitrary: fc.tuple(bodyText(source), fc.nat(), fc.constantFrom([0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82])).map(([value, at, bad]) => {
      const bytes = Buffer.from(value);
      const cut = bytes.length === 0 ? 0 : at % bytes.length;
      return Buffer.concat([bytes.subarray(0, cut), Buffer.from(bad), bytes.subarray(cut)]);
    }),
  },
);

const headerValue = fc.string({ unit: 'grapheme-ascii', maxLength: 80 });

interface Scenario {
  readonly body: Buffer;
  /** Seconds from now of the signed timestamp (0 is now; tolerance is 5 minutes). */
  readonly skew: number;
  readonly signature: 'correct' | 'missing' | 'arbitrary';
  readonly arbitraryHeaders: Record<string, string>;
  readonly encoding: 'none' | 'gzip' | 'gzip-label-only' | 'unknown';
  readonly contentType: string;
}

function scenario(source: string, signing: Signing): fc.Arbitrary<Scenario> {
  const names = signing.headerNames.length > 0 ? fc.constantFrom(...signing.headerNames) : fc.constant('x-nothing');
  return fc.record({
    body: bodyBytes(source),
    skew: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -400_000_000, max: 400_000_000 }) }, { weight: 1, arbitrary: fc.integer({ min: -400, max: 400 }) }),
    signature: fc.constantFrom('correct', 'correct', 'correct', 'missing', 'arbitrary'),
    arbitraryHeaders: fc.dictionary(fc.oneof(names, fc.constantFrom('x-extra', 'content-language', 'user-agent')), headerValue, { maxKeys: 3 }),
    encoding: fc.constantFrom('none', 'none', 'none', 'gzip', 'gzip-label-only', 'unknown'),
    contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', ''),
  });
}

async function send(source: string, signing: Signing, s: Scenario): Promise<{ status: number; json: Record<string, unknown> }> {
  const signed = signing.sign(s.body, Math.floor(Date.now() / 1000) + s.skew);
  const headers: Record<string, string> = {};
  if (s.contentType !== '') headers['content-type'] = s.contentType;
  if (s.signature === 'correct') Object.assign(headers, signed.headers);
  if (s.signature === 'arbitrary') Object.assign(headers, s.arbitraryHeaders);
  else for (const [name, value] of Object.entries(s.arbitraryHeaders)) if (!(name in headers)) headers[name] = value;
  let wire = s.body;
  if (s.encoding === 'gzip') {
    wire = gzipSync(s.body);
    headers['content-encoding'] = 'gzip';
  } else if (s.encoding === 'gzip-label-only') {
    headers['content-encoding'] = 'gzip';
  } else if (s.encoding === 'unknown') {
    headers['content-encoding'] = 'zstd';
  }
  const query = s.signature === 'missing' ? '' : (signed.query ?? '');
  const response = await fetch(`${relay.url}/hooks/${source}${query}`, { method: 'POST', headers, body: wire });
  const answer = await response.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(answer) as Record<string, unknown>;
  } catch {
    throw new Error(`${response.status} with a body that is not JSON: ${answer.slice(0, 200)}`);
  }
  return { status: response.status, json };
}

describe('ingest fuzzing: every preset', () => {
  const accepted = new Map<string, number>();

  for (const [source, signing] of Object.entries(SIGNING)) {
    it(`${source}: never 5xx, nothing stored unless 202, and every accepted event renders for every default template`, async () => {
      await fc.assert(
        fc.asyncProperty(scenario(source, signing), async (s) => {
          const before = stored();
          const { status, json } = await send(source, signing, s);
          expect(status, JSON.stringify(json)).toBeLessThan(500);
          if (status !== 202) {
            expect(stored(), `answer ${status} ${JSON.stringify(json)}`).toBe(before);
            if (status >= 400) expect(json).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
            return;
          }
          accepted.set(source, (accepted.get(source) ?? 0) + 1);
          const ids = Array.isArray(json.ids) ? (json.ids as string[]) : [json.id as string];
          for (const id of ids) {
            const { status: found, json: record } = await relay.admin<{ event: RelayEvent }>(`/events/${id}`);
            expect(found).toBe(200);
            expect(() => renderEveryDefault(record.event)).not.toThrow();
          }
        }),
        { numRuns: NUM_RUNS },
      );
      // A few seconds alone; the whole suite on 2 busy cores can make it many times slower.
    }, 120_000);
  }

  it('every preset accepted some fuzzed requests (the properties above were not vacuous)', () => {
    for (const source of Object.keys(SIGNING)) expect(accepted.get(source) ?? 0, source).toBeGreaterThanOrEqual(3);
  });

  it('the process still answers /healthz', async () => {
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
  });
});

describe('nesting check: the byte scan agrees with the parsed depth', () => {
  const depthOf = (value: unknown): number => {
    let deepest = 0;
    const pending: Array<[unknown, number]> = [[value, 0]];
    while (pending.length > 0) {
      const [item, depth] = pending.pop()!;
      if (item === null || typeof item !== 'object') continue;
      deepest = Math.max(deepest, depth + 1);
      for (const child of Array.isArray(item) ? item : Object.values(item)) pending.push([child, depth + 1]);
    }
    return deepest;
  };

  it('for any JSON text and limit, the scan refuses exactly when the value nests deeper', () => {
    fc.assert(
      fc.property(fc.json({ maxDepth: 8 }), fc.integer({ min: 0, max: 10 }), (json, limit) => {
        const deeper = depthOf(JSON.parse(json)) > limit;
        expect(nestingBeyond(Buffer.from(json), limit) !== null).toBe(deeper);
      }),
      { numRuns: 500 },
    );
  });
});
