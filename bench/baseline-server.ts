/**
 * The baseline: a bare express 5 server doing only what hookrelay's ingest minimally must
 * (buffer the raw body, check the Tapemetric HMAC in constant time, parse the JSON, answer
 * 202), with no store, routing or dispatch. hookrelay's req/s divided by this one's is the
 * "cost of being durable" ratio the issue asks about.
 *
 * Run as a child process: `node bench/baseline-server.ts <port> <secret>`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import express from 'express';

const port = Number(process.argv[2]);
const secret = process.argv[3];
if (!Number.isInteger(port) || port <= 0 || !secret) {
  console.error('usage: node bench/baseline-server.ts <port> <secret>');
  process.exit(2);
}

const app = express();
app.disable('x-powered-by');
app.set('etag', false);

// `type: () => true` as hookrelay does: senders send application/json, and express.raw's
// default type (application/octet-stream) would leave the body unread.
app.post('/hooks/tapemetric', express.raw({ type: () => true, limit: '1mb' }), (request, response) => {
  const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
  const header = request.get('x-tapemetric-signature') ?? '';
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    response.status(401).json({ error: 'bad signature' });
    return;
  }
  let payload: { id?: unknown };
  try {
    payload = JSON.parse(body.toString('utf8')) as { id?: unknown };
  } catch {
    response.status(400).json({ error: 'invalid json' });
    return;
  }
  // A small JSON answer, like hookrelay's `{ "id": … }`, so both send comparable responses.
  response.status(202).json({ id: typeof payload.id === 'string' ? payload.id : null });
});

app.get('/readyz', (_request, response) => {
  response.json({ status: 'ready' });
});

const server = app.listen(port, '127.0.0.1');
// Same keep-alive as hookrelay's default (http.keep_alive_timeout), so both treat autocannon's connections alike.
server.keepAliveTimeout = 5_000;
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
});
