/**
 * The SQLite store's writes for an open circuit's probe, for held deliveries and for an
 * inhibiting incident's resolve, run in this thread on a real file (as writes.test.ts, where a
 * mutation tester can see them; the contract suite runs them through the writer thread).
 */
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';
import type { AttemptResult } from '../../src/store/store.ts';
import type { RelayEvent } from '../../src/events/event.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { closeInThread, openInThread } from '../support/sqlite-ops.ts';

const OWNER = 'lane-a';
const T0 = Date.parse('2026-04-23T18:28:00Z');
const BREAKER = { disable_after: 2, probe_backoff_ms: [10_000] };

let db: DatabaseSync;
let ops: WriteOps;

beforeEach(() => {
  ({ db, ops } = openInThread(['slack', 'pager']));
});

afterEach(() => closeInThread(db));

const delivery = (id: string): Record<string, unknown> => db.prepare('SELECT * FROM deliveries WHERE id = ?').get(id) as Record<string, unknown>;

function ingest(event: RelayEvent = relayEvent(), at = T0, trackIncident = false): { id: string; released?: readonly string[] } {
  const id = newId('dlv');
  const [result] = ops.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [{ id, destination: 'slack', route: 'r', status: 'pending' }], track_incident: trackIncident }] });
  const released = result && !result.duplicate ? result.released : undefined;
  return { id, ...(released ? { released } : {}) };
}

function failure(id: string, breaker: AttemptResult['breaker'] = BREAKER): AttemptResult {
  return {
    delivery_id: id,
    member_ids: [],
    destination: 'slack',
    lease_owner: OWNER,
    started_at: T0 + 1_000,
    finished_at: T0 + 1_000,
    outcome: 'failed',
    next_attempt_at: null,
    request_body: '{}',
    response_code: 500,
    response_body: 'no',
    latency_ms: 1,
    error: 'HTTP 500',
    health: 'failure',
    breaker,
    notified: [],
  };
}

const probe = (now: number, destination = 'slack') => ops.claimProbe({ destination, now, lease_ms: 60_000, owner: OWNER });

/** Two failures open slack's circuit at T0 + 1 s (first probe 10 s later); two more deliveries wait. */
function openCircuit(breaker: AttemptResult['breaker'] = BREAKER): string[] {
  const ids = [ingest(), ingest(), ingest(), ingest()].map((each) => each.id);
  ops.claimDue({ destination: 'slack', limit: 2, now: T0 + 500, lease_ms: 60_000, owner: OWNER });
  ops.commitAttempts([failure(ids[0]!, breaker), failure(ids[1]!, breaker)]);
  return ids;
}

describe('probe of an open circuit', () => {
  it('none before its time (which it names); then the oldest waiting delivery, leased, and no second while it is out', () => {
    const ids = openCircuit();
    expect(probe(T0 + 5_000)).toEqual({ deliveries: [], next_due_at: T0 + 11_000 });
    const first = probe(T0 + 11_000);
    expect(first.deliveries.map((each) => [each.id, each.probe])).toEqual([[ids[2], true]]);
    expect(first.next_due_at).toBe(T0 + 71_000);
    expect(delivery(ids[2]!)).toMatchObject({ status: 'in_flight', lease_owner: OWNER });
    expect(probe(T0 + 11_001)).toEqual({ deliveries: [], next_due_at: T0 + 71_000 });
  });

  it('none for a closed circuit, an unknown destination, or one that waits for a person', () => {
    const event = relayEvent();
    ops.ingest({ ...batchOf(event, [], T0), events: [{ event, deliveries: [{ id: newId('dlv'), destination: 'pager', route: 'r', status: 'pending' }] }] });
    expect(probe(T0, 'pager')).toEqual({ deliveries: [], next_due_at: null });
    expect(probe(T0, 'nowhere')).toEqual({ deliveries: [], next_due_at: null });
    openCircuit({ disable_after: 2, probe_backoff_ms: null });
    expect(probe(T0 + 3_600_000)).toEqual({ deliveries: [], next_due_at: null });
  });

  it('none when nothing waits', () => {
    const ids = [ingest(), ingest()].map((each) => each.id);
    ops.claimDue({ destination: 'slack', limit: 2, now: T0 + 500, lease_ms: 60_000, owner: OWNER });
    ops.commitAttempts([failure(ids[0]!), failure(ids[1]!)]);
    expect(probe(T0 + 11_000)).toEqual({ deliveries: [], next_due_at: null });
  });

  it('a held probe (skipped) lets the next go at once', () => {
    const ids = openCircuit();
    probe(T0 + 11_000);
    ops.holdDeliveries({ ids: [ids[2]!], lease_owner: OWNER, status: 'skipped', note: 'repeat within 4h of dlv_x', now: T0 + 12_000, probe_of: 'slack' });
    expect(delivery(ids[2]!)).toMatchObject({ status: 'skipped', note: 'repeat within 4h of dlv_x', lease_owner: null, next_attempt_at: null, held_by: null });
    expect(probe(T0 + 12_000).deliveries.map((each) => each.id)).toEqual([ids[3]]);
  });

  it('a probe that succeeds closes the circuit, says so once, and brings work backed off meanwhile forward', () => {
    const [a, b] = [ingest(), ingest()].map((each) => each.id);
    const waiting = ingest(relayEvent(), T0 + 100_000).id;
    const backedOff = ingest().id;
    ops.claimDue({ destination: 'slack', limit: 3, now: T0 + 500, lease_ms: 60_000, owner: OWNER });
    ops.commitAttempts([failure(a!), failure(b!), { ...failure(backedOff), outcome: 'retry', next_attempt_at: T0 + 3_600_000 }]);
    const [probed] = probe(T0 + 11_000).deliveries;
    expect(probed?.id).toBe(waiting);
    const [recorded] = ops.commitAttempts([{ ...failure(waiting), outcome: 'succeeded', health: 'success', error: null, response_code: 200, probe: true, started_at: T0 + 11_000, finished_at: T0 + 11_050 }]);
    expect(recorded).toMatchObject({ recorded: true, enabled_now: true, disabled_now: false, destination: { enabled: true, consecutive_failures: 0 } });
    expect(delivery(backedOff)).toMatchObject({ status: 'pending', next_attempt_at: T0 + 11_050 });
  });

  it('a probe held after a person closed the circuit leaves it closed', () => {
    const ids = openCircuit();
    probe(T0 + 11_000);
    ops.enableDestination({ name: 'slack', now: T0 + 11_500 });
    ops.holdDeliveries({ ids: [ids[2]!], lease_owner: OWNER, status: 'skipped', note: 'repeat within 4h of dlv_x', now: T0 + 12_000, probe_of: 'slack' });
    expect(db.prepare(`SELECT enabled, probe_at FROM destination_state WHERE name = 'slack'`).get()).toEqual({ enabled: 1, probe_at: null });
  });
});

