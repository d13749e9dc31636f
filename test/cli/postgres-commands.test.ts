/**
 * `hookrelay migrate` and `hookrelay work` as a user runs them, on the machine's PostgreSQL.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { hookrelay as runHookrelay, scratchFolder, writeScratchFile } from './support.ts';
import { WAIT_MS } from '../support/wait.ts';

const scratch = scratchFolder();
const hookrelay = (args: string[], options?: Parameters<typeof runHookrelay>[2]) => runHookrelay(scratch, args, options);
const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));

const databases: TestDatabase[] = [];
async function database(): Promise<TestDatabase> {
  const created = await createTestDatabase();
  databases.push(created);
  return created;
}
afterAll(async () => {
  for (const each of databases) await each.drop();
});

describe('hookrelay migrate', () => {
  it('brings a new database to the current schema, then finds nothing to do', async () => {
    const db = await database();
    const first = await hookrelay(['migrate'], { env: { DATABASE_URL: db.url } });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^PostgreSQL store .*: schema migrated from version 0 to \d+/);
    const again = await hookrelay(['migrate'], { env: { DATABASE_URL: db.url } });
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/schema up to date \(version \d+\)/);
  });

  it('an unreachable database: exit 1, a message that names it without its password', async () => {
    const run = await hookrelay(['migrate'], { env: { DATABASE_URL: 'postgres://hookrelay:s3cr3t-pw@127.0.0.1:9/hookrelay' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^could not migrate the PostgreSQL store postgres:\/\/hookrelay:\*\*\*@127\.0\.0\.1:9\/hookrelay: /);
    expect(run.stderr + run.stdout).not.toContain('s3cr3t-pw');
  });
});

describe('hookrelay work', () => {
  let receiver: FakeReceiver;
  beforeAll(async () => {
    receiver = await FakeReceiver.start();
  });
  afterAll(async () => {
    await receiver.close();
  });

  it('refuses a database whose schema is behind when told not to migrate', async () => {
    const db = await database();
    const config = writeScratchFile(scratch, 'work-nomigrate.yaml', `destinations:\n  - { name: audit, type: http, url: "${receiver.url('/hook')}" }\nroutes:\n  - { to: [audit] }\n`);
    const run = await hookrelay(['work', '--config', config, '--no-migrate'], { env: { DATABASE_URL: db.url, HOOKRELAY_ALLOW_PRIVATE: '1' } });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/schema is at version 0 .*run "hookrelay migrate"/);
  });

  it('delivers work another replica stored, woken at once by its commit; SIGTERM exits 0', async () => {
    const db = await database();
    const config = writeScratchFile(scratch, 'work.yaml', `destinations:\n  - { name: audit, type: http, url: "${receiver.url('/hook')}" }\nroutes:\n  - { to: [audit] }\n`);
    const child = spawn(process.execPath, [BIN, 'work', '--config', config], {
      env: { ...process.env, DATABASE_URL: db.url, HOOKRELAY_ALLOW_PRIVATE: '1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      for (let i = 0; i < 300 && !output.includes('dispatching (no HTTP server)'); i++) {
        if (child.exitCode !== null) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(output).toContain('dispatching (no HTTP server)');
      // Its lane looked, found nothing, and sleeps (up to 30 s): only the commit's NOTIFY wakes it this soon.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const peer = await PostgresStore.open(db.url);
      const event = relayEvent();
      await peer.ingest(batchOf(event, ['audit']));
      await peer.close();
      const [request] = await receiver.waitFor(1, { path: '/hook', timeoutMs: WAIT_MS });
      expect(request!.json<{ id?: string; data?: unknown }>()).toBeTruthy();
      expect(request!.body).toContain(event.id);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code, output).toBe(0);
  });
});
