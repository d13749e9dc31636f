/**
 * Ingest on PostgreSQL in one round trip (src/store/postgres/ingest.ts): how many statements a
 * webhook costs, counted at the client; what stays true of the incident order when another
 * replica holds an incident's lock; a call tried again after its answer was lost; and one
 * webhook's failure in a group commit staying its own.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPool, statement } from '../../src/store/postgres/connection.ts';
import { ingestCall } from '../../src/store/postgres/ingest.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { lockKey } from '../../src/store/postgres/writes.ts';
import type { IngestBatch, NewDelivery } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { countStatements, createTestDatabase, createTestSchema } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { WAIT_MS } from '../support/wait.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

const closing: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(closing.splice(0).map((each) => each.close()));
});

async function openStore(): Promise<{ store: PostgresStore; url: string }> {
  const url = await createTestSchema(database);
  // No listener: its connection's statements are not the store's round trips.
  const store = await PostgresStore.open(url, { listen: false });
  closing.push(store);
  await store.syncDestinations(['slack', 'pager']);
  return { store, url };
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  closing.push({ close: () => client.end() });
  return client;
}


function orderedBatch(key: string, lease: NewDelivery['lease'] = null, externalId: string | null = null): { batch: IngestBatch; delivery: NewDelivery } {
  const event = relayEvent({ dedup_key: key, external_id: externalId });
  const delivery: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', incident_key: key, lease };
  return { batch: { ...batchOf(event, []), events: [{ event, deliveries: [delivery] }] }, delivery };
}

async function until(check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('waited too long');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('one round trip per webhook', () => {
  it('a webhook with a sender id, a delivery leased at ingest and its request log line is one statement to the server', async () => {
    const { store } = await openStore();
    const { batch } = orderedBatch('inc_one', { owner: 'me', until: Date.now() + 60_000 }, 'evt_one');
    const request = { id: newId('req'), received_at: batch.receipt.received_at, source: 'tapemetric', address: '127.0.0.1', status: 202, outcome: 'accepted' as const, reason: null, body_bytes: 2, excerpt: null };
    const counted = countStatements();
    const [stored] = await store.ingest({ ...batch, request });
    expect(counted.sent).toHaveLength(1);
    expect(stored).toEqual({ id: batch.events[0]!.event.id, duplicate: false });
    // Its duplicate is one statement too, and answered as one.
    const again = orderedBatch('inc_one', null, 'evt_one');
    const [duplicate] = await store.ingest(again.batch);
    expect(counted.sent).toHaveLength(2);
    expect(duplicate).toEqual({ id: batch.events[0]!.event.id, duplicate: true });
    expect((await store.view('requests', { limit: 10 })).map((line) => line.event_id)).toEqual([batch.events[0]!.event.id]);
  });

  it('webhooks arriving while calls are under way go together: fewer statements than webhooks, each answered as its own', async () => {
    const { store } = await openStore();
    const batches = Array.from({ length: 20 }, (_, index) => batchOf(relayEvent({ dedup_key: `inc_${index}` }), ['slack']));
    const counted = countStatements();
    const answers = await Promise.all(batches.map((batch) => store.ingest(batch)));
    expect(counted.sent.length).toBeLessThan(batches.length);
    expect(answers).toEqual(batches.map((batch) => [{ id: batch.events[0]!.event.id, duplicate: false }]));
    expect((await store.view('destinations')).find((each) => each.name === 'slack')?.pending).toBe(20);
  });

  it('one webhook failing in a group commit fails alone: the others of its call are stored', async () => {
    const { store } = await openStore();
    const stored = batchOf(relayEvent(), ['slack']);
    await store.ingest(stored);
    // Calls under way first, so that the next two wait and go together.
    const ahead = Array.from({ length: 8 }, () => store.ingest(batchOf(relayEvent(), ['slack'])));
    const good = batchOf(relayEvent(), ['slack']);
    const bad = batchOf(relayEvent(), ['slack']);
    // A receipt id already stored: its insert fails, and with it the call that carries it.
    const reused = { ...bad, receipt: { ...bad.receipt, id: stored.receipt.id } };
    const [goodAnswer, badAnswer] = await Promise.allSettled([store.ingest(good), store.ingest(reused)]);
    await Promise.all(ahead);
    expect(goodAnswer).toEqual({ status: 'fulfilled', value: [{ id: good.events[0]!.event.id, duplicate: false }] });
    expect(badAnswer.status).toBe('rejected');
    expect(await store.view('event', good.events[0]!.event.id)).not.toBeNull();
    expect(await store.view('event', bad.events[0]!.event.id)).toBeNull();
  });
});

describe('the incident order across replicas', () => {
  it("an ingest waiting for an incident's lock reads the incident after it: what another replica committed meanwhile puts it behind", async () => {
    const { store, url } = await openStore();
    const other = await connect(url);
    // Another replica's ingest of the incident, holding its lock and not yet committed.
    await other.query('BEGIN');
    await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey('incident', 'slack', 'inc_lock')]);
    const now = Date.now();
    const receiptId = newId('rcp');
    const eventId = newId('evt');
    await other.query(`INSERT INTO receipts (id, source, received_at, headers, body) VALUES ($1, 'tapemetric', $2, '{}', '{}')`, [receiptId, now]);
    await other.query(
      `INSERT INTO events (id, receipt_id, source, type, severity, status, title, summary, dedup_key, occurred_at, received_at, data)
       VALUES ($1, $2, 'tapemetric', 't', 'critical', 'firing', 't', 's', 'inc_lock', $3, $4, '{}')`,
      [eventId, receiptId, new Date(now).toISOString(), now],
    );
    await other.query(
      `INSERT INTO deliveries (id, event_id, destination, route, status, next_attempt_at, created_at, updated_at, incident_key, priority)
       VALUES ($1, $2, 'slack', 'r', 'pending', $3, $3, $3, 'inc_lock', 0)`,
      [newId('dlv'), eventId, now],
    );
    const { batch, delivery } = orderedBatch('inc_lock', { owner: 'me', until: now + 60_000 });
    const ingesting = store.ingest(batch);
    // It waits for the lock (whatever it read before would not show the other's delivery).
    await until(async () => (await other.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted`)).rowCount === 1);
    await other.query('COMMIT');
    const [stored] = await ingesting;
    expect(stored).toEqual({ id: batch.events[0]!.event.id, duplicate: false, waiting: [delivery.id] });
    expect(await store.view('deliveries', { destination: 'slack', status: 'in_flight', limit: 10 })).toHaveLength(0);
  });
});

describe('a call tried again', () => {
  it('a call whose first try committed (its answer lost with its connection) stores nothing twice and answers as the first did', async () => {
    const { store, url } = await openStore();
    const pool = createPool(url);
    closing.push({ close: () => pool.end() });
    const blocker = orderedBatch('inc_again');
    await store.ingest(blocker.batch);
    const waits = orderedBatch('inc_again', { owner: 'me', until: Date.now() + 60_000 }, 'evt_again');
    const plain = batchOf(relayEvent(), ['pager']);
    const call = ingestCall([waits.batch, plain]);
    const first = await statement<{ answers: unknown }>(pool, call.sql, call.params);
    const second = await statement<{ answers: unknown }>(pool, call.sql, call.params);
    expect(second[0]!.answers).toEqual(first[0]!.answers);
    expect(first[0]!.answers).toEqual([
      [{ id: waits.batch.events[0]!.event.id, duplicate: false, waiting: [waits.delivery.id] }],
      [{ id: plain.events[0]!.event.id, duplicate: false }],
    ]);
    expect(await store.view('deliveries', { destination: 'slack', limit: 10 })).toHaveLength(2);
    expect(await store.view('deliveries', { destination: 'pager', limit: 10 })).toHaveLength(1);
  });
});
