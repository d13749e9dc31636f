/**
 * The SQLite store forming a storm digest when work is claimed (src/store/sqlite/writes.ts), run
 * in this thread on a real file: past the capacity, a claim folds the due events of the lead's
 * route and type into one digest; not before; an incident's order holds.
 */
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';
import type { AttemptResult, NewDelivery, StormPolicy } from '../../src/store/store.ts';
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
const claim = (storm: StormPolicy | null, now = T0 + 500) => ops.claimDue({ destination: 'slack', limit: 1, now, lease_ms: 60_000, owner: OWNER, storm });
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

  it('on a grouped route, a digest folds the lead\'s group only', () => {
    const group = (key: string) => ({ group: { key, wait_ms: 0, interval_ms: 60_000 } });
    const g1 = [1, 2].map((n) => ingest(relayEvent({ dedup_key: `a${n}` }), group('g1')));
    ingest(relayEvent({ dedup_key: 'b1' }), group('g2'));
    const [lead] = claim({ capacity: 1 }).deliveries;
    expect(lead).toMatchObject({ id: g1[0], member_ids: [g1[1]], digest: true });
  });

  it('a replay waiting beside them is sent as asked, not folded', () => {
    const first = ingest(relayEvent({ dedup_key: 'k1' }));
    claim(null);
    ops.commitAttempts([sent(first)]);
    const ids = [2, 3].map((n) => ingest(relayEvent({ dedup_key: `k${n}` })));
    ops.replayDelivery({ id: first, newId: 'dlv_replay', now: T0 + 100 });
    expect(claim({ capacity: 1 }).deliveries[0]).toMatchObject({ id: ids[0], member_ids: [ids[1]], digest: true });
    expect(claim({ capacity: 1 }).deliveries[0]).toMatchObject({ id: 'dlv_replay', member_ids: [], unordered: true });
  });

  it('a replay claimed first in a storm goes alone; the others fold without it', () => {
    const first = ingest(relayEvent({ dedup_key: 'k1' }));
    claim(null);
    ops.commitAttempts([sent(first)]);
    ops.replayDelivery({ id: first, newId: 'dlv_replay', now: T0 - 100 });
    const ids = [2, 3].map((n) => ingest(relayEvent({ dedup_key: `k${n}` })));
    expect(claim({ capacity: 1 }).deliveries[0]).toMatchObject({ id: 'dlv_replay', member_ids: [] });
    expect(claim({ capacity: 1 }).deliveries[0]).toMatchObject({ id: ids[0], member_ids: [ids[1]], digest: true });
  });

  it('an event waiting behind its incident\'s attempt in flight stays out of the digest', () => {
    ingest(relayEvent({ dedup_key: 'a' }), { incident_key: 'a' });
    claim(null);
    const behind = ingest(relayEvent({ dedup_key: 'a', status: 'resolved' }), { incident_key: 'a' });
    const others = [1, 2].map((n) => ingest(relayEvent({ dedup_key: `k${n}` })));
    const [lead] = claim({ capacity: 1 }).deliveries;
    expect(lead).toMatchObject({ id: others[0], member_ids: [others[1]], digest: true });
    expect(batchId(behind)).toBeNull();
  });

  it('alone in its group, the lead goes as itself', () => {
    ingest(relayEvent({ type: 'disk.full' }));
    ingest(relayEvent({ type: 'cpu.high' }));
    const [lead] = claim({ capacity: 1 }).deliveries;
    expect(lead?.member_ids).toEqual([]);
    expect(lead?.digest).toBeUndefined();
  });
});

/** The attempt that sent `id` (and its members), as the dispatcher records it. */
function sent(id: string, overrides: Partial<AttemptResult> = {}): AttemptResult {
  return {
    delivery_id: id,
    member_ids: [],
    destination: 'slack',
    lease_owner: OWNER,
    started_at: T0 + 600,
    finished_at: T0 + 610,
    outcome: 'succeeded',
    next_attempt_at: null,
    request_body: '{"text":"digest"}',
    response_code: 200,
    response_body: 'ok',
    latency_ms: 10,
    error: null,
    health: 'success',
    breaker: { disable_after: 3, probe_backoff_ms: null },
    notified: [],
    ...overrides,
  };
}

