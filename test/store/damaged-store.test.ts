import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { capturingLogger } from '../observability/capture.ts';
import { eventually } from '../support/clock.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-damaged-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const SECRET = 'tm-damaged-secret';
/** Pages of stores hookrelay makes (src/store/sqlite/connection.ts). */
const PAGE = 8192;

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Random-looking bytes, the same on every run (a failure can be replayed): SHA-256 in counter mode. */
function noise(length: number, seed: string): Buffer {
  const blocks: Buffer[] = [];
  for (let i = 0; blocks.length * 32 < length; i++) blocks.push(createHash('sha256').update(`${seed}:${i}`).digest());
  return Buffer.concat(blocks).subarray(0, length);
}

/** Overwrites whole pages of the file (1-based page numbers, as SQLite counts them), behind SQLite's back. */
function damagePages(file: string, pages: readonly number[], seed: string): void {
  const fd = openSync(file, 'r+');
  try {
    for (const page of pages) writeSync(fd, noise(PAGE, `${seed}:${page}`), 0, PAGE, (page - 1) * PAGE);
  } finally {
    closeSync(fd);
  }
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Variables that would change what the CLI reads (config, zero-config secrets): never inherited. */
const CONFIG_VARIABLES = /^(HOOKRELAY_|SLACK_|PAGERDUTY_|TAPEMETRIC_|STATUSPULSE_|STATUSSENTRY_|TAPE_|ALERTMANAGER_|DATABASE_URL)/;

/**
 * `hookrelay serve` until it exits, or until it says it is listening: a damaged store that
 * started is a failure to report, not a test left waiting.
 */
async function serve(config: string): Promise<{ code: number | null; stderr: string; stdout: string; started: boolean }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.test(name)));
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config, '--port', '0'], { cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let started = false;
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (!started && /listening on/.test(stdout)) {
      started = true;
      child.kill('SIGTERM');
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr, stdout, started };
}

async function post(relay: TestRelay, payload: Record<string, unknown> = tapemetricPayload()): Promise<{ status: number; json: { error?: { code: string; message: string } } }> {
  const body = JSON.stringify(payload);
  return relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET)) as Promise<{ status: number; json: { error?: { code: string; message: string } } }>;
}

