/**
 * Phase `backlog` (heavy, only with `--only backlog`): a backlog of 1,000,000 pending deliveries
 * behind a disabled destination, on each store. What must hold: the process's RSS stays under
 * 200 MB, ingest keeps within 10 % of its rate with an empty queue, and once the destination is
 * enabled the backlog drains.
 *
 * Per store: (1) a fresh store, the destination disabled, ingest measured with an empty queue;
 * (2) another fresh store, one pending delivery made by hookrelay itself (a webhook while the
 * destination is disabled), then cloned in SQL to the backlog size with the hookrelay process
 * stopped (a million webhooks through HTTP would take the better part of an hour here);
 * hookrelay started on it and ingest measured again, RSS sampled all along; (3) enable, and the
 * drain timed until the queue is empty (or `drainSeconds` ran out: then its rate so far).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import pg from 'pg';
import type { Child } from './children.ts';
import { ADMIN_TOKEN, enable, waitUntilDisabled } from './drain.ts';
import { runLoad } from './load.ts';
import type { LoadResult } from './load.ts';
import { createBenchDatabase } from './postgres-database.ts';
import type { Receiver } from './receiver.ts';
import { readCounters } from './relay-metrics.ts';
import { checkIngest, startHookrelay } from './servers.ts';
import { describeLoad } from './throughput.ts';

export const RSS_LIMIT_MB = 200;
export const INGEST_TOLERANCE = 0.1;

export interface BacklogOptions {
  readonly root: string;
  readonly tmpDir: string;
  readonly secret: string;
  readonly receiver: Receiver;
  readonly size: number;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly drainConcurrency: number;
  /** Stop timing the drain after this long (0: until the queue is empty). */
  readonly drainSeconds: number;
}

export interface BacklogStoreResult {
  readonly store: 'sqlite' | 'postgres';
  readonly size: number;
  /** Seconds to clone the backlog in SQL (not hookrelay's work). */
  readonly fillSeconds: number;
  readonly emptyQueue: LoadResult;
  /** Highest RSS of the hookrelay process under the same ingest with an empty queue (what the load alone costs). */
  readonly emptyQueueRssMb: number;
  readonly withBacklog: LoadResult;
  /** withBacklog / emptyQueue req/s. */
  readonly ingestRatio: number;
  /** Highest RSS of the hookrelay process on the backlog: start, ingest, and drain. */
  readonly maxRssMb: { readonly start: number; readonly ingest: number; readonly drain: number };
  readonly drain: { readonly delivered: number; readonly seconds: number; readonly perSec: number; readonly drained: boolean; readonly pendingAtEnd: number };
}

const log = (line: string): void => console.log(line);

/** RSS of a process, MB (Linux /proc). */
function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((entry) => entry.startsWith('VmRSS:'));
  return line ? Number(line.replace(/\D+/g, '')) / 1_024 : Number.NaN;
}

