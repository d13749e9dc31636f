import { hostname } from 'node:os';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { Destination } from '../destinations/destination.ts';
import { failure } from '../destinations/http-client.ts';
import { SEVERITY_RANK } from '../events/event.ts';
import type { SendResult } from '../destinations/http-client.ts';
import { digestView, stormCapacity } from '../notify/digest.ts';
import type { NotificationStage, StageVerdict } from '../notify/pipeline.ts';
import { loggedTitle } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { AttemptResult, BreakerPolicy, ClaimBatch, ClaimedDelivery, NotificationEntry, RecordedAttempt, Store, StormPolicy } from '../store/store.ts';
import { TemplateRenderError } from '../templates/types.ts';
import type { TemplateContext } from '../templates/types.ts';
import { realTime } from '../util/clock.ts';
import type { Clock } from '../util/clock.ts';
import { formatDuration } from '../util/format.ts';
import { newId } from '../util/ids.ts';
import { decide, retryAfterWait } from './retry-policy.ts';
import type { RetryPolicy } from './retry-policy.ts';
import type { SharedRateLimit } from './shared-rate-limit.ts';
import { SuspectGate, crashLoopReason, isSuspect } from './crash-guard.ts';

/** A destination's circuit opened (disabled) or closed (enabled again). */
export interface BreakerChange {
  readonly destination: string;
  readonly state: 'open' | 'closed';
  readonly consecutive_failures: number;
  readonly last_error: string | null;
  /** When open with automatic recovery: when the first probe goes. */
  readonly probe_at: number | null;
}

export interface DispatcherOptions {
  readonly store: Store;
  readonly destinations: readonly Destination[];
  readonly retry: RetryPolicy;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly version: string;
  /** Decides, per delivery about to go out, whether it goes (mutes, repeats, late retries). */
  readonly stage: NotificationStage;
  /** How long a claimed delivery stays ours before another worker may take it (default 60 s). */
  readonly leaseMs?: number;
  /** Waits before each probe of an open circuit (the last repeats). */
  readonly probeBackoffMs?: readonly number[];
  /** The server's clock: due times, leases, retries, probes, pauses and the rate. */
  readonly clock: Clock;
  /** Told when a destination's circuit opens or closes (logged, and posted to Slack by the server). */
  readonly onBreakerChange?: (change: BreakerChange) => void;
  /**
   * Destinations' rate budgets shared with other replicas (PostgreSQL store): each send takes
   * one, and waits when it is spent. Without it, the rate is this process's (the lane's own window, on its clock).
   */
  readonly sharedRateLimit?: SharedRateLimit;
}

/** The line logged for an attempt that did not fail the delivery for good (that one is a `warn`: "delivery failed"). */
const OUTCOME_MESSAGES: Readonly<Record<Exclude<AttemptResult['outcome'], 'failed'>, string>> = {
  succeeded: 'delivered',
  retry: 'delivery attempt failed; will retry',
  superseded: 'delivery superseded',
};

/** The longest a lane sleeps without looking at the store (expired leases of other replicas). */
const MAX_SLEEP_MS = 30_000;
/** After a store error, try again this soon. */
const STORE_RETRY_MS = 1_000;
/** Probes of an open circuit: 10 s, then doubling to 10 min. */
export const DEFAULT_PROBE_BACKOFF_MS: readonly number[] = [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000];

/**
 * Moves due deliveries from the store to their destinations. One lane per destination:
 * it claims a few deliveries ahead under a lease, runs them through a p-queue that
 * enforces the destination's concurrency (and its rate, on the clock), asks the notification stage whether
 * each may go, and records each attempt with its effects. Lanes wake at once on new work
 * (`notify`) and by the clock for the next due retry or probe.
 */
export class Dispatcher {
  readonly owner = `${hostname()}:${process.pid}:${newId('dlv').slice(-6)}`;
  readonly #lanes = new Map<string, Lane>();
  readonly #store: Store;

  constructor(options: DispatcherOptions) {
    this.#store = options.store;
    // Suspects of a crash loop (crash-guard.ts) are attempted one at a time across all lanes.
    const suspects = new SuspectGate();
    for (const destination of options.destinations) {
      this.#lanes.set(destination.name, new Lane(destination, options, this.owner, suspects));
    }
  }

