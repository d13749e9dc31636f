/**
 * Ingest on PostgreSQL in one round trip (src/store/postgres/ingest.ts): how many statements a
 * webhook costs, counted at the client; what stays true of the incident order when another
 * replica holds an incident's lock; a call tried again after its answer was lost; and one
 * webhook's failure in a group commit staying its own.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPool, statement } from '../../src/store/postgres/connection.ts';
import { ingestAnswers, ingestCall } from '../../src/store/postgres/ingest.ts';
import type { IngestAnswerRow } from '../../src/store/postgres/ingest.ts';
import { MAX_INGEST_CALLS, PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { lockKey } from '../../src/store/postgres/writes.ts';
import type { IngestBatch, NewDelivery } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, pending, relayEvent } from '../support/events.ts';
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

function requestLine(batch: IngestBatch): NonNullable<IngestBatch['request']> {
  return { id: newId('req'), received_at: batch.receipt.received_at, source: 'tapemetric', address: '127.0.0.1', status: 202, outcome: 'accepted', reason: null, body_bytes: 2, excerpt: null };
}

/** A webhook with its request log line. */
function logged(batch: IngestBatch): IngestBatch {
  return { ...batch, request: requestLine(batch) };
}

describe('several webhooks in one call', () => {
  it('each webhook of a call is answered as its own: new, a duplicate of one stored before, a duplicate of an earlier one in the same call, a refused one', async () => {
    const { store } = await openStore();
    const before = logged(batchOf(relayEvent({ external_id: 'snd_before' }), ['slack']));
    await store.ingest(before);
    // Calls under way (one webhook each), as many as may be at once, so that every webhook after them waits and goes in the next.
    const ahead = Array.from({ length: MAX_INGEST_CALLS }, () => store.ingest(logged(batchOf(relayEvent(), ['slack']))));
    const fresh = logged(batchOf(relayEvent({ external_id: 'snd_fresh' }), ['slack']));
    const again = logged(batchOf(relayEvent({ external_id: 'snd_before' }), ['slack']));
    const twin = logged(batchOf(relayEvent({ external_id: 'snd_fresh' }), ['slack']));
    const plain = logged(batchOf(relayEvent(), ['pager']));
    const refusedEvent = relayEvent({ external_id: 'snd_refused' });
    const refusedBatch = logged(batchOf(refusedEvent, ['slack']));
    // A receipt id already stored: its insert fails, and with it the call that carries it.
    const refused = { ...refusedBatch, receipt: { ...refusedBatch.receipt, id: before.receipt.id } };
    const counted = countStatements();
    const answers = await Promise.allSettled([fresh, again, twin, refused, plain].map((batch) => store.ingest(batch)));
    await Promise.all(ahead);
    expect(answers).toEqual([
      { status: 'fulfilled', value: [{ id: fresh.events[0]!.event.id, duplicate: false }] },
      { status: 'fulfilled', value: [{ id: before.events[0]!.event.id, duplicate: true }] },
      { status: 'fulfilled', value: [{ id: fresh.events[0]!.event.id, duplicate: true }] },
      { status: 'rejected', reason: expect.objectContaining({ code: '23505' }) },
      { status: 'fulfilled', value: [{ id: plain.events[0]!.event.id, duplicate: false }] },
    ]);
    // The calls ahead, the call of five that failed, then each of the five alone.
    expect(counted.sent.filter((sql) => sql.includes('hookrelay_ingest'))).toHaveLength(MAX_INGEST_CALLS + 1 + 5);
    // Nothing of the refused one is stored, not even its sender id: sent again, it is new.
    expect(await store.view('event', refusedEvent.id)).toBeNull();
    const retried = logged(batchOf(relayEvent({ external_id: 'snd_refused' }), ['slack']));
    expect(await store.ingest(retried)).toEqual([{ id: retried.events[0]!.event.id, duplicate: false }]);
    // Each request's line: the duplicates' as duplicates of the event stored first, none for the refused one.
    const lines = await store.view('requests', { limit: 20 });
    const line = (batch: IngestBatch) => lines.find((each) => each.id === batch.request!.id);
    expect(line(fresh)).toMatchObject({ status: 202, outcome: 'accepted', event_id: fresh.events[0]!.event.id });
    expect(line(again)).toMatchObject({ status: 200, outcome: 'duplicate', event_id: before.events[0]!.event.id });
    expect(line(twin)).toMatchObject({ status: 200, outcome: 'duplicate', event_id: fresh.events[0]!.event.id });
    expect(line(refused)).toBeUndefined();
    expect(line(plain)).toMatchObject({ status: 202, outcome: 'accepted', event_id: plain.events[0]!.event.id });
  });

  it('in one call: of two webhooks with one sender id the first is stored and the second answered as its duplicate; a webhook whose events are all duplicates stores no receipt', async () => {
    const { store, url } = await openStore();
    const pool = createPool(url);
    closing.push({ close: () => pool.end() });
    const first = logged(batchOf(relayEvent({ external_id: 'snd_twice' }), ['slack']));
    const second = logged(batchOf(relayEvent({ external_id: 'snd_twice' }), ['slack']));
    // One webhook with two events: one new, one a duplicate of the first webhook's.
    const mixedNew = relayEvent({ external_id: 'snd_mixed' });
    const mixedDuplicate = relayEvent({ external_id: 'snd_twice' });
    const mixed = logged({ ...batchOf(mixedNew, []), events: [{ event: mixedDuplicate, deliveries: [pending('slack')] }, { event: mixedNew, deliveries: [pending('pager')] }] });
    const call = ingestCall([first, second, mixed]);
    const answers = ingestAnswers(call, await statement<IngestAnswerRow>(pool, call.sql, call.params));
    expect(answers).toEqual([
      [{ id: first.events[0]!.event.id, duplicate: false }],
      [{ id: first.events[0]!.event.id, duplicate: true }],
      [
        { id: first.events[0]!.event.id, duplicate: true },
        { id: mixedNew.id, duplicate: false },
      ],
    ]);
    const receipts = await pool.query<{ id: string }>('SELECT id FROM receipts ORDER BY id');
    expect(receipts.rows.map((row) => row.id).sort()).toEqual([first.receipt.id, mixed.receipt.id].sort());
    expect((await store.view('deliveries', { destination: 'slack', limit: 10 })).map((each) => each.event_id)).toEqual([first.events[0]!.event.id]);
    expect((await store.view('deliveries', { destination: 'pager', limit: 10 })).map((each) => each.event_id)).toEqual([mixedNew.id]);
    const lines = await store.view('requests', { limit: 10 });
    // The mixed webhook stored an event: accepted, its line pointing at its first event's answer.
    expect(lines.find((each) => each.id === mixed.request!.id)).toMatchObject({ status: 202, outcome: 'accepted', event_id: first.events[0]!.event.id });
    expect(lines.find((each) => each.id === second.request!.id)).toMatchObject({ status: 200, outcome: 'duplicate', event_id: first.events[0]!.event.id });
  });

  it("in one call, an incident's later update asking for a lease waits behind its earlier one stored in the same call, and not behind a duplicate that stored nothing", async () => {
    const { store, url } = await openStore();
    const pool = createPool(url);
    closing.push({ close: () => pool.end() });
    const until = Date.now() + 60_000;
    // Stored before, to another destination: its sender id makes the call's first webhook a duplicate.
    const earlier = orderedBatch('inc_call', null, 'snd_call');
    await store.ingest({ ...earlier.batch, events: [{ ...earlier.batch.events[0]!, deliveries: [{ ...earlier.delivery, destination: 'pager' }] }] });
    const duplicate = orderedBatch('inc_call', { owner: 'me', until }, 'snd_call');
    const head = orderedBatch('inc_call', { owner: 'me', until });
    const next = orderedBatch('inc_call', { owner: 'me', until });
    const other = orderedBatch('inc_other', { owner: 'me', until });
    const call = ingestCall([duplicate.batch, head.batch, next.batch, other.batch]);
    expect(ingestAnswers(call, await statement<IngestAnswerRow>(pool, call.sql, call.params))).toEqual([
      [{ id: earlier.batch.events[0]!.event.id, duplicate: true }],
      [{ id: head.batch.events[0]!.event.id, duplicate: false }],
      [{ id: next.batch.events[0]!.event.id, duplicate: false, waiting: [next.delivery.id] }],
      [{ id: other.batch.events[0]!.event.id, duplicate: false }],
    ]);
    const inFlight = await store.view('deliveries', { destination: 'slack', status: 'in_flight', limit: 10 });
    expect(inFlight.map((each) => each.id).sort()).toEqual([head.delivery.id, other.delivery.id].sort());
    expect((await store.view('deliveries', { destination: 'slack', status: 'pending', limit: 10 })).map((each) => each.id)).toEqual([next.delivery.id]);
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

describe('sender ids across replicas', () => {
  it("two calls with the same sender ids in opposite orders never wait for each other in a cycle: no deadlock, no call sent twice", async () => {
    const { store: a, url } = await openStore();
    const b = await PostgresStore.open(url, { listen: false });
    closing.push(b);
    // Two other transactions each hold a sender id, so that both calls are under way before they meet.
    const holders = [await connect(url), await connect(url)];
    for (const [index, holder] of holders.entries()) {
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO sender_ids (source, external_id, event_id, received_at) VALUES ('tapemetric', $1, $2, 0)`, [`snd_a_held${index}`, `evt_held${index}`]);
    }
    const webhook = (ids: readonly string[]): IngestBatch => {
      const events = ids.map((id) => relayEvent({ external_id: id }));
      return { ...batchOf(events[0]!, []), events: events.map((event) => ({ event, deliveries: [pending('slack')] })) };
    };
    // Arrival order: x before y in one, y before x in the other.
    const first = webhook(['snd_b_x', 'snd_a_held0', 'snd_b_y']);
    const second = webhook(['snd_b_y', 'snd_a_held1', 'snd_b_x']);
    const counted = countStatements();
    const answers = Promise.all([a.ingest(first), b.ingest(second)]);
    await until(async () => (await holders[0]!.query(`SELECT 1 FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted`)).rowCount === 2);
    for (const holder of holders) await holder.query('COMMIT');
    const [one, two] = await answers;
    expect(counted.sent.filter((sql) => sql.includes('hookrelay_ingest'))).toHaveLength(2);
    expect(one![1]).toEqual({ id: 'evt_held0', duplicate: true });
    expect(two![1]).toEqual({ id: 'evt_held1', duplicate: true });
    // Each of x and y stored once: by one call, the other's answer its duplicate.
    const x = [one![0]!, two![2]!];
    const y = [one![2]!, two![0]!];
    for (const pair of [x, y]) {
      expect(pair.filter((answer) => answer.duplicate)).toHaveLength(1);
      expect(new Set(pair.map((answer) => answer.id)).size).toBe(1);
    }
    expect(await a.view('deliveries', { destination: 'slack', limit: 10 })).toHaveLength(2);
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
    const first = ingestAnswers(call, await statement<IngestAnswerRow>(pool, call.sql, call.params));
    const second = ingestAnswers(call, await statement<IngestAnswerRow>(pool, call.sql, call.params));
    expect(second).toEqual(first);
    expect(first).toEqual([
      [{ id: waits.batch.events[0]!.event.id, duplicate: false, waiting: [waits.delivery.id] }],
      [{ id: plain.events[0]!.event.id, duplicate: false }],
    ]);
    expect(await store.view('deliveries', { destination: 'slack', limit: 10 })).toHaveLength(2);
    expect(await store.view('deliveries', { destination: 'pager', limit: 10 })).toHaveLength(1);
  });
});
