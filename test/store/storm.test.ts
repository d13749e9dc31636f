/**
 * Storm digests, formed at claim time by the SQLite store's writes (run in this thread on a
 * real file, like writes.test.ts): when more requests wait than a destination can send within
 * its horizon, a claimed delivery brings every due event of its group as one digest.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/events/event.ts';
import { SEVERITY_RANK } from '../../src/events/event.ts';
import { openWriter } from '../../src/store/sqlite/connection.ts';
import { migrate } from '../../src/store/sqlite/migrations.ts';
import { createWriteOps } from '../../src/store/sqlite/writes.ts';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';
import type { AttemptResult, ClaimedDelivery, NewDelivery, StormPolicy } from '../../src/store/store.ts';
import { digestView } from '../../src/notify/digest.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';

const OWNER = 'lane-a';
const T0 = Date.parse('2026-04-23T18:28:00Z');
/** Slack's default 3 per 3 s with `storm: { horizon: 10s }`: 10 requests fit in the horizon. */
const STORM: StormPolicy = { capacity: 10 };

let dir: string;
let db: DatabaseSync;
let ops: WriteOps;
/** One attempt committed on its own (a batch of one). */
const recordAttempt = (result: AttemptResult) => ops.commitAttempts([result])[0]!;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hookrelay-storm-'));
  db = openWriter(join(dir, 'store.db'));
  migrate(db);
  ops = createWriteOps(db);
  ops.syncDestinations(['slack']);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

type Row = Record<string, unknown>;
const rows = (sql: string, ...params: Array<string | number | null>): Row[] => db.prepare(sql).all(...params) as Row[];

/** One event routed to slack as ingest stores it (incident order, severity priority); returns its delivery id. */
function queue(at: number, overrides: Partial<RelayEvent> = {}, extra: Partial<NewDelivery> = {}): string {
  const event = relayEvent({ occurred_at: new Date(at).toISOString(), ...overrides });
  const id = newId('dlv');
  ops.ingest({
    ...batchOf(event, [], at),
    events: [
      {
        event,
        deliveries: [
          { id, destination: 'slack', route: 'all', status: 'pending', incident_key: event.dedup_key, priority: SEVERITY_RANK[event.severity], ...extra },
        ],
      },
    ],
  });
  return id;
}

const claim = (now: number, storm: StormPolicy | null = STORM, limit = 5): readonly ClaimedDelivery[] =>
  ops.claimDue({ destination: 'slack', limit, now, lease_ms: 60_000, owner: OWNER, storm }).deliveries;

const idsOf = (delivery: ClaimedDelivery): string[] => [delivery.id, ...delivery.member_ids];

function succeeded(delivery: ClaimedDelivery, at: number): AttemptResult {
  return {
    delivery_id: delivery.id,
    member_ids: delivery.member_ids,
    destination: 'slack',
    lease_owner: OWNER,
    started_at: at,
    finished_at: at + 10,
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
    ...(delivery.digest ? { digest: true } : {}),
  };
}

/** 100 warnings over 2 s, four alert types taking turns, each its own incident. */
function burst(): Map<string, string[]> {
  const byType = new Map<string, string[]>();
  for (let i = 0; i < 100; i++) {
    const type = `alert.${'abcd'[i % 4]}`;
    const id = queue(T0 + i * 20, { type, severity: 'warning', dedup_key: `${type}:${i}`, title: `${type} #${i}` });
    byType.set(type, [...(byType.get(type) ?? []), id]);
  }
  return byType;
}

