import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricPayload, tapemetricSignature } from '../support/signers.ts';

/**
 * Issue 10's adversarial cases that belong to ingest, all at once through the real server:
 * deep nesting, bad gzip, a gzip bomb, invalid UTF-8, huge bodies (declared and streamed),
 * trickled bodies, half-sent headers, and more connections than the cap. Each gets its precise
 * refusal, and afterwards the process answers /healthz and accepts a real event (no wall-clock
 * bound on that answer: on a loaded machine any bound is a guess; a stalled process never answers).
 */

const SECRET = 'tm-adversarial-secret';
/** The global cap; every attack here comes from 127.0.0.1, so its per-address cap is the same (server-limits.test.ts tests that one). */
const CAP = 200;

let relay: TestRelay;
const sockets: Socket[] = [];

beforeAll(async () => {
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations: [ { name: ops-slack, type: slack, url: "http://127.0.0.1:9/x" } ]
routes: [ { to: [ops-slack] } ]
http: { headers_timeout: 1s, request_timeout: 2s, keep_alive_timeout: 1s, max_connections: ${CAP}, max_connections_per_address: ${CAP} }
`);
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await relay.close();
});

/** One request on its own connection (no pooling), the whole answer, or the socket error. */
function send(options: { path: string; method?: string; headers?: Record<string, string | number>; body?: Buffer }): Promise<{ status: number; code?: string } | { error: string }> {
  return new Promise((resolve) => {
    const request = httpRequest({ host: '127.0.0.1', port: relay.server.port, path: options.path, method: options.method ?? 'GET', agent: false, headers: { connection: 'close', ...options.headers } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (text += chunk));
      response.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: response.statusCode ?? 0, code });
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    request.end(options.body);
  });
}

function signedPost(body: Buffer, headers: Record<string, string | number> = {}, signedOver: Buffer = body): ReturnType<typeof send> {
  return send({
    path: '/hooks/tapemetric',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-tapemetric-signature': tapemetricSignature(signedOver, SECRET), ...headers },
    body,
  });
}

/** A raw connection that writes `data` and is then left hanging; resolves when the server closes it. */
async function hang(data: string): Promise<{ closedAfterMs: number; received: string }> {
  const socket = connect(relay.server.port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  socket.setEncoding('latin1');
  let received = '';
  socket.on('data', (chunk: string) => (received += chunk));
  const started = performance.now();
  // events.once would reject on the reset a dropped connection sees: wait for 'close' alone.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  socket.once('connect', () => socket.write(data));
  await closed;
  return { closedAfterMs: performance.now() - started, received };
}

/**
 * Starts a body sent one byte every 200 ms; resolves once connected (so it holds its place
 * under the connection cap) with the promise of the server giving up on it.
 */
async function trickle(): Promise<{ done: Promise<{ closedAfterMs: number; received: string }> }> {
  const socket = connect(relay.server.port, '127.0.0.1');
  sockets.push(socket);
  socket.on('error', () => undefined);
  socket.setEncoding('latin1');
  let received = '';
  socket.on('data', (chunk: string) => (received += chunk));
  const started = performance.now();
  const closed = new Promise((resolve) => socket.once('close', resolve));
  await once(socket, 'connect');
  socket.write(`POST /hooks/tapemetric HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
  const timer = setInterval(() => socket.writable && socket.write(' '), 200);
  return {
    done: closed.then(() => {
      clearInterval(timer);
      return { closedAfterMs: performance.now() - started, received };
    }),
  };
}

/** A 5 MB body streamed in chunks, without a Content-Length. */
function streamedHugeBody(): Promise<{ status: number; code?: string } | { error: string }> {
  return new Promise((resolve) => {
    const request = httpRequest(
      { host: '127.0.0.1', port: relay.server.port, path: '/hooks/tapemetric', method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'x-tapemetric-signature': 'sha256=00' } },
      (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, code: (JSON.parse(text) as { error: { code: string } }).error.code }));
      },
    );
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < 5 * 1024 * 1024) {
        sent += chunk.length;
        if (!request.write(chunk)) {
          request.once('drain', pump);
          return;
        }
      }
      request.end();
    };
    pump();
  });
}

