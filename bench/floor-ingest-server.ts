/**
 * The ingest phase's durable floor: the bare express baseline (baseline-server.ts: raw body,
 * HMAC in constant time, JSON.parse) plus what durability itself costs, one SQLite insert per
 * request, committed and synced before the 202 (node:sqlite, WAL, 8 KB pages and
 * `synchronous = FULL`, as hookrelay's store). The requests that arrive in one turn of the
 * event loop share a commit (group commit, as hookrelay's writer thread does), since a
 * commit's fsync costs the same for one insert as for many. No normalizing, routing or
 * delivery rows: hookrelay's req/s divided by this one's is its own overhead at ingest.
 *
 * With a destination URL it is also the latency phase's floor: the smallest relay that makes
 * the same sender → destination trip durably. After the commit and the 202s, each committed
 * event is POSTed with undici (an Agent of 32 connections, as hookrelay's `concurrency`) in an
 * envelope `{"payload": <the body as stored>}`, and its attempt is recorded in the next commit.
 * `GET /metrics` says how many events wait for their answer, in hookrelay's metric name, so the
 * bench knows when everything arrived. No routing, rules, templates, retries or logs.
 *
 * Run as a child process: `node bench/floor-ingest-server.ts <port> <secret> <sqlite file> [<destination url>]`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import express from 'express';
import { Agent, request as post } from 'undici';
import type { Response } from 'express';

const port = Number(process.argv[2]);
const secret = process.argv[3];
const file = process.argv[4];
const destination = process.argv[5];
if (!Number.isInteger(port) || port <= 0 || !secret || !file) {
  console.error('usage: node bench/floor-ingest-server.ts <port> <secret> <sqlite file> [<destination url>]');
  process.exit(2);
}

const db = new DatabaseSync(file);
db.exec('PRAGMA page_size = 8192');
db.exec('PRAGMA journal_mode = WAL');
db.exec('PRAGMA synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, body TEXT NOT NULL)');
db.exec('CREATE TABLE IF NOT EXISTS attempts (event_id TEXT NOT NULL, finished_at INTEGER NOT NULL, status INTEGER NOT NULL)');
const insert = db.prepare('INSERT OR IGNORE INTO events (id, received_at, body) VALUES (?, ?, ?)');
const record = db.prepare('INSERT INTO attempts (event_id, finished_at, status) VALUES (?, ?, ?)');
const agent = new Agent({ connections: 32, pipelining: 1 });

interface Pending {
  readonly id: string;
  readonly body: string;
  readonly response: Response;
}
let pending: Pending[] = [];
/** Attempts answered since the last commit: recorded in the next one. */
let answered: Array<{ readonly id: string; readonly status: number }> = [];
/** Events committed whose delivery has not been answered yet. */
let undelivered = 0;

function scheduleCommit(): void {
  if (pending.length === 0 && answered.length === 0) setImmediate(commit);
}

/** One synced commit for every request and every answered attempt of this turn, then the answers and the sends. */
function commit(): void {
  const batch = pending;
  const attempts = answered;
  pending = [];
  answered = [];
  const now = Date.now();
  try {
    db.exec('BEGIN IMMEDIATE');
    for (const request of batch) insert.run(request.id, now, request.body);
    for (const attempt of attempts) record.run(attempt.id, now, attempt.status);
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    for (const request of batch) request.response.status(503).json({ error: String(error) });
    return;
  }
  for (const request of batch) request.response.status(202).json({ id: request.id });
  if (destination !== undefined) for (const request of batch) deliver(request.id, request.body);
}

function deliver(id: string, body: string): void {
  undelivered += 1;
  const done = (status: number): void => {
    undelivered -= 1;
    scheduleCommit();
    answered.push({ id, status });
  };
  post(destination as string, { method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/json' }, body: `{"payload":${body}}` }).then(
    async (response) => {
      await response.body.dump();
      done(response.statusCode);
    },
    () => done(0),
  );
}

const app = express();
app.disable('x-powered-by');
app.set('etag', false);

app.post('/hooks/tapemetric', express.raw({ type: () => true, limit: '1mb' }), (request, response) => {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const header = request.get('x-tapemetric-signature') ?? '';
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    response.status(401).json({ error: 'bad signature' });
    return;
  }
  const text = body.toString('utf8');
  let payload: { id?: unknown };
  try {
    payload = JSON.parse(text) as { id?: unknown };
  } catch {
    response.status(400).json({ error: 'invalid json' });
    return;
  }
  if (typeof payload.id !== 'string') {
    response.status(400).json({ error: 'no id' });
    return;
  }
  scheduleCommit();
  pending.push({ id: payload.id, body: text, response });
});

app.get('/metrics', (_request, response) => {
  response.type('text/plain').send(`hookrelay_queue_depth_deliveries{destination="floor"} ${undelivered + (destination === undefined ? 0 : pending.length)}\n`);
});

app.get('/readyz', (_request, response) => {
  response.json({ status: 'ready' });
});

const server = app.listen(port, '127.0.0.1');
server.keepAliveTimeout = 5_000;
process.once('SIGTERM', () => {
  server.close(() => {
    void agent.close();
    db.close();
    process.exit(0);
  });
  server.closeAllConnections();
});
