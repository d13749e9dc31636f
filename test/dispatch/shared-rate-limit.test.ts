/**
 * A destination's rate is the cluster's, not each replica's: three dispatchers, each with a store
 * (pool) of its own on one PostgreSQL database, send to a destination limited to N per second and
 * the receiver sees at most ~N in any second, while every delivery arrives. And a lane waits for
 * the budget on its own clock: nothing goes before the budget said so.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import type { RateGrant, SharedRateLimit } from '../../src/store/shared-rate-limit.ts';
import { NotificationStage } from '../../src/notify/pipeline.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { PostgresRateLimit } from '../../src/store/postgres/rate-limit.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { systemClock } from '../../src/util/clock.ts';
import type { Clock } from '../../src/util/clock.ts';
import { ManualClock, settle } from '../support/clock.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { WAIT_MS } from '../support/wait.ts';

let receiver: FakeReceiver;
let http: HttpClient;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  receiver = await FakeReceiver.start();
  http = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  receiver.requests.length = 0;
});
afterAll(async () => {
  await receiver.close();
  await http.close();
});

function destination(store: Store, rate: { max: number; per: number }): Destination {
  const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: 'test' });
  return createDestination(
    { name: 'paced', type: 'http', url: receiver.url('/hook'), method: 'POST', headers: {}, concurrency: 4, rate } as Parameters<typeof createDestination>[0],
    { http, templates, version: 'test', logger: silentLogger(), store: () => store },
  );
}

async function startDispatcher(store: Store, rate: { max: number; per: number }, sharedRateLimit: SharedRateLimit, clock: Clock = systemClock): Promise<Dispatcher> {
  const dispatcher = new Dispatcher({
    store,
    destinations: [destination(store, rate)],
    retry: { schedule: [50, 50, 50], disable_after: 100 },
    logger: silentLogger(),
    metrics: new Metrics(),
    version: 'test',
    stage: new NotificationStage({ store, mutes: { match: () => null }, routes: () => undefined, resendsState: () => false, clock }),
    clock,
    sharedRateLimit,
  });
  cleanups.push(() => dispatcher.stop(1_000));
  await dispatcher.start();
  return dispatcher;
}

/** The most requests the receiver saw in any span of `ms` (sliding, from each arrival). */
function busiest(times: readonly number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let start = 0, end = 0; start < sorted.length; start++) {
    while (end < sorted.length && sorted[end]! < sorted[start]! + ms) end++;
    most = Math.max(most, end - start);
  }
  return most;
}

describe('rate limit shared by replicas on PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('three dispatchers sending to a destination limited to 8/s: at most ~8 in any second in total, and every delivery arrives', async () => {
    const rate = { max: 8, per: 1_000 };
    const stores: PostgresStore[] = [];
    for (let i = 0; i < 3; i++) {
      const store = await PostgresStore.open(database.url);
      cleanups.push(() => store.close());
      stores.push(store);
    }
    await stores[0]!.syncDestinations(['paced']);
    const total = 32;
    // One incident per event: incident order would otherwise serialize them, rate or not.
    for (let i = 0; i < total; i++) await stores[i % 3]!.ingest(batchOf(relayEvent({ dedup_key: `incident-${i}` }), ['paced']));

    for (const store of stores) {
      const limit = PostgresRateLimit.open(database.url);
      cleanups.push(() => limit.close());
      await startDispatcher(store, rate, limit);
    }
    const requests = await receiver.waitFor(total, { timeoutMs: WAIT_MS });
    const ids = new Set(requests.map((request) => request.headers['webhook-id']));
    expect(ids.size).toBe(total);
    // Each replica alone would send 8/s: together, without a shared budget, all 32 within 1.5 s.
    // The budget grants one send per 125 ms; what the receiver sees also carries each send's own
    // trip, which a loaded machine stretches unevenly, so the count is taken over two seconds,
    // where a late or early arrival moves it by one rather than by an eighth of the budget.
    expect(busiest(requests.map((request) => request.at), 2 * rate.per)).toBeLessThanOrEqual(2 * rate.max + 2);
    // …and the budget holds them back: 32 at 8/s take about 4 s.
    const span = Math.max(...requests.map((r) => r.at)) - Math.min(...requests.map((r) => r.at));
    expect(span).toBeGreaterThanOrEqual(3_000);
  }, WAIT_MS + 30_000);
});

