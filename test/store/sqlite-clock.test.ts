import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { ManualClock } from '../support/clock.ts';
import { batchOf, relayEvent } from '../support/events.ts';

/**
 * The SQLite writer thread cannot share the server's clock (a ManualClock is an object of the
 * main thread): every operation carries the time it needs, opening included.
 */
const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-sqlite-clock-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the SQLite store on a driven clock', () => {
  it('deliveries a dead process had in flight are due at the clock\'s time of the reopening, not the machine\'s', async () => {
    const path = join(scratch, 'recovered.db');
    const clock = new ManualClock();
    const first = await SqliteStore.open(path, { clock });
    await first.syncDestinations(['slack']);
    await first.ingest(batchOf(relayEvent(), ['slack'], clock.now()));
    const claimed = await first.claim('slack', { limit: 1, now: clock.now(), lease_ms: 3_600_000, owner: 'gone' });
    expect(claimed.deliveries).toHaveLength(1);
    await first.close();

    await clock.jump(10 * 60_000);
    const second = await SqliteStore.open(path, { clock });
    try {
      expect(second.recoveredLeases).toBe(1);
      const [recovered] = await second.view('deliveries', { destination: 'slack', limit: 1 });
      expect(recovered).toMatchObject({ status: 'pending', next_attempt_at: new Date(clock.now()).toISOString(), updated_at: new Date(clock.now()).toISOString() });
    } finally {
      await second.close();
    }
  });

  it('claims given back are due at the clock\'s time of the giving back', async () => {
    const clock = new ManualClock();
    const store = await SqliteStore.open(join(scratch, 'released.db'), { clock });
    try {
      await store.syncDestinations(['slack']);
      await store.ingest(batchOf(relayEvent(), ['slack'], clock.now()));
      const claimed = await store.claim('slack', { limit: 1, now: clock.now(), lease_ms: 3_600_000, owner: 'lane' });
      await clock.jump(90_000);
      await store.leases('release', claimed.deliveries.map((delivery) => delivery.id), 'lane');
      const [released] = await store.view('deliveries', { destination: 'slack', limit: 1 });
      expect(released).toMatchObject({ status: 'pending', next_attempt_at: new Date(clock.now()).toISOString() });
    } finally {
      await store.close();
    }
  });
});
