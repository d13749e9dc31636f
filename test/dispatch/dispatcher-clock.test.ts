import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDestination, destinationConfigSchema, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import type { BreakerChange } from '../../src/notify/breaker.ts';
import { NotificationStage } from '../../src/notify/pipeline.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { NewDelivery, Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { newId } from '../../src/util/ids.ts';
import { eventually, ManualClock, settle } from '../support/clock.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { WAIT_MS } from '../support/wait.ts';

/**
 * The dispatcher on a clock the test drives: retries, backoffs and probes happen when the test
 * moves time, never by waiting for it. Only real I/O (SQLite's writer thread, loopback HTTP) is awaited.
 */
let dir: string;
let store: Store;
let receiver: FakeReceiver;
let http: HttpClient;
let clock: ManualClock;
let dispatcher: Dispatcher | null = null;
const changes: BreakerChange[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hookrelay-clock-'));
  store = await SqliteStore.open(join(dir, 'store.db'));
  await store.syncDestinations(['receiver']);
  receiver = await FakeReceiver.start();
  http = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
  clock = new ManualClock(Date.now());
  changes.length = 0;
});

afterEach(async () => {
  await dispatcher?.stop(1_000);
  dispatcher = null;
  await store.close();
  await receiver.close();
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

function httpDestination(extra: Record<string, unknown> = {}): Destination {
  const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: 'test' });
  return createDestination(
    { name: 'receiver', type: 'http', url: receiver.url('/hook'), method: 'POST', headers: {}, ...extra } as Parameters<typeof createDestination>[0],
    { http, templates, version: 'test', logger: silentLogger(), store: () => store },
  );
}

/** A destination of another type (pagerduty, slack) named `receiver`, posting to the fake receiver, its config read as `check` reads it. */
function typedDestination(config: Record<string, unknown>): Destination {
  const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: 'test' });
  return createDestination(destinationConfigSchema.parse({ name: 'receiver', ...config }), {
    http,
    templates,
    version: 'test',
    logger: silentLogger(),
    store: () => store,
  });
}

async function start(destination: Destination, disableAfter: number, on: Store = store, schedule: readonly number[] = [1_000, 1_000, 1_000, 1_000, 1_000, 1_000]): Promise<Dispatcher> {
  dispatcher = new Dispatcher({
    store: on,
    destinations: [destination],
    retry: { schedule, disable_after: disableAfter },
    logger: silentLogger(),
    metrics: new Metrics(),
    version: 'test',
    stage: new NotificationStage({ store: on, mutes: { match: () => null }, routes: () => undefined, resendsState: () => false, clock }),
    probeBackoffMs: [10_000, 20_000],
    clock,
    onBreakerChange: (change) => changes.push(change),
  });
  await dispatcher.start();
  return dispatcher;
}

/** An event of this incident, queued in incident order as ingest queues it. */
async function queue(dedupKey: string, status: 'firing' | 'resolved' = 'firing'): Promise<string> {
  const event = relayEvent({ dedup_key: dedupKey, status });
  const batch = batchOf(event, [], clock.now());
  const delivery: NewDelivery = { id: newId('dlv'), destination: 'receiver', route: 'all', status: 'pending', incident_key: dedupKey, priority: 3 };
  await store.ingest({ ...batch, events: [{ event, deliveries: [delivery] }] });
  return event.id;
}

const received = (): Array<{ id: string; status: string }> =>
  receiver.requests.map((request) => request.json<{ event: { id: string; status: string } }>().event);

/** An event of a grouped route: its delivery joins the group's batch (wait 30 s, interval 5 min). */
async function queueGrouped(groupKey: string): Promise<string> {
  const event = relayEvent({ dedup_key: `${groupKey}:${newId('evt')}` });
  const batch = batchOf(event, [], clock.now());
  const delivery: NewDelivery = { id: newId('dlv'), destination: 'receiver', route: 'grouped', status: 'pending', group: { key: groupKey, wait_ms: 30_000, interval_ms: 300_000 }, priority: 3 };
  await store.ingest({ ...batch, events: [{ event, deliveries: [delivery] }] });
  return delivery.id;
}

