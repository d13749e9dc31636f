import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDestinationUrl, isPublicAddress } from '../../src/destinations/egress.ts';
import { request } from 'undici';
import { HttpClient } from '../../src/destinations/http-client.ts';

describe('isPublicAddress', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['127.5.6.7', 'loopback, not only .1'],
    ['10.0.0.1', '10/8'],
    ['10.255.255.255', '10/8'],
    ['172.16.0.1', '172.16/12'],
    ['172.31.255.254', '172.16/12'],
    ['192.168.1.1', '192.168/16'],
    ['169.254.169.254', 'cloud metadata (link-local)'],
    ['100.64.0.1', 'carrier-grade NAT 100.64/10'],
    ['100.127.255.254', 'carrier-grade NAT 100.64/10'],
    ['0.0.0.0', 'unspecified'],
    ['255.255.255.255', 'broadcast'],
    ['224.0.0.1', 'multicast'],
    ['::1', 'IPv6 loopback'],
    ['::', 'IPv6 unspecified'],
    ['fe80::1', 'IPv6 link-local'],
    ['fd00::1', 'IPv6 unique local'],
    ['::ffff:127.0.0.1', 'IPv4-mapped loopback'],
    ['::ffff:10.0.0.1', 'IPv4-mapped private'],
    ['not-an-address', 'not an IP at all'],
  ])('%s is refused (%s)', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(['8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '2606:4700::1111', '2001:4860:4860::8888', '::ffff:8.8.8.8'])(
    '%s is allowed',
    (address) => {
      expect(isPublicAddress(address)).toBe(true);
    },
  );
});

describe('checkDestinationUrl (config load)', () => {
  it('a private literal is refused with a reason naming allow_private', async () => {
    const result = await checkDestinationUrl(new URL('http://169.254.169.254/latest/meta-data'));
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.reason).toContain('allow_private');
  });

  it('an IPv6 literal in brackets is checked', async () => {
    expect((await checkDestinationUrl(new URL('http://[::1]:8080/x'))).ok).toBe(false);
  });

  it('a name that resolves to loopback is refused', async () => {
    expect((await checkDestinationUrl(new URL('http://localhost/x'))).ok).toBe(false);
  });

  it('a public literal is accepted', async () => {
    expect(await checkDestinationUrl(new URL('https://8.8.8.8/x'))).toEqual({ ok: true });
  });
});

/** A loopback HTTP server that counts connections, so "nothing arrived" covers even a bare connect. */
interface CountingServer {
  readonly server: Server;
  readonly port: number;
  connections: number;
  requests: number;
}

let loopback: CountingServer;

beforeAll(async () => {
  const server = createServer((_request, response) => {
    loopback.requests++;
    response.end('ok');
  });
  server.on('connection', () => loopback.connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  loopback = { server, port: (server.address() as AddressInfo).port, connections: 0, requests: 0 };
});

afterAll(async () => {
  loopback.server.closeAllConnections();
  await new Promise((resolve) => loopback.server.close(resolve));
});

async function post(allowPrivate: boolean, url: string) {
  const client = new HttpClient({ allowPrivate, userAgent: 'hookrelay/test' });
  try {
    return await client.post(new URL(url), { headers: {}, body: '{}', timeoutMs: 2_000 });
  } finally {
    await client.close();
  }
}

describe('HttpClient egress guard', () => {
  it('allowPrivate false, a loopback literal → permanent, mentions allow_private, nothing reaches the server', async () => {
    const before = loopback.connections;
    const result = await post(false, `http://127.0.0.1:${loopback.port}/hook`);
    expect(result).toMatchObject({ kind: 'permanent', status: null });
    expect(result.error).toContain('allow_private');
    expect(loopback.connections).toBe(before);
  });

  it('allowPrivate false, an IPv4-mapped IPv6 loopback literal → permanent', async () => {
    const result = await post(false, `http://[::ffff:127.0.0.1]:${loopback.port}/hook`);
    expect(result.kind).toBe('permanent');
    expect(result.error).toContain('allow_private');
  });

  it.each(['0x7f000001', '2130706433', '127.1'])('allowPrivate false, loopback spelt %s → permanent, nothing reaches the server', async (host) => {
    const before = loopback.connections;
    const result = await post(false, `http://${host}:${loopback.port}/hook`);
    expect(result.kind).toBe('permanent');
    expect(result.error).toContain('allow_private');
    expect(loopback.connections).toBe(before);
  });

  it('allowPrivate false, localhost (resolved at connect time) → permanent, mentions allow_private, nothing reaches the server', async () => {
    const before = loopback.connections;
    const result = await post(false, `http://localhost:${loopback.port}/hook`);
    expect(result).toMatchObject({ kind: 'permanent', status: null });
    expect(result.error).toContain('allow_private');
    expect(loopback.connections).toBe(before);
  });

  it('allowPrivate true, the same loopback server → the request arrives and succeeds', async () => {
    const before = loopback.requests;
    const result = await post(true, `http://127.0.0.1:${loopback.port}/hook`);
    expect(result).toMatchObject({ kind: 'success', status: 200, body: 'ok' });
    expect(loopback.requests).toBe(before + 1);
  });

  it('a literal loopback address reached any other way (a redirect, an SDK using the dispatcher) is refused at connect', async () => {
    const client = new HttpClient({ allowPrivate: false, userAgent: 'hookrelay/test' });
    try {
      const before = loopback.connections;
      // Straight at the dispatcher, past post()'s own check: as a followed redirect would be.
      const error = await request(`http://127.0.0.1:${loopback.port}/metadata`, { dispatcher: client.dispatcher }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message) + String((error as Error).cause ?? '')).toContain('allow_private');
      expect(loopback.connections).toBe(before);
    } finally {
      await client.close();
    }
  });

  it("fetch keeps the caller's redirect choice: 'error' refuses a redirect instead of following it", async () => {
    const redirecting = createServer((_request, response) => {
      response.writeHead(302, { location: `http://127.0.0.1:${loopback.port}/metadata` });
      response.end();
    });
    redirecting.listen(0, '127.0.0.1');
    await once(redirecting, 'listening');
    const client = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
    try {
      const before = loopback.requests;
      const url = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/api/chat.postMessage`;
      await expect(client.fetch(url, { method: 'POST', redirect: 'error' })).rejects.toThrow();
      const manual = await client.fetch(url, { method: 'POST' });
      expect(manual.status).toBe(302);
      expect(loopback.requests).toBe(before);
    } finally {
      await client.close();
      redirecting.close();
    }
  });
});
