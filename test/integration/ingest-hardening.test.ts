import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/ingest/json-body.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { actAsSlackWebApi } from '../support/slack.ts';
import { tapemetricPayload, tapemetricSignature } from '../support/signers.ts';

const SECRET = 'tm-hardening-secret';

let relay: TestRelay;
let slack: FakeReceiver;
let slackApi: FakeReceiver;
let pagerduty: FakeReceiver;
let audit: FakeReceiver;

beforeAll(async () => {
  slack = await FakeReceiver.start();
  slackApi = await FakeReceiver.start();
  actAsSlackWebApi(slackApi);
  pagerduty = await FakeReceiver.start();
  pagerduty.respond(() => ({ status: 202, headers: { 'content-type': 'application/json' }, body: '{"status":"success"}' }));
  audit = await FakeReceiver.start();
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/services/T/B/X')}", rate: { max: 1000, per: 1s } }
  - { name: ops-bot, type: slack-bot, token: xoxb-test-token, channel: "#ops", api_url: "${slackApi.url('/api/')}", rate: { max: 1000, per: 1s } }
  - { name: oncall, type: pagerduty, routing_key: R0UT1NGKEY0123456789012345678901, url: "${pagerduty.url('/v2/enqueue')}", rate: { max: 1000, per: 1s } }
  - { name: audit, type: http, url: "${audit.url('/hook')}" }
routes:
  - { to: [ops-slack, ops-bot, oncall, audit] }
admin: { token: ${ADMIN_TOKEN} }
`);
});

afterAll(async () => {
  await relay.close();
  await Promise.all([slack.close(), slackApi.close(), pagerduty.close(), audit.close()]);
});

/** What the store holds, read from the SQLite file itself. */
function storedCounts(): { receipts: number; events: number; deliveries: number } {
  const db = new DatabaseSync(join(relay.dataDir, 'hookrelay.db'), { readOnly: true });
  try {
    const count = (table: string): number => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { receipts: count('receipts'), events: count('events'), deliveries: count('deliveries') };
  } finally {
    db.close();
  }
}

/** POSTs exact bytes (already compressed, when `encoding` is set) signed over `signed`. */
async function postBytes(wire: Buffer, signed: Buffer, encoding?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'x-tapemetric-signature': tapemetricSignature(signed, SECRET) };
  if (encoding !== undefined) headers['content-encoding'] = encoding;
  return relay.post('/hooks/tapemetric', wire, headers);
}

/** A Tapemetric alert whose `data.detail` nests `levels` arrays deep in all. */
function nestedAlert(levels: number): string {
  // The envelope `{…}` and `data: {…}` are two levels; `detail` adds the rest.
  const arrays = levels - 2;
  const payload = JSON.stringify(tapemetricPayload({}, { detail: '__NESTED__' }));
  return payload.replace('"__NESTED__"', `${'['.repeat(arrays)}"bottom"${']'.repeat(arrays)}`);
}

interface Delivery {
  destination: string;
  status: string;
  last_error: string | null;
}

describe('nesting depth (issue 10, defect 2)', () => {
  it('a signed body nested 100,000 levels deep → 400 nesting_too_deep, nothing stored', async () => {
    const before = storedCounts();
    const body = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    const response = await postBytes(body, body);
    expect(response.status).toBe(400);
    expect((response.json.error as { code: string }).code).toBe('nesting_too_deep');
    expect(storedCounts()).toEqual(before);
  });

  it(`one level beyond the limit (${MAX_JSON_DEPTH + 1}) → 400 nesting_too_deep, nothing stored`, async () => {
    const before = storedCounts();
    const body = Buffer.from(nestedAlert(MAX_JSON_DEPTH + 1));
    const response = await postBytes(body, body);
    expect(response.status).toBe(400);
    expect((response.json.error as { code: string }).code).toBe('nesting_too_deep');
    expect(storedCounts()).toEqual(before);
  });

  it('brackets inside strings do not count', async () => {
    const body = Buffer.from(JSON.stringify(tapemetricPayload({}, { note: '['.repeat(5_000) + '{'.repeat(5_000) })));
    const response = await postBytes(body, body);
    expect(response.status).toBe(202);
  });

  it(`a body nested exactly ${MAX_JSON_DEPTH} levels → 202, and every destination (slack, slack-bot, pagerduty, http) gets it`, async () => {
    const body = nestedAlert(MAX_JSON_DEPTH);
    const response = await postBytes(Buffer.from(body), Buffer.from(body));
    expect(response.status).toBe(202);
    const id = response.json.id as string;
    const deliveries = await relay.until(
      async () => (await relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${id}`)).json.deliveries,
      (list) => list.length === 4 && list.every((delivery) => delivery.status === 'succeeded' || delivery.status === 'failed'),
    );
    expect(deliveries.map((delivery) => [delivery.destination, delivery.status, delivery.last_error]).sort()).toEqual([
      ['audit', 'succeeded', null],
      ['oncall', 'succeeded', null],
      ['ops-bot', 'succeeded', null],
      ['ops-slack', 'succeeded', null],
    ]);
    // The http envelope carries the payload whole: the deepest level arrived.
    const envelope = audit.requests.at(-1)!.body;
    expect(envelope).toContain(`${'['.repeat(MAX_JSON_DEPTH - 2)}"bottom"`);
  });
});