describe('a lane waiting for its shared budget', () => {
  let dir: string;
  let store: SqliteStore;
  // A store of its own per test: what one test leaves pending is not the next one's work.
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hookrelay-budget-'));
    store = await SqliteStore.open(join(dir, 'store.db'));
    await store.syncDestinations(['paced']);
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A budget that grants one send per `everyMs` of the driven clock (what PostgreSQL would answer). */
  function budgetOn(clock: ManualClock, everyMs: number): SharedRateLimit & { asked: number; paused: number[] } {
    let nextAt = Number.NEGATIVE_INFINITY;
    return {
      asked: 0,
      paused: [],
      take(): Promise<RateGrant> {
        this.asked += 1;
        const now = clock.now();
        if (now < nextAt) return Promise.resolve({ granted: false, retry_in_ms: nextAt - now });
        nextAt = now + everyMs;
        return Promise.resolve({ granted: true });
      },
      pause(_destination, _rate, ms): Promise<void> {
        this.paused.push(ms);
        nextAt = Math.max(nextAt, clock.now() + ms);
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    };
  }

  it('sends only when the budget allows, waiting its msBeforeNext on the injected clock; a 429 pauses every replica', async () => {
    const clock = new ManualClock(Date.now());
    const budget = budgetOn(clock, 5_000);
    let first = true;
    receiver.respond(() => {
      if (!first) return { status: 200 };
      first = false;
      return { status: 429, headers: { 'retry-after': '20' } };
    });
    // Due at the driven clock's now: a wall-clock time even 1 ms later is never due on a clock that does not move.
    for (let i = 0; i < 3; i++) await store.ingest(batchOf(relayEvent({ dedup_key: `lane-${i}` }), ['paced'], clock.now()));
    await startDispatcher(store, { max: 100, per: 1_000 }, budget, clock);
    await receiver.waitFor(1);
    await settle();
    // The p-queue allows 100/s and 4 at once: only the budget holds the others back.
    expect(receiver.requests).toHaveLength(1);
    // The destination said 429 Retry-After: 20: the shared budget is paused for all replicas.
    expect(budget.paused).toEqual([20_000]);
    await clock.advance(19_000);
    await settle();
    expect(receiver.requests).toHaveLength(1);
    await clock.advance(1_000);
    await receiver.waitFor(2);
    await settle();
    expect(receiver.requests).toHaveLength(2);
    await clock.advance(5_000);
    await receiver.waitFor(3);
    await clock.advance(5_000);
    await receiver.waitFor(4);
    await settle();
    // Three events, one retried after the 429: four requests, each 5 s of driven time apart.
    expect(receiver.requests).toHaveLength(4);
  });

  it('stopping while sends wait for the budget gives them back as pending, unsent', async () => {
    const clock = new ManualClock(Date.now());
    const budget = budgetOn(clock, 60_000);
    receiver.respond(() => ({ status: 200 }));
    for (let i = 0; i < 2; i++) await store.ingest(batchOf(relayEvent({ dedup_key: `stop-${i}` }), ['paced'], clock.now()));
    const dispatcher = await startDispatcher(store, { max: 100, per: 1_000 }, budget, clock);
    await receiver.waitFor(1);
    await settle();
    // The driven clock never reaches the budget's next grant; a stop that waited for it (or for its
    // whole grace) would not return before the grace ran out.
    const grace = 30_000;
    const started = Date.now();
    await dispatcher.stop(grace);
    expect(Date.now() - started).toBeLessThan(grace);
    expect(receiver.requests).toHaveLength(1);
    const pending = await store.view('deliveries', { destination: 'paced', status: 'pending', limit: 10 });
    expect(pending.map((delivery) => delivery.attempts)).toEqual([0]);
  }, 40_000);
});
