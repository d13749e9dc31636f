/**
 * The loopback receiver: hookrelay's `http` destination points here. It answers 200 at
 * once and counts what arrives; when the latency phase listens, it also reports each
 * delivery's sender id and arrival time (taken when the request's headers arrive, on the
 * same clock as the sender's send times, since both live in the bench process).
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
  #listener: DeliveryListener | null = null;
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
        response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
        receiver.received += 1;
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

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