describe('a digest formed before', () => {
  it('is claimed again with the same members when its retry falls due, storm or not; newcomers are not folded into it', () => {
    const ids = [1, 2, 3].map((n) => ingest(relayEvent({ dedup_key: `k${n}` })));
    const [lead] = claim({ capacity: 1 }).deliveries;
    ops.commitAttempts([sent(ids[0]!, { member_ids: [ids[1]!, ids[2]!], digest: true, outcome: 'retry', next_attempt_at: T0 + 5_000, health: 'failure', error: 'HTTP 503' })]);
    const newcomer = ingest(relayEvent({ dedup_key: 'k4' }));
    expect(lead?.member_ids).toEqual([ids[1], ids[2]]);
    // Still a storm (the digest and the newcomer wait, past a capacity of one).
    const [alone, again] = ops.claimDue({ destination: 'slack', limit: 10, now: T0 + 5_000, lease_ms: 60_000, owner: OWNER, storm: { capacity: 1 } }).deliveries;
    expect(alone).toMatchObject({ id: newcomer, member_ids: [] });
    expect(alone?.digest).toBeUndefined();
    expect(again).toMatchObject({ id: ids[0], member_ids: [ids[1], ids[2]], digest: true, attempts: 1 });
    expect(again!.events.map((event) => event.dedup_key)).toEqual(['k1', 'k2', 'k3']);
    // Its lease expired (the newcomer went out meanwhile): claimed again without a storm, the same digest.
    ops.commitAttempts([sent(newcomer)]);
    const [taken] = claim(null, T0 + 5_000 + 60_000).deliveries;
    expect(taken).toMatchObject({ id: ids[0], member_ids: [ids[1], ids[2]], digest: true, interrupted: 1 });
  });

  it('waiting for its retry, counts as one request towards a storm', () => {
    const ids = [1, 2, 3].map((n) => ingest(relayEvent({ dedup_key: `k${n}`, type: 'disk.full' })));
    claim({ capacity: 1 });
    ops.commitAttempts([sent(ids[0]!, { member_ids: [ids[1]!, ids[2]!], digest: true, outcome: 'retry', next_attempt_at: T0 + 5_000, health: 'failure', error: 'HTTP 503' })]);
    // Waiting now: the digest (one request) and two newcomers of another type — three.
    const cpu = [1, 2].map((n) => ingest(relayEvent({ dedup_key: `cpu${n}`, type: 'cpu.high' }), { priority: 1 }));
    expect(claim({ capacity: 3 }, T0 + 5_000).deliveries[0]).toMatchObject({ id: cpu[0], member_ids: [] });
    ops.releaseClaims({ ids: [cpu[0]!], owner: OWNER, now: T0 + 5_000 });
    expect(claim({ capacity: 2 }, T0 + 5_000).deliveries[0]).toMatchObject({ id: cpu[1], member_ids: [cpu[0]], digest: true });
  });
});

describe('storm digest for a destination keeping one message per incident (slack-bot)', () => {
  /** An earlier event of `dedupKey` posted its message, still firing. */
  function openMessage(dedupKey: string): void {
    const id = ingest(relayEvent({ dedup_key: dedupKey, type: 'posted.before' }));
    claim(null);
    ops.commitAttempts([
      sent(id, {
        effects: { incident_message: { kind: 'posted', dedup_key: dedupKey, channel: 'C1', ts: '1.1', started_at: new Date(T0).toISOString(), status: 'firing', resolved_at: null, last_event_id: 'evt_1' } },
      }),
    ]);
  }

  it('an event of an incident with an open message stays out of the digest, to update its message', () => {
    openMessage('k2');
    const ids = [1, 2, 3].map((n) => ingest(relayEvent({ dedup_key: `k${n}` })));
    expect(claim({ capacity: 1, keep_incident_messages: true }).deliveries[0]).toMatchObject({ id: ids[0], member_ids: [ids[2]], digest: true });
    expect(batchId(ids[1]!)).toBeNull();
  });

  it('a lead whose incident has an open message goes as itself', () => {
    openMessage('k1');
    const ids = [1, 2, 3].map((n) => ingest(relayEvent({ dedup_key: `k${n}` })));
    expect(claim({ capacity: 1, keep_incident_messages: true }).deliveries[0]).toMatchObject({ id: ids[0], member_ids: [] });
    expect(ids.map(batchId)).toEqual([null, null, null]);
  });

  it('other destinations fold those events too', () => {
    openMessage('k1');
    const ids = [1, 2].map((n) => ingest(relayEvent({ dedup_key: `k${n}` })));
    expect(claim({ capacity: 1 }).deliveries[0]).toMatchObject({ id: ids[0], member_ids: [ids[1]], digest: true });
  });
});
