/**
 * SIGTERM through the real binary, as a platform stops a replica (a deploy, a scale-in), for
 * `serve` and `work` on both stores: it stops accepting, finishes or gives back the sends in
 * flight within 10 s and exits 0, leaving nothing leased for others to wait out; a second
 * signal exits at once.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { freePort } from '../support/child-relay.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { WAIT_MS } from '../support/wait.ts';
import { eventually } from '../support/clock.ts';

const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hookrelay-shutdown-'));
const databases: TestDatabase[] = [];
const children: ChildProcess[] = [];
let receiver: FakeReceiver;
let delayMs = 0;

beforeAll(async () => {
  receiver = await FakeReceiver.start();
  receiver.respond(() => ({ status: 200, delayMs }));
});
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await receiver.close();
  for (const database of databases) await database.drop();
  rmSync(dir, { recursive: true, force: true });
});

type Kind = 'sqlite' | 'postgres';
type Command = 'serve' | 'work';

/** A store for one test: its URL, and how to look into it once the process is gone. */
async function storeFor(kind: Kind, name: string): Promise<{ url: string; open: () => Promise<Store>; inFlight: () => Promise<number> }> {
  if (kind === 'sqlite') {
    const file = join(dir, name, 'hookrelay.db');
    return {
      url: `sqlite:${file}`,
      open: () => SqliteStore.open(file),
      // Opening takes back what a process left leased; it says how many.
      inFlight: async () => {
        const store = await SqliteStore.open(file);
        const left = store.recoveredLeases;
        await store.close();
        return left;
      },
    };
  }
  const database = await createTestDatabase();
  databases.push(database);
  return {
    url: database.url,
    open: () => PostgresStore.open(database.url),
    inFlight: async () => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ n: string }>("SELECT COUNT(*) AS n FROM deliveries WHERE status = 'in_flight'");
        return Number(rows[0]!.n);
      } finally {
        await client.end();
      }
    },
  };
}

/** `count` deliveries to `slow`, stored before the process starts (as a peer, or an earlier run, left them). */
async function queue(open: () => Promise<Store>, count: number): Promise<void> {
  const store = await open();
  try {
    await store.syncDestinations(['slow']);
    for (let i = 0; i < count; i++) await store.ingest(batchOf(relayEvent({ dedup_key: `incident-${i}` }), ['slow']));
  } finally {
    await store.close();
  }
}

async function statuses(open: () => Promise<Store>): Promise<Array<{ status: string; attempts: number }>> {
  const store = await open();
  try {
    return (await store.view('deliveries', { destination: 'slow', limit: 100 })).map(({ status, attempts }) => ({ status, attempts }));
  } finally {
    await store.close();
  }
}

async function start(command: Command, url: string, options: { timeout: string }): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  const config = join(dir, `${command}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    config,
    `store: "${url}"
destinations:
  - { name: slow, type: http, url: "${receiver.url('/slow')}", concurrency: 2, timeout: ${options.timeout} }
routes:
  - { to: [slow] }
`,
  );
  const port = await freePort();
  const child = spawn(process.execPath, [BIN, command, '--config', config], {
    env: { ...process.env, PORT: String(port), HOOKRELAY_ALLOW_PRIVATE: '1', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ready = command === 'serve' ? 'listening on' : 'dispatching (no HTTP server)';
  const deadline = Date.now() + WAIT_MS;
  while (!output.includes(ready)) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`hookrelay ${command} did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return { child, port, output: () => output };
}

/** Requests that arrived (answered or not: the receiver may be holding them). */
async function arrived(count: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (receiver.received('/slow').length < count) {
    if (Date.now() > deadline) throw new Error(`waited for ${count} requests to arrive, got ${receiver.received('/slow').length}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function exitOf(child: ChildProcess): Promise<{ code: number | null; afterMs: number }> {
  const started = Date.now();
  if (child.exitCode === null && child.signalCode === null) await new Promise((resolve) => child.once('exit', resolve));
  return { code: child.exitCode, afterMs: Date.now() - started };
}

const COMBINATIONS: Array<[Command, Kind]> = [
  ['serve', 'sqlite'],
  ['work', 'sqlite'],
  ['serve', 'postgres'],
  ['work', 'postgres'],
];

describe.each(COMBINATIONS)('hookrelay %s on %s, SIGTERM', (command, kind) => {
  it('finishes the sends in flight, gives back the rest untouched, stops accepting, and exits 0', async () => {
    delayMs = 1_500;
    receiver.requests.length = 0;
    const store = await storeFor(kind, `${command}-graceful`);
    await queue(store.open, 6);
    const relay = await start(command, store.url, { timeout: '5s' });
    await arrived(2);
    relay.child.kill('SIGTERM');
    if (command === 'serve') {
      // No new webhook is taken once the signal is handled: the port closes.
      const deadline = Date.now() + 3_000;
      let refused = false;
      while (!refused && Date.now() < deadline) {
        refused = await fetch(`http://127.0.0.1:${relay.port}/healthz`).then(
          () => false,
          () => true,
        );
        if (!refused) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(refused).toBe(true);
    }
    const exit = await exitOf(relay.child);
    expect(exit.code, relay.output()).toBe(0);
    expect(exit.afterMs).toBeLessThan(10_000);
    // The two in flight were answered and recorded; the four waiting went back as they were.
    const sent = receiver.received('/slow').length;
    expect(sent).toBe(2);
    const left = await statuses(store.open);
    expect(left.filter((delivery) => delivery.status === 'succeeded')).toHaveLength(sent);
    expect(left.filter((delivery) => delivery.status === 'pending' && delivery.attempts === 0)).toHaveLength(6 - sent);
    expect(await store.inFlight()).toBe(0);
  }, 30_000);

  it('a send that outlasts the 10 s grace is given back, not left leased: exit 0 within the grace', async () => {
    delayMs = 25_000;
    receiver.requests.length = 0;
    const store = await storeFor(kind, `${command}-overlong`);
    await queue(store.open, 1);
    const relay = await start(command, store.url, { timeout: '30s' });
    await arrived(1);
    relay.child.kill('SIGTERM');
    const exit = await exitOf(relay.child);
    expect(exit.code, relay.output()).toBe(0);
    expect(exit.afterMs).toBeGreaterThanOrEqual(9_000);
    expect(exit.afterMs).toBeLessThan(12_000);
    // Pending again at once: a peer (or the next start) sends it without waiting out a lease.
    expect(await store.inFlight()).toBe(0);
    expect((await statuses(store.open)).map((delivery) => delivery.status)).toEqual(['pending']);
  }, 40_000);

  it('a second signal exits at once', async () => {
    delayMs = 25_000;
    receiver.requests.length = 0;
    const store = await storeFor(kind, `${command}-twice`);
    await queue(store.open, 1);
    const relay = await start(command, store.url, { timeout: '30s' });
    await arrived(1);
    relay.child.kill('SIGTERM');
    // The first signal is being handled (a graceful stop waits for the 25 s request in flight)…
    await eventually(() => relay.output().includes('shutting down: finishing deliveries in flight'));
    expect(relay.child.exitCode).toBeNull();
    relay.child.kill('SIGTERM');
    // …and the second ends it there and then: exit code 1, without the graceful stop's last line.
    const exit = await exitOf(relay.child);
    expect(exit.code).toBe(1);
    expect(relay.output()).toContain('second signal: exiting now');
    expect(relay.output()).not.toContain('"msg":"stopped"');
  }, 30_000);
});
