import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { IPv6 } from 'ipaddr.js';
import type { Logger } from 'pino';
import type { Clock } from '../util/clock.ts';

/** At most one "connections refused" line per window; the next says how many were left out. */
const LOG_WINDOW_MS = 10_000;

/**
 * The client a connection counts against. An IPv4 address is itself (an IPv4-mapped one,
 * `::ffff:a.b.c.d` from a dual-stack listener, is the IPv4 address it carries); an IPv6 address
 * counts by its /64, because one host is commonly given a whole /64 (SLAAC, RFC 6177) and
 * could otherwise open every connection from a fresh address.
 */
export function clientOf(address: string | undefined): string {
  if (address === undefined || !ipaddr.isValid(address)) return address ?? 'unknown';
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const prefix = (parsed as IPv6).parts.slice(0, 4);
  return `${new ipaddr.IPv6([...prefix, 0, 0, 0, 0]).toString()}/64`;
}

/**
 * A fair share of the server for each client: a client (see `clientOf`) that already holds
 * `perAddress` open connections has its next one closed as soon as it is accepted, before a
 * byte of it is read, while other clients still get in. With the global `max_connections`
 * (Node's `drop`) this keeps one address from taking every slot: at the defaults (1024 and 64)
 * it takes at least 16 clients to fill the server. Refusals are logged at `warn`, at most one
 * line per 10 s with the count of those left out, so a flood cannot flood the log.
 */
export function capConnectionsPerAddress(server: Server, options: { perAddress: number; logger: Logger; clock: Clock }): void {
  const open = new Map<string, number>();
  let total = 0;
  let lastLogAt = Number.NEGATIVE_INFINITY;
  let unlogged = 0;

  /** `held`: what the limit counts (this client's open connections, or all of them). */
  const refused = (client: string, limit: string, held: number): void => {
    const now = options.clock.now();
    if (now - lastLogAt < LOG_WINDOW_MS) {
      unlogged += 1;
      return;
    }
    const suppressed = unlogged;
    lastLogAt = now;
    unlogged = 0;
    options.logger.warn(
      { client, limit, held, ...(suppressed > 0 ? { suppressed } : {}) },
      `connection from ${client} refused: ${limit} reached (${held} open)` + (suppressed > 0 ? `; ${suppressed} more refused since the last line` : ''),
    );
  };

  // Added after the HTTP server's own listener: the socket it has just set up is closed at once
  // (a client that hung up straight away, as far as the server knows).
  server.on('connection', (socket: Socket) => {
    const client = clientOf(socket.remoteAddress);
    const held = open.get(client) ?? 0;
    if (held >= options.perAddress) {
      socket.destroy();
      refused(client, `http.max_connections_per_address (${options.perAddress})`, held);
      return;
    }
    open.set(client, held + 1);
    total += 1;
    socket.once('close', () => {
      total -= 1;
      const left = (open.get(client) ?? 1) - 1;
      if (left === 0) open.delete(client);
      else open.set(client, left);
    });
  });
  // Node closes connections beyond `maxConnections` itself, before 'connection'.
  server.on('drop', (dropped?: { remoteAddress?: string }) => {
    refused(clientOf(dropped?.remoteAddress), `http.max_connections (${server.maxConnections})`, total);
  });
}

/**
 * The open-file limit this process runs under (Linux: the soft limit in /proc/self/limits, which
 * Node has already raised to the hard limit at start), or null where it cannot be read. Every
 * connection is an open file: under a lower limit than `max_connections` the server runs out of
 * files (EMFILE) before it reaches its cap, and deliveries cannot open theirs.
 */
export function openFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | null {
  let text: string;
  try {
    text = read();
  } catch {
    return null;
  }
  const soft = text
    .split('\n')
    .find((line) => line.startsWith('Max open files'))
    ?.split(/\s{2,}/)[1];
  if (soft === 'unlimited') return Number.POSITIVE_INFINITY;
  const limit = Number(soft);
  return soft !== undefined && Number.isInteger(limit) ? limit : null;
}
