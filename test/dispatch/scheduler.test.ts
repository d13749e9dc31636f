import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BreakerWatch, breakerPolicy } from '../../src/dispatch/breaker-watch.ts';
import { Scheduler } from '../../src/dispatch/scheduler.ts';
import type { RelayEvent } from '../../src/events/event.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { ClaimBatch, ClaimedDelivery, ClaimOptions, ClaimRequest, LeaseKinds, Store } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { ManualClock } from '../support/clock.ts';
import { batchOf, relayEvent } from '../support/events.ts';

/**
 * The scheduler on its own: a store that hands out what the test queued (and records what it
 * is asked), attempts that end when the test says, a clock the test drives. The last part runs
 * on the real SQLite store, where what is given back is the point.
 */

function claimed(overrides: Partial<ClaimedDelivery> & { severity?: RelayEvent['severity'] } = {}): ClaimedDelivery {
  const event = relayEvent({ dedup_key: `incident-${newId('evt')}`, severity: overrides.severity ?? 'warning' });
  return { id: newId('dlv'), destination: 'ops', event, member_ids: [], events: [event], attempts: 0, request_body: null, unordered: false, route: 'all', probe: false, rule_keys: [null], ...overrides };
}

/** The queue side of a store: it hands out `due` in order and records every call. */
class FakeStore {
  readonly due: ClaimedDelivery[] = [];
  readonly claims: number[] = [];
  /** Limits of the claims made for a fallback (ClaimOptions.for_fallback). */
  readonly fallbackClaims: number[] = [];
  readonly probes: Array<Omit<ClaimOptions, 'limit'>> = [];
  readonly released: string[][] = [];
  readonly extended: Array<{ ids: string[]; until: number }> = [];
  /** What claims say of the circuit (a shared store says it). */
  enabled: boolean | undefined = undefined;
  nextDueAt: number | null = null;
  failNextClaim = false;
  /** A claim answers once this settles (what it hands out is taken when the claim begins). */
  claimGate: Promise<void> | null = null;
  /** Thrown by releaseClaims / extendLeases (the database away). */
  writeError: Error | null = null;
  onWork?: Store['onWork'];

  async claim(destination: string, request: ClaimRequest): Promise<ClaimBatch> {
    return request.probe === true ? this.claimProbe(destination, request) : this.claimDue(destination, request);
  }

  readonly leases = (async (kind: keyof LeaseKinds, ids: readonly string[], owner: string, until?: number): Promise<void> => {
    if (kind === 'release') await this.releaseClaims(ids);
    if (kind === 'extend') await this.extendLeases(ids, owner, until!);
  }) as Store['leases'];

  async claimDue(_destination: string, options: ClaimOptions): Promise<ClaimBatch> {
    (options.for_fallback ? this.fallbackClaims : this.claims).push(options.limit);
    if (this.failNextClaim) {
      this.failNextClaim = false;
      throw new Error('database is locked');
    }
    const deliveries = this.due.splice(0, options.limit);
    await this.claimGate;
    return { deliveries, next_due_at: this.nextDueAt, ...(this.enabled === undefined ? {} : { enabled: this.enabled }) };
  }

  async claimProbe(_destination: string, request: ClaimRequest): Promise<ClaimBatch> {
    const { probe: _probe, ...options } = request;
    this.probes.push({ ...options });
    const next = this.due.shift();
    return { deliveries: next ? [{ ...next, probe: true }] : [], next_due_at: this.nextDueAt, ...(this.enabled === undefined ? {} : { enabled: this.enabled }) };
  }

  async releaseClaims(ids: readonly string[]): Promise<void> {
    if (this.writeError) throw this.writeError;
    this.released.push([...ids]);
  }

  async extendLeases(ids: readonly string[], _owner: string, until: number): Promise<void> {
    if (this.writeError) throw this.writeError;
    this.extended.push({ ids: [...ids], until });
  }
}

type QueueStore = Pick<Store, 'claim' | 'leases' | 'onWork'>;

/** Attempts that hold their slot until the test ends them. */
class Attempts {
  readonly started: string[] = [];
  readonly #open = new Map<string, (recording: Promise<void> | null) => void>();
  scheduler!: Scheduler;

