import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkDestinationUrl, EgressRefusedError, guardedLookup, isPublicAddress } from '../../src/destinations/egress.ts';
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

/**
 * IPv6 forms that carry an IPv4 address (or are never globally reachable): the address a
 * translator or tunnel on the path would reach decides. Teredo clients are stored with every bit
 * flipped (RFC 4380 §4): 10.0.0.1 is f5ff:fffe, 127.0.0.1 is 80ff:fffe, 8.8.8.8 is f7f7:f7f7.
 */
const EMBEDDING_PRIVATE_IPV4: ReadonlyArray<readonly [string, string]> = [
  ['::7f00:1', 'IPv4-compatible loopback, hex'],
  ['::127.0.0.1', 'IPv4-compatible loopback, dotted'],
  ['::a00:1', 'IPv4-compatible 10/8'],
  ['::8.8.8.8', 'IPv4-compatible, deprecated even when public (RFC 4291)'],
  ['::ffff:7f00:1', 'IPv4-mapped loopback, hex'],
  ['::ffff:0:7f00:1', 'SIIT (RFC 6145) loopback'],
  ['64:ff9b::7f00:1', 'NAT64 well-known prefix, loopback'],
  ['64:ff9b::10.0.0.1', 'NAT64 well-known prefix, 10/8'],
  ['64:ff9b::a9fe:a9fe', 'NAT64 well-known prefix, cloud metadata'],
  ['64:ff9b:1::808:808', 'NAT64 local-use prefix (RFC 8215)'],
  ['2002:7f00:1::1', '6to4 of loopback'],
  ['2002:c0a8:101::1', '6to4 of 192.168.1.1'],
  ['2002:a9fe:a9fe::1', '6to4 of cloud metadata'],
  ['2001:0:4136:e378:8000:63bf:80ff:fffe', 'Teredo, client 127.0.0.1'],
  ['2001:0:4136:e378:8000:63bf:f5ff:fffe', 'Teredo, client 10.0.0.1'],
  ['2001:0:a00:1:8000:63bf:f7f7:f7f7', 'Teredo, server 10.0.0.1'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo, client 192.0.2.45 (RFC 4380 example; documentation range)'],
  ['::ffff:0:808:808', 'SIIT (RFC 6145), even of a public address'],
  ['2001:4860:1:2:0:5efe:7f00:1', 'ISATAP, loopback'],
  ['2001:4860:1:2:200:5efe:c0a8:101', 'ISATAP (u bit set), 192.168.1.1'],
  ['fec0::1', 'site-local (deprecated)'],
  ['100::1', 'discard-only'],
  ['2001:db8::1', 'documentation'],
  ['3fff::1', 'documentation (RFC 9637)'],
  ['2001:2::1', 'benchmarking'],
  ['ff02::1', 'multicast'],
  ['5f00::1', 'SRv6 SIDs'],
];

const PUBLIC_IPV6: readonly string[] = [
  '64:ff9b::808:808',
  '2002:808:808::1',
  '2001:0:4136:e378:8000:63bf:f7f7:f7f7',
  '2001:4860:1:2:0:5efe:808:808',
  '2a00:1450:4001:80b::200e',
  // 5efe in the interface id without ISATAP's 0000 / 0200 before it: not ISATAP.
  '2001:4860:1:2:1234:5efe:a00:1',
];

describe('isPublicAddress: IPv6 forms that embed an IPv4 address', () => {
  it.each(EMBEDDING_PRIVATE_IPV4)('%s is refused (%s)', (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  it.each(PUBLIC_IPV6)('%s is allowed (what it embeds is public)', (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe('guardedLookup (connect time, names)', () => {
  const lookup = (host: string, all: boolean) =>
    new Promise<{ error: NodeJS.ErrnoException | null; address: unknown; family: unknown }>((resolve) =>
      guardedLookup(host, { all }, (error, address, family) => resolve({ error, address, family })),
    );

  it('a name resolving to loopback → EgressRefusedError (code EGRESS_REFUSED), no address handed on', async () => {
    const { error, address } = await lookup('localhost', false);
    expect(error).toBeInstanceOf(EgressRefusedError);
    expect(error).toMatchObject({ code: 'EGRESS_REFUSED', name: 'EgressRefusedError' });
    expect(error?.message).toContain('allow_private');
    expect(address).toEqual([]);
  });

  it('a public address is handed on as the connect asked: one, or all', async () => {
    expect(await lookup('8.8.8.8', false)).toEqual({ error: null, address: '8.8.8.8', family: 4 });
    expect(await lookup('8.8.8.8', true)).toMatchObject({ error: null, address: [{ address: '8.8.8.8', family: 4 }] });
  });

  it('a lookup error is passed through', async () => {
    // .invalid never resolves (RFC 6761).
    const { error, address } = await lookup('hookrelay-test.invalid', false);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(EgressRefusedError);
    expect(address).toEqual([]);
  });

  it('an IPv6 address with a zone id is refused, not thrown on', () => {
    expect(isPublicAddress('fe80::1%eth0')).toBe(false);
    expect(isPublicAddress('2606:4700::1111%eth0')).toBe(false);
  });
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

  it('a name that does not resolve yet is not an error, and says so', async () => {
    expect(await checkDestinationUrl(new URL('https://hookrelay-test.invalid/x'))).toMatchObject({
      ok: 'unknown',
      reason: expect.stringContaining('hookrelay-test.invalid does not resolve yet (ENOTFOUND)'),
    });
  });

  it('a name that resolves to loopback is refused', async () => {
    expect((await checkDestinationUrl(new URL('http://localhost/x'))).ok).toBe(false);
  });

  it.each(EMBEDDING_PRIVATE_IPV4)('http://[%s]/ is refused at config load (%s)', async (address) => {
    const result = await checkDestinationUrl(new URL(`http://[${address}]:8080/hook`));
    expect(result.ok).toBe(false);
    expect(result.ok === false && result.reason).toContain('allow_private');
  });

  it.each(PUBLIC_IPV6)('http://[%s]/ is accepted at config load', async (address) => {
    expect(await checkDestinationUrl(new URL(`http://[${address}]/hook`))).toEqual({ ok: true });
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

  it.each(EMBEDDING_PRIVATE_IPV4)('[%s] (%s) is refused at connect time, past post()\'s own check', async (address) => {
    const client = new HttpClient({ allowPrivate: false, userAgent: 'hookrelay/test' });
    try {
      const error = await request(`http://[${address}]:${loopback.port}/metadata`, { dispatcher: client.dispatcher }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message) + String((error as Error).cause ?? '')).toContain('allow_private');
    } finally {
      await client.close();
    }
  });

  it.each(['::7f00:1', '::127.0.0.1', '64:ff9b::127.0.0.1'])('post() to http://[%s]/ → permanent, mentions allow_private', async (address) => {
    const result = await post(false, `http://[${address}]:${loopback.port}/hook`);
    expect(result).toMatchObject({ kind: 'permanent', status: null });
    expect(result.error).toContain('allow_private');
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
