import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { capConnectionsPerAddress, clientOf, openFileLimit } from '../../src/http/connection-cap.ts';
import { scratchFolder, writeScratchFile } from '../cli/support.ts';
import { capturingLogger } from '../observability/capture.ts';
import { ManualClock } from '../support/clock.ts';

describe('clientOf: what one client is', () => {
  it('an IPv4 address is itself, also when a dual-stack listener reports it IPv4-mapped', () => {
    expect(clientOf('203.0.113.9')).toBe('203.0.113.9');
    expect(clientOf('::ffff:203.0.113.9')).toBe('203.0.113.9');
    expect(clientOf('::ffff:cb00:7109')).toBe('203.0.113.9');
  });

  it('IPv6 addresses count by their /64: one host cannot get a fresh share from each address of its prefix', () => {
    expect(clientOf('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(clientOf('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(clientOf('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientOf('::1')).toBe('::/64');
  });

  it('an address the socket does not know (already closed) is one client of its own', () => {
    expect(clientOf(undefined)).toBe('unknown');
  });
});

describe('capConnectionsPerAddress: the refusal log', () => {
  const servers: Server[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  });

  async function cappedServer(perAddress: number, clock: ManualClock) {
    const { logger, lines } = capturingLogger();
    const server = createServer((_request, response) => response.end('ok'));
    servers.push(server);
    capConnectionsPerAddress(server, { perAddress, logger, clock });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    /** A connection from 127.0.0.1; resolves once the server has closed it, or once it is accepted and still open a moment later. */
    const openOne = async (): Promise<'closed' | 'open'> => {
      const socket = connect(port, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => undefined);
      const closed = once(socket, 'close').then(() => 'closed' as const);
      await once(socket, 'connect');
      // An accepted socket answers a request; a refused one is closed before it is read.
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      const answered = once(socket, 'data').then(() => 'open' as const);
      return Promise.race([closed, answered]);
    };
    return { lines, openOne };
  }

  it('one warn line names the client and the limit; more refusals within 10 s are counted into the next line', async () => {
    const clock = new ManualClock();
    const { lines, openOne } = await cappedServer(1, clock);
    expect(await openOne()).toBe('open');
    expect(await openOne()).toBe('closed');
    expect(await openOne()).toBe('closed');
    expect(await openOne()).toBe('closed');
    const refusals = () => lines.filter((line) => String(line.msg).startsWith('connection from'));
    expect(refusals()).toEqual([
      expect.objectContaining({
        level: 'warn',
        client: '127.0.0.1',
        limit: 'http.max_connections_per_address (1)',
        held: 1,
        msg: 'connection from 127.0.0.1 refused: http.max_connections_per_address (1) reached (1 open)',
      }),
    ]);

    await clock.advance(10_000);
    expect(await openOne()).toBe('closed');
    expect(refusals()).toHaveLength(2);
    expect(refusals()[1]).toMatchObject({ suppressed: 2, msg: expect.stringMatching(/; 2 more refused since the last line$/) });
  });
});

describe('the open-file limit', () => {
  const scratch = scratchFolder();
  const LIMITS = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             127431               127431               processes ',
    'Max open files            1024                 524288               files     ',
  ].join('\n');

  it('is read from /proc/self/limits (the soft limit), unlimited as Infinity, unreadable as null', () => {
    expect(openFileLimit(() => LIMITS)).toBe(1024);
    expect(openFileLimit(() => LIMITS.replace('1024      ', 'unlimited '))).toBe(Number.POSITIVE_INFINITY);
    expect(
      openFileLimit(() => {
        throw new Error('ENOENT');
      }),
    ).toBeNull();
  });

  it.skipIf(process.platform !== 'linux')('serve under ulimit -n 600 warns at start-up that 1024 connections cannot be held, and says what to raise', async () => {
    const config = writeScratchFile(scratch, 'hookrelay.yaml', `store: "sqlite:${join(scratch, 'data', 'hookrelay.db')}"\nsources:\n  - { name: tm, preset: tapemetric, secrets: [s] }\n`);
    const bin = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));
    // ulimit -n sets the hard limit too, so Node cannot raise it back at start.
    const child = spawn('sh', ['-c', 'ulimit -n 600 && exec "$@"', 'sh', process.execPath, bin, 'serve', '--config', config, '--host', '127.0.0.1', '--port', '0'], {
      env: { ...process.env, LOG_FORMAT: 'json', LOG_LEVEL: 'info', HOOKRELAY_ALLOW_PRIVATE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const deadline = Date.now() + 20_000;
      while (!output.includes(' listening on ')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const lines = output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toContainEqual(
        expect.objectContaining({
          open_file_limit: 600,
          max_connections: 1024,
          msg: expect.stringMatching(/^the open-file limit \(ulimit -n\) is 600, too low for http\.max_connections \(1024\).*raise it to 1280 or more/),
        }),
      );
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });
});