describe('compressed bodies (issue 10, defect 5): the decompressed bytes are verified and stored', () => {
  const body = Buffer.from(JSON.stringify(tapemetricPayload({}, { region: 'Gzip' })));

  for (const [encoding, compress] of [
    ['gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ] as const) {
    it(`${encoding}, signed over the uncompressed body → 202; the stored raw body is the uncompressed text`, async () => {
      const fresh = Buffer.from(JSON.stringify(tapemetricPayload({}, { region: encoding })));
      const response = await postBytes(compress(fresh), fresh, encoding);
      expect(response.status).toBe(202);
      const stored = await relay.admin<{ raw: { body: string } }>(`/events/${response.json.id as string}`);
      expect(stored.json.raw.body).toBe(fresh.toString('utf8'));
    });
  }

  it('gzip signed over the compressed bytes → 401: the signature covers the content, not the transfer', async () => {
    const wire = gzipSync(body);
    const response = await postBytes(wire, wire, 'gzip');
    expect(response.status).toBe(401);
  });

  it('Content-Encoding: gzip with a body that is not gzip → 400 invalid_compression, nothing stored', async () => {
    const before = storedCounts();
    const response = await postBytes(body, body, 'gzip');
    expect(response.status).toBe(400);
    expect((response.json.error as { code: string }).code).toBe('invalid_compression');
    expect(storedCounts()).toEqual(before);
  });

  it('a truncated gzip body → 400 invalid_compression', async () => {
    const wire = gzipSync(body);
    const response = await postBytes(wire.subarray(0, wire.length - 10), body, 'gzip');
    expect(response.status).toBe(400);
    expect((response.json.error as { code: string }).code).toBe('invalid_compression');
  });

  it('a gzip bomb (64 MB of zeros in ~64 KB) → 413 payload_too_large, cut off without inflating it all', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    expect(bomb.length).toBeLessThan(100_000);
    const before = storedCounts();
    const started = performance.now();
    const response = await postBytes(bomb, Buffer.alloc(0), 'gzip');
    expect(response.status).toBe(413);
    expect((response.json.error as { code: string }).code).toBe('payload_too_large');
    // Inflating all 64 MB takes far longer; the limit stops it after 1 MB.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(storedCounts()).toEqual(before);
  });

  it('an unknown encoding → 415 unsupported_encoding', async () => {
    for (const encoding of ['compress', 'zstd', 'gzip, br']) {
      const response = await postBytes(body, body, encoding);
      expect(response.status, encoding).toBe(415);
      expect((response.json.error as { code: string }).code).toBe('unsupported_encoding');
    }
  });

  it('Content-Encoding: identity is no encoding → 202', async () => {
    const fresh = Buffer.from(JSON.stringify(tapemetricPayload()));
    expect((await postBytes(fresh, fresh, 'identity')).status).toBe(202);
  });
});

describe('UTF-8 (issue 10, defect 6)', () => {
  it('a signed body with invalid UTF-8 → 400 invalid_utf8, nothing stored', async () => {
    const before = storedCounts();
    const text = JSON.stringify(tapemetricPayload({}, { region: 'XX' }));
    // 0xFF never occurs in UTF-8; 0xC3 0x28 is a broken two-byte sequence.
    for (const bad of [Buffer.from([0xff, 0xfe]), Buffer.from([0xc3, 0x28]), Buffer.from([0xed, 0xa0, 0x80])]) {
      const index = text.indexOf('XX');
      const body = Buffer.concat([Buffer.from(text.slice(0, index)), bad, Buffer.from(text.slice(index + 2))]);
      const response = await postBytes(body, body);
      expect(response.status).toBe(400);
      expect((response.json.error as { code: string }).code).toBe('invalid_utf8');
    }
    expect(storedCounts()).toEqual(before);
  });

  it('GET /api/v1/events/:id shows byte for byte what arrived (multi-byte text, escapes, spacing)', async () => {
    const text = `{ "id": "evt_utf8_${Date.now()}", "type": "qos.rebuffer_spike",\n  "created_at": "2026-04-23T18:28:00Z",
  "data": { "severity": "critical", "region": "महाराष्ट्र 🇮🇳", "note": "\\u00e9 \\ud83d\\ude00 é", "affected_sessions": 24000 } }`;
    const response = await postBytes(Buffer.from(text), Buffer.from(text));
    expect(response.status).toBe(202);
    const stored = await relay.admin<{ raw: { body: string }; event: { data: { data: { region: string } } } }>(`/events/${response.json.id as string}`);
    expect(Buffer.from(stored.json.raw.body, 'utf8').equals(Buffer.from(text))).toBe(true);
    expect(stored.json.event.data.data.region).toBe('महाराष्ट्र 🇮🇳');
  });

  it('a UTF-8 byte order mark is ignored for parsing (RFC 8259 §8.1) and kept in the stored raw body', async () => {
    const text = `\ufeff${JSON.stringify(tapemetricPayload({}, { region: 'Bom' }))}`;
    const response = await postBytes(Buffer.from(text), Buffer.from(text));
    expect(response.status).toBe(202);
    const stored = await relay.admin<{ raw: { body: string }; event: { data: { data: { region: string } } } }>(`/events/${response.json.id as string}`);
    expect(stored.json.raw.body).toBe(text);
    expect(stored.json.event.data.data.region).toBe('Bom');
  });

  it('an alert whose type is blank (found by the ingest fuzzer) still has a title: PagerDuty gets a summary, nothing fails', async () => {
    const text = JSON.stringify({ id: `evt_blank_${Date.now()}`, type: ' ' });
    const response = await postBytes(Buffer.from(text), Buffer.from(text));
    expect(response.status).toBe(202);
    const id = response.json.id as string;
    const settled = await relay.until(
      () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?limit=1000`),
      ({ json }) => json.deliveries.filter((delivery) => (delivery as Delivery & { event_id: string }).event_id === id).every((delivery) => delivery.status === 'succeeded' || delivery.status === 'failed'),
    );
    const mine = settled.json.deliveries.filter((delivery) => (delivery as Delivery & { event_id: string }).event_id === id);
    expect(mine.map((delivery) => [delivery.destination, delivery.status, delivery.last_error]).sort()).toEqual(
      ['audit', 'oncall', 'ops-bot', 'ops-slack'].map((destination) => [destination, 'succeeded', null]),
    );
    const page = pagerduty.requests.map((request) => JSON.parse(request.body) as { payload?: { summary?: string } }).at(-1);
    expect(page?.payload?.summary).toBe('tapemetric event');
  });
});