describe('inhibited deliveries', () => {
  const source = relayEvent({ source: 'prom', dedup_key: 'region-down', status: 'firing' });
  const heldBy = JSON.stringify(['prom', 'region-down']);

  function heldTarget(): string {
    const target = ingest(relayEvent({ source: 'prom', dedup_key: 'disk', status: 'firing' }), T0, true);
    ops.claimDue({ destination: 'slack', limit: 10, now: T0 + 500, lease_ms: 60_000, owner: OWNER });
    ops.holdDeliveries({ ids: [target.id], lease_owner: OWNER, status: 'muted', note: 'inhibited by evt_x (Region down)', now: T0 + 600, held_by: heldBy });
    return target.id;
  }

  it('are held while the inhibitor fires, and its resolve gives them back, due at once', () => {
    ingest(source, T0, true);
    const target = heldTarget();
    expect(delivery(target)).toMatchObject({ status: 'muted', held_by: heldBy, next_attempt_at: null, lease_owner: null });
    const resolve = ingest({ ...relayEvent({ source: 'prom', dedup_key: 'region-down', status: 'resolved', occurred_at: '2026-04-23T18:30:00.000Z' }) }, T0 + 5_000, true);
    expect(resolve.released).toEqual(['slack']);
    expect(delivery(target)).toMatchObject({ status: 'pending', held_by: null, next_attempt_at: T0 + 5_000 });
  });

  it('the inhibitor firing again releases nothing', () => {
    ingest(source, T0, true);
    const target = heldTarget();
    const again = ingest(relayEvent({ source: 'prom', dedup_key: 'region-down', status: 'firing', occurred_at: '2026-04-23T18:30:00.000Z' }), T0 + 5_000, true);
    expect(again.released).toBeUndefined();
    expect(delivery(target)).toMatchObject({ status: 'muted', held_by: heldBy });
  });

  it('a resolve does not release a target whose own incident resolved meanwhile', () => {
    ingest(source, T0, true);
    const target = heldTarget();
    ingest(relayEvent({ source: 'prom', dedup_key: 'disk', status: 'resolved', occurred_at: '2026-04-23T18:29:00.000Z' }), T0 + 1_000, true);
    const resolve = ingest(relayEvent({ source: 'prom', dedup_key: 'region-down', status: 'resolved', occurred_at: '2026-04-23T18:30:00.000Z' }), T0 + 5_000, true);
    expect(resolve.released).toBeUndefined();
    expect(delivery(target)).toMatchObject({ status: 'muted' });
  });

  it('an inhibitor that resolved before the hold was recorded holds nothing: the delivery is given back, due now', () => {
    ingest(source, T0, true);
    ingest(relayEvent({ source: 'prom', dedup_key: 'region-down', status: 'resolved', occurred_at: '2026-04-23T18:30:00.000Z' }), T0 + 100, true);
    const target = heldTarget();
    expect(delivery(target)).toMatchObject({ status: 'pending', next_attempt_at: T0 + 600, lease_owner: null, held_by: null });
  });

  it('a hold names no inhibitor when it is not an inhibition, and stands whatever that incident does', () => {
    ingest(source, T0, true);
    ingest(relayEvent({ source: 'prom', dedup_key: 'region-down', status: 'resolved', occurred_at: '2026-04-23T18:30:00.000Z' }), T0 + 100, true);
    const target = ingest();
    ops.claimDue({ destination: 'slack', limit: 10, now: T0 + 500, lease_ms: 60_000, owner: OWNER });
    ops.holdDeliveries({ ids: [target.id], lease_owner: OWNER, status: 'skipped', note: 'below threshold 1/5 within 10m', now: T0 + 600, held_by: heldBy });
    expect(delivery(target.id)).toMatchObject({ status: 'skipped', held_by: null });
  });

  it('another owner\'s hold changes nothing', () => {
    const target = ingest();
    ops.claimDue({ destination: 'slack', limit: 10, now: T0 + 500, lease_ms: 60_000, owner: OWNER });
    ops.holdDeliveries({ ids: [target.id], lease_owner: 'lane-b', status: 'muted', note: 'muted by mut_1', now: T0 + 600 });
    expect(delivery(target.id)).toMatchObject({ status: 'in_flight', lease_owner: OWNER });
  });
});