/** Samples a child's RSS every 200 ms; `take()` returns the highest since the last take. */
function rssSampler(child: Child): { take: () => number; stop: () => void } {
  let highest = 0;
  const sample = (): void => {
    try {
      highest = Math.max(highest, rssMb(child.process.pid!));
    } catch {
      // exited
    }
  };
  sample();
  const timer = setInterval(sample, 200);
  return {
    take() {
      sample();
      const value = highest;
      highest = 0;
      return Math.round(value);
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * `INSERT … SELECT` copies of the one pending delivery (and its event) with new ids, keeping every
 * other column as hookrelay wrote it; ids get a zero-padded suffix so they sort after it, in order.
 * Each copy is an incident of its own (dedup key and incident key suffixed too).
 */
function cloneColumns(columns: readonly string[], suffix: string, renamed: Record<string, (column: string) => string>): string {
  return columns.map((column) => (renamed[column] ? renamed[column](column) : `"${column}"`)).join(', ');
}

function fillSqlite(file: string, size: number): void {
  const db = new DatabaseSync(file);
  try {
    const columns = (table: string): string[] => (db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>).map((row) => row.name);
    const template = db.prepare("SELECT id, event_id FROM deliveries WHERE status = 'pending' AND attempts = 0 ORDER BY id LIMIT 1").get() as
      | { id: string; event_id: string }
      | undefined;
    if (!template) throw new Error('no pending delivery to copy');
    const suffix = "'-' || printf('%09d', n)";
    const eventColumns = columns('events');
    const deliveryColumns = columns('deliveries');
    const keyed = (column: string): string => `CASE WHEN "${column}" IS NULL THEN NULL ELSE "${column}" || ${suffix} END`;
    const chunk = 100_000;
    for (let from = 1; from <= size - 1; from += chunk) {
      const to = Math.min(size - 1, from + chunk - 1);
      const series = `WITH RECURSIVE s(n) AS (SELECT ${from} UNION ALL SELECT n + 1 FROM s WHERE n < ${to})`;
      db.exec('BEGIN');
      db.prepare(
        `INSERT INTO events (${eventColumns.map((c) => `"${c}"`).join(', ')}) ${series}
         SELECT ${cloneColumns(eventColumns, suffix, { id: keyed, external_id: keyed, dedup_key: keyed })} FROM events, s WHERE events.id = ?`,
      ).run(template.event_id);
      db.prepare(
        `INSERT INTO deliveries (${deliveryColumns.map((c) => `"${c}"`).join(', ')}) ${series}
         SELECT ${cloneColumns(deliveryColumns, suffix, { id: keyed, event_id: keyed, incident_key: keyed })} FROM deliveries, s WHERE deliveries.id = ?`,
      ).run(template.id);
      db.exec('COMMIT');
    }
  } finally {
    db.close();
  }
}

async function fillPostgres(url: string, size: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const columns = async (table: string): Promise<string[]> =>
      (
        await client.query<{ column_name: string }>(
          'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position',
          [table],
        )
      ).rows.map((row) => row.column_name);
    const { rows } = await client.query<{ id: string; event_id: string }>("SELECT id, event_id FROM deliveries WHERE status = 'pending' AND attempts = 0 ORDER BY id LIMIT 1");
    const template = rows[0];
    if (!template) throw new Error('no pending delivery to copy');
    const suffix = "'-' || lpad(n::text, 9, '0')";
    const keyed = (column: string): string => `CASE WHEN "${column}" IS NULL THEN NULL ELSE "${column}" || ${suffix} END`;
    const eventColumns = await columns('events');
    const deliveryColumns = await columns('deliveries');
    const chunk = 100_000;
    for (let from = 1; from <= size - 1; from += chunk) {
      const to = Math.min(size - 1, from + chunk - 1);
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO events (${eventColumns.map((c) => `"${c}"`).join(', ')})
         SELECT ${cloneColumns(eventColumns, suffix, { id: keyed, external_id: keyed, dedup_key: keyed })} FROM events, generate_series(${from}, ${to}) AS n WHERE events.id = $1`,
        [template.event_id],
      );
      await client.query(
        `INSERT INTO deliveries (${deliveryColumns.map((c) => `"${c}"`).join(', ')})
         SELECT ${cloneColumns(deliveryColumns, suffix, { id: keyed, event_id: keyed, incident_key: keyed })} FROM deliveries, generate_series(${from}, ${to}) AS n WHERE deliveries.id = $1`,
        [template.id],
      );
      await client.query('COMMIT');
    }
    // The bulk load's aftermath (autovacuum of a million new rows, a checkpoint flushing them)
    // would otherwise land in the measurement: settle it first, as a long-lived database is.
    await client.query('VACUUM (ANALYZE) events, deliveries');
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

export async function runBacklog(options: BacklogOptions, kind: 'sqlite' | 'postgres'): Promise<BacklogStoreResult> {
  const { receiver } = options;
  const load = (url: string, seconds: number, phase: string): Promise<LoadResult> =>
    runLoad({ url, secret: options.secret, connections: options.connections, durationSeconds: seconds, phase });

  const withStore = async <T>(name: string, work: (store: string, dir: string) => Promise<T>): Promise<T> => {
    const dir = join(options.tmpDir, `backlog-${kind}-${name}`);
    mkdirSync(dir, { recursive: true });
    const database = kind === 'postgres' ? await createBenchDatabase() : null;
    try {
      return await work(database ? database.url : `sqlite:${join(dir, 'hookrelay.db')}`, dir);
    } finally {
      await database?.drop();
    }
  };
  const start = (store: string, dir: string): Promise<Child> =>
    startHookrelay({
      root: options.root,
      dir,
      secret: options.secret,
      destinationUrl: receiver.url(),
      concurrency: options.drainConcurrency,
      disableAfter: 1,
      adminToken: ADMIN_TOKEN,
      execArgv: process.env.BENCH_HOOKRELAY_FLAGS?.split(' ').filter(Boolean),
      store,
    });
  /** A running hookrelay whose destination is disabled (its first delivery failed). */
  const disabled = async (store: string, dir: string): Promise<Child> => {
    receiver.failWith(503);
    const relay = await start(store, dir);
    await checkIngest(relay, options.secret);
    await waitUntilDisabled(relay, 10_000);
    return relay;
  };

  // (1) The same ingest with an empty queue.
  const { emptyQueue, emptyQueueRssMb } = await withStore('empty', async (store, dir) => {
    const relay = await disabled(store, dir);
    const rss = rssSampler(relay);
    try {
      await load(relay.url, options.warmupSeconds, `backlog-warm-empty-${kind}`);
      const measured = await load(relay.url, options.durationSeconds, `backlog-empty-${kind}`);
      return { emptyQueue: measured, emptyQueueRssMb: rss.take() };
    } finally {
      rss.stop();
      await relay.stop();
      receiver.failWith(null);
    }
  });
  log(`  ${kind}: empty queue             ${describeLoad(emptyQueue)}  RSS ≤ ${emptyQueueRssMb} MB`);

  return withStore('full', async (store, dir) => {
    // (2) One pending delivery made by hookrelay, cloned to the backlog.
    const first = await disabled(store, dir);
    await checkIngest(first, options.secret);
    await first.stop();
    const filling = performance.now();
    if (kind === 'sqlite') fillSqlite(join(dir, 'hookrelay.db'), options.size);
    else await fillPostgres(store, options.size);
    const fillSeconds = (performance.now() - filling) / 1_000;
    log(`  ${kind}: ${options.size} pending deliveries cloned in SQL in ${fillSeconds.toFixed(0)} s`);

    const relay = await start(store, dir);
    const rss = rssSampler(relay);
    try {
      const startRss = rss.take();
      const before = await readCounters(relay.url);
      log(`  ${kind}: hookrelay started on it: ${before.pending} pending, RSS ${startRss} MB`);
      await load(relay.url, options.warmupSeconds, `backlog-warm-full-${kind}`);
      const withBacklog = await load(relay.url, options.durationSeconds, `backlog-full-${kind}`);
      const ingestRss = rss.take();
      log(`  ${kind}: with the backlog          ${describeLoad(withBacklog)}  RSS ≤ ${ingestRss} MB`);

      // (3) Enable and drain.
      receiver.failWith(null);
      const pendingAtEnable = (await readCounters(relay.url)).pending;
      const startedDrain = performance.now();
      const receivedBefore = receiver.received;
      await enable(relay);
      let pending = pendingAtEnable;
      let lastReport = performance.now();
      for (;;) {
        await new Promise((resolve) => setTimeout(resolve, 2_000));
        pending = (await readCounters(relay.url)).pending;
        const seconds = (performance.now() - startedDrain) / 1_000;
        if (performance.now() - lastReport > 30_000) {
          lastReport = performance.now();
          log(`    ${kind}: draining, ${receiver.received - receivedBefore} delivered in ${seconds.toFixed(0)} s, ${pending} pending, RSS ≤ ${Math.round(rssMb(relay.process.pid!))} MB`);
        }
        if (pending === 0 || (options.drainSeconds > 0 && seconds >= options.drainSeconds)) break;
      }
      const seconds = (performance.now() - startedDrain) / 1_000;
      const delivered = receiver.received - receivedBefore;
      const drainRss = rss.take();
      const drain = { delivered, seconds, perSec: delivered / seconds, drained: pending === 0, pendingAtEnd: pending };
      log(
        `  ${kind}: drain ${drain.drained ? 'complete' : `stopped after ${options.drainSeconds} s`}: ${delivered} delivered in ${seconds.toFixed(0)} s ` +
          `(${drain.perSec.toFixed(0)}/s), ${pending} pending, RSS ≤ ${drainRss} MB`,
      );
      return {
        store: kind,
        size: options.size,
        fillSeconds,
        emptyQueue,
        emptyQueueRssMb,
        withBacklog,
        ingestRatio: withBacklog.reqPerSec / emptyQueue.reqPerSec,
        maxRssMb: { start: startRss, ingest: ingestRss, drain: drainRss },
        drain,
      };
    } finally {
      rss.stop();
      await relay.stop();
      receiver.failWith(null);
    }
  });
}
