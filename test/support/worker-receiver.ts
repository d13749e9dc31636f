/**
 * A loopback receiver in a worker thread: its own isolate, so what it allocates to take
 * requests is not counted in the test's heap (the allocation guard measures the relay alone).
 * It answers 200 (or the status it is told to fail with) and counts what it answered 200.
 */
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { WAIT_MS } from './wait.ts';

const WORKER_SOURCE = `
const { createServer } = require('node:http');
const { parentPort } = require('node:worker_threads');
let failStatus = null;
let received = 0;
let target = Infinity;
const server = createServer({ keepAliveTimeout: 65000 }, (request, response) => {
  request.on('data', () => {});
  request.on('end', () => {
    if (failStatus !== null) {
      response.writeHead(failStatus, { 'content-type': 'text/plain' }).end('down');
      return;
    }
    response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    received += 1;
    if (received === target) parentPort.postMessage({ reached: received });
  });
});
parentPort.on('message', (message) => {
  if ('failWith' in message) failStatus = message.failWith;
  if ('target' in message) {
    target = message.target;
    if (received >= target) parentPort.postMessage({ reached: received });
  }
  if ('close' in message) server.close(() => parentPort.close());
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
`;

export class WorkerReceiver {
  readonly url: string;
  readonly #worker: Worker;
  #received = 0;

  private constructor(worker: Worker, port: number) {
    this.#worker = worker;
    this.url = `http://127.0.0.1:${port}/hook`;
  }

  static async start(): Promise<WorkerReceiver> {
    const worker = new Worker(WORKER_SOURCE, { eval: true });
    const [message] = (await once(worker, 'message')) as [{ port: number }];
    return new WorkerReceiver(worker, message.port);
  }

  /** Answer every request with `status` (a destination that is down), or 200 again with null. */
  failWith(status: number | null): void {
    this.#worker.postMessage({ failWith: status });
  }

  /** Resolves once `more` requests beyond those already awaited have been answered 200. */
  async received(more: number): Promise<void> {
    this.#received += more;
    const reached = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the receiver did not get ${this.#received} requests within ${WAIT_MS} ms`)), WAIT_MS);
      const onMessage = (message: { reached?: number }): void => {
        if (message.reached === undefined) return;
        clearTimeout(timer);
        this.#worker.off('message', onMessage);
        resolve();
      };
      this.#worker.on('message', onMessage);
    });
    this.#worker.postMessage({ target: this.#received });
    return reached;
  }

  async close(): Promise<void> {
    const exited = once(this.#worker, 'exit');
    this.#worker.postMessage({ close: true });
    await exited;
  }
}
