import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpClient, parseRetryAfter } from '../../src/destinations/http-client.ts';
import { freePort } from '../support/child-relay.ts';
import { FakeReceiver } from '../support/receiver.ts';

let receiver: FakeReceiver;
let client: HttpClient;

beforeAll(async () => {
  receiver = await FakeReceiver.start();
  // Answers with the status in the path: /status/503 → 503; /slow → after 1 s.
  receiver.respond((request) =>
    request.path === '/slow'
      ? { status: 200, delayMs: 1_000 }
      : { status: Number(/^\/status\/(\d{3})$/.exec(request.path)?.[1] ?? 200), body: 'answer' },
  );
  client = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/9.9.9' });
});

afterAll(async () => {
  await client.close();
  await receiver.close();
});

const post = (path: string, timeoutMs = 2_000) =>
  client.post(new URL(receiver.url(path)), { headers: { 'x-extra': 'yes' }, body: '{"hello":"world"}', timeoutMs });

describe('classification of what came back', () => {
  it.each([200, 204])('%s → success', async (status) => {
    expect(await post(`/status/${status}`)).toMatchObject({ kind: 'success', status, error: null });
  });

  it.each([500, 502, 503])('%s → retry', async (status) => {
    const result = await post(`/status/${status}`);
    expect(result).toMatchObject({ kind: 'retry', status });
    expect(result.error).toContain(String(status));
  });

  it.each([408, 425, 429])('%s → retry', async (status) => {
    expect(await post(`/status/${status}`)).toMatchObject({ kind: 'retry', status });
  });

  it.each([400, 401, 403, 404, 410, 422])('%s → permanent', async (status) => {
    expect(await post(`/status/${status}`)).toMatchObject({ kind: 'permanent', status });
  });

  it('a redirect is not followed → permanent, and its target receives nothing', async () => {
    const [redirecting, target] = await Promise.all([FakeReceiver.start(), FakeReceiver.start()]);
    try {
      redirecting.respond(() => ({ status: 302, headers: { location: target.url('/elsewhere') } }));
      const result = await client.post(new URL(redirecting.url('/moved')), { headers: {}, body: '{}', timeoutMs: 2_000 });
      expect(result).toMatchObject({ kind: 'permanent', status: 302 });
      expect(redirecting.requests).toHaveLength(1);
      expect(target.requests).toHaveLength(0);
    } finally {
      await Promise.all([redirecting.close(), target.close()]);
    }
  });

  it('only 429 counts as rate limited', async () => {
    expect((await post('/status/429')).rate_limited).toBe(true);
    expect((await post('/status/503')).rate_limited).toBe(false);
  });

  it('connection refused → retry, no status', async () => {
    const port = await freePort();
    const result = await client.post(new URL(`http://127.0.0.1:${port}/hook`), { headers: {}, body: '{}', timeoutMs: 2_000 });
    expect(result).toMatchObject({ kind: 'retry', status: null });
    expect(result.error).toMatch(/ECONNREFUSED/);
  });

  it('a receiver slower than the timeout → retry, "timed out"', async () => {
    const result = await post('/slow', 200);
    expect(result).toMatchObject({ kind: 'retry', status: null });
    expect(result.error).toMatch(/timed out/);
    expect(result.latency_ms).toBeGreaterThanOrEqual(150);
    expect(result.latency_ms).toBeLessThan(1_000);
  });
});

describe('the timeout bounds the whole attempt', () => {
  it('a receiver that answers at once but drips its body for longer than the timeout → retry, "timed out"', async () => {
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' });
      // A byte every 50 ms: never idle long enough for a per-chunk timeout, never done.
      const drip = setInterval(() => response.write('.'), 50);
      response.on('close', () => clearInterval(drip));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const { port } = server.address() as AddressInfo;
      const result = await client.post(new URL(`http://127.0.0.1:${port}/drip`), { headers: {}, body: '{}', timeoutMs: 300 });
      expect(result).toMatchObject({ kind: 'retry', status: null });
      expect(result.error).toMatch(/timed out after 300 ms/);
      expect(result.latency_ms).toBeLessThan(1_500);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('what is sent and kept', () => {
  it('sends the body byte for byte with the user agent, JSON content type and extra headers', async () => {
    const before = receiver.requests.length;
    await post('/status/200');
    const request = receiver.requests[before]!;
    expect(request.method).toBe('POST');
    expect(request.body).toBe('{"hello":"world"}');
    expect(request.headers).toMatchObject({ 'user-agent': 'hookrelay/9.9.9', 'content-type': 'application/json', 'x-extra': 'yes' });
  });

  it('keeps the start of a long response body for the delivery log, marked with …', async () => {
    const big = await FakeReceiver.start();
    try {
      big.respond(() => ({ status: 500, body: 'x'.repeat(10_000) }));
      const result = await client.post(new URL(big.url('/')), { headers: {}, body: '{}', timeoutMs: 2_000 });
      expect(result.body?.length).toBeLessThan(2_100);
      expect(result.body?.endsWith('…')).toBe(true);
    } finally {
      await big.close();
    }
  });

  it('Retry-After on a 429 comes back in ms', async () => {
    const retryAfter = await FakeReceiver.start();
    try {
      retryAfter.respond(() => ({ status: 429, headers: { 'retry-after': '7' } }));
      const result = await client.post(new URL(retryAfter.url('/')), { headers: {}, body: '{}', timeoutMs: 2_000 });
      expect(result).toMatchObject({ kind: 'retry', rate_limited: true, retry_after_ms: 7_000 });
    } finally {
      await retryAfter.close();
    }
  });
});

describe('parseRetryAfter', () => {
  const NOW = Date.parse('2026-04-23T18:28:00Z');

  it('delay-seconds → ms', () => {
    expect(parseRetryAfter('120', NOW)).toBe(120_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter(' 5 ', NOW)).toBe(5_000);
  });

  it('an HTTP-date → ms from now', () => {
    expect(parseRetryAfter('Thu, 23 Apr 2026 18:30:00 GMT', NOW)).toBe(120_000);
  });

  it('the obsolete RFC 850 and asctime forms → ms from now, read as GMT whatever the local time zone', () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Kolkata';
    try {
      expect(parseRetryAfter('Thursday, 23-Apr-26 18:29:00 GMT', NOW)).toBe(60_000);
      expect(parseRetryAfter('Thu Apr 23 18:28:30 2026', NOW)).toBe(30_000);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('a date in the past → 0', () => {
    expect(parseRetryAfter('Thu, 23 Apr 2026 18:00:00 GMT', NOW)).toBe(0);
  });

  it('the first of several values is used', () => {
    expect(parseRetryAfter(['3', '9'], NOW)).toBe(3_000);
  });

  it.each([undefined, '', 'soon', '-1', '1.5', '10 apples', '2026-04-23T18:30:00Z'])('%j → null (ignored)', (value) => {
    expect(parseRetryAfter(value, NOW)).toBeNull();
  });
});
