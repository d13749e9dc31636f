/**
 * The SQLite store's write operations row by row, run in this thread on a real file: the
 * details the store port does not show (timestamps, the rows a write leaves alone), and the
 * operations outside the port (recoverLeases at open, probeSpace for readiness). The rule
 * stories (breaker, grouping, order, storms, holds, the notification log) are the contract
 * suite's (contract.ts), which runs on both stores, in this thread for SQLite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openWriter } from '../../src/store/sqlite/connection.ts';
import { migrate } from '../../src/store/sqlite/migrations.ts';
import { createWriteOps } from '../../src/store/sqlite/writes.ts';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';
import type { AttemptResult, NewDelivery } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent, succeededAttempt } from '../support/events.ts';

const OWNER = 'lane-a';
const T0 = Date.parse('2026-04-23T18:28:00Z');

let dir: string;
let db: DatabaseSync;
let ops: WriteOps;
/** One attempt committed on its own (a batch of one). */
const recordAttempt = (result: AttemptResult) => ops.commitAttempts([result])[0]!;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hookrelay-writes-'));
  db = openWriter(join(dir, 'store.db'));
  migrate(db);
  ops = createWriteOps(db);
  ops.syncDestinations(['slack', 'pager']);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

type Row = Record<string, unknown>;
const row = (sql: string, ...params: Array<string | number | null>): Row | undefined => db.prepare(sql).get(...params) as Row | undefined;
const rows = (sql: string, ...params: Array<string | number | null>): Row[] => db.prepare(sql).all(...params) as Row[];
const delivery = (id: string): Row => row('SELECT * FROM deliveries WHERE id = ?', id)!;
const state = (name: string): Row => row('SELECT * FROM destination_state WHERE name = ?', name)!;

/** One event with one pending delivery to `destination`, received at `at`; returns the delivery id. */
function ingestOne(destination = 'slack', at = T0, extra: Partial<NewDelivery> = {}): { delivery: string; event: string } {
  const event = relayEvent();
  const id = newId('dlv');
  ops.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [{ id, destination, route: 'r', status: 'pending', ...extra }] }] });
  return { delivery: id, event: event.id };
}

const attempt = (id: string, overrides: Partial<AttemptResult> = {}): AttemptResult => succeededAttempt(id, OWNER, T0 + 1_012, overrides);

const claim = (limit = 10, now = T0 + 500, destination = 'slack', lease_ms = 60_000) => ops.claimDue({ destination, limit, now, lease_ms, owner: OWNER });

describe('ingest', () => {
  it('stores the receipt once, the event, and each delivery due at receipt time; a seen sender id is a duplicate', () => {
    const event = relayEvent({ external_id: 'ext-1' });
    const [first] = ops.ingest(batchOf(event, ['slack', 'pager'], T0));
    expect(first).toEqual({ id: event.id, duplicate: false });
    const stored = rows('SELECT status, next_attempt_at, created_at, lease_owner FROM deliveries WHERE event_id = ? ORDER BY destination', event.id);
    expect(stored).toEqual([
      { status: 'pending', next_attempt_at: T0, created_at: T0, lease_owner: null },
      { status: 'pending', next_attempt_at: T0, created_at: T0, lease_owner: null },
    ]);
    expect(row('SELECT COUNT(*) AS n FROM receipts')).toEqual({ n: 1 });

    const again = relayEvent({ external_id: 'ext-1' });
    expect(ops.ingest(batchOf(again, ['slack'], T0 + 1))).toEqual([{ id: event.id, duplicate: true }]);
    expect(row('SELECT COUNT(*) AS n FROM receipts')).toEqual({ n: 1 });
    expect(row('SELECT COUNT(*) AS n FROM deliveries')).toEqual({ n: 2 });
    // The same id from another source is new.
    expect(ops.ingest(batchOf(relayEvent({ external_id: 'ext-1', source: 'other' }), [], T0))[0]?.duplicate).toBe(false);
  });

  it('a leased delivery is stored in flight until its lease; muted and skipped ones are never due', () => {
    const leased = ingestOne('slack', T0, { lease: { owner: OWNER, until: T0 + 60_000 } });
    expect(delivery(leased.delivery)).toMatchObject({ status: 'in_flight', lease_owner: OWNER, next_attempt_at: T0 + 60_000 });
    const muted = ingestOne('slack', T0, { status: 'muted', note: 'mute_1' });
    expect(delivery(muted.delivery)).toMatchObject({ status: 'muted', note: 'mute_1', next_attempt_at: null });
    const skipped = ingestOne('slack', T0, { status: 'skipped', lease: { owner: OWNER, until: T0 + 60_000 } });
    expect(delivery(skipped.delivery)).toMatchObject({ status: 'skipped', lease_owner: null, next_attempt_at: null });
  });

  it('data that is the body is stored once, with the receipt', () => {
    const event = relayEvent();
    ops.ingest({ ...batchOf(event, [], T0), events: [{ event, deliveries: [], data_is_body: true }] });
    expect(row('SELECT data FROM events WHERE id = ?', event.id)).toEqual({ data: '' });
    const other = relayEvent();
    ops.ingest(batchOf(other, [], T0));
    expect(row('SELECT data FROM events WHERE id = ?', other.id)).toEqual({ data: JSON.stringify(other.data) });
  });
});

