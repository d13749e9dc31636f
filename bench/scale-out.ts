/**
 * Phase `pg`: hookrelay on PostgreSQL next to hookrelay on SQLite, against same-run baselines.
 *
 *   - ingest req/s (verified + committed, no route) of one `serve` on each store, alternating
 *     rounds with the bare express baseline;
 *   - deliveries/s draining a backlog (one incident per event) with one SQLite process, one
 *     PostgreSQL replica and three PostgreSQL replicas on one database, against the bare undici
 *     client posting the same bodies;
 *   - sender → destination p50/p99 at a steady rate through one `serve` on each store.
 *
 * Every hookrelay gets a fresh store: a SQLite file of its own, or a PostgreSQL database of its
 * own on the machine's server, dropped after.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Child } from './children.ts';
import { ADMIN_TOKEN, drainBaseline, enable, ingest, waitUntilDisabled } from './drain.ts';
import type { DrainRound } from './drain.ts';
import { runLatency } from './latency.ts';
import type { LatencyResult } from './latency.ts';
import { runLoad } from './load.ts';
import type { LoadResult } from './load.ts';
import pg from 'pg';
import { createBenchDatabase } from './postgres-database.ts';
import type { Receiver } from './receiver.ts';
import { readCounters, waitForDrain } from './relay-metrics.ts';
import { checkIngest, startHookrelay } from './servers.ts';
import { describeLoad } from './throughput.ts';

export interface ScaleOutOptions {
  readonly root: string;
  readonly tmpDir: string;
  readonly secret: string;
  readonly receiver: Receiver;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  /** Pending deliveries drained per measurement. */
  readonly backlog: number;
  /** The drained destination's concurrency (per replica) and the bare client's connections. */
  readonly drainConcurrency: number;
  /** The latency phase's http destination concurrency. */
  readonly concurrency: number;
  readonly ratePerSecond: number;
  readonly latencySeconds: number;
  readonly timeoutMs: number;
}

export interface ScaleOutResult {
  readonly ingest: { readonly baseline: LoadResult[]; readonly sqlite: LoadResult[]; readonly postgres: LoadResult[] };
  readonly deliveries: {
    readonly backlog: number;
    readonly concurrency: number;
    readonly baseline: DrainRound;
    readonly sqlite: DrainRound;
    readonly postgres1: DrainRound;
    readonly postgres3: DrainRound;
  };
  readonly latency: { readonly sqlite: LatencyResult; readonly postgres: LatencyResult };
}

type Kind = 'sqlite' | 'postgres';

/** A fresh store: its URL and how to throw it away. */
interface FreshStore {
  readonly url: string;
  drop(): Promise<void>;
  /**
   * Statistics for the planner, as a live database has them: autovacuum analyzes the queue
   * within its first minutes, but a database created seconds ago has none, and PostgreSQL then
   * plans the claim's incident check as a scan of the whole backlog for every candidate.
   */
  analyze(): Promise<void>;
}

async function freshStore(kind: Kind, dir: string): Promise<FreshStore> {
  mkdirSync(dir, { recursive: true });
  if (kind === 'sqlite') return { url: `sqlite:${join(dir, 'hookrelay.db')}`, drop: () => Promise.resolve(), analyze: () => Promise.resolve() };
  const database = await createBenchDatabase();
  return {
    ...database,
    async analyze() {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        await client.query('ANALYZE');
      } finally {
        await client.end();
      }
    },
  };
}

const log = (line: string): void => console.log(line);
let folders = 0;

