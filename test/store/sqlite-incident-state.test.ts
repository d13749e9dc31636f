/**
 * The SQLite store writing how an incident stands when PagerDuty decided it
 * (src/store/sqlite/writes.ts setIncidentState), run in this thread on a real file: written only
 * over the version it was decided from; an acknowledgement recorded since wins.
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
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';

const OWNER = 'lane-a';
const T0 = Date.parse('2026-04-23T18:28:00Z');

let dir: string;
let db: DatabaseSync;
let ops: WriteOps;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hookrelay-incident-'));
  db = openWriter(join(dir, 'store.db'));
  migrate(db);
  ops = createWriteOps(db);
  ops.syncDestinations(['slack']);
  // An attempt posted the incident's message (version 1).
  const event = relayEvent({ dedup_key: 'inc' });
  const id = newId('dlv');
  ops.ingest({ ...batchOf(event, [], T0), events: [{ event, deliveries: [{ id, destination: 'slack', route: 'r', status: 'pending' }] }] });
  ops.claimDue({ destination: 'slack', limit: 1, now: T0 + 500, lease_ms: 60_000, owner: OWNER });
  ops.commitAttempts([
    {
      delivery_id: id, member_ids: [], destination: 'slack', lease_owner: OWNER, started_at: T0 + 1_000, finished_at: T0 + 1_010, outcome: 'succeeded', next_attempt_at: null,
      request_body: '{}', response_code: 200, response_body: 'ok', latency_ms: 10, error: null, health: 'success', breaker: { disable_after: 3, probe_backoff_ms: null }, notified: [],
      effects: { incident_message: { kind: 'posted', dedup_key: 'inc', channel: 'C1', ts: '1.1', started_at: new Date(T0).toISOString(), status: 'firing', resolved_at: null, last_event_id: event.id } },
    },
  ]);
});

afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const acknowledged = { acknowledged_by: 'PagerDuty (Ann)', acknowledged_at: new Date(T0 + 5_000).toISOString(), status: 'firing' as const, resolved_at: null, resolved_by: null };

describe('incident state decided elsewhere', () => {
  it('is written over the version it was decided from, times kept, and the version moves on', () => {
    expect(ops.setIncidentState({ destination: 'slack', dedupKey: 'inc', version: 1, state: acknowledged, now: T0 + 6_000 })).toMatchObject({
      acknowledged_by: 'PagerDuty (Ann)', acknowledged_at: new Date(T0 + 5_000).toISOString(), status: 'firing', version: 2,
    });
    const resolved = { ...acknowledged, status: 'resolved' as const, resolved_at: new Date(T0 + 9_000).toISOString(), resolved_by: 'PagerDuty (Ann)' };
    expect(ops.setIncidentState({ destination: 'slack', dedupKey: 'inc', version: 2, state: resolved, now: T0 + 9_500 })).toMatchObject({
      status: 'resolved', resolved_at: new Date(T0 + 9_000).toISOString(), resolved_by: 'PagerDuty (Ann)', version: 3,
    });
    expect(db.prepare(`SELECT acknowledged_at, resolved_at, updated_at FROM incident_messages WHERE dedup_key = 'inc'`).get()).toEqual({ acknowledged_at: T0 + 5_000, resolved_at: T0 + 9_000, updated_at: T0 + 9_500 });
  });

  it('changes nothing when the message changed since (an acknowledgement in Slack wins), or there is none', () => {
    ops.acknowledgeIncident({ destination: 'slack', dedupKey: 'inc', by: '<@U2>', now: T0 + 2_000 });
    expect(ops.setIncidentState({ destination: 'slack', dedupKey: 'inc', version: 1, state: acknowledged, now: T0 + 6_000 })).toBeNull();
    expect(db.prepare(`SELECT acknowledged_by, version FROM incident_messages WHERE dedup_key = 'inc'`).get()).toEqual({ acknowledged_by: '<@U2>', version: 2 });
    expect(ops.setIncidentState({ destination: 'slack', dedupKey: 'none', version: 1, state: acknowledged, now: T0 })).toBeNull();
  });

  it('clearing an acknowledgement clears its time', () => {
    ops.setIncidentState({ destination: 'slack', dedupKey: 'inc', version: 1, state: acknowledged, now: T0 + 6_000 });
    expect(ops.setIncidentState({ destination: 'slack', dedupKey: 'inc', version: 2, state: { ...acknowledged, acknowledged_by: null, acknowledged_at: null }, now: T0 + 7_000 })).toMatchObject({ acknowledged_by: null, acknowledged_at: null, version: 3 });
  });
});