describe('claimDue', () => {
  it('leases due deliveries oldest first, at most `limit`, and says when the next one is due', () => {
    const a = ingestOne('slack', T0);
    const b = ingestOne('slack', T0 + 100);
    const later = ingestOne('slack', T0 + 10_000);
    ingestOne('pager', T0);
    const batch = claim(1, T0 + 500);
    expect(batch.deliveries.map((d) => d.id)).toEqual([a.delivery]);
    expect(batch.deliveries[0]).toMatchObject({ destination: 'slack', attempts: 0, request_body: null, member_ids: [], unordered: false, route: 'r', probe: false, rule_keys: [null] });
    expect(delivery(a.delivery)).toMatchObject({ status: 'in_flight', lease_owner: OWNER, next_attempt_at: T0 + 500 + 60_000, updated_at: T0 + 500 });
    // b is due and not yet claimed: the next due time is its own.
    expect(batch.next_due_at).toBe(T0 + 100);
    const rest = claim(10, T0 + 500);
    expect(rest.deliveries.map((d) => d.id)).toEqual([b.delivery]);
    expect(rest.next_due_at).toBe(T0 + 10_000);
    expect(delivery(later.delivery).status).toBe('pending');
    expect(claim(10, T0 + 500).deliveries).toEqual([]);
  });

  it('nothing for a disabled or unknown destination; null next due when nothing waits', () => {
    ingestOne('slack', T0);
    db.prepare(`UPDATE destination_state SET enabled = 0 WHERE name = 'slack'`).run();
    expect(claim()).toEqual({ deliveries: [], next_due_at: null });
    expect(claim(10, T0 + 500, 'nowhere')).toEqual({ deliveries: [], next_due_at: null });
    expect(claim(10, T0 + 500, 'pager')).toEqual({ deliveries: [], next_due_at: null });
  });

  it('an expired lease is claimed again; a live one is not', () => {
    const a = ingestOne('slack', T0);
    claim(10, T0, 'slack', 1_000);
    expect(claim(10, T0 + 999).deliveries).toEqual([]);
    expect(claim(10, T0 + 1_000).deliveries.map((d) => d.id)).toEqual([a.delivery]);
  });

  it('a replay or a command is unordered and carries its request', () => {
    const a = ingestOne('slack', T0);
    claim();
    recordAttempt(attempt(a.delivery, { finished_at: T0 + 600 }));
    ops.replayDelivery({ id: a.delivery, newId: 'dlv_replay', now: T0 + 700 });
    ops.enqueuePrepared({ eventId: a.event, deliveries: [{ id: 'dlv_command', destination: 'slack', route: 'command:acknowledge', request_body: '{"ack":1}' }], now: T0 + 700 });
    const batch = claim(10, T0 + 800);
    expect(batch.deliveries.map((d) => [d.id, d.unordered, d.request_body, d.route]).sort()).toEqual([
      ['dlv_command', true, '{"ack":1}', null],
      ['dlv_replay', true, '{"text":"hi"}', null],
    ]);
  });
});

