import { once } from 'node:events';
import { createConnection, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of a real server (PostgreSQL), to take it away and bring it
 * back as a network would: `down()` refuses new connections and cuts open ones, `stall()`
 * accepts connections and never answers (a database that hangs), `up()` forwards again.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | null = null;
  #stalled = false;
  /** While held: connections accepted and kept waiting, forwarded at `release()`. */
  #held: Socket[] | null = null;
  port = 0;

  constructor(target: { host: string; port: number }) {
    this.#target = target;
  }

  async up(): Promise<void> {
    this.#stalled = false;
    if (this.#server) return;
    const server = createServer((client) => this.#accept(client));
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  #accept(client: Socket): void {
    this.#sockets.add(client);
    client.on('close', () => this.#sockets.delete(client));
    client.on('error', () => client.destroy());
    if (this.#stalled) return;
    if (this.#held) {
      client.pause();
      this.#held.push(client);
      return;
    }
    this.#forward(client);
  }

  #forward(client: Socket): void {
    const upstream = createConnection(this.#target);
    this.#sockets.add(upstream);
    upstream.on('close', () => {
      this.#sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  }

  /** New connections are accepted and kept waiting (a database slow to answer), until `release()`. */
  hold(): void {
    this.#held ??= [];
  }

  /** How many connections wait in `hold()`. */
  get waiting(): number {
    return this.#held?.length ?? 0;
  }

  /** The waiting connections go through, and new ones are forwarded at once. */
  release(): void {
    const held = this.#held ?? [];
    this.#held = null;
    for (const client of held) {
      if (client.destroyed) continue;
      this.#forward(client);
      client.resume();
    }
  }

  /** New connections are accepted and left unanswered; open ones are cut. */
  stall(): void {
    this.#stalled = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Nothing listens any more, and open connections are cut. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const socket of this.#sockets) socket.destroy();
    if (server) await new Promise<void>((done) => server.close(() => done()));
  }
}