  async start(): Promise<void> {
    const states = await this.#store.destinationStates();
    for (const state of states) this.#lanes.get(state.name)?.setEnabled(state.enabled);
    for (const lane of this.#lanes.values()) lane.startHeartbeat();
    for (const lane of this.#lanes.values()) void lane.pump();
  }

  /** New work for these destinations is committed: look now. */
  notify(destinations: Iterable<string>): void {
    for (const name of destinations) void this.#lanes.get(name)?.pump();
  }

  /** A destination was re-enabled (admin API): its lane takes work again. */
  enabled(destination: string): void {
    const lane = this.#lanes.get(destination);
    lane?.setEnabled(true);
    void lane?.pump();
  }

  /** Whether this destination keeps per-incident order (every type does unless configured `ordered: false`). */
  ordered(destination: string): boolean {
    return this.#lanes.get(destination)?.ordered ?? true;
  }

  /**
   * A lease for one fresh delivery of this destination, when its lane can start it soon; the
   * delivery is then stored already leased and handed over with `adopt` after the commit, so
   * new work costs no claim. Null when the lane is full or the destination is disabled.
   */
  reserve(destination: string): { readonly owner: string; readonly until: number } | null {
    return this.#lanes.get(destination)?.reserve() ?? null;
  }

  /** Reserved deliveries, now committed: start them. */
  adopt(deliveries: readonly ClaimedDelivery[]): void {
    for (const delivery of deliveries) this.#lanes.get(delivery.destination)?.adopt(delivery);
  }

  /** Reservations that were not used (a duplicate, a failed commit, or work waiting behind its incident). */
  release(destination: string): void {
    this.#lanes.get(destination)?.release();
  }

  /** Stops claiming, gives back work not yet started, and waits (bounded) for attempts in flight. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((lane) => lane.stop(timeoutMs)));
  }
}

/**
 * Held work starts in the order the store claims it — highest severity first — so a critical
 * event claimed behind a storm's digests does not wait for them in memory either; a probe
 * goes before anything. A digest counts as its most severe event. (One delivery per incident
 * is held at a time, so this never reorders an incident's events.)
 */
function queuePriority(delivery: ClaimedDelivery): number {
  if (delivery.probe) return SEVERITY_RANK.critical + 1;
  return delivery.events.reduce((worst, event) => Math.max(worst, SEVERITY_RANK[event.severity]), SEVERITY_RANK[delivery.event.severity]);
}

/** The reason once: "template http/x: output over 1 MB", not "template http/x: http/x: output over 1 MB". */
function templateReason(error: TemplateRenderError, template: string): string {
  return error.template === template ? error.reason : error.message;
}

interface Decision {
  readonly outcome: AttemptResult['outcome'];
  readonly next_attempt_at: number | null;
  readonly health: AttemptResult['health'];
  readonly result: SendResult;
}

class Lane {
  readonly #destination: Destination;
  readonly #options: DispatcherOptions;
  readonly #owner: string;
  readonly #suspects: SuspectGate;
  readonly #clock: Clock;
  readonly #queue: PQueue;
  readonly #leaseMs: number;
  readonly #breaker: BreakerPolicy;
  /** When this destination's backlog is a storm (claims then fold each group into a digest); null: never. */
  readonly #storm: StormPolicy | null;
  /** Claimed and not finished, by lead delivery id (a grouped batch is one entry). */
  readonly #held = new Map<string, ClaimedDelivery>();
  /** Claimed and started (until its attempt is recorded). */
  readonly #running = new Set<string>();
  /** Attempts answered with a success whose record is being committed, outside the queue's slots. */
  readonly #recordings = new Set<Promise<void>>();
  readonly #highWater: number;
  /** Refill from the store when this few are left. */
  readonly #lowWater: number;
  /** Leases lent to deliveries being committed right now. */
  #reserved = 0;
  /** Known from the store at start and kept up to date from every attempt; null until known. */
  #enabled: boolean | null = null;
  /**
   * Bumped each time this lane learns the circuit's state first-hand (its own attempt's record,
   * an enable through it). A claim's answer tells what the store had when the claim read it: one
   * that began before the latest of these knows less and must not overrule it.
   */
  #circuitNews = 0;
  #pumping = false;
  #again = false;
  #stopped = false;
  #cancelWake: (() => void) | null = null;
  #wakeAt = Number.POSITIVE_INFINITY;
  #cancelResume: (() => void) | null = null;
  #cancelHeartbeat: (() => void) | null = null;
  /** The rate this process keeps by itself (no shared budget); null: none, or the shared budget keeps it. */
  readonly #localRate: { readonly max: number; readonly per_ms: number } | null;
  /** When the last `max` attempts started, oldest first (the local rate's window). */
  readonly #starts: number[] = [];
  /** Set while the local rate's window is full: reopens it when its oldest start leaves. */
  #cancelWindow: (() => void) | null = null;
  /** Attempts waiting for the shared rate budget, woken at once by stop(). */
  readonly #budgetWaits = new Set<() => void>();

  constructor(destination: Destination, options: DispatcherOptions, owner: string, suspects: SuspectGate) {
    this.#destination = destination;
    this.#options = options;
    this.#owner = owner;
    this.#suspects = suspects;
    this.#clock = options.clock;
    this.#leaseMs = options.leaseMs ?? 60_000;
    this.#breaker = {
      disable_after: options.retry.disable_after,
      probe_backoff_ms: destination.auto_enable === false ? null : (options.probeBackoffMs ?? DEFAULT_PROBE_BACKOFF_MS),
    };
    const { concurrency, rate } = destination.limits;
    const capacity = stormCapacity(destination.storm, rate);
    // One message per incident (slack-bot): incidents with their own message keep updating it.
    this.#storm = capacity === null ? null : { capacity, keep_incident_messages: destination.refreshIncident !== undefined };
    // A shared budget replaces the local rate (it already counts this process's sends). The local
    // rate is the lane's own window on its clock, not p-queue's interval (which reads the machine's time).
    this.#localRate = rate && !options.sharedRateLimit ? rate : null;
    this.#queue = new PQueue({ concurrency });
    // Claim ahead of what can start; leases of held work are renewed while it waits. A lane
    // without a rate limit claims deep: a claim can wait for a commit's fsync (a few ms, more
    // on a busy disk) and the work still queued must cover that at full speed.
    this.#highWater = (rate ? concurrency * 2 : concurrency * 8) + (rate?.max ?? 0);
    this.#lowWater = Math.floor(this.#highWater / 2);
  }

  get ordered(): boolean {
    return this.#destination.ordered !== false;
  }

  /** Renews the leases of held deliveries, so a long pause or a slow attempt never lets them be claimed twice. */
  startHeartbeat(): void {
    const every = Math.max(1_000, Math.floor(this.#leaseMs / 3));
    const beat = (): void => {
      if (this.#stopped) return;
      this.#renewLeases();
      this.#cancelHeartbeat = this.#clock.after(every, beat);
    };
    this.#cancelHeartbeat = this.#clock.after(every, beat);
  }

  #renewLeases(): void {
    if (this.#held.size === 0) return;
    const ids = [...this.#held.values()].flatMap((delivery) => [delivery.id, ...delivery.member_ids]);
    this.#options.store.extendLeases(ids, this.#owner, this.#clock.now() + this.#leaseMs).catch((error: unknown) => {
      this.#options.logger.warn({ err: error, destination: this.#destination.name }, 'could not renew leases');
    });
  }

  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    this.#circuitNews += 1;
  }

  reserve(): { owner: string; until: number } | null {
    // A paused lane (Retry-After) takes no fresh work: it would only wait in the queue.
    if (this.#stopped || this.#enabled !== true || this.#cancelResume !== null) return null;
    if (this.#room() <= 0) return null;
    this.#reserved += 1;
    return { owner: this.#owner, until: this.#clock.now() + this.#leaseMs };
  }

  adopt(delivery: ClaimedDelivery): void {
    this.#reserved = Math.max(0, this.#reserved - 1);
    // Committed leased while the lane was stopping: back to pending at once, not left for its lease to expire.
    if (this.#stopped) void this.#giveBack([delivery]);
    else this.#hold(delivery);
  }

  /** Queues a delivery unless it is already held (a claim can return one whose lease we let lapse). */
  #hold(delivery: ClaimedDelivery): void {
    if (this.#stopped || this.#held.has(delivery.id)) return;
    this.#held.set(delivery.id, delivery);
    void this.#queue.add(
      () => {
        this.#countStart();
        return this.#attempt(delivery);
      },
      { priority: queuePriority(delivery) },
    );
  }

  release(): void {
    this.#reserved = Math.max(0, this.#reserved - 1);
  }

  async pump(): Promise<void> {
    if (this.#stopped) return;
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        const now = this.#clock.now();
        if (this.#enabled === false) {
          // Open circuit: nothing goes but, with automatic recovery, one probe when it is due. A
          // store shared with other replicas is asked even without (a peer may have closed it).
          const shared = this.#options.store.onWork !== undefined;
          if ((this.#breaker.probe_backoff_ms === null && !shared) || this.#held.size > 0) break;
          const news = this.#circuitNews;
          const probe = await this.#options.store.claimProbe(this.#destination.name, { now, lease_ms: this.#leaseMs, owner: this.#owner });
          this.#take(probe, now, news);
          if (this.#enabled === false) break;
        }
        const room = this.#room();
        if (room <= 0) break;
        const news = this.#circuitNews;
        const batch = await this.#options.store.claimDue(this.#destination.name, {
          limit: room,
          now,
          lease_ms: this.#leaseMs,
          owner: this.#owner,
          storm: this.#storm,
        });
        this.#take(batch, now, news);
        if (batch.deliveries.length === room) this.#again = true;
      } while (this.#again && !this.#stopped);
    } catch (error) {
      this.#options.logger.error({ err: error, destination: this.#destination.name }, 'claiming deliveries failed; retrying shortly');
      this.#wake(this.#clock.now() + STORE_RETRY_MS);
    } finally {
      this.#pumping = false;
    }
  }

  /** `news`: the lane's circuit news when the claim began (see #circuitNews). */
  #take(batch: ClaimBatch, now: number, news: number): void {
    if (batch.enabled !== undefined && batch.enabled !== this.#enabled && news === this.#circuitNews) {
      // Another replica (or a person, through it) opened or closed the circuit: the store decides.
      const wasEnabled = this.#enabled;
      this.#enabled = batch.enabled;
      if (!batch.enabled && wasEnabled === true) void this.#dropHeldWork();
    }
    for (const delivery of batch.deliveries) this.#hold(delivery);
    this.#wake(batch.next_due_at ?? now + MAX_SLEEP_MS);
  }

  #wake(at: number): void {
    if (this.#stopped) return;
    const now = this.#clock.now();
    const when = Math.min(at, now + MAX_SLEEP_MS);
    if (this.#cancelWake && when >= this.#wakeAt) return;
    this.#cancelWake?.();
    this.#wakeAt = when;
    this.#cancelWake = this.#clock.after(when - now, () => {
      this.#cancelWake = null;
      this.#wakeAt = Number.POSITIVE_INFINITY;
      void this.pump();
    });
  }

  #context(delivery: ClaimedDelivery, threshold?: StageVerdict['threshold']): TemplateContext {
    const worst = this.#destination.storm?.worst;
    return {
      ...delivery.event,
      events: delivery.events,
      ...(threshold ? { threshold: { count: threshold.count, within: formatDuration(threshold.within_ms) } } : {}),
      ...(delivery.digest ? { digest: digestView(delivery.events, worst ?? 5, delivery.route) } : {}),
      hookrelay: { version: this.#options.version, destination: this.#destination.name, delivery_id: delivery.id },
    };
  }

  async #attempt(claimed: ClaimedDelivery): Promise<void> {
    if (this.#stopped) return;
    this.#running.add(claimed.id);
    let recording: Promise<void> | null = null;
    let leaveGate: (() => void) | null = null;
    try {
      // Disabled while this waited: it goes back to pending untouched (only the probe goes).
      if (this.#enabled === false && !claimed.probe) {
        await this.#giveBack([claimed]);
        return;
      }
      const crashLoop = crashLoopReason(claimed);
      if (crashLoop !== null) {
        await this.#failUnattempted(claimed, crashLoop);
        return;
      }
      const suspect = isSuspect(claimed);
      if (suspect) {
        leaveGate = await this.#suspects.enter();
        if (this.#stopped) {
          await this.#giveBack([claimed]);
          return;
        }
        // Durable before anything of the attempt runs: a stop from here on counts against it.
        await this.#options.store.markAttemptStarted([claimed.id, ...claimed.member_ids], this.#owner);
      }
      const verdict = await this.#notificationStage(claimed);
      if (verdict.send) {
        if (!(await this.#takeBudget())) {
          // Stopping while it waited for the rate budget: not sent, so back to pending untouched.
          await this.#giveBack([verdict.send]);
          return;
        }
        const sent = await this.#send(verdict.send, verdict.threshold);
        // The destination's concurrency bounds requests, not bookkeeping: after a success the
        // slot takes the next request while this record commits. Anything else keeps its slot
        // until recorded, so a failing destination gets no more requests than before its
        // breaker knows. The delivery stays held (in flight in the store) until recorded, so
        // the next event of its incident still waits for it.
        // A suspect's attempt lasts until it is recorded (the next suspect waits for that).
        if (sent.freesSlot && !suspect) recording = sent.recorded;
        else await sent.recorded;
      }
    } catch (error) {
      this.#attemptFailed(claimed, error);
    } finally {
      leaveGate?.();
      if (recording === null) this.#finished(claimed);
      else this.#track(recording, claimed);
    }
  }

  /** Failed without an attempt (the crash-loop guard): the reason is the error; the destination's health is untouched. */
  async #failUnattempted(claimed: ClaimedDelivery, reason: string): Promise<void> {
    const result = failure('permanent', reason, 0);
    await this.#record(claimed, claimed.attempts + 1, this.#clock.now(), null, { outcome: 'failed', next_attempt_at: null, health: 'neutral', result });
  }

  #attemptFailed(claimed: ClaimedDelivery, error: unknown): void {
    this.#options.logger.error({ err: error, delivery_id: claimed.id, destination: this.#destination.name }, 'delivery attempt failed unexpectedly; its lease will expire');
  }

  #track(recording: Promise<void>, claimed: ClaimedDelivery): void {
    const done = recording
      .catch((error: unknown) => this.#attemptFailed(claimed, error))
      .finally(() => {
        this.#recordings.delete(done);
        this.#finished(claimed);
      });
    this.#recordings.add(done);
    // Answered: its record no longer holds up the queue, so refill may start now.
    this.#refillIfLow();
  }

  #finished(claimed: ClaimedDelivery): void {
    this.#running.delete(claimed.id);
    this.#held.delete(claimed.id);
    this.#refillIfLow();
  }

  /** Claimed work not yet answered (successes whose record is committing are answered). */
  #unanswered(): number {
    return this.#held.size - this.#recordings.size;
  }

  /** How much more may be claimed: held work is bounded twice, what waits for an answer and everything held (records included). */
  #room(): number {
    return Math.min(this.#highWater - this.#unanswered(), 2 * this.#highWater - this.#held.size) - this.#reserved;
  }

  /**
   * Refill in batches, not one claim per finished attempt, and before the queue runs dry: a claim
   * takes a commit's time, and the work still queued must cover it.
   */
  #refillIfLow(): void {
    if (this.#unanswered() <= this.#lowWater) void this.pump();
  }

  /**
   * One send from the destination's shared rate budget, waiting (on the lane's clock) as long as
   * the budget says when it is spent. False when the lane stopped meanwhile. A budget that cannot
   * be read (the database away) is asked again shortly: nothing goes beyond the shared rate.
   */
  async #takeBudget(): Promise<boolean> {
    const shared = this.#options.sharedRateLimit;
    const rate = this.#destination.limits.rate;
    if (!shared || !rate) return true;
    // The wait is measured on the budget's clock (PostgreSQL's: the machines' own time).
    const clock = shared.clock ?? this.#clock;
    while (!this.#stopped) {
      let wait: number;
      try {
        const grant = await shared.take(this.#destination.name, rate);
        if (grant.granted) return !this.#stopped;
        wait = grant.retry_in_ms;
      } catch (error) {
        this.#options.logger.warn({ err: error, destination: this.#destination.name }, 'could not read the shared rate budget; trying again shortly');
        wait = STORE_RETRY_MS;
      }
      await new Promise<void>((resume) => {
        const done = (): void => {
          this.#budgetWaits.delete(done);
          cancel();
          resume();
        };
        const cancel = clock.after(wait, done);
        this.#budgetWaits.add(done);
      });
    }
    return false;
  }

  /** Holds back what the noise rules say (logged with the rule), and returns what still goes, or null. */
  async #notificationStage(delivery: ClaimedDelivery): Promise<StageVerdict> {
    const { stage, store, metrics, logger } = this.#options;
    const verdict = await stage.decide(delivery, this.#destination);
    for (const { ids, hold } of verdict.held) {
      const probeOf = delivery.probe ? this.#destination.name : null;
      await store.holdDeliveries({
        ids,
        lease_owner: this.#owner,
        status: hold.status,
        note: hold.note,
        now: this.#clock.now(),
        probe_of: probeOf,
        held_by: hold.held_by ?? null,
      });
      metrics.ruleDecisions.inc({ rule: hold.rule, decision: hold.status }, ids.length);
      if (logger.isLevelEnabled('info')) {
        logger.info({ destination: this.#destination.name, title: loggedTitle(delivery.event.title), rule: hold.rule, note: hold.note, deliveries: ids }, `delivery held: ${hold.note}`);
      }
    }
    if (verdict.send === null && delivery.probe) {
      // The probe itself was held: probe again with the next delivery at once.
      void this.pump();
    }
    return verdict;
  }

  /**
   * Renders and sends; resolves once the destination answered, with the record of the attempt
   * under way and whether the queue's slot may serve the next request meanwhile (a success).
   */
  async #send(delivery: ClaimedDelivery, threshold?: StageVerdict['threshold']): Promise<{ readonly recorded: Promise<void>; readonly freesSlot: boolean }> {
    const destination = this.#destination;
    const attempt = delivery.attempts + 1;
    const started = this.#clock.now();
    let body = delivery.request_body;
    if (body === null) {
      try {
        body = await destination.render(this.#context(delivery, threshold));
      } catch (error) {
        // A template that cannot render this event is our problem, not the destination's: it
        // fails without touching the destination's health. Anything else (the store, for
        // destinations that read state while rendering) is retried.
        const template = error instanceof TemplateRenderError;
        const reason = template ? `template ${destination.template}: ${templateReason(error, destination.template)}` : `could not prepare the request: ${(error as Error).message}`;
        const result = failure(template ? 'permanent' : 'retry', reason, 0);
        const decision = template ? { outcome: 'failed' as const, next_attempt_at: null } : decide(this.#options.retry, attempt, result, this.#clock.now());
        return { recorded: this.#record(delivery, attempt, started, null, { ...decision, health: 'neutral', result }), freesSlot: false };
      }
    }
    let result: SendResult;
    try {
      result = await destination.send({ delivery_id: delivery.id, attempt, body, event: delivery.event, events: delivery.events });
    } catch (error) {
      result = failure('retry', (error as Error).message, this.#clock.now() - started);
    }
    const decision = decide(this.#options.retry, attempt, result, this.#clock.now());
    // As long as the retry waits (Retry-After, capped), so the lane and the retry come back together.
    const pause = result.rate_limited ? (retryAfterWait(result) ?? 1_000) : 0;
    if (result.rate_limited) this.#pauseFor(pause);
    if (result.rate_limited && this.#options.sharedRateLimit && destination.limits.rate) {
      // Every replica holds off, not only this one.
      this.#options.sharedRateLimit.pause(destination.name, destination.limits.rate, pause).catch((error: unknown) => {
        this.#options.logger.warn({ err: error, destination: destination.name }, 'could not pause the shared rate budget');
      });
    }
    // A probe keeps its slot: the breaker closes (and the backlog flows) once it is recorded.
    return { recorded: this.#record(delivery, attempt, started, body, { ...decision, result }), freesSlot: decision.outcome === 'succeeded' && !delivery.probe };
  }

  /** Gives claimed work back to the store as pending, attempts untouched. */
  async #giveBack(deliveries: readonly ClaimedDelivery[]): Promise<void> {
    const ids = deliveries.flatMap((delivery) => [delivery.id, ...delivery.member_ids]);
    if (ids.length === 0) return;
    try {
      await this.#options.store.releaseClaims(ids, this.#owner);
    } catch (error) {
      this.#options.logger.warn({ err: error, destination: this.#destination.name }, 'could not give back claimed deliveries; their leases will expire');
    }
  }

  /** The destination said "too many requests": nothing else goes until it said to come back. */
  #pauseFor(ms: number): void {
    if (this.#stopped) return;
    this.#queue.pause();
    this.#cancelResume?.();
    this.#cancelResume = this.#clock.after(ms, () => {
      this.#cancelResume = null;
      this.#resume();
    });
  }

  /**
   * The local rate: at most `max` attempts start within any `per_ms` (as p-queue's interval
   * counted them: every start, held ones included). The start that fills the window pauses the
   * queue — p-queue starts each task synchronously and checks the pause before the next — until
   * the window's oldest start leaves it; waiting work stays unstarted, in priority order.
   */
  #countStart(): void {
    const rate = this.#localRate;
    if (rate === null) return;
    const now = this.#clock.now();
    this.#starts.push(now);
    if (this.#starts.length > rate.max) this.#starts.shift();
    const reopens = this.#starts.length < rate.max ? now : this.#starts[0]! + rate.per_ms;
    if (reopens <= now) return;
    this.#queue.pause();
    this.#cancelWindow?.();
    this.#cancelWindow = this.#clock.after(reopens - now, () => {
      this.#cancelWindow = null;
      this.#resume();
    });
  }

  /** Starts the queue again, unless a Retry-After or a full rate window still holds it. */
  #resume(): void {
    if (!this.#stopped && this.#cancelResume === null && this.#cancelWindow === null) this.#queue.start();
  }

  /** What the destination was told, for the notification log (replays and commands tell nothing new). */
  #notified(delivery: ClaimedDelivery, at: number): NotificationEntry[] {
    if (delivery.unordered) return [];
    const ids = [delivery.id, ...delivery.member_ids];
    return delivery.events.map((event, index) => ({
      destination: this.#destination.name,
      dedup_key: event.dedup_key,
      status: event.status,
      occurred_at: event.occurred_at,
      delivery_id: ids[index]!,
      sent_at: at,
    }));
  }

  async #record(delivery: ClaimedDelivery, attempt: number, started: number, body: string | null, decision: Decision): Promise<void> {
    const { result } = decision;
    const destination = this.#destination.name;
    const finished = this.#clock.now();
    const { logger, metrics } = this.#options;
    // The attempt's log line, built only when it is written (the send path runs per delivery).
    const line = (): Record<string, unknown> => ({
      destination,
      title: loggedTitle(delivery.event.title),
      outcome: decision.outcome,
      status: result.status,
      latency_ms: result.latency_ms,
      attempt,
      delivery_id: delivery.id,
      event_id: delivery.event.id,
      ...(result.error ? { error: result.error } : {}),
      ...(decision.next_attempt_at ? { next_attempt_at: new Date(decision.next_attempt_at).toISOString() } : {}),
      ...(delivery.member_ids.length > 0 ? { batch_size: delivery.member_ids.length + 1 } : {}),
      ...(delivery.probe ? { probe: true } : {}),
      ...(delivery.digest ? { digest: true } : {}),
    });
    metrics.deliveryAttempts.inc({ destination, outcome: decision.outcome });
    if (decision.outcome !== 'retry') metrics.deliveries.inc({ destination, outcome: decision.outcome }, 1 + delivery.member_ids.length);
    metrics.attemptDuration.observe({ destination }, result.latency_ms / 1_000);
    if (decision.outcome === 'succeeded') {
      metrics.endToEnd.observe({ destination }, (finished - Date.parse(delivery.event.received_at)) / 1_000);
    }
    const attemptResult: AttemptResult = {
      delivery_id: delivery.id,
      member_ids: delivery.member_ids,
      destination,
      lease_owner: this.#owner,
      started_at: started,
      finished_at: finished,
      outcome: decision.outcome,
      next_attempt_at: decision.next_attempt_at,
      request_body: body,
      response_code: result.status,
      response_body: result.body,
      latency_ms: result.latency_ms,
      error: result.error,
      health: decision.health,
      breaker: this.#breaker,
      probe: delivery.probe,
      notified: decision.outcome === 'succeeded' ? this.#notified(delivery, finished) : [],
      effects: result.effects ?? null,
      ...(delivery.digest ? { digest: true } : {}),
    };
    const recorded = await this.#recordDurably(attemptResult, line);
    if (!recorded) return;
    if (decision.outcome === 'failed') {
      if (logger.isLevelEnabled('warn')) logger.warn(line(), 'delivery failed');
    } else if (logger.isLevelEnabled('info')) {
      logger.info(line(), OUTCOME_MESSAGES[decision.outcome]);
    }
    if (recorded.incident_stale) this.#redraw(delivery);
    this.#afterHealth(recorded, result);
    if (decision.next_attempt_at !== null) this.#wake(decision.next_attempt_at);
  }