export async function runScaleOut(options: ScaleOutOptions, baseline: Child): Promise<ScaleOutResult> {
  const { receiver } = options;
  const folder = (name: string): string => join(options.tmpDir, `pg-${name}-${++folders}`);
  const load = (url: string, seconds: number, phase: string): Promise<LoadResult> =>
    runLoad({ url, secret: options.secret, connections: options.connections, durationSeconds: seconds, phase });

  // Ingest alone (no route): what the store costs per webhook.
  const ingestRound = async (kind: Kind, round: number): Promise<LoadResult> => {
    const dir = folder(`ingest-${kind}`);
    const store = await freshStore(kind, dir);
    const relay = await startHookrelay({ root: options.root, dir, secret: options.secret, destinationUrl: receiver.url(), concurrency: options.concurrency, deliver: false, store: store.url });
    try {
      await checkIngest(relay, options.secret);
      await load(relay.url, options.warmupSeconds, `pg-warm-${kind}${round}`);
      return await load(relay.url, options.durationSeconds, `pg-tp-${kind}${round}`);
    } finally {
      await relay.stop();
      await store.drop();
    }
  };
  const ingestResult: ScaleOutResult['ingest'] = { baseline: [], sqlite: [], postgres: [] };
  log(`  ingest: ${options.connections} connections, ${options.rounds} × ${options.durationSeconds} s per server after ${options.warmupSeconds} s warm-up, alternating; a fresh store per round`);
  await load(baseline.url, options.warmupSeconds, 'pg-warm-base');
  for (let round = 1; round <= options.rounds; round += 1) {
    const order = round % 2 === 1 ? (['baseline', 'sqlite', 'postgres'] as const) : (['postgres', 'sqlite', 'baseline'] as const);
    for (const which of order) {
      const measured = which === 'baseline' ? await load(baseline.url, options.durationSeconds, `pg-tp-base${round}`) : await ingestRound(which, round);
      ingestResult[which].push(measured);
      log(`  round ${round} ${which.padEnd(22)}${describeLoad(measured)}`);
    }
  }

  // Draining a backlog piled up behind a disabled destination, by 1 or 3 replicas.
  const drainOn = async (kind: Kind, replicas: number, capture: boolean): Promise<DrainRound & { bodies: string[] }> => {
    const dir = folder(`drain-${kind}-${replicas}`);
    const store = await freshStore(kind, dir);
    const start = (index: number): Promise<Child> =>
      startHookrelay({
        root: options.root,
        dir: join(dir, `replica-${index}`),
        secret: options.secret,
        destinationUrl: receiver.url(),
        concurrency: options.drainConcurrency,
        disableAfter: 1,
        adminToken: ADMIN_TOKEN,
        store: store.url,
      });
    const running: Child[] = [];
    try {
      receiver.failWith(503);
      const filling = await start(0);
      try {
        await checkIngest(filling, options.secret);
        await waitUntilDisabled(filling, 10_000);
        await ingest(filling.url, options.backlog - 1, options.secret, options.backlog);
      } finally {
        await filling.stop();
      }
      await store.analyze();
      for (let index = 0; index < replicas; index += 1) running.push(await start(index));
      const { pending } = await readCounters(running[0]!.url);
      receiver.failWith(null);
      if (capture) receiver.capture();
      const target = receiver.received + pending;
      const started = performance.now();
      // One replica is told; the others learn it from the store (its NOTIFY), as in production.
      await enable(running[0]!);
      const finished = await receiver.whenReceived(target, options.timeoutMs);
      const ms = finished - started;
      return { delivered: pending, ms, perSec: pending / (ms / 1_000), bodies: capture ? receiver.takeCaptured() : [] };
    } finally {
      receiver.failWith(null);
      for (const relay of running) await relay.stop();
      await store.drop();
    }
  };
  log(`  deliveries: ${options.backlog} pending (one incident each) behind a disabled destination of concurrency ${options.drainConcurrency} per replica, timed from enable to the last answered`);
  const sqlite = await drainOn('sqlite', 1, true);
  log(`  sqlite, 1 process           ${describe(sqlite)}`);
  const bodiesFile = join(options.tmpDir, 'pg-drain-bodies.json');
  writeFileSync(bodiesFile, JSON.stringify(sqlite.bodies));
  const bare = await drainBaseline(
    { receiver, concurrency: options.drainConcurrency, timeoutMs: options.timeoutMs },
    bodiesFile,
  );
  log(`  bare undici client          ${describe(bare)}`);
  const postgres1 = await drainOn('postgres', 1, false);
  log(`  postgres, 1 replica         ${describe(postgres1)}`);
  const postgres3 = await drainOn('postgres', 3, false);
  log(`  postgres, 3 replicas        ${describe(postgres3)}`);

  // Sender → destination at a steady rate.
  const latencyOn = async (kind: Kind): Promise<LatencyResult> => {
    const dir = folder(`latency-${kind}`);
    const store = await freshStore(kind, dir);
    const relay = await startHookrelay({ root: options.root, dir, secret: options.secret, destinationUrl: receiver.url(), concurrency: options.concurrency, store: store.url });
    try {
      await checkIngest(relay, options.secret);
      await waitForDrain(relay.url, 10_000);
      return await runLatency(relay, receiver, {
        ratePerSecond: options.ratePerSecond,
        durationSeconds: options.latencySeconds,
        warmupSeconds: options.warmupSeconds,
        secret: options.secret,
        settleTimeoutMs: 30_000,
      });
    } finally {
      await relay.stop();
      await store.drop();
    }
  };
  log(`  latency: ${options.ratePerSecond} events/s for ${options.latencySeconds} s into one serve, http destination concurrency ${options.concurrency}`);
  const latencySqlite = await latencyOn('sqlite');
  log(`  sqlite    p50 ${latencySqlite.endToEnd.p50.toFixed(1)} ms  p99 ${latencySqlite.endToEnd.p99.toFixed(1)} ms  delivered ${latencySqlite.delivered}/${latencySqlite.sent}`);
  const latencyPostgres = await latencyOn('postgres');
  log(`  postgres  p50 ${latencyPostgres.endToEnd.p50.toFixed(1)} ms  p99 ${latencyPostgres.endToEnd.p99.toFixed(1)} ms  delivered ${latencyPostgres.delivered}/${latencyPostgres.sent}`);

  return {
    ingest: ingestResult,
    deliveries: {
      backlog: options.backlog,
      concurrency: options.drainConcurrency,
      baseline: bare,
      sqlite: { delivered: sqlite.delivered, ms: sqlite.ms, perSec: sqlite.perSec },
      postgres1: { delivered: postgres1.delivered, ms: postgres1.ms, perSec: postgres1.perSec },
      postgres3: { delivered: postgres3.delivered, ms: postgres3.ms, perSec: postgres3.perSec },
    },
    latency: { sqlite: latencySqlite, postgres: latencyPostgres },
  };
}

function describe(round: DrainRound): string {
  return `${round.perSec.toFixed(0).padStart(6)} deliveries/s  (${round.delivered} in ${round.ms.toFixed(0)} ms)`;
}
