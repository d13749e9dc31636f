/**
 * The memory phase's floor: the smallest durable relay built from the parts hookrelay is built
 * from, to read its resident memory beside hookrelay's. express (raw body, the Tapemetric HMAC
 * in constant time, JSON.parse), pino for one line per event, node:sqlite in a worker thread
 * (the store's writer, WAL, `synchronous = FULL`) that commits each event before the 202, and
 * undici posting it to the destination afterwards. No routing, templates, metrics, admin pages
 * or Slack app: what hookrelay holds beyond this process is its own.
 *
 * Plain JavaScript, not TypeScript like the rest of the bench: Node strips a .ts file's types with
 * amaro, which stays loaded (~17 MB) — hookrelay avoids it with its compile cache, and so must the
 * floor it is compared with.
 *
 * Run as a child process with hookrelay's start-up flags (bench/idle-memory.ts):
 * `node bench/floor-idle-relay.mjs <port> <secret> <sqlite file> <destination url>`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import express from 'express';
import { pino } from 'pino';
import { request } from 'undici';

const [portText, secret, file, destination] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || port <= 0 || !secret || !file || !destination) {
  console.error('usage: node bench/floor-idle-relay.mjs <port> <secret> <sqlite file> <destination url>');
  process.exit(2);
}

const log = pino();
const writer = new Worker(
  `const { parentPort, workerData } = require('node:worker_threads');
   const { DatabaseSync } = require('node:sqlite');
   const db = new DatabaseSync(workerData);
   db.exec('PRAGMA journal_mode = WAL'); db.exec('PRAGMA synchronous = FULL');
   db.exec('CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
   const insert = db.prepare('INSERT INTO events (body) VALUES (?)');
   parentPort.on('message', ([id, body]) => { insert.run(body); parentPort.postMessage(id); });`,
  { eval: true, workerData: file },
);
/** @type {Map<number, () => void>} */
const committed = new Map();
writer.on('message', (id) => {
  committed.get(id)?.();
  committed.delete(id);
});
let next = 0;

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.post('/hooks/tapemetric', express.raw({ type: () => true, limit: '1mb' }), async (req, res) => {
  const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(req.get('x-tapemetric-signature') ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    res.status(401).json({ error: 'bad signature' });
    return;
  }
  const text = body.toString('utf8');
  const event = JSON.parse(text);
  const id = ++next;
  await new Promise((done) => {
    committed.set(id, done);
    writer.postMessage([id, text]);
  });
  log.info({ id: event.id }, 'event accepted');
  res.status(202).json({ id: event.id ?? null });
  const sent = await request(destination, { method: 'POST', body: text, headers: { 'content-type': 'application/json' } });
  await sent.body.dump();
  log.info({ id: event.id, status: sent.statusCode }, 'delivered');
});
app.get('/readyz', (_req, res) => {
  res.json({ status: 'ready' });
});
const server = app.listen(port, '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  void writer.terminate();
});