  /**
   * The attempt happened: its record (and effects, such as a posted Slack message) must not be
   * lost, or a retry would send it again. While the store cannot write, keep the work held (its
   * lease renewed) and try again; the moment the store takes writes, it is recorded.
   */
  async #recordDurably(result: AttemptResult, line: () => Record<string, unknown>): Promise<RecordedAttempt | null> {
    for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
      try {
        const [recorded] = await this.#options.store.commitAttempts([result]);
        return recorded?.recorded ? recorded : null;
      } catch (error) {
        if (this.#stopped) {
          this.#options.logger.error({ ...line(), err: error }, 'could not record a delivery attempt before shutdown; it will be attempted again');
          return null;
        }
        this.#options.logger.error({ ...line(), err: error }, 'could not record a delivery attempt; trying again');
        await new Promise<void>((resume) => this.#clock.after(wait, resume));
      }
    }
  }

  #redraw(delivery: ClaimedDelivery): void {
    const destination = this.#destination;
    if (!destination.refreshIncident) return;
    destination.refreshIncident(delivery.event.dedup_key).catch((error: unknown) => {
      this.#options.logger.warn({ err: error, destination: destination.name }, 'could not redraw the incident message');
    });
  }

  #afterHealth(recorded: RecordedAttempt, result: SendResult): void {
    const destination = this.#destination.name;
    const { logger, metrics, onBreakerChange } = this.#options;
    const wasEnabled = this.#enabled;
    this.#enabled = recorded.destination.enabled;
    this.#circuitNews += 1;
    if (recorded.disabled_now) {
      const probeAt = this.#breaker.probe_backoff_ms ? this.#clock.now() + (this.#breaker.probe_backoff_ms[0] ?? 0) : null;
      metrics.breakerTransitions.inc({ destination, state: 'open' });
      logger.error(
        { destination, consecutive_failures: recorded.destination.consecutive_failures, last_error: result.error, pending: recorded.destination.pending },
        probeAt === null
          ? `DESTINATION DISABLED: "${destination}" failed ${recorded.destination.consecutive_failures} times in a row. Its deliveries wait as pending and nothing is dropped. Fix it, then POST /api/v1/destinations/${destination}/enable`
          : `DESTINATION DISABLED: "${destination}" failed ${recorded.destination.consecutive_failures} times in a row. Its deliveries wait as pending and nothing is dropped; a probe goes at ${new Date(probeAt).toISOString()} and a success enables it again`,
      );
      onBreakerChange?.({ destination, state: 'open', consecutive_failures: recorded.destination.consecutive_failures, last_error: result.error, probe_at: probeAt });
    }
    if (!this.#enabled && wasEnabled !== false) void this.#dropHeldWork();
    if (this.#enabled === false) this.#wake(this.#clock.now());
    if (recorded.enabled_now) {
      metrics.breakerTransitions.inc({ destination, state: 'closed' });
      logger.warn({ destination }, `DESTINATION ENABLED AGAIN: "${destination}" answered; its waiting deliveries go out in order`);
      onBreakerChange?.({ destination, state: 'closed', consecutive_failures: 0, last_error: null, probe_at: null });
      void this.pump();
    }
  }

  /** Disabled: work held in memory and not started goes back to pending, untouched. */
  async #dropHeldWork(): Promise<void> {
    const waiting = [...this.#held.values()].filter((delivery) => !this.#running.has(delivery.id));
    this.#queue.clear();
    for (const delivery of waiting) this.#held.delete(delivery.id);
    await this.#giveBack(waiting);
  }

  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    this.#cancelWake?.();
    this.#cancelResume?.();
    this.#cancelWindow?.();
    this.#cancelHeartbeat?.();
    for (const wake of [...this.#budgetWaits]) wake();
    this.#queue.clear();
    const notStarted = [...this.#held.values()].filter((delivery) => !this.#running.has(delivery.id));
    for (const delivery of notStarted) this.#held.delete(delivery.id);
    await this.#giveBack(notStarted);
    // Attempts still running, and successes whose record is still committing.
    const idle = this.#queue.onIdle().then(() => Promise.all([...this.#recordings]));
    // The grace is real time: it bounds a wait on sockets and commits, during which a driven clock stands still.
    let cancelGrace: (() => void) | undefined;
    await Promise.race([idle, new Promise((resolve) => (cancelGrace = realTime.after(timeoutMs, () => resolve(undefined))))]);
    cancelGrace?.();
    // Sends that outlast the grace are given up on and given back: another replica (or the next
    // start) sends them at once instead of waiting out the lease. Their request may have reached
    // the destination: it is sent again with the same delivery id (at-least-once).
    const abandoned = [...this.#held.values()].filter((delivery) => this.#running.has(delivery.id));
    if (abandoned.length > 0) {
      this.#options.logger.warn(
        { destination: this.#destination.name, deliveries: abandoned.map((delivery) => delivery.id) },
        `shutdown: ${abandoned.length} send(s) still in flight after ${timeoutMs} ms are given back and will be attempted again`,
      );
      for (const delivery of abandoned) this.#held.delete(delivery.id);
      await this.#giveBack(abandoned);
    }
  }
}