/** What another dispatcher sharing the store could take right now (it takes it: use it to prove there is nothing). */
async function claimableByAnother(): Promise<string[]> {
  const batch = await store.claim('receiver', { limit: 100, now: clock.now(), lease_ms: 60_000, owner: 'intruder' });
  return batch.deliveries.map((delivery) => delivery.id);
}

/** Attempts the store has recorded (a grouped batch counts once per member). */
async function recordedAttempts(): Promise<number> {
  const deliveries = await store.view('deliveries', { destination: 'receiver', limit: 1_000 });
  return deliveries.reduce((sum, delivery) => sum + delivery.attempts, 0);
}

/** The same store, except that attempts are recorded only when the test opens the gate. */
function gatedRecords(inner: Store): { store: Store; waiting: () => number; open: () => void } {
  let waiting = 0;
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const gated = new Proxy(inner, {
    get(target, property) {
      if (property === 'commitAttempts') {
        return async (results: Parameters<Store['commitAttempts']>[0]) => {
          waiting += 1;
          await gate;
          return target.commitAttempts(results);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: gated, waiting: () => waiting, open };
}

/** `count` requests arrived and each one's attempt is recorded, or waits at `gate` (the writer thread is real I/O, slower under load); then what follows settles. */
async function requestsSettleAt(count: number, gate?: { waiting: () => number }): Promise<void> {
  await receiver.waitFor(count, { timeoutMs: WAIT_MS });
  // An attempt held at the test's gate (gatedRecords) has reached the store as far as it will.
  const reached = async (): Promise<number> => (await recordedAttempts()) + (gate?.waiting() ?? 0);
  for (const deadline = Date.now() + 5_000; (await reached()) < count && Date.now() < deadline; ) await settle(1);
  await settle();
  expect(receiver.requests).toHaveLength(count);
}

describe('dispatcher on a driven clock', () => {
  it('circuit breaker: opens after disable_after, probes the oldest pending after a backoff that grows, closes on success and the backlog flows', async () => {
    let up = false;
    receiver.respond(() => ({ status: up ? 200 : 503 }));
    const ids = [await queue('a'), await queue('b'), await queue('c'), await queue('d')];
    const lane = await start(httpDestination({ concurrency: 1 }), 2);
    lane.notify(['receiver']);
    await requestsSettleAt(2); // a, b fail: the circuit opens; c and d are given back untouched
    const untouched = async () =>
      (await store.view('deliveries', { destination: 'receiver', status: 'pending', limit: 10 })).filter((delivery) => delivery.attempts === 0).length;
    await eventually(async () => changes.length === 1 && (await untouched()) === 2);
    expect(changes.map((change) => change.state)).toEqual(['open']);

    await clock.advance(9_000);
    await settle();
    expect(receiver.requests).toHaveLength(2); // no probe before the backoff
    await clock.advance(1_000);
    await requestsSettleAt(3); // the probe: the oldest pending (a), still failing
    expect(received()[2]!.id).toBe(ids[0]);
    const probeRecorded = async () => (await store.view('deliveries', { destination: 'receiver', limit: 10 })).some((d) => d.event_id === ids[0] && d.attempts === 2);
    await eventually(probeRecorded);
    await clock.advance(19_000);
    await settle();
    expect(receiver.requests).toHaveLength(3); // the next probe waits 20 s
    up = true;
    await clock.advance(1_000);
    await requestsSettleAt(7); // the probe succeeds and closes the circuit, and the backlog flows at once
    await eventually(() => changes.length === 2);
    expect(changes.map((change) => change.state)).toEqual(['open', 'closed']);
    expect(new Set(received().slice(3).map((event) => event.id))).toEqual(new Set([ids[0], ids[1], ids[2], ids[3]]));
    expect((await store.view('destinations'))[0]).toMatchObject({ enabled: true, consecutive_failures: 0, probe_at: null });
  });

  it('auto_enable: false keeps the circuit open until a person enables it', async () => {
    receiver.respond(() => ({ status: 503 }));
    await queue('a');
    await queue('b');
    const lane = await start(httpDestination({ concurrency: 1, auto_enable: false }), 2);
    lane.notify(['receiver']);
    await requestsSettleAt(2);
    await eventually(() => changes.length === 1);
    await clock.advance(600_000);
    await settle();
    expect(receiver.requests).toHaveLength(2);
    expect(changes[0]).toMatchObject({ state: 'open', probe_at: null });
  });

  it('per-incident order: a later event waits behind an earlier one still being retried; other incidents do not wait', async () => {
    let firstTry = true;
    receiver.respond((request) => {
      const event = request.json<{ event: { dedup_key: string; status: string } }>().event;
      if (event.dedup_key === 'slow' && event.status === 'firing' && firstTry) {
        firstTry = false;
        return { status: 503 };
      }
      return { status: 200 };
    });
    const trigger = await queue('slow', 'firing');
    const resolve = await queue('slow', 'resolved');
    const other = await queue('fast', 'firing');
    const lane = await start(httpDestination({ concurrency: 4 }), 10);
    lane.notify(['receiver']);
    await requestsSettleAt(2); // the trigger (503) and the other incident; the resolve waits
    expect(received().map((event) => event.id).sort()).toEqual([trigger, other].sort());
    await clock.advance(1_500); // the trigger's retry succeeds; the resolve follows it at once
    await requestsSettleAt(4);
    expect(received().slice(2).map((event) => event.id)).toEqual([trigger, resolve]);
  });

  it('disabled while work is held: the held deliveries go back to pending untouched and nothing more is sent', async () => {
    // Each request answers slowly enough that the lane holds the others (claimed, not started) when the first fails.
    receiver.respond(() => ({ status: 503 }));
    const ids = [await queue('a'), await queue('b'), await queue('c'), await queue('d'), await queue('e')];
    const lane = await start(httpDestination({ concurrency: 1 }), 1);
    lane.notify(['receiver']);
    await requestsSettleAt(1);
    expect(changes.map((change) => change.state)).toEqual(['open']);
    const all = await store.view('deliveries', { destination: 'receiver', limit: 10 });
    const first = all.find((delivery) => delivery.attempts === 1)!;
    expect(first.event_id).toBe(ids[0]);
    const rest = all.filter((delivery) => delivery.id !== first.id);
    expect(rest).toHaveLength(4);
    for (const delivery of rest) {
      // Untouched: pending (never failed), no attempt, no request drawn, no error, no lease.
      expect(delivery).toMatchObject({ status: 'pending', attempts: 0, request_body: null, last_error: null, response_code: null });
      expect((await store.view('delivery', delivery.id))?.attempt_log).toEqual([]);
    }
    // Retries, heartbeats and wake-ups come and go before the probe: nothing more is sent.
    await clock.advance(9_999);
    await settle();
    expect(receiver.requests).toHaveLength(1);
    expect((await store.view('deliveries', { destination: 'receiver', status: 'in_flight', limit: 10 }))).toEqual([]);
  });

  it('leases of held work are renewed while the lane is paused, so no other dispatcher can take it', async () => {
    let calls = 0;
    receiver.respond(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '150' } } : { status: 200 }));
    await queue('a');
    await queue('b');
    await queue('c');
    const lane = await start(httpDestination({ concurrency: 1 }), 5);
    lane.notify(['receiver']);
    await requestsSettleAt(1);
    // Paused for 150 s with a 60 s lease: b and c are held in memory the whole time.
    for (let elapsed = 0; elapsed < 140_000; elapsed += 10_000) {
      await clock.advance(10_000);
      expect(await claimableByAnother()).toEqual([]);
    }
    expect(receiver.requests).toHaveLength(1);
    const held = await store.view('deliveries', { destination: 'receiver', status: 'in_flight', limit: 10 });
    expect(held).toHaveLength(2);
    await clock.advance(10_000); // the pause ends: b, c and a's retry (due after Retry-After) go
    await requestsSettleAt(4);
    expect((await store.view('deliveries', { destination: 'receiver', status: 'succeeded', limit: 10 }))).toHaveLength(3);
  });

  it('a rate of 2 per hour is kept on the lane\'s clock: two go at once, the third once the hour has passed in driven time', async () => {
    const hour = 3_600_000;
    const ids = [await queue('a'), await queue('b'), await queue('c')];
    const lane = await start(httpDestination({ concurrency: 4, rate: { max: 2, per: hour } }), 10);
    lane.notify(['receiver']);
    await requestsSettleAt(2);
    await clock.jump(hour - 1_000);
    await settle();
    expect(receiver.requests).toHaveLength(2); // the window is full until the hour is up
    await clock.jump(1_000);
    await requestsSettleAt(3);
    expect(new Set(received().map((event) => event.id))).toEqual(new Set(ids));
  });

  it('429 with Retry-After pauses the whole lane until then, and it resumes by itself', async () => {
    let calls = 0;
    receiver.respond(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '30' } } : { status: 200 }));
    const ids = [await queue('a'), await queue('b'), await queue('c')];
    const lane = await start(httpDestination({ concurrency: 1 }), 5);
    lane.notify(['receiver']);
    await requestsSettleAt(1);
    await clock.advance(29_000);
    await settle();
    expect(receiver.requests).toHaveLength(1); // neither the retry nor other incidents go while paused
    await clock.advance(1_000);
    await requestsSettleAt(4);
    expect(new Set(received().slice(1).map((event) => event.id))).toEqual(new Set(ids));
    // A rate limit says nothing about the destination's health.
    expect((await store.view('destinations'))[0]).toMatchObject({ enabled: true, consecutive_failures: 0 });
    expect(changes).toEqual([]);
  });

  /** The default schedule's first step is 30 s (±20 %): a destination's shorter Retry-After must win over it. */
  const DEFAULT_SCHEDULE = [30_000, 120_000, 600_000, 3_600_000, 21_600_000, 86_400_000];

  it('PagerDuty answers the trigger 429 with Retry-After: 1 → the trigger goes again 1 s later (not 30 s), and the resolve after it', async () => {
    let throttled = false;
    receiver.respond((request) => {
      const event = request.json<{ event_action: string }>();
      if (event.event_action === 'trigger' && !throttled) {
        throttled = true;
        return { status: 429, headers: { 'retry-after': '1' }, body: '{"status":"throttle event"}' };
      }
      return { status: 202, body: '{"status":"success"}' };
    });
    await queue('page', 'firing');
    await queue('page', 'resolved');
    const lane = await start(typedDestination({ type: 'pagerduty', routing_key: 'R0UTINGKEY', url: receiver.url('/v2/enqueue') }), 5, store, DEFAULT_SCHEDULE);
    lane.notify(['receiver']);
    await requestsSettleAt(1);
    await clock.advance(900);
    await settle();
    expect(receiver.requests).toHaveLength(1); // not before the second PagerDuty asked for; the resolve waits behind its trigger
    await clock.advance(100);
    await requestsSettleAt(3);
    expect(receiver.requests.map((request) => request.json<{ event_action: string }>().event_action)).toEqual(['trigger', 'trigger', 'resolve']);
    expect(await store.view('deliveries', { destination: 'receiver', status: 'succeeded', limit: 10 })).toHaveLength(2);
  });

  it('Slack answers 429 with Retry-After: 1 → the message goes again 1 s later (not 30 s), and the incident\'s next message after it', async () => {
    let throttled = false;
    receiver.respond(() => {
      if (throttled) return { status: 200, body: 'ok' };
      throttled = true;
      return { status: 429, headers: { 'retry-after': '1' }, body: 'rate_limited' };
    });
    await queue('chat', 'firing');
    await queue('chat', 'resolved');
    const lane = await start(typedDestination({ type: 'slack', url: receiver.url('/services/T0/B0/x') }), 5, store, DEFAULT_SCHEDULE);
    lane.notify(['receiver']);
    await requestsSettleAt(1);
    await clock.advance(900);
    await settle();
    expect(receiver.requests).toHaveLength(1);
    await clock.advance(100);
    await requestsSettleAt(3);
    const texts = receiver.requests.map((request) => request.body);
    expect(texts[1]).toBe(texts[0]); // the same message again
    expect(texts[2]).not.toBe(texts[0]); // then the resolve
    expect(texts[2]).toMatch(/resolved/i);
  });

  it('a grouped batch is retried as one request with every member, and recorded for each', async () => {
    let calls = 0;
    receiver.respond(() => (++calls === 1 ? { status: 503 } : { status: 200 }));
    const members = [await queueGrouped('g1'), await queueGrouped('g1'), await queueGrouped('g1')];
    const lane = await start(httpDestination({ concurrency: 4 }), 5);
    lane.notify(['receiver']);
    await settle();
    expect(receiver.requests).toHaveLength(0); // the group waits 30 s for others to join
    await clock.advance(30_000);
    await requestsSettleAt(1);
    await clock.advance(1_500); // the retry (1 s ± 20 %)
    await requestsSettleAt(2);
    const [first, retry] = receiver.requests;
    expect(retry!.headers['webhook-id']).toBe(first!.headers['webhook-id']);
    expect(retry!.headers['retry-attempt']).toBe('1');
    expect(retry!.body).toBe(first!.body); // the request drawn once is sent again as it is
    // The success is answered before its record commits (the slot frees first): wait for the record.
    await eventually(async () => (await Promise.all(members.map((id) => store.view('delivery', id)))).every((delivery) => delivery?.status === 'succeeded'));
    for (const id of members) {
      const delivery = await store.view('delivery', id);
      expect(delivery).toMatchObject({ status: 'succeeded', attempts: 2 });
      expect(delivery?.attempt_log.map((attempt) => [attempt.outcome, attempt.response_code])).toEqual([
        ['retry', 503],
        ['succeeded', 200],
      ]);
    }
    await clock.advance(600_000);
    await settle();
    expect(receiver.requests).toHaveLength(2);
  });

  it('attempts that were already running when the circuit opened do not push its first probe back: it goes after the first backoff', async () => {
    let up = false;
    receiver.respond(() => ({ status: up ? 200 : 503 }));
    for (const key of ['a', 'b', 'c', 'd']) await queue(key);
    const lane = await start(httpDestination({ concurrency: 4 }), 1);
    lane.notify(['receiver']);
    await requestsSettleAt(4); // four incidents at once, all failing; the first result opens the circuit
    expect(changes.map((change) => change.state)).toEqual(['open']);
    const openedAt = clock.now();
    expect((await store.view('destinations'))[0]!.probe_at).toBe(new Date(openedAt + 10_000).toISOString());
    up = true;
    await clock.advance(10_000);
    await requestsSettleAt(8); // the probe at 10 s closes it, and the other three follow
    expect(changes.map((change) => change.state)).toEqual(['open', 'closed']);
  });

  it('a success frees its slot for the next request while its record commits; the incident\'s next event still waits for the record', async () => {
    const first = await queue('a', 'firing');
    const second = await queue('a', 'resolved');
    const third = await queue('b');
    const fourth = await queue('c');
    const gated = gatedRecords(store);
    const lane = await start(httpDestination({ concurrency: 1 }), 10, gated.store);
    lane.notify(['receiver']);
    // concurrency 1: one request at a time, but none waits for the store to commit the one before
    await requestsSettleAt(3, gated);
    expect(gated.waiting()).toBe(3);
    expect(received().map((event) => event.id)).toEqual([first, third, fourth]);
    gated.open();
    await requestsSettleAt(4); // a's resolve went only once a's firing was recorded
    expect(received()[3]!.id).toBe(second);
    const statuses = async () => (await store.view('deliveries', { destination: 'receiver', limit: 10 })).map((delivery) => delivery.status);
    await eventually(async () => (await statuses()).every((status) => status === 'succeeded'));
    expect(await statuses()).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  });

  it("an incident's next update goes as soon as the one ahead is recorded, leased by that record's commit: no claim takes it, and the clock never moves", async () => {
    const updates: string[] = [];
    for (let i = 0; i < 5; i++) updates.push(await queue('chatty', i === 4 ? 'resolved' : 'firing'));
    // The lane's first claim takes the incident's first update; every later claim (a refill, a
    // wake-up) finds nothing, as if its next claim were far away.
    let claims = 0;
    const firstClaimOnly = new Proxy(store, {
      get(target, property) {
        if (property === 'claim') {
          return async (...args: Parameters<Store['claim']>) => {
            claims += 1;
            return claims === 1 ? target.claim(...args) : { deliveries: [], next_due_at: null };
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const startedAt = clock.now();
    const lane = await start(httpDestination({ concurrency: 4 }), 10, firstClaimOnly);
    lane.notify(['receiver']);
    await receiver.waitFor(5, { timeoutMs: WAIT_MS });
    expect(received().map((event) => event.id)).toEqual(updates);
    expect(clock.now()).toBe(startedAt);
    // Nor does the lane ask the store for more after each one: its last claim found nothing else due.
    expect(claims).toBeLessThan(updates.length);
    const statuses = async () => (await store.view('deliveries', { destination: 'receiver', limit: 10 })).map((delivery) => delivery.status);
    await eventually(async () => (await statuses()).every((status) => status === 'succeeded'));
  });

  it("a lane that stops while its record commits gives the incident's chained update back at once: pending, not left to its lease", async () => {
    await queue('chatty');
    const next = await queue('chatty');
    const gated = gatedRecords(store);
    const lane = await start(httpDestination({ concurrency: 1 }), 10, gated.store);
    lane.notify(['receiver']);
    await receiver.waitFor(1, { timeoutMs: WAIT_MS });
    await eventually(() => gated.waiting() === 1);
    const stopping = lane.stop(WAIT_MS);
    gated.open();
    await stopping;
    dispatcher = null;
    const deliveries = await store.view('deliveries', { destination: 'receiver', limit: 10 });
    expect(deliveries.map((delivery) => [delivery.event_id, delivery.status])).toContainEqual([next, 'pending']);
    expect(receiver.requests).toHaveLength(1);
  });

  it('records that commit slowly do not stall sending: requests go on while they wait, up to a bound on held work', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await queue(`incident-${i}`));
    const gated = gatedRecords(store);
    const lane = await start(httpDestination({ concurrency: 1 }), 10, gated.store);
    lane.notify(['receiver']);
    // concurrency 1 claims 8 ahead; answered successes leave that room, and everything held
    // (their records included) stays within twice it: 16 requests, then it waits for the store.
    await receiver.waitFor(16, { timeoutMs: WAIT_MS });
    await settle();
    expect(receiver.requests).toHaveLength(16);
    expect(gated.waiting()).toBe(16);
    gated.open();
    await receiver.waitFor(30, { timeoutMs: WAIT_MS });
    expect(received().map((event) => event.id).sort()).toEqual([...ids].sort());
  });

  it('a failure keeps its slot until recorded: a failing destination gets no request its breaker has not counted', async () => {
    receiver.respond(() => ({ status: 503 }));
    await queue('a');
    await queue('b');
    await queue('c');
    const gated = gatedRecords(store);
    const lane = await start(httpDestination({ concurrency: 1 }), 1, gated.store);
    lane.notify(['receiver']);
    await requestsSettleAt(1, gated);
    await settle();
    expect(receiver.requests).toHaveLength(1);
    gated.open();
    await eventually(() => changes.length === 1);
    await settle();
    expect(receiver.requests).toHaveLength(1); // the breaker opened on the first failure
    expect(changes.map((change) => change.state)).toEqual(['open']);
  });

  it('a rate-limited lane whose circuit opens gives back what waits for the rate window at once: pending, not held until the window reopens', async () => {
    receiver.respond(() => ({ status: 503 }));
    await queue('a');
    await queue('b');
    await queue('c');
    const lane = await start(typedDestination({ type: 'http', url: receiver.url('/hook'), concurrency: 1, rate: { max: 1, per: '60s' } }), 1);
    lane.notify(['receiver']);
    await requestsSettleAt(1);
    await eventually(() => changes.length === 1);
    // Still inside the rate window (nothing could start before 60 s): nothing is held any more,
    // the other two wait as pending, untouched.
    await eventually(async () => (await store.view('deliveries', { destination: 'receiver', status: 'in_flight', limit: 10 })).length === 0);
    const pending = await store.view('deliveries', { destination: 'receiver', status: 'pending', limit: 10 });
    expect(pending.map((delivery) => delivery.attempts).sort()).toEqual([0, 0, 1]);
    expect(receiver.requests).toHaveLength(1);
  });
});

describe('dispatcher: storms', () => {
  it("a destination with storm digests: a backlog beyond its horizon goes out as one digest of the group, not one request per event", async () => {
    for (let i = 0; i < 10; i++) await queue(`flood:${i}`);
    // 1 request a second with a 2 s horizon: 2 fit, 10 wait.
    const lane = await start(typedDestination({ type: 'http', url: receiver.url('/hook'), rate: { max: 1, per: '1s' }, storm: { horizon: '2s' } }), 5);
    lane.notify(['receiver']);
    await requestsSettleAt(1);
    expect(receiver.requests[0]!.json()).toMatchObject({ type: 'hookrelay.digest', digest: { count: 10, incidents: 10 } });
    expect(await store.view('deliveries', { destination: 'receiver', status: 'succeeded', limit: 20 })).toHaveLength(10);
  });

  it('slack-bot in a storm: an incident that already has its card keeps updating it; the rest go out as one digest', async () => {
    receiver.respond(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true, channel: 'C1', ts: `1.${receiver.requests.length}` }) }));
    const slackBot = typedDestination({ type: 'slack-bot', token: 'xoxb-test', channel: 'C1', api_url: receiver.url('/api/'), rate: { max: 1, per: '1s' }, storm: { horizon: '2s' } });
    await queue('flood:0');
    const lane = await start(slackBot, 5);
    lane.notify(['receiver']);
    await requestsSettleAt(1); // flood:0's card
    for (let i = 1; i <= 10; i++) await queue(`flood:${i}`);
    await queue('flood:0', 'resolved');
    await clock.advance(1_000);
    lane.notify(['receiver']);
    await receiver.waitFor(2, { timeoutMs: WAIT_MS });
    await clock.advance(1_000); // the rate's next request
    await receiver.waitFor(4, { timeoutMs: WAIT_MS });
    await settle();
    const [, digest, update, reply] = receiver.requests;
    // One digest of the ten others, then flood:0's card updated, with a reply in its thread.
    expect(new URLSearchParams(digest!.body).get('text')).toMatch(/^:cloud_with_lightning: Storm digest: 10 events/);
    expect([digest!.path, update!.path, reply!.path]).toEqual(['/api/chat.postMessage', '/api/chat.update', '/api/chat.postMessage']);
    expect(new URLSearchParams(update!.body).get('ts')).toBe('1.1');
  });
});

