/**
 * The drain phase's durable floor: the smallest relay that does the same job as hookrelay's
 * drain, so a run can show how far hookrelay is from what durability itself costs (issue 20,
 * target 2; STYLE.md "Measure the floor before the target"). It
 *
 *   - claims pending deliveries from an SQLite queue (node:sqlite, as hookrelay's store:
 *     WAL, 8 KB pages, `synchronous = FULL`), a batch at a time under a lease;
 *   - renders each with a small Handlebars template compiled once at start, the payload going
 *     to the wire as the JSON text it was stored as;
 *   - POSTs it with undici (an Agent of `connections` connections, as many in flight);
 *   - commits one attempt record per attempt (and the delivery's new state) before it counts:
 *     records finished in one turn of the event loop share a commit (group commit, as
 *     hookrelay's writer does), each commit synced.
 *
 * No retries, rules, metrics or logs: what it lacks is what hookrelay adds.
 *
 * Run as a child, with drain-client.ts's protocol:
 * `node bench/floor-relay.ts <url> <bodies.json> <connections> <passes> <dir>`. The bodies are
 * what hookrelay delivered (its `http/envelope`); each pass stores them as events with a pending
 * delivery each (not timed), prints `ready`, waits for a line on stdin, drains, and prints one
 * JSON line `{ delivered, failed, ms, cpuUs, allocatedBytes }`.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { DatabaseSync } from 'node:sqlite';
import Handlebars from 'handlebars';
import { Agent, request } from 'undici';
import { startAllocationMeter } from '../test/support/allocation.ts';
import { cpuSpentUs, threadTimes } from './cpu-time.ts';

const [url, bodiesFile, connectionsText, passesText, dir] = process.argv.slice(2);
const connections = Number(connectionsText);
const passes = Number(passesText);
if (!url || !bodiesFile || !dir || !Number.isInteger(connections) || connections <= 0 || !Number.isInteger(passes) || passes <= 0) {
  console.error('usage: node bench/floor-relay.ts <url> <bodies.json> <connections> <passes> <dir>');
  process.exit(2);
}

/** Claimed at once, as hookrelay's scheduler claims a few ahead. */
const CLAIM_BATCH = 64;
const LEASE_MS = 60_000;

const db = new DatabaseSync(join(dir, 'floor.db'));
db.exec('PRAGMA page_size = 8192');
db.exec('PRAGMA journal_mode = WAL');
db.exec('PRAGMA synchronous = FULL');
db.exec(`
  CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, source TEXT, type TEXT, severity TEXT, status TEXT, title TEXT, summary TEXT,
    dedup_key TEXT, occurred_at TEXT, received_at TEXT, payload TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY, event_id TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER, due_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, due_at);
  CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY, delivery_id INTEGER NOT NULL, finished_at INTEGER NOT NULL, status INTEGER, latency_ms REAL, outcome TEXT NOT NULL
  );
`);

const insertEvent = db.prepare(
  'INSERT INTO events (id, source, type, severity, status, title, summary, dedup_key, occurred_at, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
);
const insertDelivery = db.prepare("INSERT INTO deliveries (event_id, state, due_at) VALUES (?, 'pending', ?)");
const claim = db.prepare(
  `UPDATE deliveries SET state = 'leased', lease_until = ?
   WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT ${CLAIM_BATCH})
   RETURNING id, event_id`,
);
const readEvent = db.prepare('SELECT id, source, type, severity, status, title, summary, dedup_key, occurred_at, received_at, payload FROM events WHERE id = ?');
const insertAttempt = db.prepare('INSERT INTO attempts (delivery_id, finished_at, status, latency_ms, outcome) VALUES (?, ?, ?, ?, ?)');
const finishDelivery = db.prepare("UPDATE deliveries SET state = ?, attempts = attempts + 1, lease_until = NULL WHERE id = ? AND state = 'leased'");

