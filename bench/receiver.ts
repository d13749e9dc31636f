/**
 * The loopback receiver: hookrelay's `http` destination points here. It answers 200 at
 * once and counts what arrives; when the latency phase listens, it also reports each
 * delivery's sender id and arrival time (taken when the request's headers arrive, on the
 * same clock as the sender's send times, since both live in the bench process).
 *
 * For the drain phase it can also play a destination that is down (`failWith(503)`), keep
 * the bodies it receives (so the bare client posts exactly what hookrelay posted), and
 * tell when the n-th request has been answered.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';

/** What hookrelay's default `http/envelope` template sends: `{ event: {id, …}, payload: <sender's body> }`. */
interface Envelope {
  readonly payload?: { readonly id?: unknown };
}

export type DeliveryListener = (senderId: string, arrivedAt: number) => void;

export class Receiver {
  /** Requests received (retries and duplicates included). */
  received = 0;
  /** Bodies (while listening) that were not an envelope with a `payload.id`. */
  malformed = 0;
  /** Requests answered with the failure status (not counted in `received`). */
  refused = 0;
  #listener: DeliveryListener | null = null;
  #failStatus: number | null = null;
  #captured: string[] | null = null;
  #countWaiters: Array<{ count: number; resolve: (at: number) => void }> = [];
  readonly #server: Server;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<Receiver> {
    const server = createServer({ keepAliveTimeout: 65_000 });
    const receiver = new Receiver(server);
    server.on('request', (request, response) => {
      const arrivedAt = performance.now();
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        if (receiver.#failStatus !== null) {
          response.writeHead(receiver.#failStatus, { 'content-type': 'text/plain' }).end('down');
          receiver.refused += 1;
          return;
        }
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        receiver.received += 1;
        receiver.#captured?.push(Buffer.concat(chunks).toString('utf8'));
        if (receiver.#countWaiters.length > 0) receiver.#notifyCount();
        // Only the latency phase needs the id; the throughput phase just counts (cheaper,
        // and this process runs autocannon at the same time).
        const listener = receiver.#listener;
        if (!listener) return;
        try {
          const id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Envelope).payload?.id;
          if (typeof id === 'string') listener(id, arrivedAt);
          else receiver.malformed += 1;
        } catch {
          receiver.malformed += 1;
        }
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  url(path = '/hook'): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }

  listen(listener: DeliveryListener | null): void {
    this.#listener = listener;
  }

  /** Answer every request with `status` (a destination that is down), or 200 again with null. */
  failWith(status: number | null): void {
    this.#failStatus = status;
  }

  /** Keep the body of every request answered 200 from now on; `takeCaptured` hands them over and stops. */
  capture(): void {
    this.#captured = [];
  }

  takeCaptured(): string[] {
    const bodies = this.#captured ?? [];
    this.#captured = null;
    return bodies;
  }

  /**
   * Resolves with the time (performance.now()) at which `received` reached `count`, i.e.
   * the moment that request was answered; rejects after `timeoutMs`.
   */
  whenReceived(count: number, timeoutMs: number): Promise<number> {
    if (this.received >= count) return Promise.resolve(performance.now());
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#countWaiters = this.#countWaiters.filter((waiter) => waiter.resolve !== done);
        reject(new Error(`the receiver got ${this.received} requests within ${timeoutMs / 1_000} s, expected ${count}`));
      }, timeoutMs);
      const done = (at: number): void => {
        clearTimeout(timer);
        resolve(at);
      };
      this.#countWaiters.push({ count, resolve: done });
    });
  }

  #notifyCount(): void {
    const at = performance.now();
    this.#countWaiters = this.#countWaiters.filter((waiter) => {
      if (this.received < waiter.count) return true;
      waiter.resolve(at);
      return false;
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