describe('dispatcher: its surface to ingest and the admin API', () => {
  it("a lease for fresh work lasts the configured lease, 60 s by default, under this dispatcher's own name", async () => {
    const lane = await start(httpDestination(), 5);
    const other = new Dispatcher({
      store,
      destinations: [httpDestination()],
      retry: { schedule: [1_000], disable_after: 5 },
      logger: silentLogger(),
      metrics: new Metrics(),
      version: 'test',
      stage: new NotificationStage({ store, mutes: { match: () => null }, routes: () => undefined, resendsState: () => false, clock }),
      leaseMs: 5_000,
      clock,
    });
    await other.start();
    try {
      expect(lane.reserve('receiver')).toEqual({ owner: lane.owner, until: clock.now() + 60_000 });
      expect(other.reserve('receiver')).toEqual({ owner: other.owner, until: clock.now() + 5_000 });
      // Two dispatchers, even in one process, never take each other's leases for their own.
      expect(other.owner).not.toBe(lane.owner);
      // A lease in the store says which host and process holds it.
      expect(lane.owner.startsWith(`${hostname()}:${process.pid}:`)).toBe(true);
    } finally {
      await other.stop(1_000);
    }
  });

  it('names it does not serve are ignored: a destination still in the store but gone from the config, or one only another replica has', async () => {
    await store.syncDestinations(['receiver', 'gone']);
    const lane = await start(httpDestination(), 5);
    lane.notify(['gone']);
    lane.enabled('gone');
    const event = relayEvent({ dedup_key: 'elsewhere' });
    lane.adopt([{ id: newId('dlv'), destination: 'gone', event, member_ids: [], events: [event], attempts: 0, request_body: null, unordered: false, route: 'all', probe: false, rule_keys: [null] }]);
    lane.release('gone');
    expect(lane.reserve('gone')).toBeNull();
    // Ingest keeps per-incident order for it, the safe default.
    expect(lane.ordered('gone')).toBe(true);
    // Its own destination still works.
    await queue('a');
    lane.notify(['receiver']);
    await requestsSettleAt(1);
  });

  it('per-incident order at ingest: kept by default, not for an http destination configured `ordered: false`', async () => {
    expect((await start(httpDestination(), 5)).ordered('receiver')).toBe(true);
    await dispatcher!.stop(1_000);
    expect((await start(httpDestination({ ordered: false }), 5)).ordered('receiver')).toBe(false);
  });
});
