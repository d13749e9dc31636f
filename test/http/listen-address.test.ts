import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { hostname, networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { WAIT_MS } from '../support/wait.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { describeListener, parseListenHost } from '../../src/http/listen-address.ts';
import { startServer } from '../../src/server.ts';
import type { RunningServer } from '../../src/server.ts';
import { VERSION } from '../../src/version.ts';
import { ADMIN_TOKEN } from '../support/hookrelay.ts';
import { hookrelay, scratchFolder } from '../cli/support.ts';
import { capturingLogger } from '../observability/capture.ts';

const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));
const scratch = scratchFolder();

/** A public literal destination: the config loads without HOOKRELAY_ALLOW_PRIVATE and without DNS. */
const CONFIG = `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s3cret] }
destinations: [ { name: ops, type: http, url: "https://8.8.8.8/hook" } ]
routes: [ { to: [ops] } ]
`;

const servers: RunningServer[] = [];
const folders: string[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});
afterAll(() => {
  for (const folder of folders) rmSync(folder, { recursive: true, force: true });
});

async function serve(options: { host?: string; env?: Record<string, string>; yaml?: string } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hookrelay-listen-'));
  folders.push(dataDir);
  const config = parseConfigText(`${CONFIG}${options.yaml ?? ''}`, { HOOKRELAY_DATA_DIR: dataDir, ...options.env });
  const { logger, lines } = capturingLogger();
  const server = await startServer({ config, baseDir: process.cwd(), port: 0, ...(options.host ? { host: options.host } : {}), logger });
  servers.push(server);
  const banner = lines.find((line) => String(line.msg).includes(' listening on '));
  return { server, lines, banner: banner! };
}

