import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

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

async function open(relay: TestRelay, from?: string): Promise<Socket> {
  const socket = connect({ port: relay.server.port, host: '127.0.0.1', ...(from ? { localAddress: from } : {}) });
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

type Answer = { status: number; ms: number } | { error: string };

/**
 * One request on a fresh connection (no pooled keep-alive socket) from the local address `from`
 * (Linux routes all of 127.0.0.0/8 to the loopback interface), or the error.
 */
function requestFrom(relay: TestRelay, from: string, path: string, post?: { body: string; headers: Record<string, string> }): Promise<Answer> {
  const started = performance.now();
  return new Promise((resolve) => {
    const request = httpRequest(
      {
        host: '127.0.0.1',
        port: relay.server.port,
        localAddress: from,
        path,
        method: post ? 'POST' : 'GET',
        agent: false,
        headers: { connection: 'close', ...(post ? { 'content-type': 'application/json', ...post.headers } : {}) },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, ms: performance.now() - started }));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    request.end(post?.body);
  });
}

const healthz = (relay: TestRelay, from = '127.0.0.1'): Promise<Answer> => requestFrom(relay, from, '/healthz');

/** A tapemetric event signed with the relay's secret, POSTed from `from`. */
function signedWebhook(relay: TestRelay, from: string): Promise<Answer> {
  const body = JSON.stringify(tapemetricPayload({ id: `evt_${Math.random().toString(36).slice(2)}` }));
  return requestFrom(relay, from, '/hooks/tapemetric', { body, headers: tapemetricHeaders(body, 's3cret') });
}

/** The soft limit on open files of this process (Linux), or null where it cannot be read. */
function openFileLimit(): number | null {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((text) => text.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft === undefined ? null : soft === 'unlimited' ? Number.POSITIVE_INFINITY : Number(soft);
  } catch {
    return null;
  }
}

describe('http: config block', () => {
  it('defaults suit webhooks: 30s request, 10s headers, 5s keep-alive, 1024 connections, 64 per address', () => {
    const config = parseConfigText(SOURCES, { HOOKRELAY_ALLOW_PRIVATE: '1' });
    expect(config.http).toEqual({
      request_timeout: 30_000,
      headers_timeout: 10_000,
      keep_alive_timeout: 5_000,
      max_connections: 1024,
      max_connections_per_address: 64,
    });
  });

  it('the per-address cap follows max_connections (a sixteenth) unless it is set', () => {
    const http = (block: string) => parseConfigText(`${SOURCES}\nhttp: ${block}\n`, { HOOKRELAY_ALLOW_PRIVATE: '1' }).http;
    expect(http('{ max_connections: 4096 }').max_connections_per_address).toBe(256);
    expect(http('{ max_connections: 10 }').max_connections_per_address).toBe(1);
    expect(http('{ max_connections: 2048, max_connections_per_address: 2048 }').max_connections_per_address).toBe(2048);
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
    expect(problems('{ max_connections_per_address: 2000 }')).toEqual(['http.max_connections_per_address: may not be more than max_connections (1024)']);
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
    const relay = await relayWith('{ max_connections: 3, max_connections_per_address: 3, headers_timeout: 20s }');
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

describe('one client cannot shut out the others (issue 18, defect 1)', () => {
  /** The attack: more idle sockets from one address than the server's 1,024 slots. */
  const FLOOD = 1_100;

  /** Opens `count` connections from 127.0.0.1, a hundred at a time (within the listen backlog); each is connected or already closed. */
  async function flood(relay: TestRelay, count: number): Promise<Array<{ socket: Socket; closed: boolean }>> {
    const opened: Array<{ socket: Socket; closed: boolean }> = [];
    for (let start = 0; start < count; start += 100) {
      const batch = Array.from({ length: Math.min(100, count - start) }, () => {
        const socket = connect(relay.server.port, '127.0.0.1');
        sockets.push(socket);
        const entry = { socket, closed: false };
        socket.on('error', () => undefined);
        socket.once('close', () => (entry.closed = true));
        opened.push(entry);
        return new Promise<void>((done) => {
          socket.once('connect', done);
          socket.once('close', done);
        });
      });
      await Promise.all(batch);
    }
    return opened;
  }

  it('1,100 idle connections from 127.0.0.1: 127.0.0.2 still gets /healthz, /readyz and a signed webhook answered within 2 s', async (context) => {
    // Both ends are in this process: each connection is two open files.
    const limit = openFileLimit();
    if (process.platform !== 'linux') context.skip('needs Linux: it connects from 127.0.0.2, which only Linux routes to loopback by default');
    if (limit !== null && limit < 2 * FLOOD + 500) context.skip(`the open-file limit (ulimit -n) is ${limit}; the test holds ${2 * FLOOD} sockets: raise it to 3000 or more`);
    // Deadlines longer than the test: the flood's sockets stay open (idle) throughout.
    const relay = await relayWith('{ headers_timeout: 2m, request_timeout: 2m }');
    const held = await flood(relay, FLOOD);

    // The bound is the issue's own ("answered within 2 s"): a slot, not a queue, is what the old code lacked.
    for (const answer of [await healthz(relay, '127.0.0.2'), await requestFrom(relay, '127.0.0.2', '/readyz')]) {
      expect(answer).toMatchObject({ status: 200 });
      expect((answer as { ms: number }).ms).toBeLessThan(2_000);
    }
    const accepted = await signedWebhook(relay, '127.0.0.2');
    expect(accepted).toMatchObject({ status: 202 });
    expect((accepted as { ms: number }).ms).toBeLessThan(2_000);

    // 127.0.0.1 holds its share (a sixteenth of 1,024); the other 1,036 were closed without a byte.
    const stillOpen = await relay.until(
      async () => held.filter((entry) => !entry.closed).length,
      (count) => count <= 64,
      10_000,
    );
    expect(stillOpen).toBe(64);
    expect(held.filter((entry) => entry.socket.bytesRead > 0).length).toBe(0);
  }, 60_000);

  it('an address over max_connections_per_address has its next connection closed at once, while another gets in; a closed one frees its slot', async () => {
    const relay = await relayWith('{ max_connections_per_address: 2, headers_timeout: 20s }');
    const held = [await open(relay), await open(relay)];
    for (const socket of held) socket.write('GET /healthz HTTP/1.1\r\nHost: re');

    const beyond = await open(relay);
    expect((await untilClosed(beyond)).received).toBe('');
    expect(await healthz(relay)).toHaveProperty('error');
    expect(await healthz(relay, '127.0.0.2')).toMatchObject({ status: 200 });

    held[0]!.destroy();
    // The server learns of the close asynchronously: the first try may still be refused.
    const answer = await relay.until(() => healthz(relay), (result) => 'status' in result, 2_000);
    expect(answer).toMatchObject({ status: 200 });
  });

  it('a connection that never sends a byte is closed once headers_timeout has passed', async () => {
    const relay = await relayWith('{ headers_timeout: 400ms }');
    const socket = await open(relay);
    const started = performance.now();
    const { at } = await untilClosed(socket);
    // 400 ms, checked every 100 ms (a quarter of the header deadline), plus scheduling slack.
    expect(at - started).toBeGreaterThanOrEqual(350);
    expect(at - started).toBeLessThan(2_500);
  });
});