  readonly run = (delivery: ClaimedDelivery): Promise<void> => {
    this.scheduler.begin(delivery);
    this.started.push(delivery.id);
    return new Promise<void>((resolve) =>
      this.#open.set(delivery.id, (recording) => {
        this.#open.delete(delivery.id);
        this.scheduler.end(delivery, recording);
        resolve();
      }),
    );
  };

  /** Ends the attempt; `recording`: a success whose record still commits. */
  end(id: string, recording: Promise<void> | null = null): void {
    this.#open.get(id)!(recording);
  }

  get running(): string[] {
    return [...this.#open.keys()];
  }
}

let clock: ManualClock;
let store: FakeStore;
let attempts: Attempts;
let scheduler: Scheduler | null = null;
let circuit: BreakerWatch;

beforeEach(() => {
  clock = new ManualClock();
  store = new FakeStore();
  attempts = new Attempts();
});

afterEach(async () => {
  await scheduler?.stop(100);
  scheduler = null;
});

function lane(options: { concurrency?: number; rate?: { max: number; per_ms: number } | null; autoEnable?: boolean; on?: QueueStore; logger?: pino.Logger; fallback?: boolean } = {}): Scheduler {
  circuit = new BreakerWatch({
    destination: 'ops',
    policy: breakerPolicy({ auto_enable: options.autoEnable }, 3, [10_000]),
    clock,
    logger: silentLogger(),
    metrics: new Metrics(),
    lane: { dropHeldWork: () => lanes.dropHeldWork(), wake: (at) => lanes.wake(at), pump: () => void lanes.pump() },
  });
  const lanes = new Scheduler({
    destination: 'ops',
    limits: { concurrency: options.concurrency ?? 2, rate: options.rate ?? null },
    storm: null,
    store: options.on ?? store,
    owner: 'me',
    leaseMs: 60_000,
    clock,
    logger: options.logger ?? silentLogger(),
    circuit,
    ...(options.fallback ? { fallback: true } : {}),
    run: attempts.run,
  });
  attempts.scheduler = lanes;
  scheduler = lanes;
  return lanes;
}

/** A logger whose lines the test reads. */
function capture(level: pino.Level): { logger: pino.Logger; lines: Array<{ msg: string; [field: string]: unknown }> } {
  const lines: Array<{ msg: string; [field: string]: unknown }> = [];
  return { logger: pino({ level }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) }), lines };
}

function queue(count: number): ClaimedDelivery[] {
  const deliveries = Array.from({ length: count }, () => claimed());
  store.due.push(...deliveries);
  return deliveries;
}

