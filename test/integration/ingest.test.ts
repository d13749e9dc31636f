import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import {
  standardWebhookHeaders,
  statusPulseHeaders,
  statusSentryHeaders,
  tapemetricHeaders,
  tapemetricPayload,
} from '../support/signers.ts';

const TAPEMETRIC = 'tm-secret-current';
const TAPEMETRIC_OLD = 'tm-secret-previous';
const STATUSPULSE = 'whsec_a8f3k29d4m1p7q';
const STATUSSENTRY = 'whsec_4eC39HqLyjWDarjtT1zdp7dc';
const BILLING = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let relay: TestRelay;
let slack: FakeReceiver;
let tapeApi: FakeReceiver;

interface Delivery {
  id: string;
  event_id: string;
  status: string;
}

async function deliveryCount(): Promise<number> {
  const { json } = await relay.admin<{ deliveries: Delivery[] }>('/deliveries?limit=1000');
  return json.deliveries.length;
}

beforeAll(async () => {
  slack = await FakeReceiver.start();
  tapeApi = await FakeReceiver.start();
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${TAPEMETRIC}", "${TAPEMETRIC_OLD}"] }
  - { name: statuspulse, preset: statuspulse, secrets: ["${STATUSPULSE}"] }
  - { name: statuspulse-legacy, preset: statuspulse, signed: body, secrets: ["${STATUSPULSE}"] }
  - { name: statussentry, preset: statussentry, secrets: ["${STATUSSENTRY}"], tolerance: 1m }
  - { name: tape, preset: tape, token: tape-url-token, api_key: tape-api-key, api_url: "${tapeApi.url('')}" }
  - { name: billing, preset: standard-webhooks, secrets: ["${BILLING}"] }
  - { name: prometheus, preset: alertmanager, token: am-bearer-token }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/services/T/B/X')}", rate: { max: 1000, per: 1s } }
routes:
  - { to: [ops-slack], match: { source: [tapemetric, statuspulse*, statussentry, tape, billing, prometheus] } }
admin: { token: ${ADMIN_TOKEN} }
`);
});

afterAll(async () => {
  await relay.close();
  await slack.close();
  await tapeApi.close();
});

describe('POST /hooks/:source status codes', () => {
  it('a signed Tapemetric event → 202 with its id, stored and relayed', async () => {
    const body = JSON.stringify(tapemetricPayload({ id: 'evt_abc123' }));
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC));
    expect(response.status).toBe(202);
    const id = response.json.id as string;
    expect(id).toMatch(/^evt_/);
    const stored = await relay.admin<{ event: Record<string, unknown>; raw: { body: string } }>(`/events/${id}`);
    expect(stored.json.event).toMatchObject({ source: 'tapemetric', type: 'qos.rebuffer_spike', severity: 'critical', external_id: 'evt_abc123' });
    expect(stored.json.raw.body).toBe(body);
    const [request] = await slack.waitFor(1);
    expect(request?.body).toContain('Maharashtra');
  });

  it('the same sender id again → 200 duplicate, nothing relayed twice', async () => {
    const body = JSON.stringify(tapemetricPayload({ id: 'evt_dup_1' }));
    const first = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC));
    const again = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC));
    expect(first.status).toBe(202);
    expect(again).toEqual({ status: 200, json: { duplicate: true, id: first.json.id } });
    const { json } = await relay.admin<{ deliveries: Delivery[] }>('/deliveries?limit=1000');
    expect(json.deliveries.filter((delivery) => delivery.event_id === first.json.id)).toHaveLength(1);
  });

  it('the previous secret still verifies while rotating', async () => {
    const body = JSON.stringify(tapemetricPayload());
    expect((await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC_OLD))).status).toBe(202);
  });

  it('missing signature → 401 signature_missing, nothing stored', async () => {
    const before = await deliveryCount();
    const response = await relay.post('/hooks/tapemetric', JSON.stringify(tapemetricPayload()));
    expect(response.status).toBe(401);
    expect((response.json.error as { code: string }).code).toBe('signature_missing');
    expect(await deliveryCount()).toBe(before);
  });

  it('wrong secret → 401 signature_mismatch, nothing stored', async () => {
    const before = await deliveryCount();
    const body = JSON.stringify(tapemetricPayload());
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, 'not-the-secret'));
    expect(response.status).toBe(401);
    expect((response.json.error as { code: string }).code).toBe('signature_mismatch');
    expect(await deliveryCount()).toBe(before);
  });

  it('a body changed after signing → 401 signature_mismatch', async () => {
    const body = JSON.stringify(tapemetricPayload());
    const headers = tapemetricHeaders(body, TAPEMETRIC);
    const response = await relay.post('/hooks/tapemetric', body.replace('24000', '24001'), headers);
    expect((response.json.error as { code: string }).code).toBe('signature_mismatch');
  });

  it('re-serialised JSON (whitespace changed) is not the signed bytes → 401', async () => {
    const body = JSON.stringify(tapemetricPayload(), null, 2);
    const headers = tapemetricHeaders(body, TAPEMETRIC);
    const response = await relay.post('/hooks/tapemetric', JSON.stringify(JSON.parse(body)), headers);
    expect(response.status).toBe(401);
  });

  it('signed body that is not JSON → 400 invalid_json, nothing stored', async () => {
    const before = await deliveryCount();
    const body = '{"id": "evt_x", "type": ';
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC));
    expect(response.status).toBe(400);
    expect((response.json.error as { code: string }).code).toBe('invalid_json');
    expect(await deliveryCount()).toBe(before);
  });

  it('signed JSON that is not a Tapemetric event → 400 invalid_payload naming the field', async () => {
    const body = JSON.stringify({ id: 'evt_1', hello: 'world' });
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC));
    expect(response.status).toBe(400);
    const error = response.json.error as { code: string; message: string };
    expect(error.code).toBe('invalid_payload');
    expect(error.message).toContain('type');
  });

  it('unknown source → 404 unknown_source', async () => {
    const response = await relay.post('/hooks/tapemetrik', '{}');
    expect(response.status).toBe(404);
    expect((response.json.error as { code: string }).code).toBe('unknown_source');
  });

  it('a body over 1 MB → 413 payload_too_large, nothing stored', async () => {
    const before = await deliveryCount();
    const body = JSON.stringify(tapemetricPayload({}, { blob: 'x'.repeat(1_100_000) }));
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC));
    expect(response.status).toBe(413);
    expect((response.json.error as { code: string }).code).toBe('payload_too_large');
    expect(await deliveryCount()).toBe(before);
  });

  it('GET on a hook URL → 405 with Allow: POST', async () => {
    const response = await fetch(`${relay.url}/hooks/tapemetric`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });
});

describe('each sender end to end', () => {
  it('StatusPulse: timestamped signature (003) accepted; stale timestamp → 401 signature_expired', async () => {
    const body = JSON.stringify({
      event_id: 'evt_9f82b1c4d5e6',
      timestamp: '2024-05-14T09:32:11Z',
      event_type: 'status_change',
      check_id: 'chk_us_east_1_api',
      endpoint: 'https://api.example.com/v2/health',
      previous_status: 'operational',
      current_status: 'degraded',
      response_time_ms: 1420,
      region: 'us-east-1',
      error_code: 503,
      retry_count: 0,
    });
    const ok = await relay.post('/hooks/statuspulse', body, statusPulseHeaders(body, STATUSPULSE));
    expect(ok.status).toBe(202);
    const stored = await relay.admin<{ event: Record<string, unknown> }>(`/events/${ok.json.id as string}`);
    expect(stored.json.event).toMatchObject({ dedup_key: expect.stringContaining('chk_us_east_1_api'), status: 'firing', severity: 'warning' });

    const stale = await relay.post('/hooks/statuspulse', body, statusPulseHeaders(body, STATUSPULSE, Math.floor(Date.now() / 1000) - 600));
    expect(stale.status).toBe(401);
    expect((stale.json.error as { code: string }).code).toBe('signature_expired');
  });

  it('StatusPulse: the body-only signature (001) works only where opted in', async () => {
    const body = JSON.stringify({
      event_id: 'evt_7f3a9c2b1d',
      monitor_name: 'checkout-service-redis',
      status: 'degraded',
      timestamp: '2024-05-14T09:23:11Z',
      metadata: { region: 'us-west-2', affected_endpoints: ['/api/v1/cart'], response_time_ms: 1840, error_rate_pct: 12.4 },
    });
    const { createHmac } = await import('node:crypto');
    const headers = { 'x-statuspulse-signature': createHmac('sha256', STATUSPULSE).update(body).digest('hex') };
    expect((await relay.post('/hooks/statuspulse-legacy', body, headers)).status).toBe(202);
    expect((await relay.post('/hooks/statuspulse', body, headers)).status).toBe(401);
  });

  it('StatusSentry: t=,v1= signature; a future timestamp beyond tolerance → 401 signature_expired', async () => {
    const body = JSON.stringify({
      id: 'evt_8a7b9c0d1e2f3g4h',
      type: 'incident.created',
      created_at: '2023-10-27T14:30:00Z',
      data: { incident_id: 'inc_987654321', title: 'High Latency in EU-West', status: 'investigating', severity: 'major', components: [] },
    });
    const ok = await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, STATUSSENTRY));
    expect(ok.status).toBe(202);
    const future = await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, STATUSSENTRY, Math.floor(Date.now() / 1000) + 120));
    expect((future.json.error as { code: string }).code).toBe('signature_expired');
  });

  it('Standard Webhooks: webhook-id is the duplicate key', async () => {
    const body = JSON.stringify({ type: 'invoice.payment_failed', timestamp: new Date().toISOString(), data: { id: 'in_1', amount: 4200 } });
    const headers = standardWebhookHeaders(body, BILLING, 'msg_2Lh9KR1xkAqwI9m');
    expect((await relay.post('/hooks/billing', body, headers)).status).toBe(202);
    const again = await relay.post('/hooks/billing', body, standardWebhookHeaders(body, BILLING, 'msg_2Lh9KR1xkAqwI9m'));
    expect(again.status).toBe(200);
    expect(again.json.duplicate).toBe(true);
  });

  it('Alertmanager: one event per alert with its own status and fingerprint; bad bearer → 401', async () => {
    const body = JSON.stringify({
      version: '4',
      groupKey: '{}:{alertname="HighLatency"}',
      truncatedAlerts: 0,
      status: 'firing',
      receiver: 'hookrelay',
      groupLabels: { alertname: 'HighLatency' },
      commonLabels: { alertname: 'HighLatency' },
      commonAnnotations: {},
      externalURL: 'http://alertmanager:9093',
      alerts: [
        { status: 'firing', labels: { alertname: 'HighLatency', severity: 'critical', instance: 'a' }, annotations: { summary: 'p99 high on a' }, startsAt: '2026-11-23T10:00:00Z', endsAt: '0001-01-01T00:00:00Z', generatorURL: 'http://prom/graph', fingerprint: 'aaaa1111' },
        { status: 'resolved', labels: { alertname: 'HighLatency', severity: 'warning', instance: 'b' }, annotations: { summary: 'p99 high on b' }, startsAt: '2026-11-23T09:00:00Z', endsAt: '2026-11-23T10:05:00Z', generatorURL: 'http://prom/graph', fingerprint: 'bbbb2222' },
      ],
    });
    const denied = await relay.post('/hooks/prometheus', body, { authorization: 'Bearer wrong' });
    expect(denied.status).toBe(401);
    const response = await relay.post('/hooks/prometheus', body, { authorization: 'Bearer am-bearer-token' });
    expect(response.status).toBe(202);
    const ids = response.json.ids as string[];
    expect(ids).toHaveLength(2);
    const events = await Promise.all(ids.map((id) => relay.admin<{ event: Record<string, unknown> }>(`/events/${id}`)));
    expect(events.map((e) => [e.json.event.dedup_key, e.json.event.status, e.json.event.severity])).toEqual([
      ['aaaa1111', 'firing', 'critical'],
      ['bbbb2222', 'resolved', 'warning'],
    ]);
  });

  it('Tape: wrong ?token= → 401; hook.verify calls validate with basic auth and stores nothing', async () => {
    const event = JSON.stringify({ hook_id: 1, record_id: 100, type: 'record.create' });
    expect((await relay.post('/hooks/tape?token=nope', event)).status).toBe(401);
    expect((await relay.post('/hooks/tape', event)).status).toBe(401);
    expect((await relay.post('/hooks/tape?token=tape-url-token', event)).status).toBe(202);

    const before = await deliveryCount();
    tapeApi.respond(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"hook_id":1,"status":"active"}' }));
    const verify = await relay.post('/hooks/tape?token=tape-url-token', JSON.stringify({ hook_id: 1, type: 'hook.verify', code: 'f43d05e6' }));
    expect(verify.status).toBe(200);
    const [call] = tapeApi.received('/v1/hook/1/verify/validate');
    expect(call?.json()).toEqual({ code: 'f43d05e6' });
    expect(call?.headers.authorization).toBe(`Basic ${Buffer.from('tape-api-key:').toString('base64')}`);
    expect(await deliveryCount()).toBe(before);
  });

  it('Tape: validate refused by Tape → 502 handshake_failed', async () => {
    tapeApi.respond(() => ({ status: 400, body: '{"error":"invalid code"}' }));
    const verify = await relay.post('/hooks/tape?token=tape-url-token', JSON.stringify({ hook_id: 2, type: 'hook.verify', code: 'bad' }));
    expect(verify.status).toBe(502);
    expect((verify.json.error as { code: string }).code).toBe('handshake_failed');
  });
});
