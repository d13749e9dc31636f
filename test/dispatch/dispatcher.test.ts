import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { NotificationStage } from '../../src/notify/pipeline.ts';
import { systemClock } from '../../src/util/clock.ts';
import type { Clock } from '../../src/util/clock.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { ManualClock, eventually } from '../support/clock.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { Ballast } from '../store/full-disk.ts';
import { recordAttempt } from '../support/store.ts';

let dir: string;
let store: Store;
let receiver: FakeReceiver;
let http: HttpClient;
let dispatcher: Dispatcher | null = null;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hookrelay-dispatch-'));
  store = await SqliteStore.open(join(dir, 'store.db'));
  await store.syncDestinations(['receiver']);
  receiver = await FakeReceiver.start();
  http = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
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

async function startDispatcher(destination: Destination, leaseMs = 60_000, schedule = [50, 50, 50], logger = silentLogger(), clock: Clock = systemClock): Promise<Dispatcher> {
  dispatcher = new Dispatcher({
    store,
    destinations: [destination],
    retry: { schedule, disable_after: 100 },
    logger,
    metrics: new Metrics(),
    version: 'test',
    leaseMs,
    stage: new NotificationStage({ store, mutes: { match: () => null }, routes: () => undefined, resendsState: () => false, clock }),
    clock,
  });
  await dispatcher.start();
  return dispatcher;
}

async function eventIdsReceived(count: number, timeoutMs = 10_000): Promise<string[]> {
  const requests = await receiver.waitFor(count, { timeoutMs });
  return requests.map((request) => request.json<{ event: { id: string } }>().event.id);
}

