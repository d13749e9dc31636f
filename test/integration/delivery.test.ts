import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { ManualClock } from '../support/clock.ts';
import { statusSentryHeaders, tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const SECRET = 'tm-secret';
const HTTP_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface Delivery {
  id: string;
  event_id: string;
  destination: string;
  status: string;
  attempts: number;
  response_code: number | null;
  request_body: string | null;
  last_error: string | null;
  replay_of: string | null;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(): Promise<FakeReceiver> {
  const fake = await FakeReceiver.start();
  cleanups.push(() => fake.close());
  return fake;
}

async function relayWith(yaml: string, clock?: ManualClock): Promise<TestRelay> {
  const relay = await startRelay(`${yaml}\nadmin: { token: ${ADMIN_TOKEN} }\n`, {}, clock ? { clock } : {});
  cleanups.push(() => relay.close());
  return relay;
}

async function sendTapemetric(relay: TestRelay, overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}): Promise<string> {
  const body = JSON.stringify(tapemetricPayload(overrides, data));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(response.status).toBe(202);
  return response.json.id as string;
}

async function deliveryOf(relay: TestRelay, eventId: string, check: (delivery: Delivery) => boolean): Promise<Delivery> {
  const { json } = await relay.until(
    () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${eventId}`),
    ({ json }) => json.deliveries.length > 0 && check(json.deliveries[0]!),
  );
  return json.deliveries[0]!;
}

const httpRelay = (url: string, extra = '', retry = 'retry: { schedule: [100ms, 200ms, 300ms], disable_after: 10 }') => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${url}", secret: "${HTTP_SECRET}"${extra} }
routes:
  - { to: [receiver] }
${retry}
`;

describe('http destination', () => {
  it('sends the envelope with webhook-id, a Standard Webhooks signature and the user agent', async () => {
    const fake = await receiver();
    const relay = await relayWith(httpRelay(fake.url('/hook')));
    const eventId = await sendTapemetric(relay, { id: 'evt_envelope' });
    const [request] = await fake.waitFor(1);
    const envelope = request!.json<{ event: Record<string, unknown>; payload: Record<string, unknown> }>();
    expect(envelope.event).toMatchObject({ id: eventId, source: 'tapemetric', type: 'qos.rebuffer_spike', severity: 'critical' });
    expect(envelope.payload.id).toBe('evt_envelope');
    const headers = request!.headers;
    expect(headers['webhook-id']).toMatch(/^dlv_/);
    expect(headers['user-agent']).toMatch(/^hookrelay\/\d+\.\d+\.\d+/);
    expect(headers['retry-attempt']).toBeUndefined();
    // Verify as a receiver would, with the spec's algorithm written here.
    const key = Buffer.from(HTTP_SECRET.slice('whsec_'.length), 'base64');
    const expected = createHmac('sha256', key)
      .update(`${headers['webhook-id'] as string}.${headers['webhook-timestamp'] as string}.${request!.body}`)
      .digest('base64');
    expect(headers['webhook-signature']).toBe(`v1,${expected}`);
  });

  it('5xx is retried on the schedule with the same webhook-id and Retry-Attempt: n, then succeeds', async () => {
    const fake = await receiver();
    let calls = 0;
    fake.respond(() => (++calls <= 2 ? { status: 503, body: 'busy' } : { status: 200 }));
    const relay = await relayWith(httpRelay(fake.url('/hook')));
    const eventId = await sendTapemetric(relay);
    const requests = await fake.waitFor(3);
    expect(new Set(requests.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(requests.map((r) => r.headers['retry-attempt'])).toEqual([undefined, '1', '2']);
    expect(requests[1]!.body).toBe(requests[0]!.body);
    // Waits follow the schedule (100 ms, 200 ms, ±20 % jitter).
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(75);
    expect(requests[2]!.at - requests[1]!.at).toBeGreaterThanOrEqual(155);
    const delivery = await deliveryOf(relay, eventId, (d) => d.status === 'succeeded');
    expect(delivery).toMatchObject({ attempts: 3, response_code: 200 });
    const detail = await relay.admin<{ attempt_log: Array<{ response_code: number }> }>(`/deliveries/${delivery.id}`);
    expect(detail.json.attempt_log.map((a) => a.response_code)).toEqual([503, 503, 200]);
  });

  it('429 waits for Retry-After even when the schedule step is shorter', async () => {
    const fake = await receiver();
    let calls = 0;
    fake.respond(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const relay = await relayWith(httpRelay(fake.url('/hook')));
    await sendTapemetric(relay);
    const requests = await fake.waitFor(2);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('a 4xx other than 408/425/429 fails at once: one attempt, status failed, the reason logged', async () => {
    const fake = await receiver();
    fake.respond(() => ({ status: 422, body: 'unknown field foo' }));
    const relay = await relayWith(httpRelay(fake.url('/hook')));
    const eventId = await sendTapemetric(relay);
    const delivery = await deliveryOf(relay, eventId, (d) => d.status === 'failed');
    expect(delivery).toMatchObject({ attempts: 1, response_code: 422 });
    expect(delivery.last_error).toContain('unknown field foo');
    expect(fake.requests).toHaveLength(1);
  });

  it('a receiver slower than the timeout is retried, and the delivery says it timed out', async () => {
    const fake = await receiver();
    let calls = 0;
    fake.respond(() => (++calls === 1 ? { status: 200, delayMs: 1_000 } : { status: 200 }));
    const relay = await relayWith(httpRelay(fake.url('/hook'), ', timeout: 200ms'));
    const eventId = await sendTapemetric(relay);
    const delivery = await deliveryOf(relay, eventId, (d) => d.status === 'succeeded');
    expect(delivery.attempts).toBe(2);
    const detail = await relay.admin<{ attempt_log: Array<{ error: string | null }> }>(`/deliveries/${delivery.id}`);
    expect(detail.json.attempt_log[0]?.error).toMatch(/timed out/);
  });

  it('gives up after the last step: 1 + schedule.length attempts, then failed', async () => {
    const fake = await receiver();
    fake.respond(() => ({ status: 500 }));
    const relay = await relayWith(httpRelay(fake.url('/hook'), '', 'retry: { schedule: [50ms, 50ms], disable_after: 10 }'));
    const eventId = await sendTapemetric(relay);
    const delivery = await deliveryOf(relay, eventId, (d) => d.status === 'failed');
    expect(delivery.attempts).toBe(3);
    expect(fake.requests).toHaveLength(3);
  });

  it('consecutive failures disable the destination; work waits as pending; enable delivers it', async () => {
    const fake = await receiver();
    let healthy = false;
    fake.respond(() => (healthy ? { status: 200 } : { status: 500 }));
    const relay = await relayWith(httpRelay(fake.url('/hook'), '', 'retry: { schedule: [50ms, 50ms, 50ms, 50ms, 50ms], disable_after: 3 }'));
    const first = await sendTapemetric(relay);
    await fake.waitFor(3);
    const { json } = await relay.until(
      () => relay.admin<{ destinations: Array<{ name: string; enabled: boolean; consecutive_failures: number; pending: number }> }>('/destinations'),
      ({ json }) => json.destinations[0]?.enabled === false,
    );
    expect(json.destinations[0]).toMatchObject({ name: 'receiver', enabled: false, consecutive_failures: 3, pending: 1 });
    const second = await sendTapemetric(relay);
    expect((await deliveryOf(relay, second, () => true)).status).toBe('pending');
    expect((await deliveryOf(relay, first, () => true)).status).toBe('pending');
    expect(fake.requests).toHaveLength(3);

    healthy = true;
    const enabled = await relay.admin<{ enabled: boolean }>('/destinations/receiver/enable', { method: 'POST' });
    expect(enabled).toMatchObject({ status: 200, json: { enabled: true } });
    await deliveryOf(relay, first, (d) => d.status === 'succeeded');
    await deliveryOf(relay, second, (d) => d.status === 'succeeded');
  });

  it('replay sends the same body again as a new delivery with a new webhook-id', async () => {
    const fake = await receiver();
    const relay = await relayWith(httpRelay(fake.url('/hook')));
    const eventId = await sendTapemetric(relay);
    const original = await deliveryOf(relay, eventId, (d) => d.status === 'succeeded');
    const replay = await relay.admin<Delivery>(`/deliveries/${original.id}/replay`, { method: 'POST' });
    expect(replay.status).toBe(202);
    expect(replay.json).toMatchObject({ replay_of: original.id, status: 'pending', event_id: eventId });
    const [first, second] = await fake.waitFor(2);
    expect(second!.body).toBe(first!.body);
    expect(second!.headers['webhook-id']).toBe(replay.json.id);
    expect(second!.headers['webhook-id']).not.toBe(first!.headers['webhook-id']);
    expect((await relay.admin('/deliveries/dlv_nope/replay', { method: 'POST' })).status).toBe(404);
  });

  it('the delivery log lists the newest first and keeps the newest 200 finished when pruned', async () => {
    const fake = await receiver();
    const relay = await relayWith(httpRelay(fake.url('/hook'), ', concurrency: 16'));
    const ids: string[] = [];
    for (let i = 0; i < 230; i++) ids.push(await sendTapemetric(relay));
    await fake.waitFor(230, { timeoutMs: 50_000 });
    await relay.until(
      () => relay.admin<{ deliveries: Delivery[] }>('/deliveries?destination=receiver&status=succeeded&limit=1000'),
      ({ json }) => json.deliveries.length === 230,
    );
    await relay.server.store.prune('deliveries', { keep_per_destination: 200, keep_events_ms: 0, now: Date.now() });
    const { json } = await relay.admin<{ deliveries: Delivery[] }>('/deliveries?destination=receiver&limit=1000');
    expect(json.deliveries).toHaveLength(200);
    expect(json.deliveries.map((d) => d.event_id)).toEqual(ids.slice(-200).reverse());
    expect(json.deliveries[0]).toMatchObject({ status: 'succeeded', response_code: 200, attempts: 1 });
    expect(typeof json.deliveries[0]?.request_body).toBe('string');
    // 230 events through the real server (on PostgreSQL too): more than the default 20 s on a busy machine.
  }, 60_000);
});

describe('slack destination', () => {
  const slackRelay = (url: string) => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${url}" }
routes:
  - { to: [ops-slack] }
`;

  it('hostile sender text can neither ping nor forge links in Slack', async () => {
    const slack = await receiver();
    const relay = await relayWith(slackRelay(slack.url('/services/T0/B0/x')));
    await sendTapemetric(relay, { type: 'qos.<!channel>' }, { region: '<!here> <@U024BE7LH> <http://evil.example|Click me> @channel & "quotes" \\ \n' });
    const [request] = await slack.waitFor(1);
    const message = request!.json<Record<string, unknown>>();
    const text = JSON.stringify(message);
    for (const forbidden of ['<!here>', '<!channel>', '<@U024BE7LH>', '<http://evil.example', '@channel']) {
      expect(text).not.toContain(forbidden);
    }
    expect(text).toContain('&lt;!here&gt;');
    expect(message.text).toEqual(expect.any(String));
  });

  it('a huge payload is truncated with a visible … and still within Slack limits', async () => {
    const slack = await receiver();
    const relay = await relayWith(slackRelay(slack.url('/services/T0/B0/x')));
    await sendTapemetric(relay, {}, { region: 'R'.repeat(200_000) });
    const [request] = await slack.waitFor(1);
    const message = request!.json<{ text: string; blocks: Array<{ type: string; text?: { text: string } }> }>();
    const header = message.blocks.find((block) => block.type === 'header');
    expect(header?.text?.text.length).toBeLessThanOrEqual(150);
    expect(header?.text?.text.endsWith('…')).toBe(true);
    expect(JSON.stringify(message.blocks).length).toBeLessThanOrEqual(12_000);
    expect(message.blocks.length).toBeLessThanOrEqual(50);
    expect(message.text.length).toBeLessThanOrEqual(3_000);
  });
});

describe('pagerduty destination', () => {
  it('a dry run triggers the sample and resolves it right away: no incident stays open', async () => {
    const pagerduty = await receiver();
    pagerduty.respond(() => ({ status: 202, body: '{"status":"success"}' }));
    const relay = await relayWith(`
destinations:
  - { name: oncall, type: pagerduty, routing_key: R0UT1NGKEY0123456789012345678901, url: "${pagerduty.url('/v2/enqueue')}" }
`);
    const result = await relay.admin<{ ok: boolean; resolved: { ok: boolean } }>('/destinations/oncall/test', { method: 'POST' });
    expect(result.json).toMatchObject({ ok: true, resolved: { ok: true } });
    const [trigger, resolve] = pagerduty.requests.map((r) => r.json<{ event_action: string; dedup_key: string }>());
    expect([trigger?.event_action, resolve?.event_action]).toEqual(['trigger', 'resolve']);
    expect(resolve?.dedup_key).toBe(trigger?.dedup_key);
  });

  it('firing triggers and resolved resolves the same incident; the routing key is sent but never logged', async () => {
    const pagerduty = await receiver();
    pagerduty.respond(() => ({ status: 202, headers: { 'content-type': 'application/json' }, body: '{"status":"success","message":"Event processed"}' }));
    const relay = await relayWith(`
sources:
  - { name: statussentry, preset: statussentry, secrets: ["sentry-secret"] }
destinations:
  - { name: oncall, type: pagerduty, routing_key: R0UT1NGKEY0123456789012345678901, url: "${pagerduty.url('/v2/enqueue')}" }
routes:
  - { to: [oncall] }
`);
    const incident = (type: string, status: string) =>
      JSON.stringify({
        id: `evt_${type}`,
        type,
        created_at: '2026-11-23T14:30:00Z',
        data: { incident_id: 'inc_987654321', title: 'High Latency in EU-West', status, severity: 'major', components: [] },
      });
    for (const body of [incident('incident.created', 'investigating'), incident('incident.resolved', 'resolved')]) {
      expect((await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, 'sentry-secret'))).status).toBe(202);
      await pagerduty.waitFor(pagerduty.requests.length + 1);
    }
    const [trigger, resolve] = pagerduty.requests.map((r) => r.json<Record<string, unknown>>());
    expect(trigger).toMatchObject({ routing_key: 'R0UT1NGKEY0123456789012345678901', event_action: 'trigger' });
    expect((trigger!.payload as Record<string, unknown>).severity).toBe('error');
    expect((trigger!.payload as Record<string, unknown>).summary).toContain('High Latency in EU-West');
    expect(resolve).toMatchObject({ event_action: 'resolve', dedup_key: trigger!.dedup_key });
    const { json } = await relay.until(
      () => relay.admin<{ deliveries: Delivery[] }>('/deliveries?destination=oncall'),
      ({ json }) => json.deliveries.length === 2 && json.deliveries.every((d) => d.status === 'succeeded'),
    );
    for (const delivery of json.deliveries) expect(delivery.request_body).not.toContain('R0UT1NGKEY');
  });
});

describe('incident order at stateful destinations', () => {
  const pagerdutyRelay = (url: string, retry = 'retry: { schedule: [800ms, 800ms], disable_after: 10 }') => `
sources:
  - { name: statussentry, preset: statussentry, secrets: ["sentry-secret"] }
destinations:
  - { name: oncall, type: pagerduty, routing_key: R0UT1NGKEY0123456789012345678901, url: "${url}" }
routes:
  - { to: [oncall] }
${retry}
`;
  const incident = (type: string, status: string, createdAt = new Date().toISOString()) =>
    JSON.stringify({ id: `evt_${type}_${createdAt}`, type, created_at: createdAt, data: { incident_id: 'inc_order', title: 'Order', status, severity: 'major', components: [] } });
  const actions = (fake: FakeReceiver) => fake.requests.map((r) => r.json<{ event_action: string }>().event_action);

  it('a trigger answered 429 is retried before its resolve goes out: PagerDuty sees the page, then its resolve', async () => {
    const pagerduty = await receiver();
    let calls = 0;
    pagerduty.respond(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 202, body: '{"status":"success"}' }));
    const relay = await relayWith(pagerdutyRelay(pagerduty.url('/v2/enqueue')));
    const post = async (body: string) => (await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, 'sentry-secret'))).json.id as string;
    const trigger = await post(incident('incident.created', 'investigating'));
    await pagerduty.waitFor(1); // 429: the trigger waits a second
    await new Promise((resolve) => setTimeout(resolve, 200)); // the resolve arrives while the trigger waits (a sender's timing, not ours)
    const resolve = await post(incident('incident.resolved', 'resolved'));
    await deliveryOf(relay, resolve, (d) => d.status === 'succeeded');
    expect(await deliveryOf(relay, trigger, (d) => d.status !== 'pending' && d.status !== 'in_flight')).toMatchObject({ status: 'succeeded' });
    expect(actions(pagerduty)).toEqual(['trigger', 'trigger', 'resolve']);
  });

  it("a sender's late retry of an older trigger, after its resolve was delivered, is not sent (it would re-open the incident); a replay still is", async () => {
    const pagerduty = await receiver();
    pagerduty.respond(() => ({ status: 202, body: '{"status":"success"}' }));
    const relay = await relayWith(pagerdutyRelay(pagerduty.url('/v2/enqueue')));
    const post = async (body: string) => (await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, 'sentry-secret'))).json.id as string;
    const resolve = await post(incident('incident.resolved', 'resolved', '2026-11-29T10:05:00.000Z'));
    await deliveryOf(relay, resolve, (d) => d.status === 'succeeded');
    const late = await post(incident('incident.created', 'investigating', '2026-11-29T10:00:00.000Z'));
    const superseded = await deliveryOf(relay, late, (d) => d.status !== 'pending' && d.status !== 'in_flight');
    expect(superseded).toMatchObject({ status: 'skipped' });
    expect((superseded as Delivery & { note: string }).note).toContain('superseded');
    expect(actions(pagerduty)).toEqual(['resolve']);

    // Asked for explicitly, the old trigger goes out.
    await relay.admin(`/deliveries/${superseded.id}/replay`, { method: 'POST' });
    await pagerduty.waitFor(2);
    expect(pagerduty.requests.at(-1)!.json<{ event_action: string }>().event_action).toBe('trigger');
  });
});

describe('routing', () => {
  it('an event no route matches is stored and shown as skipped', async () => {
    const fake = await receiver();
    const relay = await relayWith(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${fake.url('/hook')}" }
routes:
  - { to: [receiver], match: { type: "billing.*" } }
`);
    const eventId = await sendTapemetric(relay);
    const stored = await relay.admin<{ deliveries: Delivery[] }>(`/events/${eventId}`);
    expect(stored.json.deliveries).toEqual([expect.objectContaining({ status: 'skipped', destination: null })]);
    expect((await relay.admin(`/deliveries/${stored.json.deliveries[0]!.id}/replay`, { method: 'POST' })).status).toBe(409);
  });

  it('filters decide: only events meeting the filter are relayed', async () => {
    const fake = await receiver();
    const relay = await relayWith(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${fake.url('/hook')}" }
routes:
  - to: [receiver]
    match: { source: tapemetric, type: "qos.*", severity: ">=warning" }
    filter: { "data.affected_sessions": { $gte: 10000 }, $or: [ { "data.region": { $regex: "^Maha" } }, { "data.pop": { $in: [eu-west-1] } } ] }
`);
    const relayed = await sendTapemetric(relay, {}, { affected_sessions: 24_000 });
    const small = await sendTapemetric(relay, {}, { affected_sessions: 50 });
    const info = await sendTapemetric(relay, {}, { severity: 'info' });
    const elsewhere = await sendTapemetric(relay, {}, { region: 'Kerala', pop: 'ap-south-1' });
    await deliveryOf(relay, relayed, (d) => d.status === 'succeeded');
    for (const id of [small, info, elsewhere]) expect((await deliveryOf(relay, id, () => true)).status).toBe('skipped');
  });

  it('a grouped route sends one message per group after `wait`, listing the group\'s events', async () => {
    // On a driven clock: the wait ends when the test says, not when a loaded machine gets there.
    const clock = new ManualClock();
    const slack = await receiver();
    const relay = await relayWith(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/services/T/B/X')}" }
routes:
  - { to: [ops-slack], group: { by: [type, data.region], wait: 400ms, interval: 2s } }
`, clock);
    for (let i = 0; i < 3; i++) await sendTapemetric(relay, {}, { region: 'Maharashtra' });
    await sendTapemetric(relay, {}, { region: 'Kerala' });
    // Before the wait is over nobody may claim the groups; at its end both go.
    await clock.advance(399);
    expect((await relay.server.store.claim('ops-slack', { limit: 10, now: clock.now(), lease_ms: 60_000, owner: 'another-replica' })).deliveries).toEqual([]);
    expect(slack.requests).toHaveLength(0);
    await clock.advance(1);
    const requests = await slack.waitFor(2);
    const texts = requests.map((request) => request.body);
    const maharashtra = texts.find((text) => text.includes('3 events in this group'));
    expect(maharashtra).toBeDefined();
    expect(texts.filter((text) => text.includes('events in this group'))).toHaveLength(1);
    // Nothing else was sent: four events, two notifications, all four deliveries succeeded.
    const { json } = await relay.until(
      () => relay.admin<{ deliveries: Delivery[] }>('/deliveries?destination=ops-slack&status=succeeded'),
      ({ json }) => json.deliveries.length === 4,
    );
    expect(new Set(json.deliveries.map((d) => d.request_body)).size).toBe(2);
    expect(slack.requests).toHaveLength(2);
  });
});
