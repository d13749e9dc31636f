/**
 * The notification engine's store features on PostgreSQL beyond the shared contract: storm
 * digests formed at claim time (the same stories as the SQLite store's storm.test.ts, through
 * the store's own API), what several replicas must not break while forming them (incident
 * order, no delivery leased twice), an inhibiting incident resolved by another replica while a
 * hold is on its way, and the schema migrated from the branch's first version with its data.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/events/event.ts';
import { SEVERITY_RANK } from '../../src/events/event.ts';
import { digestView } from '../../src/notify/digest.ts';
import { createPool } from '../../src/store/postgres/connection.ts';
import { MIGRATIONS } from '../../src/store/postgres/migrations.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { lockKey } from '../../src/store/postgres/writes.ts';
import type { AttemptResult, ClaimedDelivery, NewDelivery, StormPolicy } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { createTestDatabase, createTestSchema } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { recordAttempt } from '../support/store.ts';

const OWNER = 'lane-a';
const T0 = Date.parse('2026-04-23T18:28:00Z');
/** Slack's default 3 per 3 s with `storm: { horizon: 10s }`: 10 requests fit in the horizon. */
const STORM: StormPolicy = { capacity: 10 };

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

const opened: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((each) => each.close()));
});

/** `count` replicas (stores with pools of their own) on one fresh schema, and a plain client on it. */
async function replicas(count: number): Promise<{ stores: PostgresStore[]; sql: (text: string, params?: unknown[]) => Promise<Record<string, unknown>[]> }> {
  const url = await createTestSchema(database);
  const stores = await Promise.all(Array.from({ length: count }, () => PostgresStore.open(url, { listen: false })));
  opened.push(...stores);
  await stores[0]!.syncDestinations(['slack']);
  const pool = createPool(url);
  opened.push({ close: () => pool.end() });
  return { stores, sql: async (text, params = []) => (await pool.query(text, params)).rows as Record<string, unknown>[] };
}

/** One event routed to slack as ingest stores it (incident order, severity priority); returns its delivery id. */
async function queue(store: PostgresStore, at: number, overrides: Partial<RelayEvent> = {}, extra: Partial<NewDelivery> = {}): Promise<string> {
  const event = relayEvent({ occurred_at: new Date(at).toISOString(), ...overrides });
  const id = extra.id ?? newId('dlv');
  await store.ingest({
    ...batchOf(event, [], at),
    events: [
      {
        event,
        deliveries: [{ id, destination: 'slack', route: 'all', status: 'pending', incident_key: event.dedup_key, priority: SEVERITY_RANK[event.severity], ...extra }],
      },
    ],
  });
  return id;
}

const claim = async (store: PostgresStore, now: number, storm: StormPolicy | null = STORM, limit = 5, owner = OWNER): Promise<readonly ClaimedDelivery[]> =>
  (await store.claimDue('slack', { limit, now, lease_ms: 60_000, owner, storm })).deliveries;

const idsOf = (delivery: ClaimedDelivery): string[] => [delivery.id, ...delivery.member_ids];

