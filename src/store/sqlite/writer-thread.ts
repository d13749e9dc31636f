/**
 * The SQLite writer thread. node:sqlite is synchronous, so commits (and their fsync)
 * run here, off the event loop, and every write queued while one commit runs shares
 * the next one: group commit, one fsync for many requests.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openWriter } from './connection.ts';
import { migrate } from './migrations.ts';
import { createWriteOps } from './writes.ts';
import type { WriteOpName } from './writes.ts';
import type { WriterMessage, WriterReply, SerializedError } from './protocol.ts';

const MAX_OPS_PER_COMMIT = 2_000;

if (!parentPort) throw new Error('writer-thread.ts must run as a worker thread');
const port = parentPort;
const { path } = workerData as { path: string };

const db = openWriter(path);
migrate(db);
const ops = createWriteOps(db);
const run = ops as unknown as Record<WriteOpName, (args: unknown) => unknown>;
const recovered = ops.recoverLeases(Date.now());
port.postMessage({ type: 'ready', recovered } satisfies WriterReply);

let queue: Extract<WriterMessage, { type: 'op' }>[] = [];
let scheduled = false;
let closing = false;

port.on('message', (message: WriterMessage) => {
  if (message.type === 'close') {
    closing = true;
  } else {
    queue.push(message);
  }
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
});

function serialize(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, code: typeof code === 'string' ? code : null };
  }
  return { name: 'Error', message: String(error), code: null };
}

function flush(): void {
  scheduled = false;
  while (queue.length > 0) {
    const batch = queue.slice(0, MAX_OPS_PER_COMMIT);
    queue = queue.slice(batch.length);
    commit(batch);
  }
  if (closing) {
    db.close();
    port.postMessage({ type: 'closed' } satisfies WriterReply);
    port.close();
  }
}

// Prepared once: exec() would compile them again for every operation.
const begin = db.prepare('BEGIN IMMEDIATE');
const savepoint = db.prepare('SAVEPOINT op');
const release = db.prepare('RELEASE op');
const rollbackTo = db.prepare('ROLLBACK TO op');
const commitStatement = db.prepare('COMMIT');

function commit(batch: Extract<WriterMessage, { type: 'op' }>[]): void {
  let results: Extract<WriterReply, { type: 'results' }>['results'] = [];
  begin.run();
  for (const request of batch) {
    // A failing operation must not take its neighbours in the group commit down with it.
    savepoint.run();
    try {
      const value = run[request.op](request.args);
      release.run();
      results.push({ id: request.id, ok: true, value });
    } catch (error) {
      rollbackTo.run();
      release.run();
      results.push({ id: request.id, ok: false, error: serialize(error) });
    }
  }
  try {
    commitStatement.run();
  } catch (error) {
    try {
      db.exec('ROLLBACK');
    } catch {
      // the failed COMMIT may already have rolled back
    }
    const failure = serialize(error);
    results = batch.map((request) => ({ id: request.id, ok: false, error: failure }));
  }
  port.postMessage({ type: 'results', results } satisfies WriterReply);
}
