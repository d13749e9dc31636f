import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { NotificationStage } from '../../src/notify/pipeline.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { NewDelivery, Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { systemClock } from '../../src/util/clock.ts';
import { newId } from '../../src/util/ids.ts';
import { FakeReceiver } from '../support/receiver.ts';
import type { Reply } from '../support/receiver.ts';
import { batchOf, relayEvent } from '../support/events.ts';

/**
 * Several dispatchers draining one store into one receiver (two lanes in one process here; the
 * PostgreSQL replicas later): every delivery reaches the receiver once, each incident's events
 * in the order they arrived, never two of one incident at the receiver at the same time — also
 * while the receiver flaps, retries come back with jitter and the circuit opens and closes.
 * Real time (short retry steps), real SQLite, real loopback HTTP; the test waits on the store.
 */

let dir: string;
let receiver: FakeReceiver;
let http: HttpClient;
const running: Array<{ dispatchers: Dispatcher[]; store: Store }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hookrelay-two-'));
  receiver = await FakeReceiver.start();
  http = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
});

afterEach(async () => {
  for (const { dispatchers, store } of running.splice(0)) {
    await Promise.all(dispatchers.map((dispatcher) => dispatcher.stop(1_000)));
    await store.close();
  }
});

afterAll(async () => {
  await receiver.close();
  await http.close();
  rmSync(dir, { recursive: true, force: true });
});

function destination(concurrency: number): Destination {
  const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: 'test' });
  return createDestination(
    { name: 'receiver', type: 'http', url: receiver.url('/hook'), method: 'POST', headers: {}, concurrency } as unknown as Parameters<typeof createDestination>[0],
    { http, templates, version: 'test', logger: silentLogger(), store: () => { throw new Error('http destinations do not read the store'); } },
  );
}

interface Run {
  readonly store: Store;
  /** Event ids per incident, in the order they were ingested. */
  readonly queued: Map<string, string[]>;
}

/** A fresh store with `plan` (incident per event, in arrival order) queued as ingest queues it. */
async function queuePlan(plan: readonly string[]): Promise<Run> {
  const store = await SqliteStore.open(join(dir, `${newId('rcp')}.db`));
  await store.syncDestinations(['receiver']);
  const queued = new Map<string, string[]>();
  for (const [index, incident] of plan.entries()) {
    const event = relayEvent({ dedup_key: incident, status: 'firing', occurred_at: new Date(Date.parse('2026-11-29T10:00:00Z') + index * 1_000).toISOString() });
    const delivery: NewDelivery = { id: newId('dlv'), destination: 'receiver', route: 'all', status: 'pending', incident_key: incident, priority: 3 };
    await store.ingest({ ...batchOf(event, []), events: [{ event, deliveries: [delivery] }] });
    queued.set(incident, [...(queued.get(incident) ?? []), event.id]);
  }
  return { store, queued };
}

async function startDispatchers(store: Store, count: number, concurrency: number, disableAfter: number, options: { probeBackoffMs?: number[] } = {}): Promise<Dispatcher[]> {
  const dispatchers = Array.from(
    { length: count },
    () =>
      new Dispatcher({
        store,
        destinations: [destination(concurrency)],
        // Many short steps: a flapping receiver delays deliveries but never makes them fail for good.
        retry: { schedule: Array.from({ length: 40 }, () => 15), disable_after: disableAfter },
        logger: silentLogger(),
        metrics: new Metrics(),
        version: 'test',
        stage: new NotificationStage({ store, mutes: { match: () => null }, routes: () => undefined, resendsState: () => false, clock: systemClock }),
        probeBackoffMs: options.probeBackoffMs ?? [20, 40],
        leaseMs: 5_000,
        clock: systemClock,
      }),
  );
  running.push({ dispatchers, store });
  for (const dispatcher of dispatchers) await dispatcher.start();
  return dispatchers;
}

