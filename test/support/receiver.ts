import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WAIT_MS } from './wait.ts';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
  json<T = Record<string, unknown>>(): T;
}

export interface Reply {
  readonly status?: number;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Hold the response this long (timeouts). */
  readonly delayMs?: number;
}

type Responder = (request: ReceivedRequest) => Reply | Promise<Reply>;

/**
 * A real HTTP server on loopback standing in for Slack, PagerDuty, Tape or any receiver:
 * it records every request and answers as the test scripts it. Tests wait on requests
 * arriving, never on sleeps.
 */
export class FakeReceiver {
  readonly requests: ReceivedRequest[] = [];
  #server: Server;
  #responder: Responder = () => ({ status: 200, body: 'ok' });
  #waiters: Array<{ count: number; path: string | undefined; resolve: () => void }> = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<FakeReceiver> {
    const server = createServer();
    const receiver = new FakeReceiver(server);
    server.on('request', (request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const received: ReceivedRequest = {
          method: request.method ?? 'GET',
          path: request.url ?? '/',
          headers: request.headers,
          body,
          at: Date.now(),
          json: <T>() => JSON.parse(body) as T,
        };
        receiver.requests.push(received);
        const reply = await receiver.#responder(received);
        if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
        if (!response.destroyed) {
          response.writeHead(reply.status ?? 200, reply.headers ?? {});
          response.end(reply.body ?? '');
        }
        receiver.#notify();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return receiver;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  url(path = '/'): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  respond(responder: Responder): void {
    this.#responder = responder;
  }

  received(path?: string): ReceivedRequest[] {
    return path === undefined ? this.requests : this.requests.filter((request) => request.path === path);
  }

  /** Resolves once `count` requests (to `path`, if given) have been answered. */
  async waitFor(count: number, options: { path?: string; timeoutMs?: number } = {}): Promise<ReceivedRequest[]> {
    const { path, timeoutMs = WAIT_MS } = options;
    if (this.received(path).length < count) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.#waiters.push({ count, path, resolve })),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`waited ${timeoutMs} ms for ${count} requests${path ? ` to ${path}` : ''}, got ${this.received(path).length}`)),
            timeoutMs,
          );
        }),
      ]).finally(() => clearTimeout(timer));
    }
    return this.received(path);
  }

  #notify(): void {
    this.#waiters = this.#waiters.filter((waiter) => {
      if (this.received(waiter.path).length < waiter.count) return true;
      waiter.resolve();
      return false;
    });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise((resolve) => this.#server.close(resolve));
  }
}
