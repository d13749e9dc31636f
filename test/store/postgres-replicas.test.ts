/**
 * What only a shared store must get right: several replicas (here, several PostgresStore
 * instances on one schema, each with its own pool, as separate processes would have) ingesting
 * and claiming at the same moment; the schema migrated by replicas starting together; the
 * database going away and coming back.
 */
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HookrelayError } from '../../src/errors.ts';
import { createPool } from '../../src/store/postgres/connection.ts';
import { MIGRATIONS, migrate, schemaVersion } from '../../src/store/postgres/migrations.ts';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { WORK_CHANNEL, lockKey } from '../../src/store/postgres/writes.ts';
import type { AttemptResult, ClaimedDelivery, NewDelivery } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { POSTGRES_SERVER, createTestDatabase, createTestSchema } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { recordAttempt } from '../support/store.ts';
import { WAIT_MS } from '../support/wait.ts';

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

const open: PostgresStore[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((store) => store.close()));
});

/** `count` replicas on one fresh schema. */
const urls = new WeakMap<PostgresStore, string>();
const schemaUrlOf = (store: PostgresStore): string => urls.get(store)!;

async function replicas(count: number, options: Parameters<typeof PostgresStore.open>[1] = {}): Promise<PostgresStore[]> {
  const url = await createTestSchema(database);
  const stores = await Promise.all(Array.from({ length: count }, () => PostgresStore.open(url, options)));
  for (const store of stores) urls.set(store, url);
  open.push(...stores);
  await stores[0]!.syncDestinations(['slack', 'pager']);
  return stores;
}

/**
 * What `listener`'s dispatcher is woken for (its onWork), write by write. A mark sent after a
 * write (another transaction's NOTIFY) arrives after every notification of the write's commit
 * (PostgreSQL delivers them in commit order), so `after` returns once all of them are heard,
 * without waiting for a time; the first mark heard says the listener is connected.
 */
async function wakeUps(listener: PostgresStore): Promise<{ after(write: () => Promise<unknown>): Promise<Array<readonly string[]>> }> {
  const heard: Array<readonly string[]> = [];
  listener.onWork((destinations) => heard.push(destinations));
  const client = new pg.Client({ connectionString: schemaUrlOf(listener) });
  await client.connect();
  marking.push(client);
  let marks = 0;
  const mark = async (): Promise<void> => {
    const name = `mark-${(marks += 1)}`;
    const deadline = Date.now() + WAIT_MS;
    // Until the listener has connected, a mark is not heard: send another.
    for (;;) {
      await client.query('SELECT pg_notify($1, $2)', [WORK_CHANNEL, JSON.stringify([name])]);
      for (let i = 0; i < 50 && !heard.some((each) => each[0] === name); i++) await new Promise((resolve) => setTimeout(resolve, 5));
      if (heard.some((each) => each[0] === name)) return;
      if (Date.now() > deadline) throw new Error('the listener never heard a mark');
    }
  };
  await mark();
  return {
    async after(write) {
      heard.length = 0;
      await write();
      await mark();
      return heard.filter((each) => !String(each[0]).startsWith('mark-'));
    },
  };
}
const marking: pg.Client[] = [];
afterEach(async () => {
  await Promise.all(marking.splice(0).map((client) => client.end()));
});

function success(delivery: ClaimedDelivery, owner: string, at = Date.now()): AttemptResult {
  return {
    delivery_id: delivery.id,
    member_ids: delivery.member_ids,
    destination: delivery.destination,
    lease_owner: owner,
    started_at: at,
    finished_at: at + 1,
    outcome: 'succeeded',
    next_attempt_at: null,
    request_body: '{}',
    response_code: 200,
    response_body: 'ok',
    latency_ms: 1,
    error: null,
    health: 'success',
    breaker: { disable_after: 1, probe_backoff_ms: [60_000] },
    notified: [],
  };
}

function orderedBatch(key: string, extra: Partial<NewDelivery> = {}, receivedAt = Date.now()) {
  const event = relayEvent({ dedup_key: key });
  const delivery: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', incident_key: key, ...extra };
  return { event, delivery, batch: { ...batchOf(event, [], receivedAt), events: [{ event, deliveries: [delivery] }] } };
}

describe('replicas ingesting at once', () => {
  it('the same sender id sent to every replica at once is stored once; every other answer is a duplicate of it', async () => {
    const stores = await replicas(3);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, index) => stores[index % 3]!.ingest(batchOf(relayEvent({ external_id: 'evt_race' }), ['slack']))),
    );
    const stored = results.flat().filter((result) => !result.duplicate);
    expect(stored).toHaveLength(1);
    expect(new Set(results.flat().map((result) => result.id))).toEqual(new Set([stored[0]!.id]));
    expect(await stores[0]!.view('deliveries', { destination: 'slack', limit: 100 })).toHaveLength(1);
  });

  it('events of one incident leased at ingest on several replicas at once: one goes in flight, the others wait behind it', async () => {
    const stores = await replicas(3);
    const now = Date.now();
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        stores[index % 3]!.ingest(orderedBatch('inc_race', { lease: { owner: `replica-${index % 3}`, until: now + 60_000 } }, now).batch),
      ),
    );
    const waiting = results.flat().flatMap((result) => (result.duplicate ? [] : (result.waiting ?? [])));
    expect(waiting).toHaveLength(11);
    const inFlight = await stores[0]!.view('deliveries', { destination: 'slack', status: 'in_flight', limit: 100 });
    expect(inFlight).toHaveLength(1);
  });

  it('a delivery committed later with a smaller id (ids are made before the commit) is not claimable while another of its incident is in flight', async () => {
    const [a] = await replicas(1);
    const now = Date.now();
    const earlierId = orderedBatch('inc_ids', {}, now);
    const later = orderedBatch('inc_ids', { lease: { owner: 'replica-b', until: now + 60_000 } }, now);
    // `later` commits first, leased; `earlierId` (a smaller id, made first) commits after it.
    expect(earlierId.delivery.id < later.delivery.id).toBe(true);
    await a!.ingest(later.batch);
    await a!.ingest(earlierId.batch);
    const claim = await a!.claim('slack', { limit: 10, now: now + 10, lease_ms: 60_000, owner: 'replica-a' });
    expect(claim.deliveries).toHaveLength(0);
    // Once it is finished, the other goes.
    await recordAttempt(a!, success({ id: later.delivery.id, destination: 'slack', member_ids: [] } as unknown as ClaimedDelivery, 'replica-b'));
    const next = await a!.claim('slack', { limit: 10, now: now + 20, lease_ms: 60_000, owner: 'replica-a' });
    expect(next.deliveries.map((d) => d.id)).toEqual([earlierId.delivery.id]);
  });
});

