import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const SECRET = 'tm-admin-secret';

interface Delivery {
  id: string;
  event_id: string;
  destination: string;
  status: string;
  attempts: number;
  response_code: number | null;
  latency_ms: number | null;
  request_body: string | null;
  created_at: string;
}

let relay: TestRelay;
let good: FakeReceiver;
let refusing: FakeReceiver;
const eventIds: string[] = [];

const errorCode = (json: unknown): string | undefined => (json as { error?: { code?: string } }).error?.code;
const deliveries = async (query: string) => relay.admin<{ deliveries: Delivery[] }>(`/deliveries${query}`);

beforeAll(async () => {
  good = await FakeReceiver.start();
  refusing = await FakeReceiver.start();
  refusing.respond(() => ({ status: 403, body: 'no thanks' }));
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ok, type: http, url: "${good.url('/hook')}" }
  - { name: refusing, type: http, url: "${refusing.url('/hook')}" }
routes:
  - { to: [ok, refusing] }
retry: { schedule: [50ms], disable_after: 10 }
admin: { token: ${ADMIN_TOKEN} }
`);
  // Three events, each delivered to both destinations: 3 succeeded, 3 failed (403 is permanent).
  for (let i = 0; i < 3; i++) {
    const body = JSON.stringify(tapemetricPayload());
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
    expect(response.status).toBe(202);
    eventIds.push(response.json.id as string);
  }
  await relay.until(
    () => deliveries('?limit=100'),
    ({ json }) => json.deliveries.length === 6 && json.deliveries.every((d) => d.status === 'succeeded' || d.status === 'failed'),
  );
});

afterAll(async () => {
  await relay.close();
  await good.close();
  await refusing.close();
});

describe('authentication', () => {
  it('no admin token configured → 404 admin_disabled', async () => {
    const bare = await startRelay('destinations: []\n');
    try {
      const response = await bare.admin('/destinations');
      expect(response.status).toBe(404);
      expect(errorCode(response.json)).toBe('admin_disabled');
    } finally {
      await bare.close();
    }
  });

  it.each([
    ['no Authorization header', undefined],
    ['a wrong token', `Bearer ${ADMIN_TOKEN}x`],
    ['the right token with another scheme', `Basic ${ADMIN_TOKEN}`],
    ['an empty bearer', 'Bearer '],
  ])('%s → 401 unauthorized with WWW-Authenticate: Bearer', async (_name, authorization) => {
    const response = await fetch(`${relay.url}/api/v1/destinations`, { headers: authorization ? { authorization } : {} });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(errorCode(await response.json())).toBe('unauthorized');
  });

  it('the right token → 200, whatever the case of "Bearer"', async () => {
    expect((await relay.admin('/destinations')).status).toBe(200);
    const response = await fetch(`${relay.url}/api/v1/destinations`, { headers: { authorization: `bearer ${ADMIN_TOKEN}` } });
    expect(response.status).toBe(200);
  });

  it('an unknown admin path with the right token → 404 not_found', async () => {
    const response = await relay.admin('/nothing-here');
    expect(response.status).toBe(404);
    expect(errorCode(response.json)).toBe('not_found');
  });
});

describe('GET /api/v1/destinations', () => {
  it('lists each destination with type, enabled, consecutive_failures and pending', async () => {
    const { status, json } = await relay.admin<{ destinations: Array<Record<string, unknown>> }>('/destinations');
    expect(status).toBe(200);
    const byName = Object.fromEntries(json.destinations.map((destination) => [destination.name, destination]));
    expect(Object.keys(byName).sort()).toEqual(['ok', 'refusing']);
    expect(byName.ok).toMatchObject({ type: 'http', enabled: true, consecutive_failures: 0, pending: 0 });
    expect(byName.refusing).toMatchObject({ type: 'http', enabled: true, consecutive_failures: 3, pending: 0 });
  });

  it('enable for a destination that does not exist → 404 not_found', async () => {
    const response = await relay.admin('/destinations/nope/enable', { method: 'POST' });
    expect(response.status).toBe(404);
    expect(errorCode(response.json)).toBe('not_found');
  });
});

describe('GET /api/v1/deliveries', () => {
  it('each delivery has the documented fields', async () => {
    const { json } = await deliveries('?destination=ok&limit=1');
    expect(json.deliveries[0]).toMatchObject({
      id: expect.stringMatching(/^dlv_/),
      event_id: eventIds[2],
      destination: 'ok',
      status: 'succeeded',
      attempts: 1,
      response_code: 200,
      latency_ms: expect.any(Number),
      // A success keeps neither body (docs/operating.md): failures and retries do.
      request_body: null,
      created_at: expect.any(String),
    });
  });

  it('newest first', async () => {
    const { json } = await deliveries('?destination=ok');
    expect(json.deliveries.map((delivery) => delivery.event_id)).toEqual([...eventIds].reverse());
  });

  it('filters by destination', async () => {
    const { json } = await deliveries('?destination=refusing');
    expect(json.deliveries).toHaveLength(3);
    expect(json.deliveries.every((delivery) => delivery.destination === 'refusing')).toBe(true);
  });

  it('filters by status', async () => {
    const { json } = await deliveries('?status=failed');
    expect(json.deliveries.map((delivery) => [delivery.destination, delivery.response_code])).toEqual([
      ['refusing', 403],
      ['refusing', 403],
      ['refusing', 403],
    ]);
  });

  it('filters by event_id', async () => {
    const { json } = await deliveries(`?event_id=${eventIds[1]}`);
    expect(json.deliveries.map((delivery) => delivery.destination).sort()).toEqual(['ok', 'refusing']);
    expect(json.deliveries.every((delivery) => delivery.event_id === eventIds[1])).toBe(true);
  });

  it('filters combine', async () => {
    const { json } = await deliveries(`?event_id=${eventIds[0]}&status=succeeded`);
    expect(json.deliveries.map((delivery) => delivery.destination)).toEqual(['ok']);
  });

  it('limit and before page through the log without gaps or repeats', async () => {
    const all = (await deliveries('?limit=100')).json.deliveries.map((delivery) => delivery.id);
    expect(all).toHaveLength(6);
    const pages: string[][] = [];
    let before = '';
    for (;;) {
      const page = (await deliveries(`?limit=4${before}`)).json.deliveries.map((delivery) => delivery.id);
      if (page.length === 0) break;
      pages.push(page);
      before = `&before=${page.at(-1)}`;
    }
    expect(pages.map((page) => page.length)).toEqual([4, 2]);
    expect(pages.flat()).toEqual(all);
  });

  it.each([
    ['limit=0', '?limit=0'],
    ['limit=abc', '?limit=abc'],
    ['limit over 1000', '?limit=1001'],
    ['a fractional limit', '?limit=2.5'],
    ['status=bogus', '?status=bogus'],
    ['an unknown parameter', '?destinaton=ok'],
  ])('%s → 400 invalid_request', async (_name, query) => {
    const response = await deliveries(query);
    expect(response.status).toBe(400);
    expect(errorCode(response.json)).toBe('invalid_request');
  });

  it('a destination that is not configured → 404 not_found', async () => {
    const response = await deliveries('?destination=nope');
    expect(response.status).toBe(404);
    expect(errorCode(response.json)).toBe('not_found');
  });
});

describe('GET /api/v1/events/:id', () => {
  it('an unknown event → 404 not_found', async () => {
    const response = await relay.admin('/events/evt_01NOTHINGHERE');
    expect(response.status).toBe(404);
    expect(errorCode(response.json)).toBe('not_found');
  });

  it('a known event lists its deliveries', async () => {
    const { status, json } = await relay.admin<{ event: { id: string }; deliveries: Delivery[] }>(`/events/${eventIds[0]}`);
    expect(status).toBe(200);
    expect(json.event.id).toBe(eventIds[0]);
    expect(json.deliveries.map((delivery) => delivery.destination).sort()).toEqual(['ok', 'refusing']);
  });

  it('the request as received has its signature redacted, other headers kept; each delivery carries its attempts', async () => {
    const { json } = await relay.admin<{
      raw: { headers: Record<string, string>; body: string };
      deliveries: Array<Delivery & { attempt_log: Array<{ attempt: number; response_code: number | null }> }>;
    }>(`/events/${eventIds[0]}`);
    expect(json.raw.headers['x-tapemetric-signature']).toBe('[redacted]');
    expect(json.raw.headers['x-tapemetric-delivery']).toMatch(/^d-/);
    expect(JSON.stringify(json)).not.toContain('sha256=');
    const byDestination = Object.fromEntries(json.deliveries.map((delivery) => [delivery.destination, delivery.attempt_log]));
    expect(byDestination.ok).toMatchObject([{ attempt: 1, response_code: 200 }]);
    expect(byDestination.refusing).toMatchObject([{ attempt: 1, response_code: 403 }]);
  });
});

describe('GET /api/v1/events (the event explorer)', () => {
  interface Listed {
    events: Array<{ id: string; title: string; source: string; type: string; severity: string; status: string; data?: unknown }>;
    next_before: string | null;
  }
  const search = (query: string) => relay.admin<Listed>(`/events${query}`);

  it('newest first, without payloads; a full page says where the next one starts', async () => {
    const all = await search('');
    expect(all.status).toBe(200);
    expect(all.json.events.map((event) => event.id)).toEqual([...eventIds].reverse());
    expect(all.json.events[0]).toMatchObject({ source: 'tapemetric', type: 'qos.rebuffer_spike', severity: 'critical', status: 'firing' });
    expect(all.json.events[0]).not.toHaveProperty('data');
    expect(all.json.next_before).toBeNull();
    const first = await search('?limit=2');
    expect(first.json.events.map((event) => event.id)).toEqual([eventIds[2], eventIds[1]]);
    expect(first.json.next_before).toBe(eventIds[1]);
    const second = await search(`?limit=2&before=${first.json.next_before}`);
    expect(second.json.events.map((event) => event.id)).toEqual([eventIds[0]]);
    expect(second.json.next_before).toBeNull();
  });

  it('filters by title text (any case), source, type, severity, status and time', async () => {
    const title = (await search('')).json.events[0]!.title;
    const word = title.split(' ')[0]!.toUpperCase();
    expect((await search(`?q=${encodeURIComponent(word)}`)).json.events).toHaveLength(3);
    expect((await search('?q=%25')).json.events).toHaveLength(0);
    expect((await search('?source=tapemetric&type=qos.rebuffer_spike&severity=critical&status=firing')).json.events).toHaveLength(3);
    expect((await search('?type=qos.*')).json.events).toHaveLength(3);
    expect((await search('?type=qos.*spike')).json.events).toHaveLength(3);
    expect((await search('?type=QOS.*')).json.events).toHaveLength(0);
    expect((await search('?status=resolved')).json.events).toHaveLength(0);
    expect((await search('?severity=info')).json.events).toHaveLength(0);
    expect((await search('?since=1h')).json.events).toHaveLength(3);
    expect((await search('?until=1h')).json.events).toHaveLength(0);
    expect((await search('?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z')).json.events).toHaveLength(0);
  });

  it.each([
    ['?severity=loud', 'severity: must be one of critical, error, warning, info'],
    ['?status=open', 'status: must be one of firing, resolved'],
    ['?limit=201', 'limit: '],
    ['?since=yesterday', 'since: "yesterday" is neither an ISO time'],
    ['?since=1h&until=2h', 'until: must be later than since'],
    ['?before=dlv_1', 'before: must be an event id (evt_…)'],
    ['?colour=red', 'colour: unknown query parameter'],
    [`?q=${'x'.repeat(201)}`, 'q: '],
    [`?type=${'*a'.repeat(17)}`, 'type: has 17 *; a glob may have at most 16'],
  ])('bad search %s → 400 invalid_request saying what is wrong', async (query, message) => {
    const response = await search(query);
    expect(response.status).toBe(400);
    expect(errorCode(response.json)).toBe('invalid_request');
    expect((response.json as unknown as { error: { message: string } }).error.message).toContain(message);
  });
});

describe('probes and metrics (no token needed)', () => {
  it('GET /healthz → 200 with the version', async () => {
    const response = await fetch(`${relay.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it('GET /readyz → 200 while the store is reachable', async () => {
    const response = await fetch(`${relay.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready' });
  });

  it('GET /readyz → 503 unavailable once the store cannot be reached', async () => {
    const broken = await startRelay('destinations: []\n');
    try {
      await broken.server.store.close();
      const response = await fetch(`${broken.url}/readyz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toMatchObject({ status: 'unavailable' });
    } finally {
      await broken.close();
    }
  });

  it('GET /metrics → Prometheus text with events by source and outcome and attempts by destination and outcome', async () => {
    const body = JSON.stringify(tapemetricPayload());
    expect((await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, 'wrong-secret'))).status).toBe(401);
    const response = await fetch(`${relay.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await response.text();
    const sample = (name: string, labels: string) => new RegExp(`^${name}\\{${labels}\\} (\\d+)$`, 'm').exec(text)?.[1];
    expect(sample('hookrelay_events_received_total', 'source="tapemetric",outcome="accepted"')).toBe('3');
    expect(sample('hookrelay_events_received_total', 'source="tapemetric",outcome="signature_mismatch"')).toBe('1');
    expect(sample('hookrelay_delivery_attempts_total', 'destination="ok",outcome="succeeded"')).toBe('3');
    expect(sample('hookrelay_delivery_attempts_total', 'destination="refusing",outcome="failed"')).toBe('3');
    expect(sample('hookrelay_queue_depth_deliveries', 'destination="ok"')).toBe('0');
    expect(sample('hookrelay_deliveries_total', 'destination="refusing",outcome="failed"')).toBe('3');
  });
});

describe('operations for the admin pages and the CLI', () => {
  interface RequestLine {
    id: string;
    source: string;
    address: string | null;
    status: number;
    outcome: string;
    refused: boolean;
    reason: string | null;
    body_bytes: number;
    excerpt: string | null;
    received_at: string;
  }
  const requests = (query = '') => relay.admin<{ requests: RequestLine[] }>(`/requests${query}`);

  it('POST /destinations/:name/replay-failed { since } → 202, every failed delivery since then sent again, once', async () => {
    // Failed and not replayed yet (earlier tests replayed some).
    const unreplayed = async (): Promise<string[]> => {
      const { json } = await deliveries('?destination=refusing&limit=1000');
      const replayed = new Set(json.deliveries.map((d) => (d as Delivery & { replay_of: string | null }).replay_of));
      return json.deliveries.filter((d) => d.status === 'failed' && !replayed.has(d.id)).map((d) => d.id);
    };
    await relay.until(() => deliveries('?destination=refusing&status=pending&limit=100'), ({ json }) => json.deliveries.length === 0);
    const waiting = await unreplayed();
    expect(waiting.length).toBeGreaterThan(0);
    const before = refusing.requests.length;
    const response = await relay.admin<{ replayed: number; since: string; deliveries: Array<Delivery & { replay_of: string }> }>(
      '/destinations/refusing/replay-failed',
      { method: 'POST', body: { since: '1h' } },
    );
    expect(response.status).toBe(202);
    expect(response.json.deliveries.map((d) => d.replay_of).sort()).toEqual([...waiting].sort());
    expect(response.json.deliveries.every((d) => d.destination === 'refusing')).toBe(true);
    await refusing.waitFor(before + waiting.length);
    // The replays fail too (422): asking again replays only those new failures, never the originals twice.
    await relay.until(unreplayed, (ids) => ids.length === waiting.length && ids.every((id) => !waiting.includes(id)));
    const again = await relay.admin<{ replayed: number }>('/destinations/refusing/replay-failed', {
      method: 'POST',
      body: { since: new Date(Date.now() - 3_600_000).toISOString() },
    });
    expect(again.json.replayed).toBe(waiting.length);
  });

  it.each([
    ['no since', {}, 'invalid_request'],
    ['since that is neither a time nor a duration', { since: 'yesterday' }, 'invalid_request'],
    ['since in the future', { since: new Date(Date.now() + 3_600_000).toISOString() }, 'invalid_request'],
    ['an unknown field', { since: '1h', all: true }, 'invalid_request'],
  ])('replay-failed with %s → 400', async (_name, body, expected) => {
    const response = await relay.admin('/destinations/refusing/replay-failed', { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(errorCode(response.json)).toBe(expected);
  });

  it('replay-failed for an unknown destination → 404', async () => {
    const response = await relay.admin('/destinations/nope/replay-failed', { method: 'POST', body: { since: '1h' } });
    expect(response.status).toBe(404);
  });

  it('POST /secrets → 201 with a new whsec_ secret, never cached', async () => {
    const response = await fetch(`${relay.url}/api/v1/secrets`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { secret } = (await response.json()) as { secret: string };
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect((await relay.admin('/secrets', { method: 'POST', token: null })).status).toBe(401);
  });

  it('POST /events/:id/replay → 202 with a replay per destination', async () => {
    const response = await relay.admin<{ deliveries: Delivery[] }>(`/events/${eventIds[0]}/replay`, { method: 'POST' });
    expect(response.status).toBe(202);
    expect(response.json.deliveries.map((d) => d.destination).sort()).toEqual(['ok', 'refusing']);
  });

  it('GET /requests: accepted and refused requests newest first, refused ones with the reason and a short excerpt', async () => {
    const big = JSON.stringify({ ...tapemetricPayload(), padding: 'x'.repeat(5_000) });
    expect((await relay.post('/hooks/tapemetric', big, tapemetricHeaders(big, 'wrong-secret'))).status).toBe(401);
    expect((await relay.post('/hooks/nosuch', '{"a":1}')).status).toBe(404);
    const malformed = '{"not json';
    expect((await relay.post('/hooks/tapemetric', malformed, tapemetricHeaders(malformed, SECRET))).status).toBe(400);
    const { json } = await relay.until(
      () => requests('?limit=1000'),
      ({ json }) => json.requests.filter((line) => line.refused).length >= 3,
    );
    const lines = json.requests;
    expect(lines.map((line) => line.id)).toEqual([...lines.map((line) => line.id)].sort().reverse());
    const [badJson, unknown, badSignature] = lines.filter((line) => line.refused);
    expect(badJson).toMatchObject({ source: 'tapemetric', status: 400, outcome: 'invalid_json', excerpt: malformed, body_bytes: malformed.length });
    expect(unknown).toMatchObject({ source: 'nosuch', status: 404, outcome: 'unknown_source', excerpt: null });
    expect(badSignature).toMatchObject({ source: 'tapemetric', status: 401, outcome: 'signature_mismatch', body_bytes: Buffer.byteLength(big) });
    expect(badSignature!.reason).toBeTruthy();
    expect(badSignature!.address).toMatch(/127\.0\.0\.1/);
    expect(Buffer.byteLength(badSignature!.excerpt ?? '')).toBeLessThanOrEqual(256);
    expect(big.startsWith(badSignature!.excerpt ?? '-')).toBe(true);
    const accepted = lines.filter((line) => line.outcome === 'accepted');
    expect(accepted.length).toBeGreaterThanOrEqual(3);
    expect(accepted.every((line) => line.status === 202 && line.excerpt === null && line.source === 'tapemetric')).toBe(true);

    expect((await requests('?outcome=refused')).json.requests.every((line) => line.refused)).toBe(true);
    expect((await requests('?source=nosuch')).json.requests.map((line) => line.outcome)).toEqual(['unknown_source']);
    expect((await requests('?outcome=unknown_source&limit=1')).json.requests).toHaveLength(1);
  });

  it.each([
    ['an unknown outcome', '?outcome=bogus'],
    ['a limit over 1000', '?limit=5000'],
    ['an unknown parameter', '?colour=red'],
  ])('GET /requests with %s → 400 invalid_request', async (_name, query) => {
    const response = await requests(query);
    expect(response.status).toBe(400);
    expect(errorCode(response.json)).toBe('invalid_request');
  });
});
