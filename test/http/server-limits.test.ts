import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';

// These are Node's and the kernel's own timers on real sockets, so the test uses real (short)
// timeouts; nothing here sleeps to prove an order.
const SOURCES = `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s3cret] }
destinations: [ { name: ops-slack, type: slack, url: "http://127.0.0.1:9/x" } ]
routes: [ { to: [ops-slack] } ]
`;

const sockets: Socket[] = [];
const relays: TestRelay[] = [];

afterEach(() => {
  for (const socket of sockets.splice(0)) socket.destroy();
});
afterAll(async () => {
  for (const relay of relays) await relay.close();
});

async function relayWith(http: string): Promise<TestRelay> {
  const relay = await startRelay(`${SOURCES}\nhttp: ${http}\n`);
  relays.push(relay);
  return relay;
}

async function open(relay: TestRelay): Promise<Socket> {
  const socket = connect(relay.server.port, '127.0.0.1');
  sockets.push(socket);
  socket.setEncoding('latin1');
  await once(socket, 'connect');
  return socket;
}

/** Everything the server sent until it closed the connection, and when that was. */
function untilClosed(socket: Socket): Promise<{ received: string; at: number }> {
  let received = '';
  socket.on('data', (chunk: string) => (received += chunk));
  return new Promise((resolve) => {
    socket.once('close', () => resolve({ received, at: performance.now() }));
    socket.on('error', () => undefined);
  });
}

/** GET /healthz on a fresh connection (no pooled keep-alive socket), or the error. */
function healthz(relay: TestRelay): Promise<{ status: number; ms: number } | { error: string }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const request = httpRequest({ host: '127.0.0.1', port: relay.server.port, path: '/healthz', agent: false, headers: { connection: 'close' } }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, ms: performance.now() - started }));
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    request.end();
  });
}

describe('http: config block', () => {
  it('defaults suit webhooks: 30s request, 10s headers, 65s keep-alive, 1024 connections', () => {
    const config = parseConfigText(SOURCES, { HOOKRELAY_ALLOW_PRIVATE: '1' });
    expect(config.http).toEqual({ request_timeout: 30_000, headers_timeout: 10_000, keep_alive_timeout: 65_000, max_connections: 1024 });
  });

  it('a header deadline longer than the request deadline, or a misspelt key, is an error that names its path', () => {
    const problems = (http: string): string[] => {
      try {
        parseConfigText(`${SOURCES}\nhttp: ${http}\n`, { HOOKRELAY_ALLOW_PRIVATE: '1' });
      } catch (error) {
        if (error instanceof ConfigError) return [...error.problems];
        throw error;
      }
      return [];
    };
    expect(problems('{ request_timeout: 5s, headers_timeout: 10s }')).toEqual([expect.stringMatching(/^http\.headers_timeout: .*request_timeout/)]);
    expect(problems('{ max_conections: 3 }')).toEqual([expect.stringMatching(/^http\.max_conections: unknown key/)]);
    expect(problems('{ max_connections: 0 }')).toEqual([expect.stringMatching(/^http\.max_connections: /)]);
  });
});

describe('slow clients (issue 10, defect 4)', () => {
  it('a body trickled a byte at a time → 408 and closed once request_timeout has passed', async () => {
    const relay = await relayWith('{ request_timeout: 800ms, headers_timeout: 400ms }');
    const socket = await open(relay);
    const closed = untilClosed(socket);
    const started = performance.now();
    socket.write('POST /hooks/tapemetric HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    const trickle = setInterval(() => socket.writable && socket.write(' '), 100);
    try {
      const { received, at } = await closed;
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
      // 800 ms, checked every 100 ms (a quarter of the header deadline), plus scheduling slack.
      expect(at - started).toBeGreaterThanOrEqual(700);
      expect(at - started).toBeLessThan(3_000);
    } finally {
      clearInterval(trickle);
    }
  });

  it('half-sent headers → 408 and closed once headers_timeout has passed', async () => {
    const relay = await relayWith('{ request_timeout: 5s, headers_timeout: 400ms }');
    const socket = await open(relay);
    const closed = untilClosed(socket);
    const started = performance.now();
    socket.write('POST /hooks/tapemetric HTTP/1.1\r\nHost: relay\r\nX-Tapemetric-Sig');
    const { received, at } = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
    expect(at - started).toBeGreaterThanOrEqual(350);
    expect(at - started).toBeLessThan(2_500);
  });

  it('an idle kept-alive connection is closed after keep_alive_timeout', async () => {
    const relay = await relayWith('{ keep_alive_timeout: 300ms }');
    const socket = await open(relay);
    const closed = untilClosed(socket);
    socket.write('GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\n');
    const started = performance.now();
    const { received, at } = await closed;
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(at - started).toBeGreaterThanOrEqual(250);
    expect(at - started).toBeLessThan(2_500);
  });

  it('connections beyond max_connections are refused; /healthz answers again once others close', async () => {
    const relay = await relayWith('{ max_connections: 3, headers_timeout: 20s }');
    const held = [await open(relay), await open(relay), await open(relay)];
    for (const socket of held) socket.write('GET /healthz HTTP/1.1\r\nHost: re');

    const beyond = await open(relay);
    const { received } = await untilClosed(beyond);
    expect(received).toBe('');
    expect(await healthz(relay)).toHaveProperty('error');

    held[0]!.destroy();
    // The server learns of the close asynchronously: the first try may still be refused.
    const answer = await relay.until(() => healthz(relay), (result) => 'status' in result, 2_000);
    expect(answer).toMatchObject({ status: 200 });
  });
});
