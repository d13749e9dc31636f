import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, unlinkSync, writeFileSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DISK_CHECK_EVERY_MS } from '../../src/store/sqlite/disk-reserve.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { capturingLogger } from '../observability/capture.ts';
import { ManualClock, eventually } from '../support/clock.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

/**
 * A real small disk: a 20 MB tmpfs (as in the report), mounted for each test. Mounting needs
 * root, which CI has; anywhere else these tests are skipped, and say so. As root, a mount that
 * fails fails the test.
 */
const ROOT = process.getuid?.() === 0;
const MB = 1024 * 1024;
const SECRET = 'tm-disk-reserve-secret';

const cleanup: Array<() => unknown> = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

function smallDisk(size: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hookrelay-disk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  cleanup.push(() => {
    execFileSync('umount', [dir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

const freeOn = (dir: string): number => {
  const volume = statfsSync(dir);
  return volume.bavail * volume.bsize;
};

/** Copies what the WAL holds into the file, as SQLite will by itself sooner or later: the space the store really takes. */
function checkpoint(file: string): void {
  const db = new DatabaseSync(file, { timeout: 5_000 });
  try {
    db.exec('PRAGMA wal_checkpoint(PASSIVE)');
  } finally {
    db.close();
  }
}

async function post(relay: TestRelay, payload: Record<string, unknown>): Promise<{ status: number; retryAfter: string | null; json: { error?: { code: string; message: string } } }> {
  const body = JSON.stringify(payload);
  const response = await fetch(`${relay.url}/hooks/tapemetric`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...tapemetricHeaders(body, SECRET) },
    body,
  });
  return { status: response.status, retryAfter: response.headers.get('retry-after'), json: (await response.json()) as { error?: { code: string; message: string } } };
}

async function readyz(relay: TestRelay): Promise<{ status: number; error?: string }> {
  const response = await fetch(`${relay.url}/readyz`);
  const json = (await response.json()) as { error?: string };
  return { status: response.status, ...(json.error === undefined ? {} : { error: json.error }) };
}

/** An event no route takes (content.* is info): it only fills the store. */
const filling = (): Record<string, unknown> => tapemetricPayload({ type: 'content.takedown' }, { severity: 'info', notes: 'n'.repeat(3_000) });

describe.skipIf(!ROOT)('store.min_free on a real 20 MB disk (tmpfs; needs root, skipped otherwise)', () => {
  it('ingest fills the disk down to store.min_free and no further (503 + Retry-After); attempts are recorded and pruning works in the reserve; once space is freed the timer alone makes /readyz 200 and ingest takes events again', async () => {
    const disk = smallDisk('20m');
    // Other files on the volume: an operator frees space by deleting this one.
    const filler = join(disk, 'filler');
    writeFileSync(filler, Buffer.alloc(6 * MB));
    const receiver = await FakeReceiver.start();
    cleanup.push(() => receiver.close());
    // The receiver holds what it gets until the test lets go (however long filling takes on a
    // busy machine: the destination's timeout is long): those attempts are recorded later, in the reserve.
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    receiver.respond(async () => {
      await held;
      return { status: 200, body: 'ok' };
    });
    const clock = new ManualClock();
    const { logger, lines } = capturingLogger();
    const relay = await startRelay(
      `
store:
  min_free: 4MB
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${receiver.url('/hook')}", timeout: 5m }
routes:
  - { to: [receiver], match: { type: "qos.*" } }
`,
      {},
      { dataDir: disk, clock, logger },
    );
    cleanup.push(() => relay.close());
    const database = join(disk, 'hookrelay.db');

    for (let i = 0; i < 3; i++) expect((await post(relay, tapemetricPayload())).status).toBe(202);
    await eventually(() => receiver.requests.length >= 1);

    // Many ingests at once between two readings of the disk: 25 in flight at a time.
    let accepted = 0;
    let refusal: Awaited<ReturnType<typeof post>> | null = null;
    for (let wave = 0; wave < 400 && (await readyz(relay)).status === 200; wave++) {
      for (const answer of await Promise.all(Array.from({ length: 25 }, () => post(relay, filling())))) {
        if (answer.status === 202) accepted += 1;
        else refusal ??= answer;
      }
    }
    expect(accepted).toBeGreaterThan(100);
    expect(refusal).toMatchObject({ status: 503, retryAfter: '5', json: { error: { code: 'store_unavailable', message: expect.stringContaining('store.min_free 4 MB') } } });
    const full = await readyz(relay);
    expect(full.status).toBe(503);
    expect(full.error).toMatch(/^disk: [\d.]+ MB free, (below|no room for new events above) store\.min_free 4 MB$/);
    expect(lines.some((line) => [40, 'warn'].includes(line.level as number | string) && /new events are refused \(503\) until space returns/.test(String(line.msg)))).toBe(true);
    // Filled up to the reserve (counting what the WAL holds for the file), not into it: what
    // the reserve gave is the requests log's lines for the refused requests and the held
    // deliveries' lease renewals, a few KB each. (Ingest alone: the next test.)
    checkpoint(database);
    expect(freeOn(disk)).toBeGreaterThanOrEqual(4 * MB - 512 * 1024);
    expect(freeOn(disk)).toBeLessThan(5 * MB);
    const again = await post(relay, filling());
    expect(again).toMatchObject({ status: 503, retryAfter: '5', json: { error: { code: 'store_unavailable' } } });

    // Deliveries go on in the reserve: the held attempts are recorded.
    release();
    await eventually(async () => {
      const deliveries = await relay.server.store.view('deliveries', { destination: 'receiver', limit: 10 });
      return deliveries.length === 3 && deliveries.every((delivery) => delivery.status === 'succeeded');
    }, 10_000);
    // So does pruning (every finished delivery but the newest, and events older than now).
    const removed = await relay.server.store.prune('deliveries', { keep_per_destination: 1, keep_events_ms: 0, now: Date.now() });
    expect(removed).toBeGreaterThan(accepted / 2);
    expect(await relay.server.store.prune('requests', { keep: 1, before: Date.now() })).toBeGreaterThan(0);
    // Pruning frees pages inside the file, not the disk: still not ready.
    expect((await readyz(relay)).status).toBe(503);

    // An operator frees space. No webhook arrives: the next scheduled reading of the disk alone
    // makes the store ready again (until then /readyz says what it last read).
    unlinkSync(filler);
    expect((await readyz(relay)).status).toBe(503);
    await clock.advance(DISK_CHECK_EVERY_MS);
    await eventually(async () => (await readyz(relay)).status === 200);
    expect(lines.some((line) => [30, 'info'].includes(line.level as number | string) && /free again, above store\.min_free 4 MB: new events are taken again/.test(String(line.msg)))).toBe(true);
    expect((await post(relay, filling())).status).toBe(202);
  });

  it('500 ingests handed to the store at once, between two readings of the disk: those taken stop short of store.min_free, the rest are refused with store_unavailable', async () => {
    const disk = smallDisk('20m');
    const file = join(disk, 'hookrelay.db');
    const clock = new ManualClock();
    const store = await SqliteStore.open(file, { minFree: { bytes: 4 * MB }, clock });
    cleanup.push(() => store.close());
    await store.syncDestinations(['slack']);
    // Leave about 6 MB above the reserve, for events of ~40 KB each (500 of them would need 20 MB),
    // and let the store's next scheduled reading see it.
    writeFileSync(join(disk, 'filler'), Buffer.alloc(Math.max(0, freeOn(disk) - 10 * MB)));
    await clock.advance(DISK_CHECK_EVERY_MS);
    await store.ingest(batchOf(relayEvent(), ['slack']));

    const results = await Promise.allSettled(
      Array.from({ length: 500 }, () => store.ingest(batchOf(relayEvent({ data: { blob: 'x'.repeat(20_000) } }), ['slack']))),
    );
    const taken = results.filter((result) => result.status === 'fulfilled').length;
    const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason as { code?: string; message?: string }] : []));
    expect(taken).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.every((reason) => reason.code === 'store_unavailable' && /store\.min_free 4 MB/.test(reason.message ?? ''))).toBe(true);
    checkpoint(file);
    expect(freeOn(disk)).toBeGreaterThanOrEqual(4 * MB);
  });
});
