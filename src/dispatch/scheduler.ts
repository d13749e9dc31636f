import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { DestinationLimits } from '../destinations/destination.ts';
import type { ChainRequest, ClaimBatch, ClaimedDelivery, Store, StormPolicy } from '../store/store.ts';
import { every, realTime } from '../util/clock.ts';
import type { Clock } from '../util/clock.ts';
import type { BreakerWatch, CircuitReactions } from './breaker-watch.ts';
import { HeldWork, queuePriority } from './held-work.ts';
import { RateGate } from './rate-gate.ts';
import type { SharedRateLimit } from '../store/shared-rate-limit.ts';

/** The longest a lane sleeps without looking at the store (expired leases of other replicas). */
const MAX_SLEEP_MS = 30_000;
/** After a store error, try again this soon. */
const STORE_RETRY_MS = 1_000;
/** Incidents a lane remembers as having an update waiting (a hint: past this many it starts over). */
const MAX_FOLLOWED = 1_000;
/**
 * Updates of one incident a chained lease may take at once (ChainRequest.run): the lane sends each
 * as soon as the one ahead is answered, while that one's record commits (issue 20, one incident's
 * updates). A crash can then send the ones answered but not yet recorded again, in order.
 */
const CHAIN_RUN = 8;

export interface SchedulerOptions {
  readonly destination: string;
  readonly limits: Pick<DestinationLimits, 'concurrency' | 'rate'>;
  /** When the destination's backlog is a storm (claims then fold each group into a digest); null: never. */
  readonly storm: StormPolicy | null;
  readonly store: Pick<Store, 'claim' | 'leases' | 'onWork'>;
  readonly owner: string;
  readonly leaseMs: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly circuit: Pick<BreakerWatch, 'enabled' | 'news' | 'probes' | 'fromClaim'>;
  /** The destination has a fallback: while its circuit is open, its work is claimed to be handed there (src/notify/fallback.ts). */
  readonly fallback?: boolean;
  readonly sharedRateLimit?: SharedRateLimit | undefined;
  /**
   * Runs one held delivery's attempt in a slot of the queue. It calls `begin` when it starts and
   * `end` when done (the slot is free when its promise settles); the delivery stays held until `end`.
   */
  readonly run: (delivery: ClaimedDelivery) => Promise<void>;
}

/**
 * One destination's flow of work: it claims a few deliveries ahead under a lease (refilling in
 * batches when few are left), holds them, starts them through a p-queue bounded by the
 * destination's concurrency and rate, renews the leases of what it holds, wakes by the clock for
 * the next due retry or probe, and gives back what it will not start (an opened circuit, shutdown).
 */
export class Scheduler implements CircuitReactions {
  readonly rate: RateGate;
  readonly #options: SchedulerOptions;
  readonly #queue: PQueue;
  readonly #work: HeldWork;
  #pumping = false;
  #again = false;
  #stopped = false;
  #cancelWake: (() => void) | null = null;
  #wakeAt = Number.POSITIVE_INFINITY;
  #cancelHeartbeat: (() => void) | null = null;
  /**
   * The last claim took everything the store had due (fewer than it asked for): until news of
   * more (a finish that may let an incident's next one go, work given back; new work, a wake-up
   * or the circuit pump the lane themselves), refilling would only ask the store for nothing.
   */
  #drained = false;
  /** Held deliveries whose record's commit leased their incident's next one (`adoptNext`): their finish frees nothing else. */
  readonly #chained = new Set<string>();
  /**
   * Incidents with a later update known to wait behind the one this lane holds: the record of
   * that one is what the next waits for, so it asks to be committed at once (ChainRequest.urgent).
   * Learned from ingest (an update stored waiting) and from a chained lease (a run of updates
   * usually goes on); a wrong guess costs one commit not shared with others.
   */
  readonly #followed = new Set<string>();
  /** Leased work that arrived while the lane stopped, being given back (stop waits for it). */
  readonly #givingBack = new Set<Promise<void>>();
  /**
   * A chained run's rest (RecordedAttempt.after), held under its lease and not yet queued, by the
   * delivery it waits behind: each goes when the one ahead is answered (`chainNext`).
   */
  readonly #runs = new Map<string, ClaimedDelivery[]>();
  /**
   * Deliveries that came in a chained run. Their records commit in the order they were answered
   * (none of them urgent): the last one's commit leases the incident's next run, and it finds the
   * next only once the records ahead of it are in (an urgent record commits ahead of others, and
   * would find the one before still in flight: nothing leased, and the lane asleep till its wake).
   */
  readonly #runMembers = new Set<string>();

