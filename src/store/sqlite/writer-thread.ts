/**
 * The SQLite writer thread: the writer (writer.ts) off the event loop, talking to the store
 * (sqlite-store.ts) by messages.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { startWriter } from './writer.ts';
import type { WriterData, WriterMessage } from './protocol.ts';

if (!parentPort) throw new Error('writer-thread.ts must run as a worker thread');
const port = parentPort;
const writer = startWriter(workerData as WriterData, (reply) => {
  port.postMessage(reply);
  if (reply.type === 'closed') port.close();
});
port.on('message', (message: WriterMessage) => writer.receive(message));
