/**
 * The ingest phase's durable floor: the bare express baseline (baseline-server.ts: raw body,
 * HMAC in constant time, JSON.parse) plus what durability itself costs, one SQLite insert per
 * request, committed and synced before the 202 (node:sqlite, WAL, 8 KB pages and
 * `synchronous = FULL`, as hookrelay's store). The requests that arrive in one turn of the
 * event loop share a commit (group commit, as hookrelay's writer thread does), since a
 * commit's fsync costs the same for one insert as for many. No normalizing, routing or
 * delivery rows: hookrelay's req/s divided by this one's is its own overhead at ingest.
 *
 * Run as a child process: `node bench/floor-ingest-server.ts <port> <secret> <sqlite file>`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { DatabaseSync } from 'node:sqlite';
import express from 'express';
import type { Response } from 'express';

const port = Number(process.argv[2]);
const secret = process.argv[3];
const file = process.argv[4];
if (!Number.isInteger(port) || port <= 0 || !secret || !file) {
  console.error('usage: node bench/floor-ingest-server.ts <port> <secret> <sqlite file>');
  process.exit(2);
}

const db = new DatabaseSync(file);
db.exec('PRAGMA page_size = 8192');
db.exec('PRAGMA journal_mode = WAL');
db.exec('PRAGMA synchronous = FULL');
db.exec('CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, body TEXT NOT NULL)');
const insert = db.prepare('INSERT OR IGNORE INTO events (id, received_at, body) VALUES (?, ?, ?)');

interface Pending {
  readonly id: string;
  readonly body: string;
  readonly response: Response;
}
let pending: Pending[] = [];

/** One synced commit for every request of this turn, then their answers. */
function commit(): void {
  const batch = pending;
  pending = [];
  const now = Date.now();
  try {
    db.exec('BEGIN IMMEDIATE');
    for (const request of batch) insert.run(request.id, now, request.body);
    db.exec('COMMIT');
  } catch (error) {
    if (db.isTransaction) db.exec('ROLLBACK');
    for (const request of batch) request.response.status(503).json({ error: String(error) });
    return;
  }
  for (const request of batch) request.response.status(202).json({ id: request.id });
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
  if (pending.length === 0) setImmediate(commit);
  pending.push({ id: payload.id, body: text, response });
});

app.get('/readyz', (_request, response) => {
  response.json({ status: 'ready' });
});

const server = app.listen(port, '127.0.0.1');
server.keepAliveTimeout = 5_000;
process.once('SIGTERM', () => {
  server.close(() => {
    db.close();
    process.exit(0);
  });
  server.closeAllConnections();
});