function succeeded(delivery: ClaimedDelivery, at: number, owner = OWNER): AttemptResult {
  return {
    delivery_id: delivery.id,
    member_ids: delivery.member_ids,
    destination: 'slack',
    lease_owner: owner,
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
async function burst(store: PostgresStore): Promise<Map<string, string[]>> {
  const byType = new Map<string, string[]>();
  for (let i = 0; i < 100; i++) {
    const type = `alert.${'abcd'[i % 4]}`;
    const id = await queue(store, T0 + i * 20, { type, severity: 'warning', dedup_key: `${type}:${i}`, title: `${type} #${i}` });
    byType.set(type, [...(byType.get(type) ?? []), id]);
  }
  return byType;
}

describe('storm digests at claim time (PostgreSQL)', () => {
  it('a burst of 100 events in 2 s beyond the horizon → one digest per group, each carrying every event of its group', async () => {
    const { stores: [store], sql } = await replicas(1);
    const byType = await burst(store!);
    const claimed = await claim(store!, T0 + 2_000);
    expect(claimed).toHaveLength(4);
    for (const digest of claimed) {
      expect(digest.digest).toBe(true);
      const type = digest.event.type;
      expect(digest.events.every((event) => event.type === type)).toBe(true);
      expect(new Set(idsOf(digest))).toEqual(new Set(byType.get(type)));
      expect(digestView(digest.events, 5, digest.route)).toMatchObject({ count: 25, incidents: 25, firing: 25, more: 20, label: type });
    }
    expect(await sql(`SELECT COUNT(*)::int AS n FROM deliveries WHERE status = 'in_flight' AND batch_id LIKE 'digest:%'`)).toEqual([{ n: 100 }]);
  });

  it('within the horizon nothing collapses; a destination without storm digests (PagerDuty) never does', async () => {
    const { stores: [store] } = await replicas(1);
    await burst(store!);
    const claimed = await claim(store!, T0 + 2_000, { capacity: 100 });
    expect(claimed).toHaveLength(5);
    expect(claimed.every((delivery) => delivery.digest !== true && delivery.member_ids.length === 0)).toBe(true);
    expect((await claim(store!, T0 + 2_000, null)).every((delivery) => delivery.member_ids.length === 0)).toBe(true);
  });

  it('a critical event arriving after the storm goes first, on its own; the storm follows as a digest', async () => {
    const { stores: [store] } = await replicas(1);
    for (let i = 0; i < 50; i++) await queue(store!, T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
    const critical = await queue(store!, T0 + 1_000, { type: 'disk.full', severity: 'critical', dedup_key: 'disk:db-1' });
    const claimed = await claim(store!, T0 + 1_000, STORM, 2);
    expect(claimed[0]).toMatchObject({ id: critical, member_ids: [] });
    expect(claimed[0]!.digest).toBeUndefined();
    expect(claimed[1]).toMatchObject({ digest: true });
    expect(claimed[1]!.member_ids).toHaveLength(49);
  });

  it('incident order: a firing and its resolve fold into one digest that shows the latest state; a resolve whose firing is in flight waits', async () => {
    const { stores: [store], sql } = await replicas(1);
    for (let i = 0; i < 20; i++) await queue(store!, T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
    const firing = await queue(store!, T0 + 100, { type: 'flood', severity: 'critical', dedup_key: 'db', status: 'firing' });
    const resolve = await queue(store!, T0 + 200, { type: 'flood', severity: 'critical', dedup_key: 'db', status: 'resolved' });
    const inFlight = await queue(store!, T0 + 300, { type: 'flood', severity: 'warning', dedup_key: 'api' }, { lease: { owner: 'lane-b', until: T0 + 60_000 } });
    const waiting = await queue(store!, T0 + 400, { type: 'flood', severity: 'warning', dedup_key: 'api', status: 'resolved' });

    const [digest, ...rest] = await claim(store!, T0 + 1_000);
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
    expect(await sql('SELECT status FROM deliveries WHERE id = $1', [waiting])).toEqual([{ status: 'pending' }]);
  });

  it('a digest that must be retried is claimed again as the same digest, storm or not; success notes each event with its digest', async () => {
    const { stores: [store], sql } = await replicas(1);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(await queue(store!, T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` }));
    const [digest] = await claim(store!, T0 + 1_000);
    expect(digest!.member_ids).toHaveLength(29);
    await recordAttempt(store!, { ...succeeded(digest!, T0 + 1_000), outcome: 'retry', next_attempt_at: T0 + 31_000, health: 'failure', error: 'HTTP 503', response_code: 503 });
    expect(await claim(store!, T0 + 2_000)).toHaveLength(0);

    const [again] = await claim(store!, T0 + 31_000, null);
    expect(again).toMatchObject({ digest: true, attempts: 1 });
    expect(new Set(idsOf(again!))).toEqual(new Set(ids));
    await recordAttempt(store!, succeeded(again!, T0 + 31_000));
    const log = await sql('SELECT status, note, attempts FROM deliveries ORDER BY id');
    expect(log).toHaveLength(30);
    for (const entry of log) {
      expect(entry).toMatchObject({ status: 'succeeded', attempts: 2, note: `in digest ${again!.id} (30 events)` });
    }
    expect((await store!.getDelivery(ids[7]!))?.note).toBe(`in digest ${again!.id} (30 events)`);
  });

  it('replays, retries of single deliveries and events of an incident with an open slack-bot message are never folded', async () => {
    const { stores: [store], sql } = await replicas(1);
    for (let i = 0; i < 20; i++) await queue(store!, T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
    await sql(
      `INSERT INTO incident_messages (destination, dedup_key, channel, ts, started_at, status, last_event_id, updated_at, version)
       VALUES ('slack', 'flood:3', 'C1', '1.1', $1, 'firing', 'evt_x', $1, 1)`,
      [T0],
    );
    const retried = String((await sql('SELECT id FROM deliveries ORDER BY id LIMIT 1 OFFSET 5'))[0]!.id);
    await sql('UPDATE deliveries SET attempts = 1, request_body = $1 WHERE id = $2', ['{"text":"made"}', retried]);

    const [digest] = await claim(store!, T0 + 1_000, { capacity: 10, keep_incident_messages: true }, 1);
    const folded = digest!.events.map((event) => event.dedup_key);
    expect(folded).toHaveLength(18);
    expect(folded).not.toContain('flood:3');
    expect(idsOf(digest!)).not.toContain(retried);
  });
});

describe('storm digests with several replicas', () => {
  it('replicas claiming a storm at the same moment never lease one delivery twice, nor two of one incident', async () => {
    const { stores, sql } = await replicas(3);
    // 60 events of 20 incidents (firing, firing, resolved each), three alert types.
    for (let i = 0; i < 60; i++) {
      const incident = i % 20;
      await queue(stores[i % 3]!, T0 + i, { type: `alert.${incident % 3}`, severity: 'warning', dedup_key: `inc:${incident}`, status: i >= 40 ? 'resolved' : 'firing' });
    }
    const rounds = await Promise.all(stores.flatMap((store, index) => [claim(store, T0 + 1_000, STORM, 3, `lane-${index}`), claim(store, T0 + 1_000, STORM, 3, `lane-${index}b`)]));
    expect(rounds.flat().some((delivery) => delivery.digest === true)).toBe(true);
    const leased = rounds.flat().flatMap((delivery) => idsOf(delivery));
    expect(new Set(leased).size).toBe(leased.length);
    // Every incident's leased deliveries are all in one request, and are its oldest ones.
    const rows = await sql(`SELECT d.id, d.incident_key, d.status, d.lease_owner, d.batch_id FROM deliveries d ORDER BY d.id`);
    const byIncident = new Map<string, Array<Record<string, unknown>>>();
    for (const row of rows) byIncident.set(String(row.incident_key), [...(byIncident.get(String(row.incident_key)) ?? []), row]);
    for (const deliveries of byIncident.values()) {
      const inFlight = deliveries.filter((row) => row.status === 'in_flight');
      expect(new Set(inFlight.map((row) => `${String(row.lease_owner)}/${String(row.batch_id)}`)).size).toBeLessThanOrEqual(1);
      expect(deliveries.slice(0, inFlight.length).every((row) => row.status === 'in_flight')).toBe(true);
    }
  });

  it('a delivery committed later with a smaller id than its incident\'s in-flight one is not folded into a digest', async () => {
    const { stores: [a, b] } = await replicas(2);
    for (let i = 0; i < 20; i++) await queue(a!, T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
    // Replica b made the id of its event's delivery first, but commits it after replica a leased
    // a later event of the same incident at ingest (ids are made before the commit).
    const early = newId('dlv');
    const leased = await queue(a!, T0 + 500, { type: 'flood', severity: 'warning', dedup_key: 'api' }, { lease: { owner: 'lane-b', until: T0 + 60_000 } });
    await queue(b!, T0 + 600, { type: 'flood', severity: 'warning', dedup_key: 'api', status: 'resolved' }, { id: early });
    const [digest] = await claim(a!, T0 + 1_000, STORM, 1);
    expect(digest).toMatchObject({ digest: true });
    expect(idsOf(digest!)).toHaveLength(20);
    expect(idsOf(digest!)).not.toContain(early);
    expect(idsOf(digest!)).not.toContain(leased);
    expect((await a!.getDelivery(early))?.status).toBe('pending');
  });

  it('an incident another replica is leasing right now (its lock held) stays out of the digest, with all its events', async () => {
    const { stores: [a] } = await replicas(1);
    for (let i = 0; i < 20; i++) await queue(a!, T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i % 10}` });
    const other = new pg.Client({ connectionString: database.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey('incident', 'slack', 'flood:5')]);
      const [digest] = await claim(a!, T0 + 1_000, STORM, 1);
      const keys = digest!.events.map((event) => event.dedup_key);
      expect(keys).toHaveLength(18);
      expect(keys).not.toContain('flood:5');
      await other.query('ROLLBACK');
    } finally {
      await other.end();
    }
  });
});

describe('inhibition across replicas', () => {
  /** An event whose incident state is kept (inhibit rules configured), routed to `destinations`. */
  const track = (store: PostgresStore, event: RelayEvent, destinations: string[]) => {
    const batch = batchOf(event, destinations);
    return store.ingest({ ...batch, events: batch.events.map((item) => ({ ...item, track_incident: true })) });
  };

  it('a hold by an incident another replica resolved meanwhile is not kept: the delivery is due again, to be judged afresh', async () => {
    const { stores: [a, b] } = await replicas(2);
    const critical = relayEvent({ source: 'am', dedup_key: 'crit', severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
    const warning = relayEvent({ source: 'am', dedup_key: 'warn', severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' });
    await track(a!, critical, []);
    await track(a!, warning, ['slack']);
    const now = Date.now();
    const [claimed] = (await a!.claimDue('slack', { limit: 1, now: now + 1, lease_ms: 60_000, owner: OWNER })).deliveries;
    // Replica a's stage saw `crit` firing; before its hold commits, replica b ingests the resolve.
    expect((await a!.firingIncidents(10)).map((event) => event.dedup_key)).toContain('crit');
    const [resolved] = await track(b!, { ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, []);
    expect(resolved).not.toHaveProperty('released');
    await a!.holdDeliveries({ ids: [claimed!.id], lease_owner: OWNER, status: 'muted', note: 'inhibited by crit', now: now + 2, held_by: JSON.stringify(['am', 'crit']) });
    expect(await a!.getDelivery(claimed!.id)).toMatchObject({ status: 'pending' });
    const [again] = (await b!.claimDue('slack', { limit: 1, now: now + 3, lease_ms: 60_000, owner: 'lane-b' })).deliveries;
    expect(again?.id).toBe(claimed!.id);
  });

  it('a hold racing with the resolve of its inhibitor ends released either way, never muted for good', async () => {
    const { stores: [a, b] } = await replicas(2);
    for (let round = 0; round < 10; round++) {
      const critical = relayEvent({ source: 'am', dedup_key: `crit${round}`, severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
      const warning = relayEvent({ source: 'am', dedup_key: `warn${round}`, severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' });
      await track(a!, critical, []);
      await track(a!, warning, ['slack']);
      const now = Date.now();
      const claimed = (await a!.claimDue('slack', { limit: 100, now, lease_ms: 60_000, owner: OWNER })).deliveries.find((delivery) => delivery.event.id === warning.id);
      await Promise.all([
        a!.holdDeliveries({ ids: [claimed!.id], lease_owner: OWNER, status: 'muted', note: 'inhibited', now, held_by: JSON.stringify(['am', `crit${round}`]) }),
        track(b!, { ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, []),
      ]);
      expect(await a!.getDelivery(claimed!.id)).toMatchObject({ status: 'pending' });
    }
  });
});

describe('migrations', () => {
  it('a database at the branch\'s first schema keeps its sender ids: a retry of an event stored before the upgrade is still a duplicate', async () => {
    const url = await createTestSchema(database);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(MIGRATIONS[0]!);
      await client.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)');
      await client.query('INSERT INTO schema_migrations VALUES (1, 0)');
      await client.query(`INSERT INTO receipts VALUES ('rcp_old', 'tapemetric', 1, '{}', '{}')`);
      await client.query(
        `INSERT INTO events (id, receipt_id, source, external_id, type, severity, status, title, summary, dedup_key, occurred_at, received_at, data)
         VALUES ('evt_old', 'rcp_old', 'tapemetric', 'sender_1', 't', 'info', 'firing', 'x', 'x', 'k', '2026-01-01T00:00:00.000Z', $1, '{}')`,
        [Date.now()],
      );
    } finally {
      await client.end();
    }
    const store = await PostgresStore.open(url, { listen: false });
    opened.push(store);
    await store.syncDestinations(['slack']);
    const [again] = await store.ingest(batchOf(relayEvent({ external_id: 'sender_1' }), ['slack']));
    expect(again).toEqual({ id: 'evt_old', duplicate: true });
    const [fresh] = await store.ingest(batchOf(relayEvent({ external_id: 'sender_2' }), ['slack']));
    expect(fresh).toMatchObject({ duplicate: false });
  });
});
