/**
 * Instruction-count harness for the SQLite writer's ingest path (issue 20, target 3): runs
 * `createWriteOps(db).ingest` on a real file, as the writer thread does (the packed hand-off
 * through structured clone, group commits of BATCH ingests), for WARMUP then COUNT webhooks.
 * Run it twice under callgrind (COUNT=0 and COUNT=2000) and divide the difference by COUNT.
 *   valgrind --tool=callgrind node bench/writer-ingest-harness.ts <file> <count>
 */
import { rmSync } from 'node:fs';
import { openWriter } from '../src/store/sqlite/connection.ts';
import { migrate } from '../src/store/sqlite/migrations.ts';
import { createWriteOps as currentWriteOps } from '../src/store/sqlite/writes.ts';
import { packIngest, unpackIngest, packIngested } from '../src/store/sqlite/ingest-codec.ts';
import type { IngestBatch } from '../src/store/store.ts';
import { eventBody, nextEventId } from './events.ts';

const file = process.argv[2] ?? '/tmp/writer-ingest-harness.db';
const count = Number(process.argv[3] ?? 2000);
const WARMUP = 1500;
const BATCH = 30;
for (const suffix of ['', '-wal', '-shm']) rmSync(file + suffix, { force: true });
const db = openWriter(file);
migrate(db);
// WRITES=<module path>: another version of writes.ts to compare (a copy next to it, same imports).
const createWriteOps = process.env.WRITES ? ((await import(process.env.WRITES)) as { createWriteOps: typeof currentWriteOps }).createWriteOps : currentWriteOps;
const ops = createWriteOps(db);
/** Time-ordered ids of a ULID's length, made without randomness (no crypto in the counted run). */
let ulidCounter = 0;
const ulid = (at: number): string => at.toString(36).toUpperCase().padStart(10, '0') + String(ulidCounter++).padStart(16, '0');
const t0 = 1_765_000_000_000;

function batchFor(n: number): IngestBatch {
  const id = nextEventId('ingest');
  const body = eventBody(id);
  const at = t0 + n;
  return {
    receipt: {
      id: `rcpt_${ulid(at)}`,
      source: 'tapemetric',
      received_at: at,
      headers: {
        host: '127.0.0.1:8080',
        connection: 'keep-alive',
        'content-type': 'application/json',
        'content-length': String(body.length),
        'x-tapemetric-signature': 'sha256=' + 'ab'.repeat(32),
        'x-tapemetric-timestamp': String(Math.floor(at / 1000)),
        'user-agent': 'undici',
      },
      body,
    },
    events: [
      {
        event: {
          id: `evt_${ulid(at)}`,
          source: 'tapemetric',
          external_id: id,
          type: 'alert.triggered',
          severity: 'critical',
          status: 'firing',
          title: 'Alert triggered',
          summary: 'CPU above 90% on host-1 (region-x)',
          dedup_key: `alert.triggered:region-${id}`,
          occurred_at: new Date(at).toISOString(),
          received_at: new Date(at).toISOString(),
          data: null,
        } as never,
        // The bench's `hookrelay serve` has no route: each event gets one skipped delivery (src/ingest/ingestor.ts).
        deliveries: [{ id: `dlv_${ulid(at)}`, destination: null, route: null, status: 'skipped', note: 'no route matched' }],
        data_is_body: true,
      },
    ],
    request: {
      id: `req_${ulid(at)}`,
      received_at: at,
      source: 'tapemetric',
      address: '127.0.0.1',
      status: 202,
      outcome: 'accepted',
      reason: null,
      body_bytes: body.length,
      excerpt: null,
    },
  };
}

const begin = db.prepare('BEGIN IMMEDIATE');
const commit = db.prepare('COMMIT');
// Every batch is made (and cloned, as postMessage would) before anything runs, in both runs, so
// the difference between COUNT=0 and COUNT=N is the writer's path alone.
const MEASURED = 2000;
const made = Array.from({ length: WARMUP + MEASURED }, (_, i) => structuredClone(packIngest(batchFor(i))));
let n = 0;
function run(total: number): void {
  for (let done = 0; done < total; ) {
    const size = Math.min(BATCH, total - done);
    begin.run();
    for (let i = 0; i < size; i++) packIngested(ops.ingest(unpackIngest(made[n++]!)));
    commit.run();
    done += size;
  }
}
run(WARMUP);
run(Math.min(count, MEASURED));
db.close();