describe('scheduler: claims and slots', () => {
  it('claims ahead (8 × concurrency without a rate) and starts only `concurrency` at a time', async () => {
    queue(40);
    const lanes = lane({ concurrency: 2 });
    circuit.setEnabled(true);
    await lanes.pump();
    await clock.advance(0);
    expect(store.claims).toEqual([16]);
    expect(attempts.started).toHaveLength(2);
  });

  it('with a rate, claims twice the concurrency plus one window of the rate', async () => {
    queue(40);
    const lanes = lane({ concurrency: 2, rate: { max: 3, per_ms: 3_000 } });
    circuit.setEnabled(true);
    await lanes.pump();
    expect(store.claims).toEqual([7]);
  });

  it('refills in one batch once half is left, not one claim per finished attempt', async () => {
    queue(40);
    const lanes = lane({ concurrency: 1 });
    circuit.setEnabled(true);
    await lanes.pump();
    await clock.advance(0);
    expect(store.claims).toEqual([8]);
    for (let i = 0; i < 3; i++) {
      attempts.end(attempts.running[0]!);
      await clock.advance(0);
    }
    expect(store.claims).toEqual([8]);
    attempts.end(attempts.running[0]!);
    await clock.advance(0);
    expect(store.claims).toEqual([8, 4]);
  });

  it('successes whose record still commits free their slot, and held work stops growing at twice the look-ahead', async () => {
    queue(100);
    const lanes = lane({ concurrency: 1 });
    circuit.setEnabled(true);
    await lanes.pump();
    const commits = new Promise<void>(() => undefined);
    while (attempts.running.length > 0) {
      attempts.end(attempts.running[0]!, commits);
      await clock.advance(0);
    }
    // 8 ahead, then room for 8 more each time half were answered, up to 16 held.
    expect(store.claims.reduce((sum, limit) => sum + limit, 0)).toBe(16);
    expect(attempts.started).toHaveLength(16);
  });

  it('successes whose record has committed are done: look-ahead stays at 8, held work does not creep up', async () => {
    queue(100);
    const lanes = lane({ concurrency: 1 });
    circuit.setEnabled(true);
    await lanes.pump();
    let finished = 0;
    for (let i = 0; i < 20; i++) {
      attempts.end(attempts.running[0]!, Promise.resolve());
      finished += 1;
      await clock.advance(0);
      const claimed = store.claims.reduce((sum, limit) => sum + limit, 0);
      expect(claimed - finished).toBeLessThanOrEqual(8);
    }
    expect(attempts.started).toHaveLength(21);
  });

  it('a claim that hands out again a delivery still held here (its lease lapsed): it is not started twice', async () => {
    const [delivery] = queue(1);
    const lanes = lane({ concurrency: 2 });
    circuit.setEnabled(true);
    await lanes.pump();
    await clock.advance(0);
    store.due.push(delivery!);
    await lanes.pump();
    await clock.advance(0);
    expect(attempts.started).toEqual([delivery!.id]);
    attempts.end(delivery!.id);
    await clock.advance(0);
    expect(attempts.running).toEqual([]);
  });

  it('held work starts by severity, most severe first; a probe before anything', async () => {
    const info = claimed({ severity: 'info' });
    const critical = claimed({ severity: 'critical' });
    const digest = claimed({ severity: 'info', digest: true });
    const worstInDigest = relayEvent({ severity: 'error' });
    store.due.push(claimed({ severity: 'warning' }), info, { ...digest, events: [digest.event, worstInDigest] }, critical);
    const lanes = lane({ concurrency: 1 });
    circuit.setEnabled(true);
    await lanes.pump();
    for (let i = 0; i < 3; i++) {
      attempts.end(attempts.running[0]!);
      await clock.advance(0);
    }
    expect(attempts.started.slice(1)).toEqual([critical.id, digest.id, info.id]);
  });

  it('wakes by the clock when the next delivery is due, and at the latest after 30 s', async () => {
    store.nextDueAt = clock.now() + 5_000;
    const lanes = lane();
    circuit.setEnabled(true);
    await lanes.pump();
    store.nextDueAt = null;
    await clock.advance(4_999);
    expect(store.claims).toHaveLength(1);
    await clock.advance(1);
    expect(store.claims).toHaveLength(2);
    await clock.advance(29_999);
    expect(store.claims).toHaveLength(2);
    await clock.advance(1);
    expect(store.claims).toHaveLength(3);
  });

  it('a claim that fails is logged and tried again a second later', async () => {
    const logged: string[] = [];
    store.failNextClaim = true;
    const lanes = lane({ logger: pino({ level: 'error' }, { write: (line: string) => logged.push((JSON.parse(line) as { msg: string }).msg) }) });
    circuit.setEnabled(true);
    queue(1);
    await lanes.pump();
    expect(logged).toEqual(['claiming deliveries failed; retrying shortly']);
    await clock.advance(999);
    expect(store.claims).toHaveLength(1);
    await clock.advance(1);
    expect(store.claims).toHaveLength(2);
    expect(attempts.started).toHaveLength(1);
  });

  it('a claim failure is logged with its destination and the error', async () => {
    const { logger, lines } = capture('error');
    store.failNextClaim = true;
    const lanes = lane({ logger });
    circuit.setEnabled(true);
    await lanes.pump();
    expect(lines).toEqual([expect.objectContaining({ destination: 'ops', err: expect.objectContaining({ message: 'database is locked' }) })]);
  });

  it('new work that arrives while a claim is under way is claimed right after it, not at the next wake-up', async () => {
    const [first] = queue(1);
    const lanes = lane({ concurrency: 2 });
    circuit.setEnabled(true);
    let answer!: () => void;
    store.claimGate = new Promise<void>((resolve) => (answer = resolve));
    const claiming = lanes.pump();
    await clock.advance(0);
    const [second] = queue(1);
    await lanes.pump(); // committed meanwhile: notify() looks now
    store.claimGate = null;
    answer();
    await claiming;
    await clock.advance(0);
    expect(store.claims).toHaveLength(2);
    expect(attempts.started).toEqual([first!.id, second!.id]);
  });

  it('an earlier wake-up replaces a later one, and a later one never postpones an earlier', async () => {
    const lanes = lane();
    circuit.setEnabled(true);
    await lanes.pump(); // nothing due: looks again in 30 s
    lanes.wake(clock.now() + 5_000); // a retry due in 5 s
    await clock.advance(5_000);
    expect(store.claims).toHaveLength(2);
    lanes.wake(clock.now() + 5_000);
    lanes.wake(clock.now() + 20_000);
    await clock.advance(5_000);
    expect(store.claims).toHaveLength(3);
  });

  it('a lease renewal that fails is a warning, and the next renewal tries again', async () => {
    const { logger, lines } = capture('warn');
    store.due.push(claimed());
    const lanes = lane({ logger });
    circuit.setEnabled(true);
    lanes.startHeartbeat();
    await lanes.pump();
    store.writeError = new Error('connection refused');
    await clock.advance(20_000);
    expect(lines).toEqual([expect.objectContaining({ msg: 'could not renew leases', destination: 'ops', err: expect.objectContaining({ message: 'connection refused' }) })]);
    store.writeError = null;
    await clock.advance(20_000);
    expect(store.extended).toHaveLength(1);
  });

  it('renews the leases of everything held, batch members included, every third of the lease', async () => {
    const batch = claimed({ member_ids: ['dlv_member'] });
    store.due.push(batch);
    const lanes = lane();
    circuit.setEnabled(true);
    lanes.startHeartbeat();
    await lanes.pump();
    await clock.advance(20_000);
    expect(store.extended).toEqual([{ ids: [batch.id, 'dlv_member'], until: clock.now() + 60_000 }]);
    attempts.end(batch.id);
    await clock.advance(20_000);
    expect(store.extended).toHaveLength(1);
  });
});

