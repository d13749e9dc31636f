/**
 * The rules the stores apply when they store, claim and record work (src/notify/), as plain
 * functions: each store loads the facts, calls these, and saves what they decide. The stories
 * in test/store/contract.ts hold them end to end on both stores.
 */
import { describe, expect, it } from 'vitest';
import { breakerFold, breakerStep, closedByHand, healthy, probeAt, probeHeld, probeLeased, probeTurn, stampOnly, SUCCESS_STAMP_MS } from '../../src/notify/breaker.ts';
import type { CircuitState, HealthReport } from '../../src/notify/breaker.ts';
import { groupDueAt, groupNotified, joinsGroup } from '../../src/notify/grouping.ts';
import { dueAtIngest, inhibitionStands, inhibitorOf, isUnordered, leaseAtIngest, releasedByResolve } from '../../src/notify/incident-order.ts';
import { deliveryAfter, incidentMessageStale, latestTold } from '../../src/notify/outcome.ts';
import { digestBatchId, digestMembers, digestNote, foldable, isDigestBatch, stormCountLimit, stormRaging } from '../../src/notify/storm.ts';

const CLOSED: CircuitState = {
  enabled: true,
  consecutive_failures: 0,
  failed_probes: 0,
  probe_at: null,
  last_success_at: null,
  last_error: null,
  disabled_at: null,
  disabled_reason: null,
};
const T = 1_000_000;
const failure = (at: number, extra: Partial<HealthReport> = {}): HealthReport => ({
  health: 'failure',
  outcome: 'retry',
  error: 'HTTP 500',
  finished_at: at,
  breaker: { disable_after: 3, probe_backoff_ms: [10_000, 60_000] },
  ...extra,
});
const success = (at: number, extra: Partial<HealthReport> = {}): HealthReport => ({ ...failure(at), health: 'success', outcome: 'succeeded', error: null, ...extra });

describe('breaker', () => {
  it('disable_after consecutive failures open the circuit once, with the first probe after the first backoff', () => {
    const fold = breakerFold(CLOSED, [failure(T), failure(T + 1), failure(T + 2), failure(T + 3)]);
    expect(fold.steps.map((step) => step.disabled_now)).toEqual([false, false, true, false]);
    expect(fold.state).toMatchObject({
      enabled: false,
      consecutive_failures: 4,
      disabled_at: T + 2,
      disabled_reason: '3 consecutive failed attempts; last: HTTP 500',
      probe_at: T + 2 + 10_000,
      failed_probes: 0,
    });
  });

  it('a failed probe backs off further (the last backoff repeats); a late failure of an attempt already running does not', () => {
    const open = breakerFold(CLOSED, [failure(T), failure(T), failure(T)]).state;
    const late = breakerStep(open, failure(T + 5));
    expect(late.state.probe_at).toBe(open.probe_at);
    const probe1 = breakerStep(open, failure(T + 20_000, { probe: true }));
    expect(probe1.state).toMatchObject({ failed_probes: 1, probe_at: T + 20_000 + 60_000 });
    const probe2 = breakerStep(probe1.state, failure(T + 90_000, { probe: true, outcome: 'failed' }));
    expect(probe2.state).toMatchObject({ failed_probes: 2, probe_at: T + 90_000 + 60_000 });
    expect(probeAt({ disable_after: 1, probe_backoff_ms: null }, T, 0)).toBeNull();
  });

  it('any success closes an open circuit (and says so once); a rate limit says nothing', () => {
    const open = breakerFold(CLOSED, [failure(T), failure(T), failure(T)]).state;
    const fold = breakerFold(open, [success(T + 1), success(T + 2)]);
    expect(fold.steps.map((step) => step.enabled_now)).toEqual([true, false]);
    expect(fold.state).toMatchObject({ enabled: true, consecutive_failures: 0, probe_at: null, disabled_at: null, disabled_reason: null });
    expect(breakerStep(open, { ...failure(T), health: 'neutral' })).toMatchObject({ changed: false, state: open });
  });

  it('an open circuit\'s probe: its turn, one at a time while leased, at once again after a held probe; a person closes it', () => {
    const open = breakerFold(CLOSED, [failure(T), failure(T), failure(T)]).state;
    expect(probeTurn(CLOSED, T)).toEqual({ kind: 'closed' });
    expect(probeTurn({ ...open, probe_at: null }, T)).toEqual({ kind: 'manual' });
    expect(probeTurn(open, T + 9_999)).toEqual({ kind: 'wait', until: T + 10_000 });
    expect(probeTurn(open, T + 10_000)).toEqual({ kind: 'due' });
    const leased = probeLeased(open, T + 10_000, 60_000);
    expect(probeTurn(leased, T + 10_001)).toEqual({ kind: 'wait', until: T + 70_000 });
    expect(probeHeld(leased, T + 10_002)?.probe_at).toBe(T + 10_002);
    expect(probeHeld(CLOSED, T)).toBeNull();
    expect(probeHeld({ ...open, probe_at: null }, T)).toBeNull();
    expect(closedByHand({ ...open, last_error: 'HTTP 500' })).toEqual({ ...CLOSED, last_error: 'HTTP 500' });
  });

  it('a healthy destination is written at most once a second per success, and then only its stamp', () => {
    const stamped = breakerStep(CLOSED, success(T));
    expect(stamped.changed).toBe(true);
    expect(breakerStep(stamped.state, success(T + SUCCESS_STAMP_MS - 1)).changed).toBe(false);
    const later = breakerStep(stamped.state, success(T + SUCCESS_STAMP_MS + 1));
    expect(later.changed).toBe(true);
    expect(stampOnly(stamped.state, later.state)).toBe(true);
    const failing = breakerStep(stamped.state, failure(T + 5)).state;
    expect(healthy(failing)).toBe(false);
    expect(stampOnly(failing, breakerStep(failing, success(T + 6)).state)).toBe(false);
  });
});

