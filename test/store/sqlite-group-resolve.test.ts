/**
 * The SQLite store's ingest of a grouped route's resolve (src/store/sqlite/writes.ts), run in
 * this thread on a real file: a resolve of an incident this destination was told firing goes out
 * promptly, not a group interval later; any other event of the group waits for the group.
 */
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';
import type { RelayEvent } from '../../src/events/event.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { closeInThread, openInThread } from '../support/sqlite-ops.ts';

const OWNER = 'lane-a';
const T0 = Date.parse('2026-04-23T18:28:00Z');
const GROUP = { key: 'g', wait_ms: 1_000, interval_ms: 60_000 };

let db: DatabaseSync;
let ops: WriteOps;

beforeEach(() => {
  ({ db, ops } = openInThread(['slack']));
});

afterEach(() => closeInThread(db));

function ingest(event: RelayEvent, at: number): string {
  const id = newId('dlv');
  ops.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [{ id, destination: 'slack', route: 'r', status: 'pending', group: GROUP }] }] });
  return id;
}
const dueAt = (id: string) => (db.prepare('SELECT next_attempt_at FROM deliveries WHERE id = ?').get(id) as { next_attempt_at: number }).next_attempt_at;

/** The group told slack that `inc` fires, at T0 + 1.1 s. */
function toldFiring(): void {
  const id = ingest(relayEvent({ dedup_key: 'inc' }), T0);
  ops.claimDue({ destination: 'slack', limit: 10, now: T0 + 1_000, lease_ms: 60_000, owner: OWNER });
  ops.commitAttempts([
    {
      delivery_id: id, member_ids: [], destination: 'slack', lease_owner: OWNER, started_at: T0 + 1_000, finished_at: T0 + 1_100, outcome: 'succeeded', next_attempt_at: null,
      request_body: '{}', response_code: 200, response_body: 'ok', latency_ms: 100, error: null, health: 'success', breaker: { disable_after: 3, probe_backoff_ms: null },
      notified: [{ destination: 'slack', dedup_key: 'inc', status: 'firing', occurred_at: new Date(T0).toISOString(), delivery_id: id, sent_at: T0 + 1_100 }],
    },
  ]);
}

describe('a grouped route\'s resolve', () => {
  it('of an incident told firing goes at once; another incident\'s event waits one interval after the group\'s notification', () => {
    toldFiring();
    const resolve = ingest(relayEvent({ dedup_key: 'inc', status: 'resolved' }), T0 + 2_000);
    expect(dueAt(resolve)).toBe(T0 + 2_000);
    const other = ingest(relayEvent({ dedup_key: 'other' }), T0 + 2_000);
    expect(dueAt(other)).toBe(T0 + 1_100 + 60_000);
  });

  it('of an incident never told firing waits with its group', () => {
    toldFiring();
    const resolve = ingest(relayEvent({ dedup_key: 'never-told', status: 'resolved' }), T0 + 2_000);
    expect(dueAt(resolve)).toBe(T0 + 1_100 + 60_000);
  });
});