describe('dispatcher', () => {
  it('a delivery that waits in a paused lane longer than its lease is still sent once', async () => {
    let calls = 0;
    receiver.respond(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '2' } } : { status: 200 }));
    const clock = new ManualClock(Date.now());
    const events = [relayEvent(), relayEvent(), relayEvent()];
    for (const event of events) await store.ingest(batchOf(event, ['receiver'], clock.now()));
    // Leases of 1 s renew every second; the lane pauses for 2 s. Time moves in 100 ms steps, to 4 leases past the pause.
    const lane = await startDispatcher(httpDestination({ concurrency: 1 }), 1_000, [50, 50, 50], silentLogger(), clock);
    lane.notify(['receiver']);
    await receiver.waitFor(1);
    for (let step = 0; step < 60; step++) await clock.advance(100);
    await eventually(async () => (await store.view('deliveries', { destination: 'receiver', status: 'succeeded', limit: 10 })).length === 3);
    // Stopped, nothing is in flight: what the receiver got is all it will get.
    await lane.stop(1_000);
    dispatcher = null;
    const ids = receiver.requests.slice(1).map((request) => request.json<{ event: { id: string } }>().event.id);
    expect(ids.sort()).toEqual(events.map((event) => event.id).sort());
  });

  it('429 pauses the whole lane until Retry-After, not just the delivery that got it', async () => {
    let calls = 0;
    receiver.respond(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    for (let i = 0; i < 3; i++) await store.ingest(batchOf(relayEvent(), ['receiver']));
    const lane = await startDispatcher(httpDestination({ concurrency: 1 }));
    lane.notify(['receiver']);
    const requests = await receiver.waitFor(4);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(990);
  });

  it('503 with Retry-After: 30 → the stored next attempt is ~30 s after the attempt, not at the 50 ms step', async () => {
    receiver.respond(() => ({ status: 503, headers: { 'retry-after': '30' }, body: 'maintenance' }));
    const event = relayEvent();
    await store.ingest(batchOf(event, ['receiver']));
    const lane = await startDispatcher(httpDestination(), 60_000, [50, 50]);
    lane.notify(['receiver']);
    await receiver.waitFor(1);
    const [delivery] = await store.view('deliveries', { destination: 'receiver', limit: 1 });
    let detail = await store.view('delivery', delivery!.id);
    for (let i = 0; i < 100 && detail?.attempts !== 1; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      detail = await store.view('delivery', delivery!.id);
    }
    expect(detail).toMatchObject({ status: 'pending', attempts: 1, response_code: 503 });
    const wait = Date.parse(detail!.next_attempt_at!) - Date.parse(detail!.updated_at);
    expect(wait).toBeGreaterThanOrEqual(29_000);
    expect(wait).toBeLessThanOrEqual(30_500);
    expect(receiver.requests).toHaveLength(1);
  });

  it('reserve lends a lease only while the lane has room, is enabled and not paused; adopt sends', async () => {
    const lane = await startDispatcher(httpDestination({ concurrency: 1 }));
    // concurrency 1, no rate limit: room for 8 (one sending, the rest waiting to).
    const first = lane.reserve('receiver');
    const more = Array.from({ length: 7 }, () => lane.reserve('receiver'));
    expect(first).toMatchObject({ owner: lane.owner });
    expect(more).not.toContain(null);
    expect(lane.reserve('receiver')).toBeNull();
    lane.release('receiver');
    expect(lane.reserve('receiver')).not.toBeNull();
    expect(lane.reserve('nowhere')).toBeNull();

    const event = relayEvent();
    const batch = batchOf(event, []);
    const delivery = { id: 'dlv_adopted', destination: 'receiver', route: 'r', status: 'pending' as const, lease: first };
    await store.ingest({ ...batch, events: [{ event, deliveries: [delivery] }] });
    lane.adopt([{ id: delivery.id, destination: 'receiver', event, member_ids: [], events: [event], attempts: 0, request_body: null, unordered: false, route: 'r', probe: false, rule_keys: [null] }]);
    expect(await eventIdsReceived(1)).toEqual([event.id]);
  });

  it('a disabled destination gets no leases until it is enabled again', async () => {
    await store.claim('receiver', { limit: 0, now: Date.now(), lease_ms: 1, owner: 'x' });
    const failure = { outcome: 'failed' as const, health: 'failure' as const, breaker: { disable_after: 1, probe_backoff_ms: null }, notified: [] };
    const event = relayEvent();
    await store.ingest(batchOf(event, ['receiver']));
    const [claimed] = (await store.claim('receiver', { limit: 1, now: Date.now() + 1, lease_ms: 60_000, owner: 'x' })).deliveries;
    await recordAttempt(store, {
      delivery_id: claimed!.id, member_ids: [], destination: 'receiver', lease_owner: 'x', started_at: Date.now(), finished_at: Date.now(),
      next_attempt_at: null, request_body: null, response_code: 500, response_body: null, latency_ms: 1, error: 'HTTP 500', ...failure,
    });
    const lane = await startDispatcher(httpDestination());
    expect(lane.reserve('receiver')).toBeNull();
    await store.change('enable_destination', 'receiver', Date.now());
    lane.enabled('receiver');
    expect(lane.reserve('receiver')).not.toBeNull();
  });

  it('stop gives back claimed work that had not started, due at once', async () => {
    receiver.respond(() => ({ status: 200, delayMs: 300 }));
    for (let i = 0; i < 4; i++) await store.ingest(batchOf(relayEvent(), ['receiver']));
    const lane = await startDispatcher(httpDestination({ concurrency: 1 }));
    lane.notify(['receiver']);
    await receiver.waitFor(1);
    await lane.stop(2_000);
    dispatcher = null;
    const again = await store.claim('receiver', { limit: 10, now: Date.now() + 1, lease_ms: 60_000, owner: 'next' });
    // One was sent (and recorded), the others were given back rather than left leased.
    expect(again.deliveries.length).toBe(3);
  });

  it('a render failure that is not the template (e.g. the store) is retried, not failed', async () => {
    const destination = httpDestination();
    let failures = 1;
    const flaky: Destination = {
      ...destination,
      render: (context) => {
        if (failures-- > 0) throw new Error('database is locked');
        return destination.render(context);
      },
    };
    const event = relayEvent();
    await store.ingest(batchOf(event, ['receiver']));
    const lane = await startDispatcher(flaky);
    lane.notify(['receiver']);
    expect(await eventIdsReceived(1)).toEqual([event.id]);
    const [delivery] = await store.view('deliveries', { destination: 'receiver', limit: 1 });
    let detail = await store.view('delivery', delivery!.id);
    for (let i = 0; i < 100 && detail?.status !== 'succeeded'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      detail = await store.view('delivery', delivery!.id);
    }
    expect(detail?.attempt_log.map((attempt) => attempt.outcome)).toEqual(['retry', 'succeeded']);
  });

  it('at a stateful destination an older event is skipped as superseded, but a command about it is still sent', async () => {
    const older = relayEvent({ dedup_key: 'inc_1', occurred_at: '2026-11-29T10:00:00.000Z' });
    const newer = relayEvent({ dedup_key: 'inc_1', status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' });
    const stateful: Destination = { ...httpDestination(), stateful: true };
    const lane = await startDispatcher(stateful);
    await store.ingest(batchOf(newer, ['receiver']));
    lane.notify(['receiver']);
    expect(await eventIdsReceived(1)).toEqual([newer.id]);
    for (let i = 0; i < 100 && (await store.notificationLog('receiver', ['inc_1']))[0]?.status !== 'resolved'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    await store.ingest(batchOf(older, ['receiver']));
    await store.append('prepared', older.id, [{ id: 'dlv_command', destination: 'receiver', route: 'command:acknowledge', request_body: '{"command":"ack"}' }], Date.now());
    lane.notify(['receiver']);
    const requests = await receiver.waitFor(2);
    expect(requests[1]!.body).toBe('{"command":"ack"}');
    const [olderDelivery] = (await store.view('event', older.id))!.deliveries.filter((d) => d.route !== 'command:acknowledge');
    for (let i = 0; i < 50 && (await store.view('delivery', olderDelivery!.id))?.status !== 'skipped'; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await store.view('delivery', olderDelivery!.id)).toMatchObject({ status: 'skipped', note: expect.stringContaining('superseded') });
    expect(receiver.requests).toHaveLength(2);
  });

  it('an attempt that could not be recorded (disk full) is recorded within seconds of space returning, not a lease later, and not sent twice', async () => {
    await store.close();
    const path = join(dir, 'full.db');
    store = await SqliteStore.open(path, { maxPageCount: 256 });
    await store.syncDestinations(['receiver']);
    // A large request body: recording the attempt (it keeps the request) needs fresh pages.
    const event = relayEvent({ data: { context: 'x'.repeat(30_000) } });
    await store.ingest(batchOf(event, ['receiver']));
    const ballast = new Ballast(path);
    const logged: Array<{ msg: string }> = [];
    const lines = new Writable({
      write(chunk: Buffer, _encoding, done) {
        logged.push(JSON.parse(chunk.toString()) as { msg: string });
        done();
      },
    });
    try {
      ballast.fill(256);
      // A lease far longer than the test: only giving the delivery back can make it due again.
      const lane = await startDispatcher(httpDestination(), 120_000, [50], pino({ level: 'info' }, lines));
      lane.notify(['receiver']);
      await receiver.waitFor(1);
      for (let i = 0; i < 200 && !logged.some((line) => line.msg.startsWith('could not record')); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(logged.some((line) => line.msg.startsWith('could not record a delivery attempt'))).toBe(true);

      ballast.release();
      const spaceReturned = Date.now();
      const [delivery] = await store.view('deliveries', { destination: 'receiver', limit: 1 });
      let detail = await store.view('delivery', delivery!.id);
      while (detail?.status !== 'succeeded' && Date.now() - spaceReturned < 5_000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        detail = await store.view('delivery', delivery!.id);
      }
      expect(Date.now() - spaceReturned).toBeLessThan(2_500);
      expect(detail).toMatchObject({ status: 'succeeded', attempts: 1 });
      // The attempt happened once; it was kept and recorded, never sent again.
      expect(receiver.requests).toHaveLength(1);
    } finally {
      ballast.close();
    }
  });
});