async function readyz(relay: TestRelay): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${relay.url}/readyz`);
  const json = (await response.json()) as { error?: string };
  return { status: response.status, ...(json.error === undefined ? {} : { error: json.error }) };
}

/**
 * What damage looks like to a running store: the WAL is copied into the file first (so the
 * pages SQLite reads are the file's), the pages of `tables` (every b-tree page of them, from
 * dbstat) are overwritten, and another connection commits, so the store's connections drop the
 * pages they hold in memory and read the damaged ones from the file.
 */
function damageRunningStore(file: string, tables: readonly string[]): number {
  const db = new DatabaseSync(file, { timeout: 5_000 });
  try {
    const names = tables.map(() => '?').join(', ');
    const pages = db
      .prepare(`SELECT pageno FROM dbstat WHERE name IN (${names}) ORDER BY pageno`)
      .all(...tables)
      .map((row) => Number(row.pageno));
    for (let tries = 0; ; tries++) {
      const result = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number };
      if (result.busy === 0) break;
      if (tries > 100) throw new Error('could not checkpoint the store');
    }
    damagePages(file, pages, tables.join(','));
    db.exec('CREATE TABLE IF NOT EXISTS test_touch (at INTEGER); INSERT INTO test_touch VALUES (1)');
    return pages.length;
  } finally {
    db.close();
  }
}

describe('a damaged SQLite file', () => {
  it('random bytes over three pages in the middle of a 2,000-event store → start-up refused (exit 1) by quick_check, saying how to restore or recover it; the file is untouched', async () => {
    const dir = mkdtempSync(join(scratch, 'data-'));
    const database = join(dir, 'hookrelay.db');
    const store = await SqliteStore.open(database);
    await store.syncDestinations(['ops']);
    for (let i = 0; i < 20; i++) {
      await Promise.all(
        Array.from({ length: 100 }, () => store.ingest(batchOf(relayEvent({ external_id: `ext-${i}-${Math.random()}`, data: { context: 'c'.repeat(1_500) } }), ['ops']))),
      );
    }
    await store.close();
    // Everything in the file, none of it left in the WAL.
    const checkpoint = new DatabaseSync(database);
    checkpoint.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    checkpoint.close();
    const pages = readFileSync(database).length / PAGE;
    expect(pages).toBeGreaterThan(300);
    const middle = Math.floor(pages / 2);
    damagePages(database, [middle, middle + 1, middle + 2], 'three-pages');
    const before = sha256(database);
    const config = join(dir, 'hookrelay.yaml');
    writeFileSync(config, `store: "sqlite:${database}"\nsources: []\ndestinations: []\nroutes: []\n`);

    const run = await serve(config);

    expect(run.started, 'the damaged store started and was listening').toBe(false);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(database);
    expect(run.stderr).toMatch(/looks corrupt/);
    expect(run.stderr).toMatch(/backup/);
    expect(run.stderr).toContain(`sqlite3 ${database} .recover > ${database}.sql && sqlite3 ${database}.recovered < ${database}.sql`);
    expect(run.stderr).toContain(`mv ${database} ${database}.corrupt`);
    expect(sha256(database)).toBe(before);
  });

  it('a healthy store says at start how long its quick_check took', async () => {
    const yaml = `sources:\n  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }\n`;
    const dataDir = mkdtempSync(join(scratch, 'healthy-'));
    const first = await startRelay(yaml, {}, { dataDir });
    for (let i = 0; i < 20; i++) expect((await post(first)).status).toBe(202);
    await first.close();
    const { logger, lines } = capturingLogger();
    const relay = await startRelay(yaml, {}, { dataDir, logger });
    cleanup.push(() => relay.close());
    expect(lines).toContainEqual(expect.objectContaining({ msg: expect.stringMatching(/^store checked: PRAGMA quick_check found no damage in [\d.]+ (KB|MB) \(\d+ ms\)$/), ms: expect.any(Number) }));
  });

  it('damage met by a write while running → that ingest and every later one 503, /readyz 503 saying the file is damaged, one error line saying what to do', async () => {
    const { logger, lines } = capturingLogger();
    const relay = await startRelay(`sources:\n  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }\n`, {}, { logger });
    cleanup.push(() => relay.close());
    for (let i = 0; i < 200; i++) expect((await post(relay)).status).toBe(202);
    expect((await readyz(relay)).status).toBe(200);

    // Every new event is a new receipt: the writer meets the damage on its next ingest.
    expect(damageRunningStore(join(relay.dataDir, 'hookrelay.db'), ['receipts', 'sqlite_autoindex_receipts_1'])).toBeGreaterThan(2);
    const first = await post(relay);
    expect(first).toMatchObject({ status: 503, json: { error: { code: 'store_unavailable' } } });

    const ready = await readyz(relay);
    expect(ready.status).toBe(503);
    expect(ready.error).toMatch(/^the SQLite store .*hookrelay\.db is damaged \(SQLite says: database disk image is malformed\)$/);
    for (let i = 0; i < 3; i++) {
      expect(await post(relay)).toMatchObject({ status: 503, json: { error: { code: 'store_unavailable', message: expect.stringContaining('is damaged') } } });
    }
    const said = lines.filter((line) => /is damaged/.test(String(line.msg)));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatchObject({ level: expect.toSatisfy((level) => level === 50 || level === 'error') });
    expect(String(said[0]!.msg)).toMatch(/restore the file from a backup, or recover what SQLite can still read into a new file \(sqlite3 \S+hookrelay\.db \.recover\)/);
  });

  it('damage met by a read while running (the admin API) → no event is taken any more, even one that would not touch the damaged pages: 503, /readyz 503', async () => {
    const receiver = await FakeReceiver.start();
    cleanup.push(() => receiver.close());
    const relay = await startRelay(
      `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${receiver.url('/hook')}" }
routes:
  - { to: [receiver] }
admin: { token: "${ADMIN_TOKEN}" }
`,
    );
    cleanup.push(() => relay.close());
    for (let i = 0; i < 100; i++) expect((await post(relay)).status).toBe(202);
    let deliveries: Array<{ id: string; status: string }> = [];
    await eventually(async () => {
      deliveries = (await relay.admin<{ deliveries: Array<{ id: string; status: string }> }>('/deliveries?limit=200')).json.deliveries;
      return deliveries.length === 100 && deliveries.every((delivery) => delivery.status === 'succeeded');
    }, 15_000);

    // Only the attempts' log is damaged: an ingest writes nothing there.
    expect(damageRunningStore(join(relay.dataDir, 'hookrelay.db'), ['delivery_attempts', 'sqlite_autoindex_delivery_attempts_1'])).toBeGreaterThan(0);
    const read = await relay.admin(`/deliveries/${deliveries[50]!.id}`);
    expect(read.status).toBe(500);

    expect(await readyz(relay)).toMatchObject({ status: 503, error: expect.stringContaining('is damaged') });
    expect(await post(relay)).toMatchObject({ status: 503, json: { error: { code: 'store_unavailable', message: expect.stringContaining('is damaged') } } });
  });
});