describe('grouping', () => {
  const group = { wait_ms: 30_000, interval_ms: 300_000 };
  it('joins the waiting batch; else one interval after the last notification or a batch in progress; else waits `wait`', () => {
    expect(groupDueAt(group, { waiting_due: T + 7, in_progress: true, last_sent_at: T }, T)).toBe(T + 7);
    expect(groupDueAt(group, { waiting_due: null, in_progress: true, last_sent_at: null }, T)).toBe(T + 300_000);
    expect(groupDueAt(group, { waiting_due: null, in_progress: false, last_sent_at: T - 100_000 }, T)).toBe(T + 200_000);
    expect(groupDueAt(group, { waiting_due: null, in_progress: false, last_sent_at: T - 400_000 }, T)).toBe(T + 30_000);
    expect(groupDueAt(group, { waiting_due: null, in_progress: false, last_sent_at: null }, T)).toBe(T + 30_000);
  });
  it('a resolve of an incident told firing skips the group; retries do not count as notifying', () => {
    expect(joinsGroup('resolved', 'firing')).toBe(false);
    expect(joinsGroup('resolved', null)).toBe(true);
    expect(joinsGroup('firing', 'firing')).toBe(true);
    expect([groupNotified('retry'), groupNotified('succeeded'), groupNotified('failed')]).toEqual([false, true, true]);
  });
});

describe('incident order and holds', () => {
  const lease = { owner: 'lane', until: T + 60_000 };
  it('a lease at ingest is given unless the incident has work ahead or the circuit is open', () => {
    expect(leaseAtIngest(lease, { behind: false, enabled: true })).toEqual({ lease, waits: false });
    expect(leaseAtIngest(lease, { behind: true, enabled: true })).toEqual({ lease: null, waits: true });
    expect(leaseAtIngest(lease, { behind: false, enabled: false })).toEqual({ lease: null, waits: true });
    expect(leaseAtIngest(null, { behind: true, enabled: false })).toEqual({ lease: null, waits: false });
  });
  it('fresh work is due at its lease end, with its group, or at once; held work never', () => {
    expect(dueAtIngest('pending', T + 5, T + 9, T)).toBe(T + 5);
    expect(dueAtIngest('pending', null, T + 9, T)).toBe(T + 9);
    expect(dueAtIngest('pending', null, null, T)).toBe(T);
    expect(dueAtIngest('muted', null, null, T)).toBeNull();
  });
  it('replays and commands are unordered', () => {
    expect(isUnordered({ replay_of: 'dlv_1', route: 'r' })).toBe(true);
    expect(isUnordered({ replay_of: null, route: 'command:acknowledge' })).toBe(true);
    expect(isUnordered({ replay_of: null, route: 'r' })).toBe(false);
  });
  it('an inhibition stands while its inhibitor fires (or is not tracked); a resolve releases only targets still firing', () => {
    expect(inhibitorOf(JSON.stringify(['am', 'crit']))).toEqual({ source: 'am', dedup_key: 'crit' });
    expect(inhibitorOf('not json')).toBeNull();
    expect(inhibitorOf('["one"]')).toBeNull();
    expect([inhibitionStands('firing'), inhibitionStands(null), inhibitionStands('resolved')]).toEqual([true, true, false]);
    expect([releasedByResolve('firing'), releasedByResolve('resolved'), releasedByResolve(null)]).toEqual([true, false, false]);
  });
});