/** Waits until no delivery of the store is pending or in flight. */
async function drained(store: Store, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [state] = await store.view('destinations');
    if (state!.pending === 0) return;
    if (Date.now() > deadline) throw new Error(`${state!.pending} deliveries still pending after ${timeoutMs} ms (enabled: ${state!.enabled})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What the receiver saw: successes per incident in order, and the most requests of one incident it had open at once. */
function watchReceiver(answer: (index: number) => Reply, latencyMs: () => number) {
  const successes = new Map<string, string[]>();
  const open = new Map<string, number>();
  let mostOpen = 0;
  let requests = 0;
  receiver.respond(async (request) => {
    const { id, dedup_key: key } = request.json<{ event: { id: string; dedup_key: string } }>().event;
    const index = requests++;
    open.set(key, (open.get(key) ?? 0) + 1);
    mostOpen = Math.max(mostOpen, open.get(key)!);
    await new Promise((resolve) => setTimeout(resolve, latencyMs()));
    const reply = answer(index);
    open.set(key, open.get(key)! - 1);
    if ((reply.status ?? 200) < 300) successes.set(key, [...(successes.get(key) ?? []), id]);
    return reply;
  });
  return { successes, mostOpen: () => mostOpen, requests: () => requests };
}

describe('two dispatchers on one SQLite store, one receiver', () => {
  it('every delivery reaches the receiver once, each incident in order, one request of an incident at a time', async () => {
    const plan = Array.from({ length: 60 }, (_, i) => `inc_${i % 6}`);
    const { store, queued } = await queuePlan(plan);
    const seen = watchReceiver(() => ({ status: 200 }), () => Math.floor(Math.random() * 8));
    const dispatchers = await startDispatchers(store, 2, 4, 100);
    for (const dispatcher of dispatchers) dispatcher.notify(['receiver']);
    await drained(store);
    expect(seen.requests()).toBe(60);
    expect(seen.successes).toEqual(queued);
    expect(seen.mostOpen()).toBe(1);
    const finished = await store.view('deliveries', { destination: 'receiver', limit: 100 });
    expect(finished.every((delivery) => delivery.status === 'succeeded' && delivery.attempts === 1)).toBe(true);
  });

  it('a dead endpoint with disable_after: 3 → the circuit opens for both; requests stop at 3 plus what the other already had running', async () => {
    const plan = Array.from({ length: 20 }, (_, i) => `inc_${i}`);
    const { store } = await queuePlan(plan);
    const seen = watchReceiver(() => ({ status: 503 }), () => 5);
    const dispatchers = await startDispatchers(store, 2, 1, 3, { probeBackoffMs: [60_000] });
    for (const dispatcher of dispatchers) dispatcher.notify(['receiver']);
    // Settled: the circuit is open and nothing is in flight any more (held work was given back).
    for (const deadline = Date.now() + 10_000; ; ) {
      const [state] = await store.view('destinations');
      const flying = await store.view('deliveries', { destination: 'receiver', status: 'in_flight', limit: 100 });
      if (!state!.enabled && flying.length === 0) break;
      if (Date.now() > deadline) throw new Error('the circuit did not open, or work stayed in flight');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect((await store.view('destinations'))[0]).toMatchObject({ enabled: false, pending: 20 });
    // Measured: 4 — three that opened it, and the one the other dispatcher had already started.
    expect(seen.requests()).toBeGreaterThanOrEqual(3);
    expect(seen.requests()).toBeLessThanOrEqual(3 + 1);
    const untouched = (await store.view('deliveries', { destination: 'receiver', limit: 100 })).filter((delivery) => delivery.attempts === 0);
    expect(untouched.every((delivery) => delivery.status === 'pending')).toBe(true);
    expect(untouched.length).toBe(20 - seen.requests());
  });

  it('property: any mix of incidents, a flapping receiver, jittered retries and a breaker that opens and closes keeps every incident in order, each event delivered once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom('inc_a', 'inc_b', 'inc_c'), { minLength: 1, maxLength: 24 }),
        // The receiver's answers cycle through this pattern (true: 200, false: 503).
        fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }).map((pattern) => (pattern.every((up) => !up) ? [...pattern, true] : pattern)),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 2, max: 6 }),
        async (plan, pattern, dispatcherCount, concurrency, disableAfter) => {
          const { store, queued } = await queuePlan(plan);
          const seen = watchReceiver((index) => ({ status: pattern[index % pattern.length] ? 200 : 503 }), () => Math.floor(Math.random() * 4));
          const dispatchers = await startDispatchers(store, dispatcherCount, concurrency, disableAfter);
          for (const dispatcher of dispatchers) dispatcher.notify(['receiver']);
          await drained(store);
          expect(seen.successes).toEqual(queued);
          expect(seen.mostOpen()).toBe(1);
          const finished = await store.view('deliveries', { destination: 'receiver', limit: 100 });
          expect(finished.map((delivery) => delivery.status)).toEqual(plan.map(() => 'succeeded'));
          for (const { dispatchers: each, store: opened } of running.splice(0)) {
            await Promise.all(each.map((dispatcher) => dispatcher.stop(1_000)));
            await opened.close();
          }
        },
      ),
      { numRuns: 20 },
    );
  }, 90_000);
});
