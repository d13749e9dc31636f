import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../support/clock.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

/**
 * The whole server — HTTP, ingest, the SQLite store and its writer thread, mutes, the
 * notification stage, the dispatcher — on one clock the test drives: minutes, hours and days
 * pass when the test says so, and nothing waits for them. Only real I/O (loopback HTTP, the
 * writer thread's commits) is awaited, by polling the store for the decision it recorded.
 */

const SECRET = 'tm-secret';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

interface Delivery {
  id: string;
  event_id: string;
  status: string;
  attempts: number;
  note: string | null;
  next_attempt_at: string | null;
  request_body: string | null;
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

async function relayOn(clock: ManualClock, url: string, route: string): Promise<TestRelay> {
  const relay = await startRelay(
    `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${url}" }
routes:
  - ${route}
admin: { token: ${ADMIN_TOKEN} }
`,
    {},
    { clock },
  );
  cleanups.push(() => relay.close());
  return relay;
}

/** A Tapemetric event (its own sender id each time) in `region`; the event id hookrelay gave it. */
async function send(relay: TestRelay, region: string, overrides: Record<string, unknown> = {}): Promise<string> {
  const body = JSON.stringify(tapemetricPayload(overrides, { region }));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(response.status).toBe(202);
  return response.json.id as string;
}

async function deliveriesOf(relay: TestRelay, eventIds: readonly string[]): Promise<Delivery[]> {
  const all = (await relay.admin<{ deliveries: Delivery[] }>('/deliveries?destination=ops-slack&limit=100')).json.deliveries;
  return eventIds.map((id) => all.find((delivery) => delivery.event_id === id)!);
}

/** Waits (on real I/O) until the store has recorded this event's delivery as `status`; returns it. */
async function decided(relay: TestRelay, eventId: string, status: string): Promise<Delivery> {
  const [delivery] = await relay.until(
    () => deliveriesOf(relay, [eventId]),
    ([found]) => found !== undefined && found.status === status,
  );
  return delivery!;
}

describe('the whole server on a driven clock', () => {
  it('group wait 10m: nothing is sent in the first 10 minutes of driven time; at 10 minutes the group goes as one request', async () => {
    const clock = new ManualClock();
    const slack = await receiver();
    const relay = await relayOn(clock, slack.url('/webhook'), '{ to: [ops-slack], group: { by: [type, data.region], wait: 10m, interval: 1h } }');
    const started = clock.now();
    const ids = [await send(relay, 'Maharashtra'), await send(relay, 'Maharashtra'), await send(relay, 'Maharashtra')];

    // The store holds the group until 10 minutes after its first event.
    const waiting = await deliveriesOf(relay, ids);
    for (const delivery of waiting) expect(delivery).toMatchObject({ status: 'pending', attempts: 0, next_attempt_at: new Date(started + 10 * MINUTE).toISOString() });

    await clock.jump(10 * MINUTE - 1_000);
    // 9:59 in: the lane has woken (every 30 s at most) and found nothing due; neither would another replica.
    const early = await relay.server.store.claim('ops-slack', { limit: 10, now: clock.now(), lease_ms: MINUTE, owner: 'another-replica' });
    expect(early.deliveries).toEqual([]);
    expect((await deliveriesOf(relay, ids)).map((delivery) => [delivery.status, delivery.attempts])).toEqual([
      ['pending', 0],
      ['pending', 0],
      ['pending', 0],
    ]);
    expect(slack.requests).toHaveLength(0);

    await clock.jump(1_000);
    const [request] = await slack.waitFor(1);
    expect(request!.body).toContain('3 events in this group');
    // Recorded for every member, from one request.
    const sent = await relay.until(
      () => deliveriesOf(relay, ids),
      (list) => list.every((delivery) => delivery.status === 'succeeded'),
    );
    expect(new Set(sent.map((delivery) => delivery.request_body)).size).toBe(1);
    expect(slack.requests).toHaveLength(1);
  });

  it('repeat_interval 4h: the same state is not sent again within 4 hours of driven time; at 4 hours it is', async () => {
    const clock = new ManualClock();
    const slack = await receiver();
    const relay = await relayOn(clock, slack.url('/webhook'), '{ to: [ops-slack], repeat_interval: 4h }');

    const first = await send(relay, 'Maharashtra');
    const told = await decided(relay, first, 'succeeded');
    expect(slack.requests).toHaveLength(1);

    await clock.jump(1 * HOUR);
    const again = await decided(relay, await send(relay, 'Maharashtra'), 'skipped');
    expect(again.note).toBe(`repeat within 4h of ${told.id}`);

    await clock.jump(3 * HOUR - 1_000);
    const stillWithin = await decided(relay, await send(relay, 'Maharashtra'), 'skipped');
    expect(stillWithin.note).toBe(`repeat within 4h of ${told.id}`);
    // Another incident is told at once: only the unchanged one waits.
    await decided(relay, await send(relay, 'Kerala'), 'succeeded');
    expect(slack.requests).toHaveLength(2);

    await clock.jump(1_000);
    await decided(relay, await send(relay, 'Maharashtra'), 'succeeded');
    expect(slack.requests.filter((request) => request.body.includes('Maharashtra'))).toHaveLength(2);
    expect(slack.requests).toHaveLength(3);
  });

  it('a 30-day mute from the admin API holds matching events for 30 days of driven time; after, they go out', async () => {
    const clock = new ManualClock();
    const slack = await receiver();
    const relay = await relayOn(clock, slack.url('/webhook'), '{ to: [ops-slack] }');

    const { status, json: mute } = await relay.admin<{ id: string; expires_at: string }>('/mutes', {
      method: 'POST',
      body: { matchers: { 'data.region': 'Maharashtra' }, duration: '30d', reason: 'maintenance' },
    });
    expect(status).toBe(201);
    expect(mute.expires_at).toBe(new Date(clock.now() + 30 * DAY).toISOString());

    const held = await decided(relay, await send(relay, 'Maharashtra'), 'muted');
    expect(held.note).toBe(`muted by ${mute.id} (maintenance)`);
    // Other regions are not muted.
    await decided(relay, await send(relay, 'Kerala'), 'succeeded');

    await clock.jump(30 * DAY - 1_000);
    expect((await relay.admin<{ mutes: Array<{ id: string }> }>('/mutes')).json.mutes.map((active) => active.id)).toEqual([mute.id]);
    const late = await decided(relay, await send(relay, 'Maharashtra'), 'muted');
    expect(late.note).toBe(`muted by ${mute.id} (maintenance)`);
    expect(slack.requests.map((request) => request.body.includes('Maharashtra'))).toEqual([false]);

    await clock.jump(1_000);
    expect((await relay.admin<{ mutes: unknown[] }>('/mutes')).json.mutes).toEqual([]);
    await decided(relay, await send(relay, 'Maharashtra'), 'succeeded');
    expect(slack.requests.map((request) => request.body.includes('Maharashtra'))).toEqual([false, true]);
  });

  it('times the server writes are the driven clock\'s: receive time, an event without a sender time, the delivery log', async () => {
    const clock = new ManualClock();
    const slack = await receiver();
    const relay = await relayOn(clock, slack.url('/webhook'), '{ to: [ops-slack] }');
    await clock.jump(3 * DAY);
    const at = new Date(clock.now()).toISOString();
    const id = await send(relay, 'Maharashtra', { created_at: undefined });
    const delivery = await decided(relay, id, 'succeeded');
    const { json: event } = await relay.admin<{ event: { received_at: string; occurred_at: string } }>(`/events/${id}`);
    expect(event.event).toMatchObject({ received_at: at, occurred_at: at });
    const { json: detail } = await relay.admin<{ created_at: string; updated_at: string; attempt_log: Array<{ started_at: string }> }>(`/deliveries/${delivery.id}`);
    expect(detail).toMatchObject({ created_at: at, updated_at: at });
    expect(detail.attempt_log).toMatchObject([{ started_at: at }]);
  });
});
