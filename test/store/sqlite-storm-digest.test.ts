/**
 * The SQLite store forming a storm digest when work is claimed (src/store/sqlite/writes.ts), run
 * in this thread on a real file: past the capacity, a claim folds the due events of the lead's
 * route and type into one digest; not before; an incident's order holds.
 */
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';
import type { NewDelivery, StormPolicy } from '../../src/store/store.ts';
import type { RelayEvent } from '../../src/events/event.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { closeInThread, openInThread } from '../support/sqlite-ops.ts';

const OWNER = 'lane-a';
const T0 = Date.parse('2026-04-23T18:28:00Z');

let db: DatabaseSync;
let ops: WriteOps;

beforeEach(() => {
  ({ db, ops } = openInThread(['slack']));
});

afterEach(() => closeInThread(db));

function ingest(event: RelayEvent, extra: Partial<NewDelivery> = {}): string {
  const id = newId('dlv');
  ops.ingest({ ...batchOf(event, [], T0), events: [{ event, deliveries: [{ id, destination: 'slack', route: 'r', status: 'pending', ...extra }] }] });
  return id;
}
const claim = (storm: StormPolicy | null) => ops.claimDue({ destination: 'slack', limit: 1, now: T0 + 500, lease_ms: 60_000, owner: OWNER, storm });
const batchId = (id: string) => (db.prepare('SELECT batch_id FROM deliveries WHERE id = ?').get(id) as { batch_id: string | null }).batch_id;

describe('storm digest at claim', () => {
  it('more waiting than the capacity: the lead carries the due events of its route and type, in order, as a digest', () => {
    const ids = [1, 2, 3].map((n) => ingest(relayEvent({ dedup_key: `k${n}`, type: 'disk.full' })));
    const other = ingest(relayEvent({ dedup_key: 'cpu', type: 'cpu.high' }));
    const [lead] = claim({ capacity: 2 }).deliveries;
    expect(lead).toMatchObject({ id: ids[0], member_ids: [ids[1], ids[2]], digest: true });
    expect(lead!.events.map((event) => event.dedup_key)).toEqual(['k1', 'k2', 'k3']);
    expect(ids.map(batchId)).toEqual(ids.map(() => `digest:${ids[0]}`));
    expect(batchId(other)).toBeNull();
  });

  it('at the capacity, or without a storm policy, nothing folds', () => {
    const ids = [1, 2, 3].map((n) => ingest(relayEvent({ dedup_key: `k${n}` })));
    expect(claim({ capacity: 3 }).deliveries[0]).toMatchObject({ id: ids[0], member_ids: [] });
    expect(claim(null).deliveries[0]).toMatchObject({ id: ids[1], member_ids: [] });
    expect(claim({ capacity: 3 }).deliveries[0]?.digest).toBeUndefined();
  });

  it('an incident joins with its earlier events, in order', () => {
    const first = ingest(relayEvent({ dedup_key: 'a' }), { incident_key: 'a' });
    const second = ingest(relayEvent({ dedup_key: 'a', status: 'resolved' }), { incident_key: 'a' });
    const third = ingest(relayEvent({ dedup_key: 'c' }));
    const [lead] = claim({ capacity: 1 }).deliveries;
    expect(lead).toMatchObject({ id: first, member_ids: [second, third], digest: true });
    expect(lead!.events.map((event) => event.status)).toEqual(['firing', 'resolved', 'firing']);
  });

  it('alone in its group, the lead goes as itself', () => {
    ingest(relayEvent({ type: 'disk.full' }));
    ingest(relayEvent({ type: 'cpu.high' }));
    const [lead] = claim({ capacity: 1 }).deliveries;
    expect(lead?.member_ids).toEqual([]);
    expect(lead?.digest).toBeUndefined();
  });
});