describe('adversarial ingest through the real server (issue 10)', () => {
  it('every attack gets its refusal, and afterwards /healthz answers and a real event is accepted', async () => {
    const deep = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    const plain = Buffer.from(JSON.stringify(tapemetricPayload()));
    const invalidUtf8 = Buffer.concat([Buffer.from('{"id":"evt_bad_utf8","type":"qos.x","data":{"region":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}}')]);
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));

    // Slow clients first, so they are all held while the rest runs; half of them are beyond the cap.
    const trickled = [(await trickle()).done, (await trickle()).done];
    const halfHeaders = Array.from({ length: CAP * 1.5 }, () => hang('POST /hooks/tapemetric HTTP/1.1\r\nHost: relay\r\nX-Tapemetric-Signa'));
    // While they are held (and before the header deadline frees them), the one-shot attacks.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const results = await Promise.all([
      signedPost(deep),
      signedPost(plain, { 'content-encoding': 'gzip' }),
      signedPost(bomb, { 'content-encoding': 'gzip' }, Buffer.alloc(0)),
      signedPost(invalidUtf8),
      signedPost(Buffer.alloc(2 * 1024 * 1024, 0x20)),
      streamedHugeBody(),
    ]);

    const slow = await Promise.all([...halfHeaders, ...trickled]);
    const trickledResults = await Promise.all(trickled);
    // The trickled bodies had their headers in time: the request deadline (2 s) ended them.
    for (const { received, closedAfterMs } of trickledResults) {
      expect(received).toMatch(/^HTTP\/1\.1 408 /);
      expect(closedAfterMs).toBeGreaterThanOrEqual(1_900);
    }
    // Every slow client was let go within the deadlines (1 s headers, 2 s request) plus the check interval.
    for (const { closedAfterMs } of slow) expect(closedAfterMs).toBeLessThan(4_000);
    const timedOut = slow.filter(({ received }) => /^HTTP\/1\.1 408 /.test(received)).length;
    const dropped = slow.filter(({ received }) => received === '').length;
    // Those within the cap got 408; those beyond it were closed without an answer.
    expect(timedOut + dropped).toBe(slow.length);
    expect(timedOut).toBeGreaterThanOrEqual(2);
    expect(timedOut).toBeLessThanOrEqual(CAP);

    // The one-shot attacks were held by the cap too; whatever got a connection got its precise refusal.
    const expected = [
      { status: 400, code: 'nesting_too_deep' },
      { status: 400, code: 'invalid_compression' },
      { status: 413, code: 'payload_too_large' },
      { status: 400, code: 'invalid_utf8' },
      { status: 413, code: 'payload_too_large' },
      { status: 413, code: 'payload_too_large' },
    ];
    results.forEach((result, index) => {
      if ('error' in result) expect(['ECONNRESET', 'EPIPE', 'ECONNREFUSED']).toContain(result.error);
      else expect(result).toMatchObject(expected[index]!);
    });
    // Again, with every connection free: each refusal is precise.
    const again = await Promise.all([
      signedPost(deep),
      signedPost(plain, { 'content-encoding': 'gzip' }),
      signedPost(bomb, { 'content-encoding': 'gzip' }, Buffer.alloc(0)),
      signedPost(invalidUtf8),
      signedPost(Buffer.alloc(2 * 1024 * 1024, 0x20)),
      streamedHugeBody(),
    ]);
    again.forEach((result, index) => expect(result).toMatchObject(expected[index]!));

    const health = await send({ path: '/healthz' });
    expect(health).toMatchObject({ status: 200 });
    expect(await signedPost(Buffer.from(JSON.stringify(tapemetricPayload())))).toMatchObject({ status: 202 });
  });
});
