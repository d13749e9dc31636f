/**
 * A lane on a shared store learns the circuit's state from two places: its own attempts' records
 * and every claim's answer (a peer may have opened or closed it). A claim that read the state
 * before this lane's own failure opened the circuit must not close it again when it answers
 * late. Real PostgreSQL, real loopback receiver; the order is forced with gates, not sleeps.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { Dispatcher } from '../../src/dispatch/dispatcher.ts';
import { NotificationStage } from '../../src/notify/pipeline.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import type { ClaimBatch, Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { systemClock } from '../../src/util/clock.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { FakeReceiver } from '../support/receiver.ts';

let database: TestDatabase;
let receiver: FakeReceiver;
let http: HttpClient;
const cleanups: Array<() => Promise<void>> = [];

beforeAll(async () => {
  database = await createTestDatabase();
  receiver = await FakeReceiver.start();
  http = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
afterAll(async () => {
  await receiver.close();
  await http.close();
  await database?.drop();
});

function destination(): Destination {
  const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: 'test' });
  return createDestination(
    { name: 'receiver', type: 'http', url: receiver.url('/hook'), method: 'POST', headers: {}, concurrency: 1, auto_enable: false } as unknown as Parameters<typeof createDestination>[0],
    { http, templates, version: 'test', logger: silentLogger(), store: () => { throw new Error('http destinations do not read the store'); } },
  );
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('a lane on PostgreSQL and its circuit', () => {
  it('a claim that read the circuit closed before this lane\'s own failure opened it does not close it again: nothing more is sent', async () => {
    const real = await PostgresStore.open(database.url, { listen: false });
    cleanups.push(() => real.close());
    await real.syncDestinations(['receiver']);

    // The lane's next claim reads the store at once, but its answer is held until the lane has
    // recorded the failure that opens the circuit (as a claim's commit can be, on a busy database).
    let holdNextClaim = false;
    const failureRecorded = gate();
    const overrides: Partial<Store> = {
      async claim(name, request): Promise<ClaimBatch> {
        const batch = await real.claim(name, request);
        if (holdNextClaim) {
          holdNextClaim = false;
          await failureRecorded.promise;
        }
        return batch;
      },
    };
    const store = new Proxy(real, {
      get(target, property) {
        if (property in overrides) return overrides[property as keyof Store];
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    }) as Store;

    const answer = gate();
    receiver.respond(async () => {
      await answer.promise;
      return { status: 503 };
    });
    const dispatcher = new Dispatcher({
      store,
      destinations: [destination()],
      retry: { schedule: [60_000], disable_after: 1 },
      logger: silentLogger(),
      metrics: new Metrics(),
      version: 'test',
      stage: new NotificationStage({ store, mutes: { match: () => null }, routes: () => undefined, resendsState: () => false, clock: systemClock }),
      leaseMs: 30_000,
      clock: systemClock,
      // The lane has taken in its own failure (its circuit is open): now the held claim answers.
      onBreakerChange: (change) => {
        if (change.state === 'open') failureRecorded.open();
      },
    });
    cleanups.push(() => dispatcher.stop(1_000));

    await real.ingest(batchOf(relayEvent({ dedup_key: 'first' }), ['receiver']));
    await dispatcher.start();
    await waitUntil(() => receiver.requests.length === 1);
    // The first request is at the receiver (unanswered); a second event arrives and the lane claims it.
    await real.ingest(batchOf(relayEvent({ dedup_key: 'second' }), ['receiver']));
    holdNextClaim = true;
    dispatcher.notify(['receiver']);
    await waitUntil(() => !holdNextClaim);
    answer.open();
    await failureRecorded.promise;
    // Whatever the late claim handed over goes back untouched: the circuit is open.
    await waitUntil(async () => (await real.view('destinations'))[0]!.pending === 2 && (await real.view('deliveries', { limit: 10, status: 'pending' })).length === 2);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests).toHaveLength(1);
    expect((await real.view('destinations'))[0]).toMatchObject({ enabled: false });
    const deliveries = await real.view('deliveries', { limit: 10 });
    expect(deliveries.map((delivery) => [delivery.status, delivery.attempts]).sort()).toEqual([
      ['pending', 0],
      ['pending', 1],
    ]);
  });
});

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
