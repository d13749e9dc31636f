import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/clock.ts';
import { freePort } from '../support/child-relay.ts';
import { createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { scratchFolder } from './support.ts';

/**
 * A supervisor stops a server that is still starting (`docker stop` right after `docker run`,
 * a rollout cancelled): the signal must not end it half-started. Forced here by a PostgreSQL
 * that answers only when the test says: the signal arrives while the store is being opened.
 */

const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));
const scratch = scratchFolder();

let database: TestDatabase;
let proxy: TcpProxy;

beforeAll(async () => {
  database = await createTestDatabase();
  proxy = new TcpProxy({ host: '127.0.0.1', port: 5432 });
  await proxy.up();
});

afterAll(async () => {
  await proxy?.down();
  await database?.drop();
});

describe('hookrelay serve, a signal while starting', () => {
  it('SIGTERM while the store is being opened: it finishes starting, then stops gracefully (exit 0, its last line "stopped")', async () => {
    const url = new URL(database.url);
    url.port = String(proxy.port);
    const config = join(scratch, 'hookrelay.yaml');
    writeFileSync(config, `store: "${url.href}"\ndestinations:\n  - { name: receiver, type: http, url: "http://127.0.0.1:9/hook" }\nroutes:\n  - { to: [receiver] }\n`);
    proxy.hold();
    const child = spawn(process.execPath, [BIN, 'serve', '--config', config, '--port', String(await freePort())], {
      env: { ...process.env, HOOKRELAY_ALLOW_PRIVATE: '1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const closed = once(child, 'close');
    try {
      // The store is opening: its first connection waits at the proxy.
      await eventually(() => proxy.waiting > 0);
      child.kill('SIGTERM');
      await eventually(() => output.includes('stop asked while starting'));
      expect(child.exitCode).toBeNull();
      proxy.release();
      const [code, signal] = (await closed) as [number | null, NodeJS.Signals | null];
      expect({ code, signal }, output).toEqual({ code: 0, signal: null });
      expect(output).toContain('"msg":"stopped"');
    } finally {
      proxy.release();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
