/**
 * What a delivery costs on PostgreSQL, counted at the client: the commit of a batch of
 * successes that each ask for their incident's next update (src/notify/incident-order.ts
 * `chainsNext`) takes a fixed number of statements, not two or more per attempt; and the
 * update waiting behind one of them is still leased to the owner, the others nothing. And
 * what a success commit waits for: not another transaction holding its destination's row.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { setImmediate as turn } from 'node:timers/promises';
import { createPool, transaction } from '../../src/store/postgres/connection.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { writes } from '../../src/store/postgres/writes.ts';
import type { AttemptResult, IngestBatch, NewDelivery } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent, succeededAttempt } from '../support/events.ts';
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


/** A store on a schema of its own with the destination `slack`, closed after the test. */
async function slackStore(): Promise<{ url: string; store: PostgresStore }> {
  const url = await createTestSchema(database);
  const store = await PostgresStore.open(url, { listen: false });
  closing.push(store);
  await store.syncDestinations(['slack']);
  return { url, store };
}

/** A pool of the test's own on `url`, closed after the test. */
function poolOn(url: string): pg.Pool {
  const pool = createPool(url);
  closing.push({ close: () => pool.end() });
  return pool;
}

function ordered(key: string, receivedAt: number): IngestBatch {
  const event = relayEvent({ dedup_key: key });
  const delivery: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', incident_key: key };
  return { ...batchOf(event, [], receivedAt), events: [{ event, deliveries: [delivery] }] };
}

const OWNER = 'lane-1';
const chain = { lease_ms: 60_000, storm: null };

const success = (deliveryId: string, finishedAt: number): AttemptResult => succeededAttempt(deliveryId, OWNER, finishedAt, { chain });

describe('the commit of successes that ask for their incident’s next update', () => {
  it('takes the same few statements for 30 attempts as for one, and leases the one update waiting behind them', async () => {
    const { url, store } = await slackStore();
    const t0 = Date.now();
    // 30 incidents with one update each, and one of them (inc_0) with a second update behind it.
    for (let index = 0; index < 30; index += 1) await store.ingest(ordered(`inc_${index}`, t0 + index));
    const behind = ordered('inc_0', t0 + 30);
    await store.ingest(behind);
    const claimed = (await store.claim('slack', { limit: 100, now: t0 + 100, lease_ms: 60_000, owner: OWNER })).deliveries;
    expect(claimed).toHaveLength(30);

    const pool = poolOn(url);
    const counted = countStatements();
    const answers = await transaction(pool, (tx) => writes.commitAttempts(tx, claimed.map((delivery) => success(delivery.id, t0 + 200))));
    // BEGIN, the deliveries with their attempts' log, the destination's health read and its
    // success stamp, the incidents' locks tried, their next rows read, the one found leased,
    // COMMIT: not one or two per attempt.
    expect(counted.sent.length).toBeLessThanOrEqual(8);
    expect(answers.every((answer) => answer.recorded)).toBe(true);
    const next = answers.flatMap((answer) => (answer.next ? [answer.next.id] : []));
    expect(next).toEqual([behind.events[0]!.deliveries[0]!.id]);
    expect(answers[claimed.findIndex((delivery) => delivery.event.dedup_key === 'inc_0')]!.next?.id).toBe(next[0]);
    expect(await store.view('delivery', next[0]!)).toMatchObject({ status: 'in_flight' });
  });
});

describe('a success commit and its destination’s row', () => {
  it('a success stamping a healthy destination does not wait for another transaction writing its row; the next success stamps it', async () => {
    const { url, store } = await slackStore();
    const t0 = Date.now();
    for (let index = 0; index < 2; index += 1) await store.ingest(batchOf(relayEvent(), ['slack'], t0 + index));
    const [first, second] = (await store.claim('slack', { limit: 2, now: t0 + 10, lease_ms: 60_000, owner: OWNER })).deliveries;
    // Another replica's transaction writing the row (say, folding a failure), not yet committed.
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    closing.push({ close: () => other.end() });
    await other.query('BEGIN');
    await other.query(`SELECT * FROM destination_state WHERE name = 'slack' FOR UPDATE`);
    const { chain: _none, ...plain } = success(first!.id, t0 + 20);
    let answered = false;
    const committing = store.commitAttempts([plain]).finally(() => {
      answered = true;
    });
    let waited = false;
    try {
      const deadline = Date.now() + WAIT_MS;
      while (!answered && !waited && Date.now() < deadline) {
        // The old code's stamp waited for the row's lock here, until the other committed.
        waited = (await other.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rowCount! > 0;
        await turn();
      }
    } finally {
      await other.query('COMMIT');
    }
    expect(waited).toBe(false);
    const [recorded] = await committing;
    expect(recorded).toMatchObject({ recorded: true, destination: { enabled: true, consecutive_failures: 0 } });
    expect(await store.view('delivery', first!.id)).toMatchObject({ status: 'succeeded' });
    // Its stamp was left to whoever held the row; the next success writes it.
    const { chain: _also, ...next } = success(second!.id, t0 + 30);
    await store.commitAttempts([next]);
    expect((await store.view('destinations')).find((each) => each.name === 'slack')?.last_success_at).toBe(new Date(t0 + 30).toISOString());
  });
});

describe('deliveries due at the same moment', () => {
  it('are claimed oldest first, whatever order PostgreSQL keeps their rows in', async () => {
    const { url, store } = await slackStore();
    const t0 = Date.now();
    const batches = [ordered('first', t0), ordered('second', t0), ordered('third', t0)];
    for (const batch of batches) await store.ingest(batch);
    const [first, second, third] = batches.map((batch) => batch.events[0]!.deliveries[0]!.id);
    const pool = poolOn(url);
    // Moved away and back (a retry's new due time, say): the oldest row's index entry now sits
    // after the others', as a B-tree keeps equal keys in the order of their rows' places.
    await pool.query('UPDATE deliveries SET next_attempt_at = next_attempt_at + 1 WHERE id = $1', [first]);
    await pool.query('UPDATE deliveries SET next_attempt_at = next_attempt_at - 1 WHERE id = $1', [first]);
    const due = await pool.query<{ id: string; next_attempt_at: string }>('SELECT id, next_attempt_at FROM deliveries WHERE destination = $1 ORDER BY id', ['slack']);
    expect(new Set(due.rows.map((row) => row.next_attempt_at)).size).toBe(1);
    const claim = async (): Promise<string | undefined> =>
      (await store.claim('slack', { limit: 1, now: t0 + 100, lease_ms: 60_000, owner: OWNER })).deliveries[0]?.id;
    expect([await claim(), await claim(), await claim()]).toEqual([first, second, third]);
  });
});