describe('commitAttempts, one attempt at a time', () => {
  it('success: succeeded, attempt logged, the destination healthy again', () => {
    db.prepare(`UPDATE destination_state SET consecutive_failures = 2 WHERE name = 'slack'`).run();
    const a = ingestOne();
    claim();
    const recorded = recordAttempt(attempt(a.delivery));
    expect(recorded).toEqual({ recorded: true, destination: { name: 'slack', enabled: true, consecutive_failures: 0, pending: null }, disabled_now: false, enabled_now: false, incident_stale: false });
    expect(delivery(a.delivery)).toMatchObject({
      status: 'succeeded', attempts: 1, next_attempt_at: null, lease_owner: null, request_body: '{"text":"hi"}',
      response_code: 200, response_body: 'ok', latency_ms: 12, last_error: null, updated_at: T0 + 1_012,
    });
    expect(rows('SELECT attempt, started_at, outcome, response_code, latency_ms, error FROM delivery_attempts WHERE delivery_id = ?', a.delivery)).toEqual([
      { attempt: 1, started_at: T0 + 1_000, outcome: 'succeeded', response_code: 200, latency_ms: 12, error: null },
    ]);
    expect(state('slack')).toMatchObject({ consecutive_failures: 0, last_success_at: T0 + 1_012 });
  });

  it('retry: pending again at next_attempt_at, the request kept, the failure counted', () => {
    const a = ingestOne();
    claim();
    recordAttempt(attempt(a.delivery, { outcome: 'retry', next_attempt_at: T0 + 30_000, response_code: 503, error: 'HTTP 503', health: 'failure' }));
    expect(delivery(a.delivery)).toMatchObject({ status: 'pending', attempts: 1, next_attempt_at: T0 + 30_000, lease_owner: null, last_error: 'HTTP 503' });
    expect(state('slack')).toMatchObject({ consecutive_failures: 1, last_error: 'HTTP 503', enabled: 1 });
    claim(10, T0 + 30_000);
    // A retry sends the kept request: no new body, the old one stays.
    recordAttempt(attempt(a.delivery, { request_body: null, started_at: T0 + 30_001 }));
    expect(delivery(a.delivery)).toMatchObject({ status: 'succeeded', attempts: 2, request_body: '{"text":"hi"}' });
    expect(rows('SELECT attempt, outcome FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt', a.delivery)).toEqual([
      { attempt: 1, outcome: 'retry' },
      { attempt: 2, outcome: 'succeeded' },
    ]);
  });

  it('a lease held by another owner (or none) records nothing', () => {
    const a = ingestOne();
    claim();
    expect(recordAttempt(attempt(a.delivery, { lease_owner: 'lane-b' }))).toMatchObject({ recorded: false, disabled_now: false });
    expect(delivery(a.delivery)).toMatchObject({ status: 'in_flight', attempts: 0 });
    const b = ingestOne();
    expect(recordAttempt(attempt(b.delivery)).recorded).toBe(false);
    expect(delivery(b.delivery)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(rows('SELECT * FROM delivery_attempts')).toEqual([]);
  });

  it('superseded: skipped with the reason as its note, not as an error', () => {
    const a = ingestOne();
    claim();
    recordAttempt(attempt(a.delivery, { outcome: 'superseded', error: 'superseded: evt_x was delivered first', response_code: null, health: 'neutral' }));
    expect(delivery(a.delivery)).toMatchObject({ status: 'skipped', note: 'superseded: evt_x was delivered first', last_error: null });
  });
});

describe('commitAttempts, several attempts in one commit', () => {
  const failure = (id: string, extra: Partial<AttemptResult> = {}): AttemptResult =>
    attempt(id, { outcome: 'failed', response_code: 500, error: `HTTP 500 for ${id}`, health: 'failure', breaker: { disable_after: 2, probe_backoff_ms: null }, ...extra });

  it('each is recorded or refused on its own, and each destination\'s breaker counts only its own recorded attempts, in order', () => {
    const a = ingestOne('slack');
    const b = ingestOne('slack');
    const p = ingestOne('pager');
    const waiting = ingestOne('slack', T0 + 100_000);
    claim(2);
    claim(1, T0 + 500, 'pager');
    const results = ops.commitAttempts([
      failure(a.delivery),
      failure(waiting.delivery),
      failure('dlv_unknown'),
      failure(p.delivery, { destination: 'pager' }),
      failure(b.delivery, { lease_owner: 'lane-b' }),
      failure(b.delivery),
    ]);
    const slackOff = { name: 'slack', enabled: false, consecutive_failures: 2, pending: null };
    expect(results).toEqual([
      { recorded: true, destination: { name: 'slack', enabled: true, consecutive_failures: 1, pending: null }, disabled_now: false, enabled_now: false, incident_stale: false },
      { recorded: false, destination: slackOff, disabled_now: false, enabled_now: false, incident_stale: false },
      { recorded: false, destination: slackOff, disabled_now: false, enabled_now: false, incident_stale: false },
      { recorded: true, destination: { name: 'pager', enabled: true, consecutive_failures: 1, pending: null }, disabled_now: false, enabled_now: false, incident_stale: false },
      { recorded: false, destination: slackOff, disabled_now: false, enabled_now: false, incident_stale: false },
      // The second failure opens the circuit: the one delivery still waiting is counted.
      { recorded: true, destination: { ...slackOff, pending: 1 }, disabled_now: true, enabled_now: false, incident_stale: false },
    ]);
    expect(state('slack')).toMatchObject({ enabled: 0, consecutive_failures: 2, disabled_reason: `2 consecutive failed attempts; last: HTTP 500 for ${b.delivery}` });
    expect(state('pager')).toMatchObject({ enabled: 1, consecutive_failures: 1 });
    expect(delivery(waiting.delivery)).toMatchObject({ status: 'pending', attempts: 0 });
    expect(rows('SELECT delivery_id FROM delivery_attempts ORDER BY rowid').map((r) => r.delivery_id)).toEqual([a.delivery, p.delivery, b.delivery]);
  });

  it('a success and a failure of one destination in one commit: the breaker ends where the last of them leaves it', () => {
    db.prepare(`UPDATE destination_state SET consecutive_failures = 1 WHERE name = 'slack'`).run();
    const a = ingestOne();
    const b = ingestOne();
    claim();
    const [first, second] = ops.commitAttempts([attempt(a.delivery), failure(b.delivery, { finished_at: T0 + 1_020 })]);
    expect(first?.destination.consecutive_failures).toBe(0);
    expect(second?.destination.consecutive_failures).toBe(1);
    expect(state('slack')).toMatchObject({ consecutive_failures: 1, last_success_at: T0 + 1_012, last_error: `HTTP 500 for ${b.delivery}` });
  });

  it('an attempt for a destination the store does not know is refused, naming it', () => {
    expect(() => ops.commitAttempts([attempt('dlv_none', { destination: 'nowhere' })])).toThrow(
      expect.objectContaining({ code: 'not_found', message: 'unknown destination "nowhere"' }),
    );
  });

  it('two batches of one group sent in one commit: the group remembers the later notification, whatever their order in the commit', () => {
    const group = { key: 'g', wait_ms: 1_000, interval_ms: 60_000 };
    const a = ingestOne('slack', T0, { group });
    const b = ingestOne('slack', T0 + 10, { group });
    claim(10, T0 + 1_000, 'slack', 3_600_000);
    const c = ingestOne('slack', T0 + 1_100, { group });
    claim(10, T0 + 61_100, 'slack', 3_600_000);
    ops.commitAttempts([attempt(c.delivery, { finished_at: T0 + 61_300 }), attempt(a.delivery, { member_ids: [b.delivery], finished_at: T0 + 61_200 })]);
    expect(row(`SELECT last_sent_at FROM delivery_groups WHERE group_key = 'g'`)).toEqual({ last_sent_at: T0 + 61_300 });
    const d = ingestOne('slack', T0 + 62_000, { group });
    expect(delivery(d.delivery).next_attempt_at).toBe(T0 + 61_300 + 60_000);
  });
});

describe('what a claim carries', () => {
  it('the threshold key of each event of a grouped batch, lead first', () => {
    const group = { key: 'g', wait_ms: 1_000, interval_ms: 60_000 };
    const a = ingestOne('slack', T0, { group, rule_key: 'g' });
    const b = ingestOne('slack', T0 + 10, { group, rule_key: 'g' });
    const c = ingestOne('slack', T0 + 20, { group });
    const [lead] = claim(10, T0 + 1_000).deliveries;
    expect(lead).toMatchObject({ id: a.delivery, member_ids: [b.delivery, c.delivery], rule_keys: ['g', 'g', null] });
  });

  it('an ungrouped delivery whose lease expired before its attempt is still a fresh one: no batch, foldable into a storm digest', () => {
    const a = ingestOne();
    claim(10, T0 + 500, 'slack', 1_000);
    expect(delivery(a.delivery).batch_id).toBeNull();
    const b = ingestOne();
    const [lead] = ops.claimDue({ destination: 'slack', limit: 1, now: T0 + 2_000, lease_ms: 60_000, owner: OWNER, storm: { capacity: 1 } }).deliveries;
    expect(lead).toMatchObject({ id: b.delivery, member_ids: [a.delivery], digest: true });
  });
});

describe('groups remembered by a commit', () => {
  const group = (key: string) => ({ key, wait_ms: 1_000, interval_ms: 60_000 });

  it('an ungrouped success remembers no group; two groups sent in one commit each remember their own time', () => {
    const plain = ingestOne();
    const a = ingestOne('slack', T0, { group: group('g1') });
    const b = ingestOne('slack', T0, { group: group('g2') });
    claim(10, T0 + 1_000);
    ops.commitAttempts([attempt(plain.delivery), attempt(a.delivery, { finished_at: T0 + 1_100 }), attempt(b.delivery, { finished_at: T0 + 1_050 })]);
    expect(rows('SELECT group_key, last_sent_at FROM delivery_groups ORDER BY group_key')).toEqual([
      { group_key: 'g1', last_sent_at: T0 + 1_100 },
      { group_key: 'g2', last_sent_at: T0 + 1_050 },
    ]);
  });

  it('a member of a batch no longer in flight (given back meanwhile) gets no attempt; the others do', () => {
    const a = ingestOne('slack', T0, { group: group('g') });
    const b = ingestOne('slack', T0 + 10, { group: group('g') });
    claim(10, T0 + 1_000);
    ops.releaseClaims({ ids: [b.delivery], owner: OWNER, now: T0 + 1_001 });
    expect(recordAttempt(attempt(a.delivery, { member_ids: [b.delivery] })).recorded).toBe(true);
    expect(rows('SELECT delivery_id FROM delivery_attempts')).toEqual([{ delivery_id: a.delivery }]);
    expect(delivery(b.delivery)).toMatchObject({ status: 'pending', attempts: 0 });
  });
});

describe('incident messages and staleness', () => {
  const posted = { kind: 'posted' as const, dedup_key: 'inc', channel: 'C1', ts: '1.1', started_at: new Date(T0).toISOString(), status: 'firing' as const, resolved_at: null, last_event_id: 'evt_1' };
  const updated = (drawn: number) => ({ kind: 'updated' as const, dedup_key: 'inc', status: 'firing' as const, resolved_at: null, last_event_id: 'evt_2', drawn_from_version: drawn });

  it('a message posted is never stale; an update drawn from the version it changes is not; one for a message that is gone is not either', () => {
    const [a, b, c] = [ingestOne(), ingestOne(), ingestOne()];
    claim();
    expect(recordAttempt(attempt(a.delivery, { effects: { incident_message: posted } })).incident_stale).toBe(false);
    expect(row(`SELECT resolved_at, status FROM incident_messages WHERE dedup_key = 'inc'`)).toEqual({ resolved_at: null, status: 'firing' });
    expect(recordAttempt(attempt(b.delivery, { effects: { incident_message: updated(1) } })).incident_stale).toBe(false);
    db.prepare(`DELETE FROM incident_messages`).run();
    expect(recordAttempt(attempt(c.delivery, { effects: { incident_message: updated(1) } })).incident_stale).toBe(false);
  });
});

describe('releaseHeld (a time interval ended)', () => {
  it('gives back the named deliveries it held, due now with a note; forgets the marker on the rest; leaves other holds alone', () => {
    const marker = 'interval:nights';
    const named = ingestOne('slack', T0, { status: 'muted', note: 'muted during nights', held_by: marker });
    const other = ingestOne('pager', T0, { status: 'muted', note: 'muted during nights', held_by: marker });
    const notNamed = ingestOne('slack', T0, { status: 'muted', note: 'muted during nights', held_by: marker });
    const elsewhere = ingestOne('slack', T0, { status: 'muted', note: 'muted during weekends', held_by: 'interval:weekends' });
    const skipped = ingestOne('slack', T0, { status: 'skipped', note: 'below threshold', held_by: marker });
    expect(delivery(skipped.delivery).held_by).toBeNull();
    const released = ops.releaseHeld({ marker, ids: [named.delivery, other.delivery, elsewhere.delivery], note: '; nights ended', now: T0 + 9_000 });
    expect(released.sort()).toEqual(['pager', 'slack']);
    expect(delivery(named.delivery)).toMatchObject({ status: 'pending', next_attempt_at: T0 + 9_000, held_by: null, note: 'muted during nights; nights ended', updated_at: T0 + 9_000 });
    expect(delivery(notNamed.delivery)).toMatchObject({ status: 'muted', held_by: null });
    expect(delivery(elsewhere.delivery)).toMatchObject({ status: 'muted', held_by: 'interval:weekends' });
    expect(ops.releaseHeld({ marker, ids: [named.delivery], note: '; again', now: T0 + 10_000 })).toEqual([]);
  });
});

describe('claims by priority', () => {
  it('a higher priority goes first, however late it arrived; the limit is filled level by level', () => {
    const low = ingestOne('slack', T0, { priority: 0 });
    const high = ingestOne('slack', T0 + 200, { priority: 2 });
    const middle = ingestOne('slack', T0 + 100, { priority: 1 });
    const lowLater = ingestOne('slack', T0 + 300, { priority: 0 });
    expect(claim(2, T0 + 500).deliveries.map((d) => d.id)).toEqual([high.delivery, middle.delivery]);
    expect(claim(10, T0 + 500).deliveries.map((d) => d.id)).toEqual([low.delivery, lowLater.delivery]);
  });

  it('the limit holds across levels', () => {
    const high = ingestOne('slack', T0 + 200, { priority: 1 });
    const lows = [ingestOne('slack', T0), ingestOne('slack', T0 + 1), ingestOne('slack', T0 + 2)];
    expect(claim(2, T0 + 500).deliveries.map((d) => d.id)).toEqual([high.delivery, lows[0]!.delivery]);
  });

  it('the next due time is the earliest of every level', () => {
    // The earliest is neither at the first level looked at (the highest) nor at the last.
    ingestOne('slack', T0 + 9_000, { priority: 2 });
    ingestOne('slack', T0 + 5_000, { priority: 1 });
    ingestOne('slack', T0 + 7_000, { priority: 0 });
    expect(claim(10, T0 + 500).next_due_at).toBe(T0 + 5_000);
  });
});

describe('an attempt under way', () => {
  it('marked by its own worker, it counts as an interrupted attempt when the lease is taken over; unmarked, only as an interruption', () => {
    const marked = ingestOne();
    const foreign = ingestOne();
    const unmarked = ingestOne();
    claim();
    ops.markAttemptStarted({ ids: [marked.delivery], owner: OWNER });
    ops.markAttemptStarted({ ids: [foreign.delivery], owner: 'lane-b' });
    expect(ops.recoverLeases(T0 + 1_000)).toBe(3);
    const taken = claim(10, T0 + 1_000).deliveries;
    expect(taken.map((d) => [d.id, d.interrupted, d.interrupted_attempts])).toEqual([
      [marked.delivery, 1, 1],
      [foreign.delivery, 1, 0],
      [unmarked.delivery, 1, 0],
    ]);
  });

  it('a delivery no longer in flight is not marked', () => {
    const a = ingestOne();
    ops.markAttemptStarted({ ids: [a.delivery], owner: OWNER });
    expect(delivery(a.delivery).attempt_started).toBe(0);
  });
});

describe('ingest of several events in one request', () => {
  it('one receipt for all of them', () => {
    const [first, second] = [relayEvent(), relayEvent()];
    const batch = batchOf(first!, [], T0);
    ops.ingest({ ...batch, events: [{ event: first!, deliveries: [] }, { event: second!, deliveries: [] }] });
    expect(row('SELECT COUNT(*) AS n FROM receipts')).toEqual({ n: 1 });
    expect(rows('SELECT receipt_id FROM events').map((r) => r.receipt_id)).toEqual([batch.receipt.id, batch.receipt.id]);
  });
});

describe('leases', () => {
  it('extendLeases and releaseClaims touch only in-flight deliveries of that owner', () => {
    const a = ingestOne();
    const b = ingestOne();
    claim();
    ops.extendLeases({ ids: [a.delivery], owner: OWNER, until: T0 + 500_000 });
    ops.extendLeases({ ids: [b.delivery], owner: 'lane-b', until: T0 + 500_000 });
    expect(delivery(a.delivery).next_attempt_at).toBe(T0 + 500_000);
    expect(delivery(b.delivery).next_attempt_at).toBe(T0 + 500 + 60_000);
    ops.releaseClaims({ ids: [a.delivery, b.delivery], owner: 'lane-b', now: T0 + 700 });
    expect(delivery(a.delivery).status).toBe('in_flight');
    ops.releaseClaims({ ids: [a.delivery], owner: OWNER, now: T0 + 700 });
    expect(delivery(a.delivery)).toMatchObject({ status: 'pending', next_attempt_at: T0 + 700, lease_owner: null, updated_at: T0 + 700 });
    expect(delivery(b.delivery).status).toBe('in_flight');
  });

  it('recoverLeases makes every in-flight delivery due now and counts them', () => {
    ingestOne();
    ingestOne();
    const c = ingestOne('slack', T0 + 5_000);
    claim(10, T0 + 10);
    expect(ops.recoverLeases(T0 + 20)).toBe(2);
    expect(rows(`SELECT DISTINCT status, next_attempt_at, lease_owner FROM deliveries WHERE id != ?`, c.delivery)).toEqual([
      { status: 'pending', next_attempt_at: T0 + 20, lease_owner: null },
    ]);
  });
});

describe('enableDestination', () => {
  it('re-enables, clears the failure state and brings backed-off work forward; null for an unknown name', () => {
    const a = ingestOne();
    const soon = ingestOne('slack', T0 + 1_000);
    claim();
    recordAttempt(attempt(a.delivery, { outcome: 'retry', next_attempt_at: T0 + 3_600_000, health: 'failure', error: 'HTTP 500', breaker: { disable_after: 1, probe_backoff_ms: null } }));
    expect(state('slack').enabled).toBe(0);
    const enabled = ops.enableDestination({ name: 'slack', now: T0 + 2_000 });
    expect(enabled).toMatchObject({ name: 'slack', enabled: true, consecutive_failures: 0, disabled_at: null, disabled_reason: null, pending: 2 });
    expect(delivery(a.delivery).next_attempt_at).toBe(T0 + 2_000);
    expect(delivery(soon.delivery).next_attempt_at).toBe(T0 + 1_000);
    expect(ops.enableDestination({ name: 'nowhere', now: T0 })).toBeNull();
  });
});

describe('replayDelivery', () => {
  it('a new pending delivery with the same request, due now; null for an unknown id; a skipped one is a conflict', () => {
    const a = ingestOne();
    claim();
    recordAttempt(attempt(a.delivery));
    const replay = ops.replayDelivery({ id: a.delivery, newId: 'dlv_new', now: T0 + 9_000 });
    expect(replay).toMatchObject({ id: 'dlv_new', event_id: a.event, destination: 'slack', route: 'r', status: 'pending', request_body: '{"text":"hi"}', replay_of: a.delivery, attempts: 0 });
    expect(delivery('dlv_new').next_attempt_at).toBe(T0 + 9_000);
    expect(ops.replayDelivery({ id: 'dlv_none', newId: 'dlv_x', now: T0 })).toBeNull();
    const skipped = ingestOne('slack', T0, { status: 'skipped' });
    db.prepare('UPDATE deliveries SET destination = NULL WHERE id = ?').run(skipped.delivery);
    expect(() => ops.replayDelivery({ id: skipped.delivery, newId: 'dlv_y', now: T0 })).toThrow(
      expect.objectContaining({ code: 'conflict', message: `delivery ${skipped.delivery} was skipped (no route matched): there is nothing to replay it to` }),
    );
  });
});

describe('mutes and incident messages', () => {
  it('a mute is stored, listed, ended once', () => {
    const mute = { id: 'mut_1', matchers: { type: 'qos.*' }, reason: 'deploy', created_by: '<@U1>', created_at: new Date(T0).toISOString(), expires_at: new Date(T0 + 3_600_000).toISOString(), deleted_at: null };
    expect(ops.createMute(mute)).toEqual(mute);
    expect(ops.deleteMute({ id: 'mut_1', now: T0 + 10 })).toMatchObject({ id: 'mut_1', deleted_at: new Date(T0 + 10).toISOString() });
    expect(ops.deleteMute({ id: 'mut_1', now: T0 + 20 })).toBeNull();
  });

  it('an incident message is written by the attempt that posted it, updated without touching its acknowledgement', () => {
    const a = ingestOne();
    const b = ingestOne();
    claim();
    recordAttempt(attempt(a.delivery, {
      effects: { incident_message: { kind: 'posted', dedup_key: 'inc', channel: 'C1', ts: '1.1', started_at: new Date(T0).toISOString(), status: 'firing', resolved_at: null, last_event_id: 'evt_1' } },
    }));
    expect(row(`SELECT resolved_at, acknowledged_at, version FROM incident_messages WHERE dedup_key = 'inc'`)).toEqual({ resolved_at: null, acknowledged_at: null, version: 1 });
    expect(ops.acknowledgeIncident({ destination: 'slack', dedupKey: 'inc', by: '<@U2>', now: T0 + 9 })).toMatchObject({
      acknowledged_by: '<@U2>', acknowledged_at: new Date(T0 + 9).toISOString(), version: 2,
    });
    const recorded = recordAttempt(attempt(b.delivery, {
      effects: { incident_message: { kind: 'updated', dedup_key: 'inc', status: 'resolved', resolved_at: new Date(T0 + 5).toISOString(), last_event_id: 'evt_2', drawn_from_version: 1 } },
    }));
    expect(recorded.incident_stale).toBe(true);
    expect(row(`SELECT status, resolved_at, acknowledged_by, updates FROM incident_messages WHERE dedup_key = 'inc'`)).toEqual({
      status: 'resolved', resolved_at: T0 + 5, acknowledged_by: '<@U2>', updates: 1,
    });
    expect(ops.acknowledgeIncident({ destination: 'slack', dedupKey: 'none', by: '<@U2>', now: T0 })).toBeNull();
  });
});

describe('probeSpace', () => {
  it('commits nothing visible', () => {
    expect(ops.probeSpace()).toBeNull();
    expect(rows('SELECT * FROM receipts')).toEqual([]);
  });
});

describe('prune', () => {
  const HOUR = 3_600_000;
  const finish = (id: string, at: number) => {
    ops.claimDue({ destination: 'slack', limit: 100, now: at, lease_ms: 60_000, owner: OWNER });
    recordAttempt(attempt(id, { finished_at: at }));
  };

  it('keeps the newest N finished per destination, and all pending, in-flight and retrying work older than them', () => {
    const pendingOld = ingestOne('slack', T0);
    const finished = [1, 2, 3, 4, 5].map((i) => ingestOne('slack', T0 + i * 1_000));
    const pagerOld = ingestOne('pager', T0);
    for (const { delivery: id } of finished) finish(id, T0 + 10_000);
    // pendingOld was claimed with the others: give it back unfinished.
    ops.releaseClaims({ ids: [pendingOld.delivery], owner: OWNER, now: T0 + 10_000 });
    const removed = ops.prune({ keep_per_destination: 2, keep_events_ms: HOUR, now: T0 + 20_000 });
    expect(removed).toBe(3);
    expect(rows(`SELECT id FROM deliveries WHERE destination = 'slack' AND status = 'succeeded' ORDER BY id`).map((r) => r.id)).toEqual(
      finished.slice(-2).map((d) => d.delivery),
    );
    expect(delivery(pendingOld.delivery).status).toBe('pending');
    expect(delivery(pagerOld.delivery).status).toBe('pending');
    // Events within keep_events_ms stay even without deliveries (duplicate detection).
    expect(row('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 7 });
  });

  it('exactly N finished: nothing removed', () => {
    const finished = [1, 2].map((i) => ingestOne('slack', T0 + i));
    for (const { delivery: id } of finished) finish(id, T0 + 10);
    expect(ops.prune({ keep_per_destination: 2, keep_events_ms: HOUR, now: T0 + 20 })).toBe(0);
    expect(ops.prune({ keep_per_destination: 1, keep_events_ms: HOUR, now: T0 + 20 })).toBe(1);
  });

  it('skipped deliveries without a destination are pruned as their own group', () => {
    for (let i = 0; i < 3; i++) ops.ingest({ ...batchOf(relayEvent(), [], T0 + i), events: [{ event: relayEvent(), deliveries: [{ id: newId('dlv'), destination: null, route: null, status: 'skipped' }] }] });
    expect(ops.prune({ keep_per_destination: 1, keep_events_ms: HOUR, now: T0 + 10 })).toBe(2);
    expect(row('SELECT COUNT(*) AS n FROM deliveries WHERE destination IS NULL')).toEqual({ n: 1 });
  });

  it('events older than keep_events_ms go with their receipts, unless a delivery still refers to them', () => {
    const lone = relayEvent();
    ops.ingest(batchOf(lone, [], T0));
    const kept = ingestOne('slack', T0);
    const receiptOf = (eventId: string) => row('SELECT receipt_id FROM events WHERE id = ?', eventId)!.receipt_id as string;
    const loneReceipt = receiptOf(lone.id);
    const keptReceipt = receiptOf(kept.event);
    // Ids are time-ordered (made now): within the horizon, everything stays.
    ops.prune({ keep_per_destination: 10, keep_events_ms: HOUR, now: Date.now() });
    expect(row('SELECT COUNT(*) AS n FROM events')).toEqual({ n: 2 });
    expect(row('SELECT COUNT(*) AS n FROM receipts')).toEqual({ n: 2 });

    ops.prune({ keep_per_destination: 10, keep_events_ms: HOUR, now: Date.now() + 2 * HOUR });
    expect(row('SELECT COUNT(*) AS n FROM events WHERE id = ?', lone.id)).toEqual({ n: 0 });
    expect(row('SELECT COUNT(*) AS n FROM receipts WHERE id = ?', loneReceipt)).toEqual({ n: 0 });
    expect(row('SELECT COUNT(*) AS n FROM events WHERE id = ?', kept.event)).toEqual({ n: 1 });
    expect(row('SELECT COUNT(*) AS n FROM receipts WHERE id = ?', keptReceipt)).toEqual({ n: 1 });
    expect(delivery(kept.delivery).status).toBe('pending');
  });

  it('notification-log lines, ended groups, resolved incident messages and ended mutes older than the horizon are forgotten', () => {
    const a = ingestOne();
    claim();
    const told = [{ destination: 'slack', dedup_key: 'inc', status: 'firing' as const, occurred_at: new Date(T0).toISOString(), delivery_id: a.delivery, sent_at: T0 }];
    recordAttempt(attempt(a.delivery, { finished_at: T0, notified: told }));
    ops.createMute({ id: 'mut_old', matchers: { type: 'x' }, reason: '', created_by: 'test', created_at: new Date(T0).toISOString(), expires_at: new Date(T0 + 1_000).toISOString(), deleted_at: null });
    ops.prune({ keep_per_destination: 10, keep_events_ms: HOUR, now: T0 + HOUR - 1 });
    expect(row('SELECT COUNT(*) AS n FROM notification_log')).toEqual({ n: 1 });
    expect(row('SELECT COUNT(*) AS n FROM mutes')).toEqual({ n: 1 });
    ops.prune({ keep_per_destination: 10, keep_events_ms: HOUR, now: T0 + HOUR + 1_001 });
    expect(row('SELECT COUNT(*) AS n FROM notification_log')).toEqual({ n: 0 });
    expect(row('SELECT COUNT(*) AS n FROM mutes')).toEqual({ n: 0 });
  });
});
