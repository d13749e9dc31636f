/**
 * What a delivery costs on PostgreSQL, counted rather than timed: drains a backlog as the `pg`
 * phase does (one incident per event, behind a disabled destination, then enabled) with the
 * replicas' pg clients counted (bench/pg-statement-counter.mjs) and the database's sessions
 * sampled meanwhile (pg_stat_activity: what each hookrelay session waits on; pg_locks: the
 * lock requests not granted), and prints per delivery: statements by kind, transactions, rows
 * written, and where the sessions were.
 *
 *   node bench/pg-drain-probe.ts [--hookrelay ROOT] [--backlog 3000] [--replicas 1] [--concurrency 32] [--sample-ms 10]
 */
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { Child } from './children.ts';
import { stopAll } from './children.ts';
import { ADMIN_TOKEN, enable, ingest, waitUntilDisabled } from './drain.ts';
import { createBenchDatabase } from './postgres-database.ts';
import { Receiver } from './receiver.ts';
import { readCounters } from './relay-metrics.ts';
import { REPO_ROOT, checkIngest, startHookrelay } from './servers.ts';
import { BENCH_SECRET } from './sign.ts';

const { values: args } = parseArgs({
  options: {
    hookrelay: { type: 'string' },
    backlog: { type: 'string', default: '3000' },
    replicas: { type: 'string', default: '1' },
    concurrency: { type: 'string', default: '32' },
    'sample-ms': { type: 'string', default: '10' },
  },
});
const root = resolve(args.hookrelay ?? REPO_ROOT);
const backlog = Number(args.backlog);
const replicas = Number(args.replicas);
const concurrency = Number(args.concurrency);
const sampleMs = Number(args['sample-ms']);
const COUNTER = fileURLToPath(new URL('./pg-statement-counter.mjs', import.meta.url));

interface Counted {
  readonly sql: string;
  readonly n: number;
  readonly ms: number;
}

/** A statement's kind for the table: its verb and the table or function it names. */
function kindOf(sql: string): string {
  if (/^(BEGIN|COMMIT|ROLLBACK|SET LOCAL)/i.test(sql)) return sql.split(' ').slice(0, 2).join(' ');
  const target = /(?:FROM|UPDATE|INTO)\s+([a-z_]+)/i.exec(sql)?.[1] ?? '';
  if (/CROSS JOIN LATERAL/.test(sql)) return 'SELECT deliveries (next of each incident)';
  if (/^SELECT d\.id AS delivery_id/.test(sql)) return `SELECT deliveries (${/ORDER BY d\.id LIMIT 1 FOR UPDATE/.test(sql) ? 'next of an incident' : 'claim'})`;
  const fn = /(pg_try_advisory_xact_lock|pg_advisory_xact_lock|pg_notify|hookrelay_[a-z_]+)/.exec(sql)?.[1];
  return `${sql.split(' ')[0]!.toUpperCase()} ${fn ?? target}`.trim();
}

async function tableStats(client: pg.Client): Promise<Map<string, { ins: number; upd: number; hot: number }>> {
  const rows = (await client.query('SELECT relname, n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables')).rows;
  return new Map(rows.map((row) => [String(row.relname), { ins: Number(row.n_tup_ins), upd: Number(row.n_tup_upd), hot: Number(row.n_tup_hot_upd) }]));
}