describe('scheduler: reserving fresh work', () => {
  it('lends a lease only with room, a circuit known to be closed and no Retry-After pause', async () => {
    const lanes = lane({ concurrency: 1 });
    expect(lanes.reserve()).toBeNull(); // the circuit's state is not known yet
    circuit.setEnabled(true);
    expect(lanes.reserve()).toEqual({ owner: 'me', until: clock.now() + 60_000 });
    for (let i = 1; i < 8; i++) expect(lanes.reserve()).not.toBeNull();
    expect(lanes.reserve()).toBeNull(); // 8 lent: the lane is full
    lanes.release();
    expect(lanes.reserve()).not.toBeNull();
    expect(lanes.reserve()).toBeNull(); // one given back, one more lent: full again
    lanes.rate.tooManyRequests(1_000);
    lanes.release();
    expect(lanes.reserve()).toBeNull();
  });

  it('an adopted delivery starts without a claim; adopted while stopping, it is given back at once', async () => {
    const lanes = lane();
    circuit.setEnabled(true);
    const fresh = claimed();
    expect(lanes.reserve()).not.toBeNull();
    lanes.adopt(fresh);
    await clock.advance(0);
    expect(attempts.started).toEqual([fresh.id]);
    expect(store.claims).toEqual([]);
    attempts.end(fresh.id);
    await lanes.stop(100);
    const late = claimed();
    lanes.adopt(late);
    await clock.advance(0);
    expect(store.released).toEqual([[late.id]]);
  });

  it('the record of an update with a later one of its incident waiting asks to be committed at once; one with none known does not', async () => {
    const lanes = lane();
    circuit.setEnabled(true);
    const head = claimed();
    const alone = claimed();
    // Ingest stored the incident's next update waiting behind the head.
    expect(lanes.reserve()).not.toBeNull();
    lanes.release(head.event.dedup_key);
    // No update of its incident known to wait: the next one only, no run.
    expect(lanes.chainNext(alone)).toEqual({ lease_ms: 60_000, storm: null });
    expect(lanes.chainNext(head)).toEqual({ lease_ms: 60_000, storm: null, run: 8, urgent: true });
    // Known once: the head's record took the hint.
    expect(lanes.chainNext(head)).toEqual({ lease_ms: 60_000, storm: null });
    // A chained lease: its run of updates probably goes on, so its own record is awaited too.
    const next = claimed({ event: head.event, events: [head.event] });
    lanes.adoptNext(next, head);
    expect(lanes.chainNext(next)).toEqual({ lease_ms: 60_000, storm: null, run: 8, urgent: true });
  });

  it('a chained run goes one at a time as each is answered; its last record leases the next run without asking to go first (the records ahead commit before it)', () => {
    const lanes = lane();
    circuit.setEnabled(true);
    const head = claimed();
    const same = { event: head.event, events: [head.event] };
    const [next, second, third] = [claimed(same), claimed(same), claimed(same)];
    // Ingest stored more updates of the incident waiting: its records would be urgent.
    expect(lanes.reserve()).not.toBeNull();
    lanes.release(head.event.dedup_key);
    lanes.adoptNext(next!, head, [second!, third!]);
    // Answered: the next of the run goes at once, and the record asks for no lease.
    expect(lanes.chainNext(next!)).toBeNull();
    expect(lanes.chainNext(second!)).toBeNull();
    // The run's last: it leases the next run, in turn with the records before it (not urgent).
    expect(lanes.chainNext(third!)).toEqual({ lease_ms: 60_000, storm: null, run: 8 });
  });

  it('a delivery whose record writes what a later one reads (the notification log) asks for the next one only, not a run', () => {
    const lanes = lane();
    circuit.setEnabled(true);
    expect(lanes.chainNext(claimed(), true)).toEqual({ lease_ms: 60_000, storm: null });
  });
});

