import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import type { BreakerChange } from '../../src/dispatch/dispatcher.ts';
import { NotificationStage } from '../../src/notify/pipeline.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { NewDelivery, Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { newId } from '../../src/util/ids.ts';
import { ManualClock, settle } from '../support/clock.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { batchOf, relayEvent } from '../support/events.ts';

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

async function start(destination: Destination, disableAfter: number, on: Store = store): Promise<Dispatcher> {
  dispatcher = new Dispatcher({
    store: on,
    destinations: [destination],
    retry: { schedule: [1_000, 1_000, 1_000, 1_000, 1_000, 1_000], disable_after: disableAfter },
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

/** The same store, except that attempts are recorded only when the test opens the gate. */
function gatedRecords(inner: Store): { store: Store; waiting: () => number; open: () => void } {
  let waiting = 0;
  let open: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const gated = new Proxy(inner, {
    get(target, property) {
      if (property === 'recordAttempt') {
        return async (result: Parameters<Store['recordAttempt']>[0]) => {
          waiting += 1;
          await gate;
          return target.recordAttempt(result);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { store: gated, waiting: () => waiting, open };
}

async function requestsSettleAt(count: number): Promise<void> {
  await receiver.waitFor(count, { timeoutMs: 5_000 });
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
    expect(changes.map((change) => change.state)).toEqual(['open']);
    const pending = await store.listDeliveries({ destination: 'receiver', status: 'pending', limit: 10 });
    expect(pending.filter((delivery) => delivery.attempts === 0)).toHaveLength(2);

    await clock.advance(9_000);
    await settle();
    expect(receiver.requests).toHaveLength(2); // no probe before the backoff
    await clock.advance(1_000);
    await requestsSettleAt(3); // the probe: the oldest pending (a), still failing
    expect(received()[2]!.id).toBe(ids[0]);
    await clock.advance(19_000);
    await settle();
    expect(receiver.requests).toHaveLength(3); // the next probe waits 20 s
    up = true;
    await clock.advance(1_000);
    await requestsSettleAt(7); // the probe succeeds and closes the circuit, and the backlog flows at once
    expect(changes.map((change) => change.state)).toEqual(['open', 'closed']);
    expect(new Set(received().slice(3).map((event) => event.id))).toEqual(new Set([ids[0], ids[1], ids[2], ids[3]]));
    expect((await store.destinationStates())[0]).toMatchObject({ enabled: true, consecutive_failures: 0, probe_at: null });
  });

  it('auto_enable: false keeps the circuit open until a person enables it', async () => {
    receiver.respond(() => ({ status: 503 }));
    await queue('a');
    await queue('b');
    const lane = await start(httpDestination({ concurrency: 1, auto_enable: false }), 2);
    lane.notify(['receiver']);
    await requestsSettleAt(2);
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

  it('a success frees its slot for the next request while its record commits; the incident\'s next event still waits for the record', async () => {
    const first = await queue('a', 'firing');
    const second = await queue('a', 'resolved');
    const third = await queue('b');
    const fourth = await queue('c');
    const gated = gatedRecords(store);
    const lane = await start(httpDestination({ concurrency: 1 }), 10, gated.store);
    lane.notify(['receiver']);
    // concurrency 1: one request at a time, but none waits for the store to commit the one before
    await requestsSettleAt(3);
    expect(gated.waiting()).toBe(3);
    expect(received().map((event) => event.id)).toEqual([first, third, fourth]);
    gated.open();
    await requestsSettleAt(4); // a's resolve went only once a's firing was recorded
    expect(received()[3]!.id).toBe(second);
    await settle();
    const log = await store.listDeliveries({ destination: 'receiver', limit: 10 });
    expect(log.map((delivery) => delivery.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  });

  it('a failure keeps its slot until recorded: a failing destination gets no request its breaker has not counted', async () => {
    receiver.respond(() => ({ status: 503 }));
    await queue('a');
    await queue('b');
    await queue('c');
    const gated = gatedRecords(store);
    const lane = await start(httpDestination({ concurrency: 1 }), 1, gated.store);
    lane.notify(['receiver']);
    await requestsSettleAt(1);
    await settle();
    expect(receiver.requests).toHaveLength(1);
    gated.open();
    await settle();
    await settle();
    expect(receiver.requests).toHaveLength(1); // the breaker opened on the first failure
    expect(changes.map((change) => change.state)).toEqual(['open']);
  });
});