// The same envelope as hookrelay's `http/envelope`, the payload as its stored text ({{{…}}}: not escaped).
const render = Handlebars.compile(
  '{"type":"hookrelay.event","event":{"id":{{json id}},"source":{{json source}},"type":{{json type}},"severity":{{json severity}},' +
    '"status":{{json status}},"title":{{json title}},"summary":{{json summary}},"dedup_key":{{json dedup_key}},' +
    '"occurred_at":{{json occurred_at}},"received_at":{{json received_at}} },"payload":{{{payload}}} }',
  { noEscape: true },
);
const helpers = { json: (value: unknown) => JSON.stringify(value ?? null) };

interface Envelope {
  readonly event: Record<string, string | null>;
  readonly payload: unknown;
}
const bodies = JSON.parse(readFileSync(bodiesFile, 'utf8')) as string[];
const envelopes = bodies.map((body) => JSON.parse(body) as Envelope);

/** One pass's backlog: every body as an event with a pending delivery, in one commit. */
function fill(pass: number): void {
  db.exec('BEGIN');
  envelopes.forEach(({ event, payload }, index) => {
    const id = `${event['id'] ?? index}-pass${pass}`;
    insertEvent.run(id, event['source'] ?? null, event['type'] ?? null, event['severity'] ?? null, event['status'] ?? null, event['title'] ?? null, event['summary'] ?? null, event['dedup_key'] ?? null, event['occurred_at'] ?? null, event['received_at'] ?? null, JSON.stringify(payload));
    insertDelivery.run(id, 0);
  });
  db.exec('COMMIT');
}

interface Claimed {
  readonly id: number;
  readonly event: Record<string, unknown>;
}
let claimed: Claimed[] = [];

/** The next claimed delivery, claiming a batch when none is left; null when the queue is empty. */
function next(): Claimed | null {
  if (claimed.length === 0) {
    const now = Date.now();
    const rows = claim.all(now + LEASE_MS, now) as Array<{ id: number; event_id: string }>;
    claimed = rows.map((row) => ({ id: row.id, event: readEvent.get(row.event_id) as Record<string, unknown> })).reverse();
  }
  return claimed.pop() ?? null;
}

interface AttemptRecord {
  readonly id: number;
  readonly status: number;
  readonly latencyMs: number;
  readonly settle: () => void;
}
let records: AttemptRecord[] = [];

/** Group commit: the records finished in this turn of the event loop, in one synced transaction. */
function flush(): void {
  const batch = records;
  records = [];
  const now = Date.now();
  db.exec('BEGIN IMMEDIATE');
  for (const record of batch) {
    const outcome = record.status >= 200 && record.status < 300 ? 'succeeded' : 'failed';
    insertAttempt.run(record.id, now, record.status, record.latencyMs, outcome);
    finishDelivery.run(outcome, record.id);
  }
  db.exec('COMMIT');
  for (const record of batch) record.settle();
}

function commitAttempt(id: number, status: number, latencyMs: number): Promise<void> {
  return new Promise((settle) => {
    if (records.length === 0) setImmediate(flush);
    records.push({ id, status, latencyMs, settle });
  });
}

const dispatcher = new Agent({ connections, keepAliveTimeout: 60_000 });
let delivered = 0;
let failed = 0;

async function worker(): Promise<void> {
  for (let delivery = next(); delivery !== null; delivery = next()) {
    const body = render(delivery.event, { helpers });
    const started = performance.now();
    const response = await request(url!, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body });
    await response.body.dump();
    await commitAttempt(delivery.id, response.statusCode, performance.now() - started);
    if (response.statusCode >= 200 && response.statusCode < 300) delivered += 1;
    else failed += 1;
  }
}

const input = createInterface({ input: process.stdin });
const meter = startAllocationMeter();
const lines = input[Symbol.asyncIterator]();
for (let pass = 0; pass < passes; pass += 1) {
  delivered = 0;
  failed = 0;
  fill(pass);
  console.log('ready');
  if ((await lines.next()).done) process.exit(1);
  const before = threadTimes(process.pid);
  const allocatedBefore = meter.read();
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(connections, bodies.length) }, () => worker()));
  const ms = performance.now() - started;
  const after = threadTimes(process.pid);
  const allocatedBytes = meter.read() - allocatedBefore;
  console.log(JSON.stringify({ delivered, failed, ms, cpuUs: before && after ? cpuSpentUs(before, after) : null, allocatedBytes }));
}
await dispatcher.close();
db.close();
input.close();