describe('scheduler: an open circuit', () => {
  it('claims one probe when nothing is held, and no other work while it is out', async () => {
    queue(5);
    const lanes = lane({ concurrency: 2 });
    circuit.setEnabled(false);
    await lanes.pump();
    await clock.advance(0);
    expect(store.probes).toEqual([{ now: clock.now(), lease_ms: 60_000, owner: 'me' }]);
    expect(store.claims).toEqual([]);
    expect(attempts.started).toHaveLength(1);
    await lanes.pump();
    expect(store.probes).toHaveLength(1);
  });

  it('auto_enable: false asks the store nothing; a store shared with replicas is asked (a peer may have closed it)', async () => {
    const lanes = lane({ autoEnable: false });
    circuit.setEnabled(false);
    await lanes.pump();
    expect(store.probes).toEqual([]);

    store.onWork = () => undefined;
    store.enabled = true;
    await lanes.pump();
    // The claim said a peer closed it: the lane claims work at once.
    expect(store.probes).toHaveLength(1);
    expect(circuit.enabled).toBe(true);
    expect(store.claims).toHaveLength(1);
  });

  it('with a fallback: the probe when due, and the rest claimed for the fallback (the probe out or not); never an ordinary claim', async () => {
    queue(5);
    const lanes = lane({ concurrency: 2, fallback: true });
    circuit.setEnabled(false);
    await lanes.pump();
    await clock.advance(0);
    expect(store.probes).toHaveLength(1);
    expect(store.fallbackClaims.length).toBeGreaterThan(0);
    expect(store.claims).toEqual([]);
    // All five are claimed: one probe, four to hand over (two started, by the lane's concurrency).
    expect(store.due).toEqual([]);
    expect(attempts.started).toHaveLength(2);
    // While the probe is out the lane still looks for work to hand over (the store leases one probe at a time).
    queue(1);
    await lanes.pump();
    expect(store.due).toEqual([]);
  });

  it('with a fallback and auto_enable: false: no probe, the work is claimed for the fallback', async () => {
    queue(3);
    const lanes = lane({ autoEnable: false, fallback: true });
    circuit.setEnabled(false);
    await lanes.pump();
    await clock.advance(0);
    expect(store.probes).toEqual([]);
    expect(store.claims).toEqual([]);
    expect(store.fallbackClaims.length).toBeGreaterThan(0);
    expect(store.due).toEqual([]);
  });

  it('opened while work is held: what has not started goes back, what runs finishes', async () => {
    const deliveries = queue(4);
    const lanes = lane({ concurrency: 1 });
    circuit.setEnabled(true);
    await lanes.pump();
    await clock.advance(0);
    lanes.dropHeldWork();
    await clock.advance(0);
    expect(store.released).toEqual([deliveries.slice(1).map((delivery) => delivery.id)]);
    expect(attempts.running).toEqual([deliveries[0]!.id]);
  });
});

