/**
 * What several replicas on one PostgreSQL database must not break while the notification rules
 * run (the rule stories themselves are in the shared contract suite, test/store/contract.ts, run
 * on both stores): storm digests formed by replicas at once (incident order, no delivery leased
 * twice), a hold racing with another replica's resolve of its inhibitor, and the schema migrated
 * from the branch's first version with its data.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/events/event.ts';
import { SEVERITY_RANK } from '../../src/events/event.ts';
import { createPool } from '../../src/store/postgres/connection.ts';
import { MIGRATIONS } from '../../src/store/postgres/migrations.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { lockKey } from '../../src/store/postgres/writes.ts';
import type { ClaimedDelivery, NewDelivery, StormPolicy } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { createTestDatabase, createTestSchema } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';

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
  (await store.claim('slack', { limit, now, lease_ms: 60_000, owner, storm })).deliveries;

const idsOf = (delivery: ClaimedDelivery): string[] => [delivery.id, ...delivery.member_ids];

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
    expect((await a!.view('delivery', early))?.status).toBe('pending');
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

  it('a hold racing with the resolve of its inhibitor ends released either way, never muted for good', async () => {
    const { stores: [a, b] } = await replicas(2);
    for (let round = 0; round < 10; round++) {
      const critical = relayEvent({ source: 'am', dedup_key: `crit${round}`, severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
      const warning = relayEvent({ source: 'am', dedup_key: `warn${round}`, severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' });
      await track(a!, critical, []);
      await track(a!, warning, ['slack']);
      const now = Date.now();
      const claimed = (await a!.claim('slack', { limit: 100, now, lease_ms: 60_000, owner: OWNER })).deliveries.find((delivery) => delivery.event.id === warning.id);
      await Promise.all([
        a!.holds('hold', { ids: [claimed!.id], lease_owner: OWNER, status: 'muted', note: 'inhibited', now, held_by: JSON.stringify(['am', `crit${round}`]) }),
        track(b!, { ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, []),
      ]);
      expect(await a!.view('delivery', claimed!.id)).toMatchObject({ status: 'pending' });
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
