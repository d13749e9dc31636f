/**
 * The SQLite store's ingest keeping an incident's order and an open circuit's backlog
 * (src/store/sqlite/writes.ts), run in this thread on a real file: a lease asked for at ingest
 * is given only to work that may go now; the rest waits, pending, and the result says so.
 */
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';
import type { NewDelivery } from '../../src/store/store.ts';
import type { RelayEvent } from '../../src/events/event.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { closeInThread, openInThread } from '../support/sqlite-ops.ts';

const OWNER = 'lane-a';
const T0 = Date.parse('2026-04-23T18:28:00Z');
const LEASE = { owner: OWNER, until: T0 + 60_000 };

let db: DatabaseSync;
let ops: WriteOps;

beforeEach(() => {
  ({ db, ops } = openInThread(['slack', 'pager']));
});

afterEach(() => closeInThread(db));

function ingest(event: RelayEvent, extra: Partial<NewDelivery> = {}, at = T0): { id: string; waiting: readonly string[] | undefined } {
  const id = newId('dlv');
  const [result] = ops.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [{ id, destination: 'slack', route: 'r', status: 'pending', ...extra }] }] });
  return { id, waiting: result && !result.duplicate ? result.waiting : undefined };
}
const delivery = (id: string) => db.prepare('SELECT status, lease_owner, next_attempt_at FROM deliveries WHERE id = ?').get(id);

describe('ingest and incident order', () => {
  it('a later event of an incident with work queued waits behind it, pending, and is reported waiting', () => {
    const first = ingest(relayEvent({ dedup_key: 'a' }), { incident_key: 'a', lease: LEASE });
    expect(first.waiting).toBeUndefined();
    expect(delivery(first.id)).toEqual({ status: 'in_flight', lease_owner: OWNER, next_attempt_at: T0 + 60_000 });
    const second = ingest(relayEvent({ dedup_key: 'a', status: 'resolved' }), { incident_key: 'a', lease: LEASE }, T0 + 1);
    expect(second.waiting).toEqual([second.id]);
    expect(delivery(second.id)).toEqual({ status: 'pending', lease_owner: null, next_attempt_at: T0 + 1 });
  });

  it('another incident, or an event without one, is leased at once', () => {
    ingest(relayEvent({ dedup_key: 'a' }), { incident_key: 'a', lease: LEASE });
    const other = ingest(relayEvent({ dedup_key: 'b' }), { incident_key: 'b', lease: LEASE });
    const keyless = ingest(relayEvent({ dedup_key: 'c' }), { lease: LEASE });
    expect([other.waiting, keyless.waiting]).toEqual([undefined, undefined]);
    expect([delivery(other.id), delivery(keyless.id)]).toEqual([
      { status: 'in_flight', lease_owner: OWNER, next_attempt_at: T0 + 60_000 },
      { status: 'in_flight', lease_owner: OWNER, next_attempt_at: T0 + 60_000 },
    ]);
  });

  it('an open circuit takes no lease at ingest: the work waits in the store', () => {
    db.prepare(`UPDATE destination_state SET enabled = 0 WHERE name = 'slack'`).run();
    const held = ingest(relayEvent(), { lease: LEASE });
    expect(held.waiting).toEqual([held.id]);
    expect(delivery(held.id)).toMatchObject({ status: 'pending', lease_owner: null });
  });

  it('muted work asks for no lease and waits for nothing', () => {
    db.prepare(`UPDATE destination_state SET enabled = 0 WHERE name = 'slack'`).run();
    const muted = ingest(relayEvent(), { status: 'muted', note: 'muted by mut_1', lease: LEASE, incident_key: 'a' });
    expect(muted.waiting).toBeUndefined();
    expect(delivery(muted.id)).toEqual({ status: 'muted', lease_owner: null, next_attempt_at: null });
  });
});