  constructor(options: SchedulerOptions) {
    this.#options = options;
    const { destination, limits, clock, logger, sharedRateLimit } = options;
    this.#queue = new PQueue({ concurrency: limits.concurrency });
    this.#work = new HeldWork(limits);
    this.rate = new RateGate({ destination, rate: limits.rate, clock, logger, queue: this.#queue, shared: sharedRateLimit });
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Renews the leases of held deliveries, so a long pause or a slow attempt never lets them be claimed twice. */
  startHeartbeat(): void {
    const { clock, leaseMs, store, owner, logger, destination } = this.#options;
    this.#cancelHeartbeat = every(clock, Math.max(1_000, Math.floor(leaseMs / 3)), () => {
      if (this.#work.size === 0) return;
      store.leases('extend', this.#work.leasedIds(), owner, clock.now() + leaseMs).catch((error: unknown) => {
        logger.warn({ err: error, destination }, 'could not renew leases');
      });
    });
  }

  /** A lease for one fresh delivery about to be committed, when the lane can start it soon (see Dispatcher.reserve). */
  reserve(): { owner: string; until: number } | null {
    // A paused lane (Retry-After) takes no fresh work: it would only wait in the queue.
    if (this.#stopped || this.#options.circuit.enabled !== true || this.rate.paused) return null;
    if (this.#work.room() <= 0) return null;
    this.#work.reserve();
    return { owner: this.#options.owner, until: this.#options.clock.now() + this.#options.leaseMs };
  }

  adopt(delivery: ClaimedDelivery): void {
    this.#work.unreserve();
    // Committed leased while the lane was stopping: back to pending at once, not left for its lease to expire.
    if (this.#stopped) this.#giveBackLate([delivery]);
    else this.#hold(delivery);
  }

  /** `waitsBehind`: the reserved delivery was stored waiting behind an earlier update of this incident. */
  release(waitsBehind: string | null = null): void {
    this.#work.unreserve();
    if (waitsBehind !== null) this.#follow(waitsBehind);
  }

  #follow(incident: string): void {
    if (this.#followed.size >= MAX_FOLLOWED) this.#followed.clear();
    this.#followed.add(incident);
  }

  /**
   * Whether the commit of an attempt that finishes its delivery may lease the next waiting
   * delivery of its incident (src/notify/incident-order.ts `chainsNext`), so it goes as soon as
   * the one ahead is recorded, not at the next claim; unless its record writes what a later one
   * reads (`logs`), a run of them, each sent as soon as the one ahead is answered. It takes that
   * one's place among held work, so it needs no room of its own; a lane that takes no fresh work
   * (see `reserve`) chains none.
   */
  chainNext(after: ClaimedDelivery, logs = false): ChainRequest | null {
    const run = this.#takeRun(after);
    if (this.#stopped || this.#options.circuit.enabled !== true || this.rate.paused) {
      // The rest of a run goes back to wait in the store: the next claim takes it, in order.
      if (run) this.#giveBackRun(run);
      return null;
    }
    // Its record writes what the next one's rules or message read (`logs`: the notification log,
    // a Slack card's state): the next goes only once it is committed, leased by that commit.
    if (run && logs) this.#giveBackRun(run);
    else if (run) {
      // Already leased behind this one: it goes now, and this record need lease nothing.
      const [next, ...rest] = run;
      if (rest.length > 0) this.#runs.set(next!.id, rest);
      this.#chained.add(after.id);
      this.#enqueue(next!);
      return null;
    }
    // A run is asked for where updates of the incident are known to wait (ingest stored one behind
    // this one, or this one came in a run, which usually goes on); elsewhere (a drain of many
    // incidents) the next one only.
    const followed = this.#followed.delete(after.event.dedup_key);
    const member = this.#runMembers.has(after.id);
    const chain = { lease_ms: this.#options.leaseMs, storm: this.#options.storm, ...(!logs && (followed || member) ? { run: CHAIN_RUN } : {}) };
    return followed && !member ? { ...chain, urgent: true } : chain;
  }

  /** Its attempt did not finish the delivery (a retry): the rest of its run goes back to wait behind it in the store. */
  dropRun(after: ClaimedDelivery): void {
    const run = this.#takeRun(after);
    if (run) this.#giveBackRun(run);
  }

  /** The rest of the run held behind `after`, taken out of the lane's runs. */
  #takeRun(after: ClaimedDelivery): ClaimedDelivery[] | undefined {
    const run = this.#runs.get(after.id);
    this.#runs.delete(after.id);
    return run;
  }

  #giveBackRun(run: readonly ClaimedDelivery[]): void {
    const taken = this.#work.take(run);
    if (taken.length > 0) this.#giveBackLate(taken);
  }

  /**
   * The delivery the commit leased is started like any held one (given back if the lane stopped
   * meanwhile); the rest of its run (`rest`) is held, and each goes when the one ahead is answered.
   */
  adoptNext(next: ClaimedDelivery | null, after: ClaimedDelivery, rest: readonly ClaimedDelivery[] = []): void {
    if (next === null) {
      // A run's last commit leased nothing: if a record ahead of it is still committing (its
      // commit retried after a store error), the incident's next update waits behind that one,
      // and only a refill when it finishes finds it. Every finish may now look again.
      if (this.#runMembers.has(after.id)) this.#chained.clear();
      return;
    }
    this.#chained.add(after.id);
    this.#follow(next.event.dedup_key);
    if (this.#stopped) {
      this.#giveBackLate([next, ...rest]);
      return;
    }
    this.#hold(next);
    // Held in order up to the first this lane holds already (a lapsed lease claimed again): the
    // rest from there waits in the store, so none of them goes ahead of it.
    const at = rest.findIndex((delivery) => !this.#work.hold(delivery));
    const held = at === -1 ? [...rest] : rest.slice(0, at);
    if (at !== -1 && at + 1 < rest.length) this.#giveBackLate(rest.slice(at + 1));
    if (held.length === 0) return;
    this.#runs.set(next.id, held);
    for (const delivery of [next, ...held]) this.#runMembers.add(delivery.id);
  }

  #giveBackLate(deliveries: readonly ClaimedDelivery[]): void {
    const returning: Promise<void> = this.giveBack(deliveries).finally(() => this.#givingBack.delete(returning));
    this.#givingBack.add(returning);
  }

  async pump(): Promise<void> {
    if (this.#stopped) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    const { store, destination, leaseMs: lease_ms, owner, circuit, clock } = this.#options;
    try {
      do {
        this.#again = false;
        const now = clock.now();
        if (circuit.enabled === false) {
          // Probes and hand-overs claim as they fall due: no claim of a closed circuit says the store is drained.
          this.#drained = false;
          // Open circuit: nothing goes but, with automatic recovery, one probe when it is due. A
          // store shared with other replicas is asked even without (a peer may have closed it).
          // With a fallback, work handed over may be held meanwhile: the store leases one probe at a time.
          const shared = store.onWork !== undefined;
          const fallback = this.#options.fallback === true;
          if ((circuit.probes || shared) && (this.#work.size === 0 || fallback)) {
            const news = circuit.news;
            const probe = await store.claim(destination, { probe: true, now, lease_ms, owner });
            this.#take(probe, now, news);
          }
          if (circuit.enabled === false) {
            if (!fallback) break;
            // The rest of what it would send is claimed to be handed to the fallback (attempt-runner.ts).
            const room = this.#work.room();
            if (room <= 0) break;
            const news = circuit.news;
            const batch = await store.claim(destination, { limit: room, now, lease_ms, owner, storm: null, for_fallback: true });
            this.#drained = false;
            this.#take(batch, now, news);
            if (batch.deliveries.length === room) this.#again = true;
            continue;
          }
        }
        const room = this.#work.room();
        if (room <= 0) break;
        const news = circuit.news;
        const batch = await store.claim(destination, { limit: room, now, lease_ms, owner, storm: this.#options.storm });
        // Fewer than asked and nothing else due now (a row another replica was busy with is due still).
        this.#drained = batch.deliveries.length < room && (batch.next_due_at === null || batch.next_due_at > now);
        this.#take(batch, now, news);
        if (batch.deliveries.length === room) this.#again = true;
      } while (this.#again && !this.#stopped);
    } catch (error) {
      this.#options.logger.error({ err: error, destination }, 'claiming deliveries failed; retrying shortly');
      this.wake(clock.now() + STORE_RETRY_MS);
    } finally {
      this.#pumping = false;
    }
  }

  /** `news`: the circuit's news when the claim began (see BreakerWatch). */
  #take(batch: ClaimBatch, now: number, news: number): void {
    this.#options.circuit.fromClaim(batch.enabled, news);
    for (const delivery of batch.deliveries) this.#hold(delivery);
    this.wake(batch.next_due_at ?? now + MAX_SLEEP_MS);
  }

  /** Queues a delivery unless it is already held (a claim can return one whose lease we let lapse). */
  #hold(delivery: ClaimedDelivery): void {
    if (this.#stopped || !this.#work.hold(delivery)) return;
    this.#enqueue(delivery);
  }

  /** A held delivery takes its turn in the queue. */
  #enqueue(delivery: ClaimedDelivery): void {
    void this.#queue.add(
      () => {
        this.rate.countStart();
        return this.#options.run(delivery);
      },
      { priority: queuePriority(delivery) },
    );
  }

  /** Look at the store again at `at` (at the latest in MAX_SLEEP_MS). */
  wake(at: number): void {
    if (this.#stopped) return;
    const { clock } = this.#options;
    const now = clock.now();
    const when = Math.min(at, now + MAX_SLEEP_MS);
    if (this.#cancelWake && when >= this.#wakeAt) return;
    this.#cancelWake?.();
    this.#wakeAt = when;
    this.#cancelWake = clock.after(when - now, () => {
      this.#cancelWake = null;
      this.#wakeAt = Number.POSITIVE_INFINITY;
      void this.pump();
    });
  }

  /** The attempt of a held delivery started. */
  begin(delivery: ClaimedDelivery): void {
    this.#work.started(delivery);
  }

  /**
   * The attempt is done with its slot. `recording`: a success's record still committing, which
   * keeps the delivery held (the next event of its incident waits for it) but not its slot.
   */
  end(delivery: ClaimedDelivery, recording: Promise<void> | null): void {
    if (recording === null) {
      this.#finished(delivery, null);
      return;
    }
    const done: Promise<void> = recording.finally(() => this.#finished(delivery, done));
    this.#work.recording(done);
    // Answered: its record no longer holds up the queue, so refill may start now.
    this.#refillIfLow();
  }

  #finished(delivery: ClaimedDelivery, recording: Promise<void> | null): void {
    this.#work.finished(delivery, recording);
    this.#runMembers.delete(delivery.id);
    // Done without taking its run on (held by a noise rule, given back): the rest waits in the store.
    this.dropRun(delivery);
    // Any other finish may let the next event of its incident go (or was a retry, a hold, a give-back): look.
    if (!this.#chained.delete(delivery.id)) this.#drained = false;
    this.#refillIfLow();
  }

  /** Refill in batches when held work runs low (see HeldWork.low), unless the store has nothing more. */
  #refillIfLow(): void {
    if (this.#work.low() && !this.#drained) void this.pump();
  }

  /** Gives claimed work back to the store as pending, attempts untouched. */
  async giveBack(deliveries: readonly ClaimedDelivery[]): Promise<void> {
    const ids = deliveries.flatMap((delivery) => [delivery.id, ...delivery.member_ids]);
    if (ids.length === 0) return;
    // Due again at once: a refill may take it.
    this.#drained = false;
    try {
      await this.#options.store.leases('release', ids, this.#options.owner);
    } catch (error) {
      this.#options.logger.warn({ err: error, destination: this.#options.destination }, 'could not give back claimed deliveries; their leases will expire');
    }
  }

  /** Held and not started (the rest of chained runs included): taken out of the queue and given back. */
  #giveBackWaiting(): Promise<void> {
    this.#queue.clear();
    this.#runs.clear();
    this.#runMembers.clear();
    return this.giveBack(this.#work.takeWaiting());
  }

  /** The circuit opened: work held in memory and not started goes back to pending, untouched. */
  dropHeldWork(): void {
    void this.#giveBackWaiting();
  }

  /** Stops claiming, gives back work not yet started, and waits (bounded, real time) for attempts in flight. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    this.#cancelWake?.();
    this.#cancelHeartbeat?.();
    this.rate.stop();
    await this.#giveBackWaiting();
    // Attempts still running, and successes whose record is still committing.
    const idle = this.#queue.onIdle().then(() => this.#work.recorded());
    // The grace is real time: it bounds a wait on sockets and commits, during which a driven clock stands still.
    let cancelGrace: (() => void) | undefined;
    await Promise.race([idle, new Promise((resolve) => (cancelGrace = realTime.after(timeoutMs, () => resolve(undefined))))]);
    cancelGrace?.();
    // What the records that committed meanwhile leased (an incident's next update) goes back too.
    await Promise.all([...this.#givingBack]);
    // Sends that outlast the grace are given up on and given back: another replica (or the next
    // start) sends them at once instead of waiting out the lease. Their request may have reached
    // the destination: it is sent again with the same delivery id (at-least-once).
    const abandoned = this.#work.takeRunning();
    if (abandoned.length > 0) {
      this.#options.logger.warn(
        { destination: this.#options.destination, deliveries: abandoned.map((delivery) => delivery.id) },
        `shutdown: ${abandoned.length} send(s) still in flight after ${timeoutMs} ms are given back and will be attempted again`,
      );
      await this.giveBack(abandoned);
    }
  }
}