describe('outcomes', () => {
  const base = { delivery_id: 'dlv_1', member_ids: [], next_attempt_at: T + 5, error: 'HTTP 503' };
  it('retry waits for its next attempt; superseded is skipped with its reason as the note; a digest notes itself', () => {
    expect(deliveryAfter({ ...base, outcome: 'retry' })).toEqual({ status: 'pending', next_attempt_at: T + 5, last_error: 'HTTP 503', note: null });
    expect(deliveryAfter({ ...base, outcome: 'superseded', error: 'superseded: newer' })).toEqual({ status: 'skipped', next_attempt_at: null, last_error: null, note: 'superseded: newer' });
    expect(deliveryAfter({ ...base, outcome: 'succeeded', error: null, digest: true, member_ids: ['a', 'b'] })).toEqual({
      status: 'succeeded',
      next_attempt_at: null,
      last_error: null,
      note: 'in digest dlv_1 (3 events)',
    });
  });
  it('one notification line per incident and destination, the latest sent', () => {
    const entries = [
      { destination: 'a', dedup_key: 'k', sent_at: 20, id: 1 },
      { destination: 'a', dedup_key: 'k', sent_at: 10, id: 2 },
      { destination: 'b', dedup_key: 'k', sent_at: 5, id: 3 },
    ];
    expect(latestTold(entries).map((entry) => entry.id)).toEqual([1, 3]);
  });
  it('an incident message changed since it was drawn needs a redraw', () => {
    expect(incidentMessageStale(4, 3)).toBe(false);
    expect(incidentMessageStale(5, 3)).toBe(true);
  });
});

describe('storm', () => {
  it('a storm is more waiting than the capacity, counted to one more', () => {
    expect(stormCountLimit({ capacity: 10 })).toBe(11);
    expect([stormRaging(10, { capacity: 10 }), stormRaging(11, { capacity: 10 })]).toEqual([false, true]);
  });
  it('only fresh work folds: no retry, replay, command or formed batch', () => {
    const fresh = { batch_id: null, attempts: 0, request_body: null, replay_of: null, route: 'all' };
    expect(foldable(fresh, 'command:')).toBe(true);
    expect(foldable({ ...fresh, attempts: 1 }, 'command:')).toBe(false);
    expect(foldable({ ...fresh, request_body: '{}' }, 'command:')).toBe(false);
    expect(foldable({ ...fresh, replay_of: 'dlv_x' }, 'command:')).toBe(false);
    expect(foldable({ ...fresh, batch_id: 'dlv_y' }, 'command:')).toBe(false);
    expect(foldable({ ...fresh, route: 'command:ack' }, 'command:')).toBe(false);
  });
  it('incident order holds inside a digest: an event joins only with every earlier one of its incident', () => {
    const members = digestMembers('d1', [
      { id: 'd1', incident_key: 'a', ahead: 0 },
      { id: 'd2', incident_key: 'a', ahead: 1 },
      // b's head is in flight elsewhere: none of b joins.
      { id: 'd3', incident_key: 'b', ahead: 1 },
      { id: 'd4', incident_key: 'b', ahead: 2 },
      { id: 'd5', incident_key: null, ahead: 0 },
      { id: 'd6', incident_key: 'c', ahead: 0, busy: true },
      { id: 'd7', incident_key: 'e', ahead: 0, blocked: true },
    ]);
    expect(members).toEqual(['d2', 'd5']);
    expect(digestMembers('d1', [{ id: 'd1', incident_key: 'a', ahead: 0 }])).toBeNull();
  });
  it('a digest is named in its batch id and in each event\'s note', () => {
    expect(digestBatchId('dlv_1')).toBe('digest:dlv_1');
    expect([isDigestBatch('digest:dlv_1'), isDigestBatch('dlv_1'), isDigestBatch(null)]).toEqual([true, false, false]);
    expect(digestNote({ delivery_id: 'dlv_1', member_ids: [], digest: false })).toBeNull();
  });
});