describe('scheduler: stopping', () => {
  it('gives back what has not started at once, and waits for what runs', async () => {
    const deliveries = queue(4);
    const { logger, lines } = capture('warn');
    const lanes = lane({ concurrency: 2, logger });
    circuit.setEnabled(true);
    await lanes.pump();
    await clock.advance(0);
    expect(lanes.stopped).toBe(false);
    let stopped = false;
    const stopping = lanes.stop(60_000).then(() => (stopped = true));
    // Attempts ask this before they start: none starts from now on.
    expect(lanes.stopped).toBe(true);
    await clock.advance(0);
    expect(store.released).toEqual([deliveries.slice(2).map((delivery) => delivery.id)]);
    attempts.end(deliveries[0]!.id);
    await clock.advance(0);
    expect(stopped).toBe(false);
    attempts.end(deliveries[1]!.id);
    await stopping;
    expect(store.released).toHaveLength(1);
    expect(lanes.reserve()).toBeNull();
    // Everything finished within the grace: a clean stop warns of nothing.
    expect(lines).toEqual([]);
  });

  it("waits for a success's record still committing: the process does not close the store under it", async () => {
    const [delivery] = queue(1);
    const lanes = lane();
    circuit.setEnabled(true);
    await lanes.pump();
    await clock.advance(0);
    let commit!: () => void;
    attempts.end(delivery!.id, new Promise<void>((resolve) => (commit = resolve)));
    let stopped = false;
    const stopping = lanes.stop(60_000).then(() => (stopped = true));
    await clock.advance(0);
    expect(stopped).toBe(false);
    commit();
    await stopping;
    // Recorded, so not given back to be sent again.
    expect(store.released).toEqual([]);
  });

  it('a send that outlasts the grace is given back, with a warning that it will be attempted again', async () => {
    const { logger, lines } = capture('warn');
    const [delivery] = queue(1);
    const lanes = lane({ logger });
    circuit.setEnabled(true);
    await lanes.pump();
    await clock.advance(0);
    await lanes.stop(10);
    expect(store.released).toEqual([[delivery!.id]]);
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'shutdown: 1 send(s) still in flight after 10 ms are given back and will be attempted again', destination: 'ops', deliveries: [delivery!.id] }),
    ]);
  });

  it('work that cannot be given back (the database away) is a warning: its leases expire, and stopping still ends', async () => {
    const { logger, lines } = capture('warn');
    queue(3);
    const lanes = lane({ concurrency: 1, logger });
    circuit.setEnabled(true);
    await lanes.pump();
    await clock.advance(0);
    store.writeError = new Error('connection refused');
    const stopping = lanes.stop(60_000);
    await clock.advance(0);
    attempts.end(attempts.running[0]!);
    await stopping;
    expect(lines).toEqual([expect.objectContaining({ msg: 'could not give back claimed deliveries; their leases will expire', destination: 'ops', err: expect.objectContaining({ message: 'connection refused' }) })]);
  });

  it('on the SQLite store: work given back at stop is pending at once, for another worker to take', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookrelay-scheduler-'));
    const sqlite = await SqliteStore.open(join(dir, 'store.db'), { clock });
    try {
      await sqlite.syncDestinations(['ops']);
      for (let i = 0; i < 3; i++) await sqlite.ingest(batchOf(relayEvent({ dedup_key: `incident-${i}` }), ['ops'], clock.now()));
      const lanes = lane({ concurrency: 1, on: sqlite });
      circuit.setEnabled(true);
      await lanes.pump();
      await clock.advance(0);
      expect(attempts.started).toHaveLength(1);
      const stopped = lanes.stop(5_000);
      await clock.advance(0);
      attempts.end(attempts.running[0]!);
      await stopped;
      const other = await sqlite.claim('ops', { limit: 10, now: clock.now(), lease_ms: 60_000, owner: 'another' });
      expect(other.deliveries).toHaveLength(2);
      expect(other.deliveries.map((delivery) => delivery.id)).not.toContain(attempts.started[0]);
    } finally {
      await sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
