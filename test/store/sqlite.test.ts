import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { storeContract } from './contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookrelay-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.db`);

storeContract('sqlite', () => SqliteStore.open(freshPath()));

describe('sqlite store', () => {
  it('keeps everything across close and reopen of the same file', async () => {
    const path = freshPath();
    const first = await SqliteStore.open(path);
    await first.syncDestinations(['slack']);
    const event = relayEvent({ external_id: 'evt_persist' });
    await first.ingest(batchOf(event, ['slack']));
    await first.close();
    const second = await SqliteStore.open(path);
    expect((await second.getEvent(event.id))?.event.external_id).toBe('evt_persist');
    const [dup] = await second.ingest(batchOf(relayEvent({ external_id: 'evt_persist' }), ['slack']));
    expect(dup?.duplicate).toBe(true);
    await second.close();
  });

  it('at open, deliveries a dead process had in flight are due again', async () => {
    const path = freshPath();
    const first = await SqliteStore.open(path);
    await first.syncDestinations(['slack']);
    await first.ingest(batchOf(relayEvent(), ['slack']));
    const claimed = await first.claimDue('slack', { limit: 1, now: Date.now() + 1, lease_ms: 3_600_000, owner: 'gone' });
    expect(claimed.deliveries).toHaveLength(1);
    await first.close();
    const second = await SqliteStore.open(path);
    expect(second.recoveredLeases).toBe(1);
    const again = await second.claimDue('slack', { limit: 1, now: Date.now() + 1, lease_ms: 60_000, owner: 'new' });
    expect(again.deliveries.map((d) => d.id)).toEqual(claimed.deliveries.map((d) => d.id));
    await second.close();
  });

  it('refuses work after close with store_unavailable', async () => {
    const store = await SqliteStore.open(freshPath());
    await store.close();
    await expect(store.ingest(batchOf(relayEvent(), []))).rejects.toMatchObject({ code: 'store_unavailable' });
  });
});