describe('replicas claiming at once', () => {
  it('every delivery is sent once, each incident one at a time and in order, while three replicas claim and record concurrently', async () => {
    const stores = await replicas(3);
    const incidents = Array.from({ length: 12 }, (_, index) => `inc_${index}`);
    const expected = new Map<string, string[]>();
    const t0 = Date.now() - 60_000;
    for (let round = 0; round < 5; round++) {
      for (const key of incidents) {
        const { delivery, batch } = orderedBatch(key, {}, t0 + round);
        expected.set(key, [...(expected.get(key) ?? []), delivery.id]);
        await stores[round % 3]!.ingest(batch);
      }
    }
    for (let i = 0; i < 20; i++) await stores[0]!.ingest(batchOf(relayEvent(), ['slack'], t0));

    const sent: Array<{ id: string; incident: string }> = [];
    const flying = new Set<string>();
    let overlaps = 0;
    const claimedIds: string[] = [];
    const worker = async (store: PostgresStore, owner: string): Promise<void> => {
      for (let idle = 0; idle < 5; ) {
        const { deliveries } = await store.claim('slack', { limit: 4, now: Date.now(), lease_ms: 60_000, owner });
        if (deliveries.length === 0) {
          idle += 1;
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        idle = 0;
        await Promise.all(
          deliveries.map(async (delivery) => {
            claimedIds.push(delivery.id);
            const incident = delivery.event.dedup_key;
            const ordered = incident.startsWith('inc_');
            if (ordered && flying.has(incident)) overlaps += 1;
            if (ordered) flying.add(incident);
            await new Promise((resolve) => setTimeout(resolve, Math.random() * 4));
            sent.push({ id: delivery.id, incident });
            if (ordered) flying.delete(incident);
            await recordAttempt(store, success(delivery, owner));
          }),
        );
      }
    };
    await Promise.all(stores.map((store, index) => worker(store, `replica-${index}`)));

    expect(overlaps).toBe(0);
    expect(claimedIds.length).toBe(new Set(claimedIds).size);
    expect(sent).toHaveLength(80);
    for (const [key, ids] of expected) expect(sent.filter((each) => each.incident === key).map((each) => each.id)).toEqual(ids);
  });

  it('the race between a replica leasing the head of an incident and another seeing a later-committed one with a smaller id: the second waits', async () => {
    const [b] = await replicas(1);
    const now = Date.now();
    const older = orderedBatch('inc_lock', {}, now);
    const younger = orderedBatch('inc_lock', {}, now);
    // `older` has the smaller id but commits second (made first on a replica whose commit was slower).
    expect(older.delivery.id < younger.delivery.id).toBe(true);
    await b!.ingest(younger.batch);
    // Replica A is leasing `younger` right now: its claim holds the incident's lock, not yet committed.
    const a = new pg.Client({ connectionString: schemaUrlOf(b!) });
    await a.connect();
    try {
      await a.query('BEGIN');
      await a.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey('incident', 'slack', 'inc_lock')]);
      await a.query(`UPDATE deliveries SET status = 'in_flight', lease_owner = 'a', next_attempt_at = $1 WHERE id = $2`, [now + 60_000, younger.delivery.id]);
      await b!.ingest(older.batch);
      // B sees `younger` still pending in its snapshot, and `older` first: without the lock it would lease it.
      const claim = await b!.claim('slack', { limit: 10, now: now + 10, lease_ms: 60_000, owner: 'b' });
      expect(claim.deliveries).toHaveLength(0);
      await a.query('COMMIT');
    } finally {
      await a.end();
    }
    expect(await b!.view('deliveries', { destination: 'slack', status: 'in_flight', limit: 10 })).toHaveLength(1);
    // Once A's claim committed, B's next look sees it in flight: still nothing for B.
    expect((await b!.claim('slack', { limit: 10, now: now + 20, lease_ms: 60_000, owner: 'b' })).deliveries).toHaveLength(0);
  });

  it("a commit that would chain the incident's next update while another replica holds the incident's lock chains nothing, without waiting for it; a claim takes it after", async () => {
    const [a, b] = await replicas(2);
    const now = Date.now();
    const first = orderedBatch('inc_chain_lock', {}, now);
    const second = orderedBatch('inc_chain_lock', {}, now + 1);
    await a!.ingest(first.batch);
    await a!.ingest(second.batch);
    const [lead] = (await a!.claim('slack', { limit: 10, now: now + 10, lease_ms: 60_000, owner: 'a' })).deliveries;
    expect(lead?.id).toBe(first.delivery.id);
    // Another transaction (an ingest of the incident, a replica's claim) holds the incident's lock.
    const other = new pg.Client({ connectionString: schemaUrlOf(a!) });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey('incident', 'slack', 'inc_chain_lock')]);
      const recorded = await recordAttempt(a!, { ...success(lead!, 'a', now + 20), chain: { lease_ms: 60_000, storm: null } });
      expect(recorded).toMatchObject({ recorded: true, next: null });
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    expect((await b!.claim('slack', { limit: 10, now: now + 30, lease_ms: 60_000, owner: 'b' })).deliveries.map((d) => d.id)).toEqual([second.delivery.id]);
  });

  it("replicas recording and claiming one incident at once: its updates are leased one at a time, in order, whether by a chain or a claim", async () => {
    const stores = await replicas(3);
    const now = Date.now();
    const updates = Array.from({ length: 12 }, (_, index) => orderedBatch('inc_chain_race', {}, now + index));
    for (const update of updates) await stores[0]!.ingest(update.batch);
    const sent: string[] = [];
    const chain = { lease_ms: 60_000, storm: null };
    // Each replica claims, and records what it holds asking for a chain, until all are sent.
    await Promise.all(
      stores.map(async (store, index) => {
        const owner = `r${index}`;
        for (let round = 0; round < 200 && sent.length < updates.length; round++) {
          let [held] = (await store.claim('slack', { limit: 1, now: now + 100, lease_ms: 60_000, owner })).deliveries;
          while (held) {
            sent.push(held.id);
            const recorded = await recordAttempt(store, { ...success(held, owner, now + 100), chain });
            held = recorded.next ?? undefined;
          }
        }
      }),
    );
    expect(sent).toEqual(updates.map((update) => update.delivery.id));
  });

  it('a group waiting to go is claimed as one batch by one replica, however many claim it', async () => {
    const stores = await replicas(3);
    const t0 = Date.now() - 120_000;
    const group = { key: '["r","x"]', wait_ms: 30_000, interval_ms: 300_000 };
    for (let i = 0; i < 10; i++) {
      const event = relayEvent();
      await stores[i % 3]!.ingest({ ...batchOf(event, [], t0 + i), events: [{ event, deliveries: [{ id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', group }] }] });
    }
    const claims = await Promise.all(
      stores.flatMap((store, index) => [0, 1].map(() => store.claim('slack', { limit: 10, now: Date.now(), lease_ms: 60_000, owner: `replica-${index}` }))),
    );
    const batches = claims.flatMap((claim) => claim.deliveries);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.events).toHaveLength(10);
  });

  it('a destination one replica disables is disabled for the others at once: no claims, no leases at ingest; enable resumes everywhere', async () => {
    const [a, b] = await replicas(2);
    for (let i = 0; i < 3; i++) await a!.ingest(batchOf(relayEvent(), ['slack']));
    const now = Date.now() + 1;
    const [first] = (await a!.claim('slack', { limit: 1, now, lease_ms: 60_000, owner: 'a' })).deliveries;
    const opened = await recordAttempt(a!, { ...success(first!, 'a'), outcome: 'retry', health: 'failure', next_attempt_at: now + 1_000, error: 'HTTP 500' });
    expect(opened.disabled_now).toBe(true);

    expect(await b!.claim('slack', { limit: 10, now: now + 5_000, lease_ms: 60_000, owner: 'b' })).toEqual({ deliveries: [], next_due_at: null, enabled: false });
    const event = relayEvent();
    const leased: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', lease: { owner: 'b', until: now + 60_000 } };
    const [result] = await b!.ingest({ ...batchOf(event, []), events: [{ event, deliveries: [leased] }] });
    expect(result).toMatchObject({ duplicate: false, waiting: [leased.id] });
    expect((await b!.view('delivery', leased.id))?.status).toBe('pending');

    // A peer's lane that still thinks the circuit open learns from the probe claim that it is closed.
    await a!.change('enable_destination', 'slack', now + 6_000);
    expect(await b!.claim('slack', { probe: true, now: now + 6_000, lease_ms: 60_000, owner: 'b' })).toMatchObject({ deliveries: [], enabled: true });
    // The two left of the first three, the one ingested while disabled, and the first (its retry due now).
    expect((await b!.claim('slack', { limit: 10, now: now + 6_000, lease_ms: 60_000, owner: 'b' })).deliveries).toHaveLength(4);
  });

  it("a failure recorded while another replica's failure holds the destination's row counts on top of it, never over it", async () => {
    const [a] = await replicas(1);
    await a!.ingest(batchOf(relayEvent(), ['slack']));
    const now = Date.now() + 1;
    const [first] = (await a!.claim('slack', { limit: 1, now, lease_ms: 60_000, owner: 'a' })).deliveries;
    const other = new pg.Client({ connectionString: schemaUrlOf(a!) });
    await other.connect();
    try {
      // Replica B's failure of the destination, committing: the row is locked and counted once.
      await other.query('BEGIN');
      await other.query(`UPDATE destination_state SET consecutive_failures = consecutive_failures + 1 WHERE name = 'slack'`);
      const failure = { ...success(first!, 'a', now), outcome: 'retry' as const, health: 'failure' as const, next_attempt_at: now + 60_000, error: 'HTTP 500', breaker: { disable_after: 5, probe_backoff_ms: [60_000] } };
      const recording = recordAttempt(a!, failure);
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const { rows } = await other.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`);
        if (rows.length > 0) break;
        if (Date.now() > deadline) throw new Error('the failure was never seen waiting for the row');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await other.query('COMMIT');
      expect((await recording).destination).toMatchObject({ consecutive_failures: 2, enabled: true });
    } finally {
      await other.end();
    }
    expect((await a!.view('destinations')).find((state) => state.name === 'slack')).toMatchObject({ consecutive_failures: 2 });
  });

  it('of replicas asking for the probe of an open circuit at once, one gets it', async () => {
    const stores = await replicas(3);
    for (let i = 0; i < 3; i++) await stores[0]!.ingest(batchOf(relayEvent(), ['slack']));
    const now = Date.now() + 1;
    const [first] = (await stores[0]!.claim('slack', { limit: 1, now, lease_ms: 60_000, owner: 'a' })).deliveries;
    await recordAttempt(stores[0]!, { ...success(first!, 'a'), outcome: 'retry', health: 'failure', next_attempt_at: now, error: 'HTTP 500', finished_at: now });
    const probes = await Promise.all(
      stores.flatMap((store, index) => [0, 1].map(() => store.claim('slack', { probe: true, now: now + 60_000, lease_ms: 60_000, owner: `replica-${index}` }))),
    );
    expect(probes.flatMap((probe) => probe.deliveries)).toHaveLength(1);
  });
});

describe("claims while another replica holds an incident's or a group's lock", () => {
  /** Runs `work` while another transaction (a replica's ingest or claim under way) holds the advisory locks of `keys`. */
  async function whileLocked<T>(store: PostgresStore, keys: readonly string[], work: () => Promise<T>): Promise<T> {
    const other = new pg.Client({ connectionString: schemaUrlOf(store) });
    await other.connect();
    try {
      await other.query('BEGIN');
      for (const key of keys) await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
      const answer = await work();
      await other.query('COMMIT');
      return answer;
    } finally {
      await other.end();
    }
  }

  it('a due claim skips the rows whose incident or group another replica holds, takes the rest, and takes them once the locks are free', async () => {
    const [a, b] = await replicas(2);
    const now = Date.now();
    const busyIncident = orderedBatch('inc_busy', {}, now);
    const freeIncident = orderedBatch('inc_free', {}, now);
    const grouped = (key: string, incidentKey: string | null = null) => {
      const event = relayEvent();
      const delivery: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', group: { key, wait_ms: 0, interval_ms: 60_000 }, incident_key: incidentKey };
      return { delivery, batch: { ...batchOf(event, [], now), events: [{ event, deliveries: [delivery] }] } };
    };
    const busyGroup = grouped('g_busy');
    const freeGroup = grouped('g_free');
    // Grouped on an ordered destination (its incident's lock free): held by its group's lock alone.
    const busyOrderedGroup = grouped('g_busy_ordered', 'inc_of_busy_group');
    const plain = batchOf(relayEvent(), ['slack'], now);
    for (const batch of [busyIncident.batch, freeIncident.batch, busyGroup.batch, freeGroup.batch, busyOrderedGroup.batch, plain]) await a!.ingest(batch);
    const claim = (store: PostgresStore, owner: string, at: number) => store.claim('slack', { limit: 10, now: at, lease_ms: 60_000, owner });
    const locked = [lockKey('incident', 'slack', 'inc_busy'), lockKey('group', 'slack', 'g_busy'), lockKey('group', 'slack', 'g_busy_ordered')];
    const taken = await whileLocked(a!, locked, () => claim(b!, 'b', now + 10));
    expect(taken.deliveries.map((d) => d.id).sort()).toEqual([freeIncident.delivery.id, freeGroup.delivery.id, plain.events[0]!.deliveries[0]!.id].sort());
    expect(taken.enabled).toBe(true);
    expect((await claim(a!, 'a', now + 20)).deliveries.map((d) => d.id).sort()).toEqual([busyIncident.delivery.id, busyGroup.delivery.id, busyOrderedGroup.delivery.id].sort());
  });

  it('a claim for the fallback skips the rows whose incident or group another replica holds, and takes them after', async () => {
    const [a, b] = await replicas(2);
    const now = Date.now();
    const busy = orderedBatch('inc_fb_busy', {}, now);
    const free = orderedBatch('inc_fb_free', {}, now);
    const plain = batchOf(relayEvent(), ['slack'], now - 1_000);
    for (const batch of [busy.batch, free.batch, plain]) await a!.ingest(batch);
    // The circuit opens on a failure of the plain one (due first).
    const [first] = (await a!.claim('slack', { limit: 1, now: now + 1, lease_ms: 60_000, owner: 'a' })).deliveries;
    const opened = await recordAttempt(a!, { ...success(first!, 'a', now + 2), outcome: 'retry', health: 'failure', next_attempt_at: now + 3, error: 'HTTP 500' });
    expect(opened.disabled_now).toBe(true);
    expect(first!.id).toBe(plain.events[0]!.deliveries[0]!.id);
    const forFallback = (store: PostgresStore, owner: string, at: number) => store.claim('slack', { limit: 10, now: at, lease_ms: 60_000, owner, for_fallback: true });
    const taken = await whileLocked(a!, [lockKey('incident', 'slack', 'inc_fb_busy')], () => forFallback(b!, 'b', now + 10));
    expect(taken).toMatchObject({ enabled: false });
    expect(taken.deliveries.map((d) => d.id).sort()).toEqual([free.delivery.id, first!.id].sort());
    expect((await forFallback(a!, 'a', now + 20)).deliveries.map((d) => d.id)).toEqual([busy.delivery.id]);
  });

  it("a claim's answer tells the replica the circuit's state as the store has it: enabled, or open (waiting for its probe, or for a person)", async () => {
    const [a, b] = await replicas(2);
    for (let i = 0; i < 2; i++) await a!.ingest(batchOf(relayEvent(), ['slack']));
    const now = Date.now() + 1;
    const [first] = (await b!.claim('slack', { limit: 1, now, lease_ms: 60_000, owner: 'b' })).deliveries.map((d) => d);
    expect(await b!.claim('slack', { limit: 1, now, lease_ms: 60_000, owner: 'b' })).toMatchObject({ enabled: true });
    expect(await b!.claim('slack', { probe: true, now, lease_ms: 60_000, owner: 'b' })).toStrictEqual({ deliveries: [], next_due_at: null, enabled: true });
    // Unknown: nothing said.
    expect(await b!.claim('nowhere', { limit: 1, now, lease_ms: 60_000, owner: 'b' })).toStrictEqual({ deliveries: [], next_due_at: null });
    expect(await b!.claim('nowhere', { probe: true, now, lease_ms: 60_000, owner: 'b' })).toStrictEqual({ deliveries: [], next_due_at: null });
    expect(await b!.claim('nowhere', { limit: 1, now, lease_ms: 60_000, owner: 'b', for_fallback: true })).toStrictEqual({ deliveries: [], next_due_at: null });

    // Replica A's attempt opens the circuit: its probe is due a minute after.
    await recordAttempt(a!, { ...success(first!, 'b', now), outcome: 'retry', health: 'failure', next_attempt_at: now + 1_000, error: 'HTTP 500' });
    const probeAt = now + 1 + 60_000;
    expect(await b!.claim('slack', { probe: true, now: now + 10, lease_ms: 60_000, owner: 'b' })).toStrictEqual({ deliveries: [], next_due_at: probeAt, enabled: false });
    const probe = await b!.claim('slack', { probe: true, now: probeAt, lease_ms: 30_000, owner: 'b' });
    expect(probe).toMatchObject({ next_due_at: probeAt + 30_000, enabled: false });
    expect(probe.deliveries).toHaveLength(1);
    expect(probe.deliveries[0]!.probe).toBe(true);

    // Without probes, an open circuit waits for a person.
    const [c] = await replicas(1);
    await c!.ingest(batchOf(relayEvent(), ['slack']));
    const [one] = (await c!.claim('slack', { limit: 1, now: Date.now() + 1, lease_ms: 60_000, owner: 'c' })).deliveries;
    await recordAttempt(c!, { ...success(one!, 'c'), outcome: 'retry', health: 'failure', next_attempt_at: Date.now(), error: 'HTTP 500', breaker: { disable_after: 1, probe_backoff_ms: null } });
    expect(await c!.claim('slack', { probe: true, now: Date.now() + 3_600_000, lease_ms: 60_000, owner: 'c' })).toStrictEqual({ deliveries: [], next_due_at: null, enabled: false });
  });
});

describe("ingest under another replica's incident or group lock", () => {
  /**
   * Starts `ingest` while another transaction holds `key`'s advisory lock; answers once the ingest
   * is seen waiting for a lock (pg_stat_activity), after `whileHeld` ran and that transaction
   * committed. Fails at once if the ingest ends without waiting.
   */
  async function ingestWaitingFor(store: PostgresStore, key: string, ingest: () => Promise<unknown>, whileHeld: (other: pg.Client) => Promise<void>) {
    const other = new pg.Client({ connectionString: schemaUrlOf(store) });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [key]);
      await whileHeld(other);
      let ended = false;
      const running = ingest().finally(() => (ended = true));
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const { rows } = await other.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
        );
        if (rows.length > 0) break;
        if (ended) throw new Error('the ingest did not wait for the lock');
        if (Date.now() > deadline) throw new Error('the ingest was never seen waiting');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      await other.query('COMMIT');
      return await running;
    } finally {
      await other.end();
    }
  }

  it("an ingest leasing an incident's update waits for a replica committing another update of it, then waits behind that one", async () => {
    const [a] = await replicas(1);
    const now = Date.now();
    const { delivery, batch } = orderedBatch('inc_ingest_lock', { lease: { owner: 'a', until: now + 60_000 } }, now);
    const result = await ingestWaitingFor(a!, lockKey('incident', 'slack', 'inc_ingest_lock'), () => a!.ingest(batch), async (other) => {
      // Replica B's ingest of the incident's other update, leased to B, not yet committed.
      await other.query(`INSERT INTO receipts (id, source, received_at, headers, body) VALUES ('rcp_b', 'tapemetric', $1, '{}', '{}')`, [now]);
      await other.query(
        `INSERT INTO events (id, receipt_id, source, external_id, type, severity, status, title, summary, dedup_key, occurred_at, received_at, data)
         VALUES ('evt_b', 'rcp_b', 'tapemetric', NULL, 't', 'critical', 'firing', 't', 's', 'inc_ingest_lock', '2026-04-23T18:28:00.000Z', $1, '{}')`,
        [now],
      );
      await other.query(
        `INSERT INTO deliveries (id, event_id, destination, route, status, lease_owner, next_attempt_at, created_at, updated_at, incident_key)
         VALUES ('dlv_b', 'evt_b', 'slack', 'r', 'in_flight', 'b', $1, $2, $2, 'inc_ingest_lock')`,
        [now + 60_000, now],
      );
    });
    expect(result).toEqual([{ id: batch.events[0]!.event.id, duplicate: false, waiting: [delivery.id] }]);
    expect(await a!.view('delivery', delivery.id)).toMatchObject({ status: 'pending' });
  });

  it("an ingest adding to a group waits for a replica holding the group's lock", async () => {
    const [a] = await replicas(1);
    const event = relayEvent();
    const grouped: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', group: { key: 'g_ingest_lock', wait_ms: 30_000, interval_ms: 60_000 } };
    const batch = { ...batchOf(event, []), events: [{ event, deliveries: [grouped] }] };
    await ingestWaitingFor(a!, lockKey('group', 'slack', 'g_ingest_lock'), () => a!.ingest(batch), async () => undefined);
    expect(await a!.view('delivery', grouped.id)).toMatchObject({ status: 'pending' });
  });
});

describe('seen once across replicas', () => {
  it('a key admitted by one replica is refused by every other (all asking at once: one admitted) until it expires; pruned after', async () => {
    const stores = await replicas(3);
    const now = Date.now();
    const answers = await Promise.all(stores.map((store) => store.admitOnce('slack', 'sig-1', now + 1_000, now)));
    expect(answers.filter(Boolean)).toHaveLength(1);
    expect(await stores[1]!.admitOnce('slack', 'sig-1', now + 1_000, now + 999)).toBe(false);
    // Remembered up to its expiry, that instant included.
    expect(await stores[1]!.admitOnce('slack', 'sig-1', now + 1_000, now + 1_000)).toBe(false);
    expect(await stores[2]!.admitOnce('other-scope', 'sig-1', now + 1_000, now)).toBe(true);
    // Expired: it may be taken again (the window check refuses such a request before it gets here anyway).
    expect(await stores[2]!.admitOnce('slack', 'sig-1', now + 5_000, now + 2_000)).toBe(true);
    await stores[0]!.admitOnce('slack', 'sig-old', now + 10, now);
    await stores[0]!.admitOnce('slack', 'sig-edge', now + 3_000, now);
    await stores[0]!.prune('deliveries', { keep_per_destination: 1_000, keep_events_ms: 3_600_000, now: now + 3_000 });
    const client = new pg.Client({ connectionString: schemaUrlOf(stores[0]!) });
    await client.connect();
    try {
      const left = await client.query('SELECT scope, key FROM seen_once ORDER BY scope, key');
      expect(left.rows).toEqual([{ scope: 'slack', key: 'sig-1' }, { scope: 'slack', key: 'sig-edge' }]);
    } finally {
      await client.end();
    }
  });
});

describe('prune: the tables no view lists stay bounded', () => {
  it("a group's last send and a resolved incident older than the events window are forgotten; newer ones kept", async () => {
    const [store] = await replicas(1);
    const t0 = Date.now();
    const day = 86_400_000;
    const track = (event: ReturnType<typeof relayEvent>, at: number) =>
      store!.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [], track_incident: true }] });
    await track(relayEvent({ source: 'am', dedup_key: 'old', status: 'resolved' }), t0);
    await track(relayEvent({ source: 'am', dedup_key: 'new', status: 'resolved' }), t0 + 5 * day);
    for (const [key, at] of [['g_old', t0], ['g_new', t0 + 5 * day]] as const) {
      const event = relayEvent();
      const delivery: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', group: { key, wait_ms: 0, interval_ms: 60_000 } };
      await store!.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [delivery] }] });
      const [claimed] = (await store!.claim('slack', { limit: 1, now: at + 1, lease_ms: 60_000, owner: 'a' })).deliveries;
      await recordAttempt(store!, success(claimed!, 'a', at + 2));
    }
    await store!.prune('deliveries', { keep_per_destination: 1_000, keep_events_ms: 3 * day, now: t0 + 6 * day });
    const client = new pg.Client({ connectionString: schemaUrlOf(store!) });
    await client.connect();
    try {
      expect((await client.query('SELECT dedup_key FROM incidents ORDER BY dedup_key')).rows).toEqual([{ dedup_key: 'new' }]);
      expect((await client.query('SELECT group_key FROM delivery_groups ORDER BY group_key')).rows).toEqual([{ group_key: 'g_new' }]);
    } finally {
      await client.end();
    }
  });
});

describe('LISTEN/NOTIFY', () => {
  it("a committed ingest wakes the other replicas' dispatchers for its destinations; a leased one needs nobody", async () => {
    const [a, b] = await replicas(2);
    const heard: Array<readonly string[]> = [];
    b!.onWork((destinations) => heard.push(destinations));
    // The listener connects in the background.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const event = relayEvent();
    const leased: NewDelivery = { id: newId('dlv'), destination: 'pager', route: 'r', status: 'pending', lease: { owner: 'a', until: Date.now() + 60_000 } };
    await a!.ingest({ ...batchOf(event, ['slack']), events: [{ event, deliveries: [...batchOf(event, ['slack']).events[0]!.deliveries, leased] }] });
    for (let i = 0; i < 100 && heard.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(heard).toEqual([['slack']]);
  });

  it('nothing is announced for a request that was all duplicates, or for a transaction that failed', async () => {
    const [a, b] = await replicas(2);
    const heard: Array<readonly string[]> = [];
    b!.onWork((destinations) => heard.push(destinations));
    await new Promise((resolve) => setTimeout(resolve, 300));
    await a!.ingest(batchOf(relayEvent({ external_id: 'evt_once' }), ['slack']));
    await a!.ingest(batchOf(relayEvent({ external_id: 'evt_once' }), ['slack']));
    const clash = batchOf(relayEvent(), ['slack']);
    await a!.ingest(clash);
    // The same delivery id again: the insert fails, the transaction rolls back, its NOTIFY is never sent.
    await expect(a!.ingest({ ...clash, receipt: { ...clash.receipt, id: newId('rcp') }, events: [{ ...clash.events[0]!, event: relayEvent() }] })).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(heard).toEqual([['slack'], ['slack']]);
  });
});

describe('wake-ups: every write that gives a destination work wakes the other replicas for it', () => {
  it('ingest wakes each destination with pending work once; leased, muted and unrouted work wakes nobody; a resolve wakes what it releases', async () => {
    const [a, b] = await replicas(2);
    await b!.syncDestinations(['slack', 'pager']);
    const wake = await wakeUps(b!);
    const now = Date.now();
    const event = relayEvent({ dedup_key: 'own' });
    const leased: NewDelivery = { id: newId('dlv'), destination: 'pager', route: 'r', status: 'pending', lease: { owner: 'a', until: now + 60_000 } };
    const muted: NewDelivery = { id: newId('dlv'), destination: 'pager', route: 'r', status: 'muted', note: 'muted by mut_x' };
    const unrouted: NewDelivery = { id: newId('dlv'), destination: null, route: null, status: 'skipped' };
    const twice = batchOf(event, ['slack', 'slack']).events[0]!.deliveries;
    expect(await wake.after(() => a!.ingest({ ...batchOf(event, []), events: [{ event, deliveries: [...twice, leased, muted, unrouted], track_incident: true }] }))).toEqual([['slack']]);

    // Held (inhibited) by a firing incident: the hold wakes nobody; that incident's resolve, ingested with no work of
    // its own, wakes the destination of what it releases.
    const inhibitor = relayEvent({ source: 'alertmanager', dedup_key: 'upstream' });
    await a!.ingest({ ...batchOf(inhibitor, []), events: [{ event: inhibitor, deliveries: [], track_incident: true }] });
    const claimed = (await a!.claim('slack', { limit: 10, now: Date.now() + 1, lease_ms: 60_000, owner: 'a' })).deliveries;
    expect(claimed).toHaveLength(2);
    const heldBy = JSON.stringify(['alertmanager', 'upstream']);
    expect(await wake.after(() => a!.holds('hold', { ids: claimed.map((d) => d.id), lease_owner: 'a', status: 'muted', note: 'inhibited', now: now + 2, held_by: heldBy }))).toEqual([]);
    const resolve = relayEvent({ source: 'alertmanager', dedup_key: 'upstream', status: 'resolved', occurred_at: '2026-04-23T19:00:00.000Z' });
    expect(await wake.after(() => a!.ingest({ ...batchOf(resolve, []), events: [{ event: resolve, deliveries: [], track_incident: true }] }))).toEqual([['slack']]);
    expect((await a!.view('delivery', claimed[0]!.id))?.status).toBe('pending');
  });

  it('a hold whose inhibitor resolved meanwhile, leases given back, a replay, prepared requests, an echo, a hand-off and an enabled destination each wake their destinations', async () => {
    const [a, b] = await replicas(2);
    await b!.syncDestinations(['slack', 'pager']);
    const wake = await wakeUps(b!);
    const now = Date.now();
    const event = relayEvent({ dedup_key: 'own' });
    await a!.ingest({ ...batchOf(event, ['slack', 'slack']), events: [{ ...batchOf(event, ['slack', 'slack']).events[0]!, track_incident: true }] });
    const claim = async (owner: string): Promise<readonly ClaimedDelivery[]> => (await a!.claim('slack', { limit: 10, now: Date.now(), lease_ms: 60_000, owner })).deliveries;

    // The inhibitor is tracked as resolved: the hold gives them back, due now, and wakes their destination.
    const inhibitor = relayEvent({ source: 'alertmanager', dedup_key: 'gone', status: 'resolved' });
    await a!.ingest({ ...batchOf(inhibitor, []), events: [{ event: inhibitor, deliveries: [], track_incident: true }] });
    const held = await claim('a');
    expect(held).toHaveLength(2);
    const hold = { ids: held.map((d) => d.id), status: 'muted' as const, note: 'inhibited', now: now + 1, held_by: JSON.stringify(['alertmanager', 'gone']) };
    expect(await wake.after(() => a!.holds('hold', { ...hold, lease_owner: 'someone-else' }))).toEqual([]);
    expect(await wake.after(() => a!.holds('hold', { ...hold, lease_owner: 'a' }))).toEqual([['slack']]);

    // Leases given back (a replica stopping): only its own.
    const leased = await claim('a');
    expect(await wake.after(() => a!.leases('release', leased.map((d) => d.id), 'someone-else'))).toEqual([]);
    expect(await wake.after(() => a!.leases('release', leased.map((d) => d.id), 'a'))).toEqual([['slack']]);

    expect(await wake.after(() => a!.append('replay', held[0]!.id, newId('dlv'), now + 2))).toEqual([['slack']]);
    const prepared = (destination: string) => ({ id: newId('dlv'), destination, route: 'r', request_body: '{}' });
    expect(await wake.after(() => a!.append('prepared', event.id, [prepared('pager'), prepared('pager')], now + 3))).toEqual([['pager']]);
    // A list longer than a notification holds wakes every destination the listener knows.
    const many = Array.from({ length: 80 }, (_, index) => prepared(`destination-${String(index).padStart(3, '0')}-${'x'.repeat(90)}`));
    expect(await wake.after(() => a!.append('prepared', event.id, many, now + 4))).toEqual([['slack', 'pager']]);

    // A pending echo applied with deliveries wakes theirs; one applied already wakes nobody.
    const report = relayEvent({ source: 'pagerduty', dedup_key: 'pagerduty:own' });
    await a!.ingest({ ...batchOf(report, []), events: [{ event: report, deliveries: [], echo: { dedup_key: 'own' } }] });
    const echo = { event_id: report.id, states: [], deliveries: [prepared('pager')], now: now + 5 };
    expect(await wake.after(async () => expect(await a!.change('apply_echo', echo)).toBe('applied'))).toEqual([['pager']]);
    expect(await wake.after(async () => expect(await a!.change('apply_echo', echo)).toBe('done'))).toEqual([]);

    // Handed to the fallback: the fallback is woken.
    const [original] = await claim('a');
    const handOff = { ids: [original!.id], fallback_ids: [newId('dlv')], destination: 'slack', fallback: 'pager', fallback_ordered: false, now: now + 6 };
    expect(await wake.after(() => a!.holds('fallback', { ...handOff, lease_owner: 'someone-else' }))).toEqual([]);
    expect(await wake.after(() => a!.holds('fallback', { ...handOff, lease_owner: 'a' }))).toEqual([['pager']]);

    expect(await wake.after(() => a!.change('enable_destination', 'slack', now + 7))).toEqual([['slack']]);
  });

  it('a probe\'s success that closes the circuit wakes its destination; the failure that opened it wakes nobody', async () => {
    const [a, b] = await replicas(2);
    const wake = await wakeUps(b!);
    // Their own wake-ups heard before the failure's write is watched (a late one was counted as the failure's).
    expect(await wake.after(async () => {
      for (let i = 0; i < 2; i++) await a!.ingest(batchOf(relayEvent(), ['slack']));
    })).toEqual([['slack'], ['slack']]);
    const now = Date.now() + 1;
    const [first] = (await a!.claim('slack', { limit: 1, now, lease_ms: 60_000, owner: 'a' })).deliveries;
    const failure = { ...success(first!, 'a', now), outcome: 'retry' as const, health: 'failure' as const, next_attempt_at: now + 1_000, error: 'HTTP 500' };
    expect(await wake.after(async () => expect((await recordAttempt(a!, failure)).disabled_now).toBe(true))).toEqual([]);
    const [probe] = (await a!.claim('slack', { probe: true, now: now + 61_000, lease_ms: 60_000, owner: 'a' })).deliveries;
    expect(probe?.probe).toBe(true);
    const closing = { ...success(probe!, 'a', now + 61_001), probe: true };
    expect(await wake.after(async () => expect((await recordAttempt(a!, closing)).enabled_now).toBe(true))).toEqual([['slack']]);
  });
});

describe('migrations', () => {
  it('replicas starting together migrate once; a later start finds nothing to do', async () => {
    const url = await createTestSchema(database);
    const pools = Array.from({ length: 5 }, () => createPool(url));
    try {
      const results = await Promise.all(pools.map((pool) => migrate(pool)));
      expect(results.filter((result) => result.from === 0)).toHaveLength(1);
      expect(results.every((result) => result.to === MIGRATIONS.length)).toBe(true);
      expect(await migrate(pools[0]!)).toEqual({ from: MIGRATIONS.length, to: MIGRATIONS.length });
      expect(await schemaVersion(pools[0]!)).toBe(MIGRATIONS.length);
      const rows = await pools[0]!.query('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.rows.map((row: { version: number }) => row.version)).toEqual(MIGRATIONS.map((_, index) => index + 1));
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('a database migrated by a newer hookrelay is refused; without migrating, an old schema is refused and a current one opened untouched', async () => {
    const url = await createTestSchema(database);
    const pool = createPool(url);
    try {
      await expect(PostgresStore.open(url, { migrate: false })).rejects.toThrow(/schema is at version 0 and this hookrelay needs .*hookrelay migrate/);
      expect(await schemaVersion(pool)).toBe(0);
      await migrate(pool);
      await expect(PostgresStore.open(url, { migrate: false }).then((store) => store.close())).resolves.toBeUndefined();
      await pool.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)', [MIGRATIONS.length + 1]);
      await expect(migrate(pool)).rejects.toThrow(/newer than this hookrelay/);
      await expect(PostgresStore.open(url)).rejects.toThrow(/newer than this hookrelay/);
    } finally {
      await pool.end();
    }
  });
});

describe('the database away', () => {
  const target = (() => {
    const url = new URL(POSTGRES_SERVER);
    return { host: url.hostname, port: Number(url.port || 5432) };
  })();

  async function behindProxy(options: Parameters<typeof PostgresStore.open>[1] = {}): Promise<{ store: PostgresStore; proxy: TcpProxy }> {
    const direct = new URL(await createTestSchema(database));
    const proxy = new TcpProxy(target);
    await proxy.up();
    direct.host = `127.0.0.1:${proxy.port}`;
    const store = await PostgresStore.open(direct.toString(), { connectTimeoutMs: 500, ...options });
    open.push(store);
    await store.syncDestinations(['slack']);
    return { store, proxy };
  }

  it('unreachable: writes and ping fail with store_unavailable at once; back: it works again without a restart', async () => {
    const { store, proxy } = await behindProxy();
    try {
      await store.ingest(batchOf(relayEvent(), ['slack']));
      await proxy.down();
      const refused = relayEvent();
      await expect(store.ingest(batchOf(refused, ['slack']))).rejects.toMatchObject({ code: 'store_unavailable' });
      await expect(store.ping()).rejects.toBeInstanceOf(HookrelayError);
      await expect(store.ping()).rejects.toMatchObject({ code: 'store_unavailable' });
      await proxy.up();
      await expect(store.ping()).resolves.toBeUndefined();
      const accepted = relayEvent();
      await store.ingest(batchOf(accepted, ['slack']));
      expect(await store.view('event', accepted.id)).not.toBeNull();
      expect(await store.view('event', refused.id)).toBeNull();
    } finally {
      await proxy.down();
    }
  });

  it('connections the server ends (a restart, pg_terminate_backend) are replaced: the next write commits', async () => {
    const { store, proxy } = await behindProxy();
    try {
      await store.ingest(batchOf(relayEvent(), ['slack']));
      proxy.stall();
      await proxy.up();
      await store.ingest(batchOf(relayEvent(), ['slack']));
      expect((await store.view('destinations'))[0]?.pending).toBe(2);
    } finally {
      await proxy.down();
    }
  });

  it('a database that hangs: writes beyond the bound are refused at once (503), not queued in memory', async () => {
    const { store, proxy } = await behindProxy({ maxWaiting: 4, connectTimeoutMs: 2_000 });
    try {
      proxy.stall();
      const waiting = Array.from({ length: 4 }, () => store.ingest(batchOf(relayEvent(), ['slack'])).catch((error: unknown) => error));
      const started = Date.now();
      await expect(store.ingest(batchOf(relayEvent(), ['slack']))).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringMatching(/busy/) });
      expect(Date.now() - started).toBeLessThan(100);
      for (const error of await Promise.all(waiting)) expect(error).toMatchObject({ code: 'store_unavailable' });
    } finally {
      await proxy.down();
    }
  });
});

describe('text PostgreSQL cannot hold', () => {
  it('U+0000 in event fields and in refused requests is stored (as U+FFFD), never failing the write', async () => {
    const [store] = await replicas(1);
    const event = relayEvent({ title: 'a\u0000b', external_id: 'evt_\u0000' });
    await store!.ingest(batchOf(event, ['slack']));
    expect((await store!.view('event', event.id))?.event.title).toBe('a\uFFFDb');
    const [again] = await store!.ingest(batchOf(relayEvent({ external_id: 'evt_\u0000' }), ['slack']));
    expect(again).toEqual({ id: event.id, duplicate: true });
    await store!.append('requests', [
      { id: `req_${newId('dlv').slice(4)}`, received_at: Date.now(), source: '\u0000', address: null, status: 404, outcome: 'unknown_source', reason: 'no source', body_bytes: 1, excerpt: '\u0000' },
    ]);
    expect((await store!.view('requests', { limit: 1 }))[0]?.source).toBe('\uFFFD');
  });
});