const receiver = await Receiver.start();
const database = await createBenchDatabase();
const dir = join(tmpdir(), `pg-drain-probe-${process.pid}`);
const running: Child[] = [];
try {
  const start = (index: number, counted: boolean): Promise<Child> =>
    startHookrelay({
      root,
      dir: join(dir, `replica-${index}`),
      secret: BENCH_SECRET,
      destinationUrl: receiver.url(),
      concurrency,
      disableAfter: 1,
      adminToken: ADMIN_TOKEN,
      store: database.url,
      ...(counted ? { execArgv: ['--import', COUNTER], env: { PG_COUNT_FILE: join(dir, `counts-${index}.json`) } } : {}),
    });
  receiver.failWith(503);
  const filling = await start(99, false);
  try {
    await checkIngest(filling, BENCH_SECRET);
    await waitUntilDisabled(filling, 10_000);
    await ingest(filling.url, backlog - 1, BENCH_SECRET, backlog);
  } finally {
    await filling.stop();
  }
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  await admin.query('ANALYZE');
  for (let index = 0; index < replicas; index += 1) running.push(await start(index, true));
  const { pending } = await readCounters(running[0]!.url);
  receiver.failWith(null);
  const before = await tableStats(admin);
  const xactBefore = Number((await admin.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0].xact_commit);
  const target = receiver.received + pending;

  // Sampling until the last delivery is answered.
  const where = new Map<string, number>();
  const waits = new Map<string, number>();
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const sessions = await admin.query(
        `SELECT state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 70) AS query
         FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'hookrelay' AND pid <> pg_backend_pid()`,
      );
      samples += 1;
      for (const session of sessions.rows) {
        const key =
          session.state === 'active'
            ? `active ${session.wait_event_type ?? 'CPU'}:${session.wait_event ?? '-'}${session.wait_event_type === 'Lock' ? ` ← ${String(session.query)}` : ''}`
            : String(session.state);
        where.set(key, (where.get(key) ?? 0) + 1);
      }
      const locks = await admin.query(
        `SELECT l.locktype, l.mode, COALESCE(l.relation::regclass::text, '') AS relation FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE NOT l.granted AND d.datname = current_database()`,
      );
      for (const lock of locks.rows) {
        const key = `${String(lock.locktype)} ${String(lock.mode)} ${String(lock.relation)}`;
        waits.set(key, (waits.get(key) ?? 0) + 1);
      }
      await new Promise((done) => setTimeout(done, sampleMs));
    }
  })();
  const started = performance.now();
  await enable(running[0]!);
  const finished = await receiver.whenReceived(target, 600_000);
  sampling = false;
  await sampler;
  const ms = finished - started;
  const after = await tableStats(admin);
  const xactAfter = Number((await admin.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0].xact_commit);
  await admin.end();
  for (const relay of running.splice(0)) await relay.stop();

  const counted: Counted[] = [];
  for (let index = 0; index < replicas; index += 1) counted.push(...(JSON.parse(readFileSync(join(dir, `counts-${index}.json`), 'utf8')) as Counted[]));
  const byKind = new Map<string, { n: number; ms: number }>();
  for (const entry of counted) {
    const kind = kindOf(entry.sql);
    const sum = byKind.get(kind) ?? { n: 0, ms: 0 };
    sum.n += entry.n;
    sum.ms += entry.ms;
    byKind.set(kind, sum);
  }
  const total = counted.reduce((sum, entry) => sum + entry.n, 0);
  const per = (n: number): string => (n / pending).toFixed(3);
  console.log(`hookrelay ${root}, ${replicas} replica(s), concurrency ${concurrency}: ${pending} deliveries in ${ms.toFixed(0)} ms (${(pending / (ms / 1000)).toFixed(0)}/s)`);
  const transactions = byKind.get('BEGIN')?.n ?? 0;
  console.log(`statements sent by the replicas (start-up included): ${total}, ${per(total)} per delivery; transactions (BEGIN) ${transactions}, ${per(transactions)} per delivery; server commits (the sampler's included) ${xactAfter - xactBefore}`);
  for (const [kind, sum] of [...byKind].sort((a, b) => b[1].n - a[1].n)) {
    console.log(`  ${per(sum.n).padStart(7)}  ${String(sum.n).padStart(7)}  ${(sum.ms / sum.n).toFixed(2).padStart(7)} ms avg  ${kind}`);
  }
  console.log('rows written per delivery (inserted / updated / of which HOT):');
  for (const [table, now] of after) {
    const was = before.get(table) ?? { ins: 0, upd: 0, hot: 0 };
    if (now.ins === was.ins && now.upd === was.upd) continue;
    console.log(`  ${table.padEnd(20)} ${per(now.ins - was.ins)} / ${per(now.upd - was.upd)} / ${per(now.hot - was.hot)}`);
  }
  console.log(`sessions of the replicas, ${samples} samples every ~${sampleMs} ms (session-samples; per delivery ×1000):`);
  for (const [key, n] of [...where].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(7)}  ${((n / pending) * 1000).toFixed(1).padStart(7)}  ${key}`);
  console.log('lock requests not granted (request-samples):');
  for (const [key, n] of [...waits].sort((a, b) => b[1] - a[1])) console.log(`  ${String(n).padStart(7)}  ${key}`);
  if (samples > 0 && waits.size === 0) console.log('  none');
} finally {
  receiver.failWith(null);
  for (const relay of running) await relay.stop();
  await stopAll();
  await database.drop();
  await receiver.close();
  rmSync(dir, { recursive: true, force: true });
}