/** GET /healthz at `address` (Linux routes all of 127.0.0.0/8 to loopback), or the error code. */
function healthzAt(address: string, port: number): Promise<number | string> {
  return new Promise((resolve) => {
    const request = httpRequest({ host: address, port, path: '/healthz', agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    request.end();
  });
}

describe('--host / HOST: what may be listened on', () => {
  it('addresses (IPv6 with or without brackets) and host names are taken', () => {
    expect(parseListenHost('127.0.0.1')).toEqual({ host: '127.0.0.1' });
    expect(parseListenHost('0.0.0.0')).toEqual({ host: '0.0.0.0' });
    expect(parseListenHost('::')).toEqual({ host: '::' });
    expect(parseListenHost('[::1]')).toEqual({ host: '::1' });
    expect(parseListenHost('localhost')).toEqual({ host: 'localhost' });
    expect(parseListenHost('relay.internal.example')).toEqual({ host: 'relay.internal.example' });
  });

  it('a URL, a host with a port, or nonsense is refused with what to write instead', () => {
    expect(parseListenHost('http://0.0.0.0')).toEqual({ problem: expect.stringMatching(/^"http:\/\/0\.0\.0\.0" is not an address or host name to listen on \(an address, not a URL\); e\.g\. 127\.0\.0\.1/) });
    expect(parseListenHost('0.0.0.0:3000')).toEqual({ problem: expect.stringContaining('(the port goes in --port or PORT)') });
    for (const nonsense of ['999.1.1.1', 'relay host', '-relay', '']) expect(parseListenHost(nonsense)).toHaveProperty('problem');
  });
});

describe('the banner says where hookrelay really listens (issue 18, defect 8)', () => {
  it('by default every IPv4 interface, said as http://0.0.0.0:PORT, and it does answer on another address', async () => {
    const { server, banner } = await serve();
    expect(banner.msg).toBe(`hookrelay ${VERSION} listening on http://0.0.0.0:${server.port} (every IPv4 interface)`);
    expect(banner.url).toBe(`http://0.0.0.0:${server.port}`);
    expect(banner.listening).toBe(
      'every IPv4 interface: other machines can reach the webhooks, /admin, /api/v1 and /metrics; HOST=127.0.0.1 (or --host) keeps them to this machine, behind a proxy',
    );
    expect(banner.pid).toBe(process.pid);
    // Where to point a sender: not 0.0.0.0, which is no address a sender can use, but this machine's name.
    expect(banner.sources).toEqual([`tapemetric (tapemetric): POST http://${hostname()}:${server.port}/hooks/tapemetric`]);
    expect(await healthzAt('127.0.0.2', server.port)).toBe(200);
  });

  it('with admin.public_url, the URL to paste into a sender is the public one', async () => {
    const { banner } = await serve({ yaml: 'admin: { token: listen-address-token-0123, public_url: "https://relay.example.com/" }\n' });
    expect(banner.sources).toEqual(['tapemetric (tapemetric): POST https://relay.example.com/hooks/tapemetric']);
  });

  it('host 127.0.0.1: "this machine only", and another address is refused', async () => {
    const { server, banner } = await serve({ host: '127.0.0.1' });
    expect(banner.msg).toBe(`hookrelay ${VERSION} listening on http://127.0.0.1:${server.port} (this machine only)`);
    expect(banner.listening).toMatch(/^loopback: only this machine can connect/);
    expect(await healthzAt('127.0.0.1', server.port)).toBe(200);
    expect(await healthzAt('127.0.0.2', server.port)).toBe('ECONNREFUSED');
  });

  const ipv6Loopback = Object.values(networkInterfaces()).some((addresses) => addresses?.some((address) => address.address === '::1'));
  it.skipIf(!ipv6Loopback)('host ::1: the URL puts the IPv6 address in brackets', async () => {
    const { server, banner } = await serve({ host: '::1' });
    expect(banner.url).toBe(`http://[::1]:${server.port}`);
    expect(server.url).toBe(`http://[::1]:${server.port}`);
    expect(await fetch(`${server.url}/healthz`).then((response) => response.status)).toBe(200);
  });

  it('describeListener: every interface (IPv6), or one address', () => {
    expect(describeListener({ address: '::', family: 'IPv6', port: 3000 })).toMatchObject({ url: 'http://[::]:3000', scope: 'every interface' });
    expect(describeListener({ address: '10.0.0.5', family: 'IPv4', port: 3000 })).toMatchObject({ url: 'http://10.0.0.5:3000', scope: '10.0.0.5 only' });
  });

  it('an address that is not this machine\'s: start-up fails saying so', async () => {
    await expect(serve({ host: '192.0.2.1' })).rejects.toThrow('cannot listen on 192.0.2.1 port 0: not an address of this machine (EADDRNOTAVAIL)');
  });
});

describe('egress.allow_private at start-up (issue 18, defect 8)', () => {
  const guardOff = (lines: Array<Record<string, unknown>>) => lines.filter((line) => String(line.msg).includes('the egress guard is off'));

  it('on: a warning that the egress guard is off, naming the variable', async () => {
    const { lines } = await serve({ env: { HOOKRELAY_ALLOW_PRIVATE: '1' } });
    expect(guardOff(lines)).toEqual([expect.objectContaining({ level: 'warn', msg: expect.stringMatching(/^egress\.allow_private is on \(HOOKRELAY_ALLOW_PRIVATE\): the egress guard is off/) })]);
  });

  it('off (the default): no such warning', async () => {
    const { lines } = await serve();
    expect(guardOff(lines)).toEqual([]);
  });
});

describe('hookrelay serve --host / HOST', () => {
  const configFile = join(scratch, 'hookrelay.yaml');
  writeFileSync(configFile, `${CONFIG}store: "sqlite:${join(scratch, 'data', 'hookrelay.db')}"\n`);

  it('a bad --host or HOST → exit 2 with the reason and the usage, before anything starts', async () => {
    const flag = await hookrelay(scratch, ['serve', '--config', configFile, '--host', 'http://0.0.0.0', '--port', '0']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^--host\/HOST: "http:\/\/0\.0\.0\.0" is not an address or host name to listen on \(an address, not a URL\)/);
    expect(flag.stderr).toContain('Usage: hookrelay serve');
    const variable = await hookrelay(scratch, ['serve', '--config', configFile, '--port', '0'], { env: { HOST: '0.0.0.0:3000' } });
    expect(variable.code).toBe(2);
    expect(variable.stderr).toContain('(the port goes in --port or PORT)');
  });

  it.each([
    ['--host', ['--host', '127.0.0.1'], {}],
    ['HOST', [], { HOST: '127.0.0.1' }],
  ])('%s 127.0.0.1: the server listens there and says so', async (_name, args, env) => {
    const child = spawn(process.execPath, [BIN, 'serve', '--config', configFile, '--port', '0', ...args], {
      env: { ...process.env, HOOKRELAY_ALLOW_PRIVATE: '', LOG_FORMAT: 'json', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      // A bound for a start that will happen (a fresh clone strips every module's types first: slow on a loaded machine).
      const deadline = Date.now() + WAIT_MS;
      while (!output.includes(' listening on ')) {
        if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const banner = output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => String(line.msg).includes(' listening on '))!;
      expect(banner.msg).toMatch(/ listening on http:\/\/127\.0\.0\.1:\d+ \(this machine only\)$/);
    } finally {
      // Not a test of stopping (serve-signals.test.ts is): a server still starting is not waited for.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    }
  });
});

describe('commands that talk to a running server follow HOST and PORT', () => {
  it('hookrelay deliveries without --url reaches a server listening on HOST=127.0.0.2 only', async () => {
    const { server } = await serve({ host: '127.0.0.2', yaml: `admin: { token: "${ADMIN_TOKEN}" }\n` });
    const run = await hookrelay(scratch, ['deliveries', 'ops'], { env: { HOST: '127.0.0.2', PORT: String(server.port), HOOKRELAY_ADMIN_TOKEN: ADMIN_TOKEN } });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    // Every interface (or no HOST): loopback.
    const wildcard = await hookrelay(scratch, ['deliveries', 'ops'], { env: { HOST: '0.0.0.0', PORT: String(server.port), HOOKRELAY_ADMIN_TOKEN: ADMIN_TOKEN } });
    expect(wildcard.stderr).toContain(`cannot reach hookrelay at http://127.0.0.1:${server.port}`);
  });
});