describe('storm digests at claim time', () => {
  it('a burst of 100 events in 2 s beyond the horizon → one digest per group, each carrying every event of its group', () => {
    const byType = burst();
    const claimed = claim(T0 + 2_000);
    expect(claimed).toHaveLength(4);
    for (const digest of claimed) {
      expect(digest.digest).toBe(true);
      const type = digest.event.type;
      expect(digest.events.every((event) => event.type === type)).toBe(true);
      expect(new Set(idsOf(digest))).toEqual(new Set(byType.get(type)));
      expect(digestView(digest.events, 5, digest.route)).toMatchObject({ count: 25, incidents: 25, firing: 25, more: 20, label: type });
    }
    expect(rows(`SELECT COUNT(*) AS n FROM deliveries WHERE status = 'in_flight' AND batch_id LIKE 'digest:%'`)).toEqual([{ n: 100 }]);
  });

  it('within the horizon nothing collapses: the same burst with room for it is claimed one by one', () => {
    burst();
    const claimed = claim(T0 + 2_000, { capacity: 100 });
    expect(claimed).toHaveLength(5);
    expect(claimed.every((delivery) => delivery.digest !== true && delivery.member_ids.length === 0)).toBe(true);
    // And a destination without storm digests (PagerDuty) never collapses.
    expect(claim(T0 + 2_000, null).every((delivery) => delivery.member_ids.length === 0)).toBe(true);
  });

  it('a critical event arriving after the storm goes first, on its own; the storm follows as a digest', () => {
    for (let i = 0; i < 50; i++) queue(T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
    const critical = queue(T0 + 1_000, { type: 'disk.full', severity: 'critical', dedup_key: 'disk:db-1' });
    const claimed = claim(T0 + 1_000, STORM, 2);
    expect(claimed.map((delivery) => delivery.id)[0]).toBe(critical);
    expect(claimed[0]).toMatchObject({ member_ids: [] });
    expect(claimed[0]!.digest).toBeUndefined();
    expect(claimed[1]).toMatchObject({ digest: true });
    expect(claimed[1]!.member_ids).toHaveLength(49);
  });

  it('incident order: a firing and its resolve fold into one digest that shows the latest state; a resolve whose firing is in flight waits', () => {
    for (let i = 0; i < 20; i++) queue(T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
    const firing = queue(T0 + 100, { type: 'flood', severity: 'critical', dedup_key: 'db', status: 'firing' });
    const resolve = queue(T0 + 200, { type: 'flood', severity: 'critical', dedup_key: 'db', status: 'resolved' });
    // Another incident's firing already went out on its own and is still in flight.
    const inFlight = queue(T0 + 300, { type: 'flood', severity: 'warning', dedup_key: 'api' }, { lease: { owner: 'lane-b', until: T0 + 60_000 } });
    const waiting = queue(T0 + 400, { type: 'flood', severity: 'warning', dedup_key: 'api', status: 'resolved' });

    const [digest, ...rest] = claim(T0 + 1_000);
    expect(rest).toHaveLength(0);
    const ids = idsOf(digest!);
    expect(ids).toContain(firing);
    expect(ids).toContain(resolve);
    expect(ids).not.toContain(inFlight);
    expect(ids).not.toContain(waiting);
    expect(ids.indexOf(firing)).toBeLessThan(ids.indexOf(resolve));
    const view = digestView(digest!.events, 30, digest!.route);
    expect(view).toMatchObject({ count: 22, incidents: 21, resolved: 1, firing: 20 });
    expect(view.worst.find((event) => event.dedup_key === 'db')).toMatchObject({ status: 'resolved' });
    expect(rows('SELECT status FROM deliveries WHERE id = ?', waiting)).toEqual([{ status: 'pending' }]);
  });

  it('a digest that must be retried is claimed again as the same digest, storm or not; success notes each event with its digest', () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(queue(T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` }));
    const [digest] = claim(T0 + 1_000);
    expect(digest!.member_ids).toHaveLength(29);
    recordAttempt({ ...succeeded(digest!, T0 + 1_000), outcome: 'retry', next_attempt_at: T0 + 31_000, health: 'failure', error: 'HTTP 503', response_code: 503 });
    expect(claim(T0 + 2_000)).toHaveLength(0);

    const [again] = claim(T0 + 31_000, null);
    expect(again).toMatchObject({ digest: true, attempts: 1 });
    expect(new Set(idsOf(again!))).toEqual(new Set(ids));
    recordAttempt(succeeded(again!, T0 + 31_000));
    const log = rows('SELECT status, note, attempts FROM deliveries ORDER BY id');
    expect(log).toHaveLength(30);
    for (const entry of log) {
      expect(entry).toMatchObject({ status: 'succeeded', attempts: 2, note: `in digest ${again!.id} (30 events)` });
    }
  });

  it('replays, retries of single deliveries and events of an incident with an open slack-bot message are never folded', () => {
    for (let i = 0; i < 20; i++) queue(T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
    db.prepare(
      `INSERT INTO incident_messages (destination, dedup_key, channel, ts, started_at, status, last_event_id, updated_at, version)
       VALUES ('slack', 'flood:3', 'C1', '1.1', ?, 'firing', 'evt_x', ?, 1)`,
    ).run(T0, T0);
    const retried = rows('SELECT id FROM deliveries ORDER BY id LIMIT 1 OFFSET 5')[0]!.id as string;
    db.prepare('UPDATE deliveries SET attempts = 1, request_body = ? WHERE id = ?').run('{"text":"made"}', retried);

    const [digest] = claim(T0 + 1_000, { capacity: 10, keep_incident_messages: true }, 1);
    const folded = digest!.events.map((event) => event.dedup_key);
    expect(folded).toHaveLength(18);
    expect(folded).not.toContain('flood:3');
    expect(idsOf(digest!)).not.toContain(retried);
  });
});

describe('digestView', () => {
  it('names the worst incidents (firing first, then severity, then newest) and counts the rest as "+K more"', () => {
    const at = (s: number) => new Date(T0 + s * 1_000).toISOString();
    const events = [
      relayEvent({ dedup_key: 'a', severity: 'info', occurred_at: at(1) }),
      relayEvent({ dedup_key: 'b', severity: 'critical', occurred_at: at(2) }),
      relayEvent({ dedup_key: 'c', severity: 'critical', occurred_at: at(3) }),
      relayEvent({ dedup_key: 'd', severity: 'error', occurred_at: at(4) }),
      relayEvent({ dedup_key: 'b', severity: 'critical', status: 'resolved', occurred_at: at(5) }),
    ];
    const view = digestView(events, 2, 'r');
    expect(view.worst.map((event) => event.dedup_key)).toEqual(['c', 'd']);
    expect(view).toMatchObject({ count: 5, incidents: 4, firing: 3, resolved: 1, more: 2, first_at: at(1), last_at: at(5) });
    expect(view.severities).toEqual({ critical: 1, error: 1, warning: 0, info: 1 });
  });
});
