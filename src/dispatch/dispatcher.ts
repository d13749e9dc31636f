import { hostname } from 'node:os';
import PQueue from 'p-queue';
import type { Logger } from 'pino';
import type { Destination } from '../destinations/destination.ts';
import { failure } from '../destinations/http-client.ts';
import type { SendResult } from '../destinations/http-client.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { AttemptResult, ClaimedDelivery, Store } from '../store/store.ts';
import { TemplateRenderError } from '../templates/types.ts';
import type { TemplateContext } from '../templates/types.ts';
import { newId } from '../util/ids.ts';
import { decide } from './retry-policy.ts';
import type { RetryPolicy } from './retry-policy.ts';

export interface DispatcherOptions {
  readonly store: Store;
  readonly destinations: readonly Destination[];
  readonly retry: RetryPolicy;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly version: string;
  /** How long a claimed delivery stays ours before another worker may take it (default 60 s). */
  readonly leaseMs?: number;
}

/** The longest a lane sleeps without looking at the store (expired leases of other replicas). */
const MAX_SLEEP_MS = 30_000;
/** After a store error, try again this soon. */
const STORE_RETRY_MS = 1_000;

/**
 * Moves due deliveries from the store to their destinations. One lane per destination:
 * it claims a few deliveries ahead under a lease, runs them through a p-queue that
 * enforces the destination's concurrency and rate, and records each attempt. Lanes wake
 * at once on new work (`notify`) and by timer for the next due retry.
 */
export class Dispatcher {
  readonly owner = `${hostname()}:${process.pid}:${newId('dlv').slice(-6)}`;
  readonly #lanes = new Map<string, Lane>();
  readonly #store: Store;

  constructor(options: DispatcherOptions) {
    this.#store = options.store;
    for (const destination of options.destinations) {
      this.#lanes.set(destination.name, new Lane(destination, options, this.owner));
    }
  }

  async start(): Promise<void> {
    const states = await this.#store.destinationStates();
    for (const state of states) this.#lanes.get(state.name)?.setEnabled(state.enabled);
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

  /** Reservations that were not used (the event was a duplicate, or the commit failed). */
  release(destination: string): void {
    this.#lanes.get(destination)?.release();
  }

  /** Stops claiming, gives back work not yet started, and waits (bounded) for attempts in flight. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await Promise.all([...this.#lanes.values()].map((lane) => lane.stop(timeoutMs)));
  }
}

class Lane {
  readonly #destination: Destination;
  readonly #options: DispatcherOptions;
  readonly #owner: string;
  readonly #queue: PQueue;
  readonly #leaseMs: number;
  /** Claimed and not finished, by lead delivery id (a grouped batch is one entry). */
  readonly #held = new Map<string, ClaimedDelivery>();
  /** Claimed and started. */
  readonly #running = new Set<string>();
  readonly #highWater: number;
  /** Refill from the store when this few are left. */
  readonly #lowWater: number;
  /** Leases lent to deliveries being committed right now. */
  #reserved = 0;
  /** Known from the store at start and kept up to date here; null until known. */
  #enabled: boolean | null = null;
  #pumping = false;
  #again = false;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  #timerAt = Number.POSITIVE_INFINITY;
  #resumeTimer: NodeJS.Timeout | null = null;
  /** Renews the leases of held deliveries, so a long pause or a slow attempt never lets them be claimed twice. */
  #heartbeat: NodeJS.Timeout | null = null;
  /**
   * Attempted, but the attempt could not be recorded (a full disk): still leased to us. They are
   * given back as soon as the store can commit again, rather than a whole lease later.
   */
  readonly #unrecorded = new Set<string>();
  #giveBackTimer: NodeJS.Timeout | null = null;

  constructor(destination: Destination, options: DispatcherOptions, owner: string) {
    this.#destination = destination;
    this.#options = options;
    this.#owner = owner;
    this.#leaseMs = options.leaseMs ?? 60_000;
    const { concurrency, rate } = destination.limits;
    this.#queue = new PQueue({
      concurrency,
      ...(rate ? { intervalCap: rate.max, interval: rate.per_ms } : {}),
    });
    // Claim a little ahead of what can start; leases of held work are renewed while it waits.
    this.#highWater = concurrency * 2 + (rate?.max ?? 0);
    this.#lowWater = Math.floor(this.#highWater / 2);
    this.#heartbeat = setInterval(() => this.#renewLeases(), Math.max(1_000, Math.floor(this.#leaseMs / 3)));
    this.#heartbeat.unref();
  }

  #renewLeases(): void {
    if (this.#held.size === 0 || this.#stopped) return;
    const ids = [...this.#held.values()].flatMap((delivery) => [delivery.id, ...delivery.member_ids]);
    this.#options.store.extendLeases(ids, this.#owner, Date.now() + this.#leaseMs).catch((error: unknown) => {
      this.#options.logger.warn({ err: error, destination: this.#destination.name }, 'could not renew leases');
    });
  }

  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
  }

  reserve(): { owner: string; until: number } | null {
    // A paused lane (Retry-After) takes no fresh work: it would only wait in the queue.
    if (this.#stopped || this.#enabled !== true || this.#queue.isPaused) return null;
    if (this.#held.size + this.#reserved >= this.#highWater) return null;
    this.#reserved += 1;
    return { owner: this.#owner, until: Date.now() + this.#leaseMs };
  }

  adopt(delivery: ClaimedDelivery): void {
    this.#reserved = Math.max(0, this.#reserved - 1);
    this.#hold(delivery);
  }

  /** Queues a delivery unless it is already held (a claim can return one whose lease we let lapse). */
  #hold(delivery: ClaimedDelivery): void {
    if (this.#stopped || this.#held.has(delivery.id)) return;
    // Claimed again after its lease ran out: ours once more, not to be given back.
    for (const id of [delivery.id, ...delivery.member_ids]) this.#unrecorded.delete(id);
    this.#held.set(delivery.id, delivery);
    void this.#queue.add(() => this.#attempt(delivery));
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
        const room = this.#highWater - this.#held.size - this.#reserved;
        if (room <= 0) break;
        const now = Date.now();
        const batch = await this.#options.store.claimDue(this.#destination.name, {
          limit: room,
          now,
          lease_ms: this.#leaseMs,
          owner: this.#owner,
        });
        for (const delivery of batch.deliveries) this.#hold(delivery);
        this.#wakeAt(batch.next_due_at ?? now + MAX_SLEEP_MS);
        if (batch.deliveries.length === room) this.#again = true;
      } while (this.#again && !this.#stopped);
    } catch (error) {
      this.#options.logger.error({ err: error, destination: this.#destination.name }, 'claiming deliveries failed; retrying shortly');
      this.#wakeAt(Date.now() + STORE_RETRY_MS);
    } finally {
      this.#pumping = false;
    }
  }

  #wakeAt(at: number): void {
    if (this.#stopped) return;
    const when = Math.min(at, Date.now() + MAX_SLEEP_MS);
    if (this.#timer && when >= this.#timerAt) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timerAt = when;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#timerAt = Number.POSITIVE_INFINITY;
      void this.pump();
    }, Math.max(0, when - Date.now()));
    this.#timer.unref();
  }

  #context(delivery: ClaimedDelivery): TemplateContext {
    return {
      ...delivery.event,
      events: delivery.events,
      hookrelay: { version: this.#options.version, destination: this.#destination.name, delivery_id: delivery.id },
    };
  }

  async #attempt(delivery: ClaimedDelivery): Promise<void> {
    if (this.#stopped) return;
    this.#running.add(delivery.id);
    const destination = this.#destination;
    const attempt = delivery.attempts + 1;
    const started = Date.now();
    try {
      if (destination.stateful && !delivery.unordered) {
        const latest = await this.#options.store.latestDelivered(destination.name, delivery.event.dedup_key);
        if (latest !== null && latest > delivery.event.id) {
          const reason = `superseded: ${latest}, a newer event of this incident, was delivered first`;
          await this.#record(delivery, attempt, started, null, { outcome: 'superseded', next_attempt_at: null, health: 'neutral', result: failure('permanent', reason, 0) });
          return;
        }
      }
      let body = delivery.request_body;
      let result: SendResult;
      if (body === null) {
        try {
          body = await destination.render(this.#context(delivery));
        } catch (error) {
          // A template that cannot render this event is our problem, not the destination's: it
          // fails without touching the destination's health. Anything else (the store, for
          // destinations that read state while rendering) is retried.
          const template = error instanceof TemplateRenderError;
          const reason = template ? `template ${destination.template}: ${(error as Error).message}` : `could not prepare the request: ${(error as Error).message}`;
          const result = failure(template ? 'permanent' : 'retry', reason, 0);
          const decision = template ? { outcome: 'failed' as const, next_attempt_at: null } : decide(this.#options.retry, attempt, result, Date.now());
          await this.#record(delivery, attempt, started, null, { ...decision, health: 'neutral', result });
          return;
        }
      }
      try {
        result = await destination.send({ delivery_id: delivery.id, attempt, body, event: delivery.event });
      } catch (error) {
        result = failure('retry', (error as Error).message, Date.now() - started);
      }
      const decision = decide(this.#options.retry, attempt, result, Date.now());
      if (result.rate_limited) this.#pauseFor(result.retry_after_ms ?? 1_000);
      await this.#record(delivery, attempt, started, body, { ...decision, result });
    } finally {
      this.#running.delete(delivery.id);
      this.#held.delete(delivery.id);
      // Refill in batches, not one claim per finished attempt.
      if (this.#held.size <= this.#lowWater) void this.pump();
    }
  }

  /** The destination said "too many requests": nothing else goes until it said to come back. */
  #pauseFor(ms: number): void {
    if (this.#stopped) return;
    this.#queue.pause();
    if (this.#resumeTimer) clearTimeout(this.#resumeTimer);
    this.#resumeTimer = setTimeout(() => {
      this.#resumeTimer = null;
      if (!this.#stopped) this.#queue.start();
    }, ms);
    this.#resumeTimer.unref();
  }

  async #record(
    delivery: ClaimedDelivery,
    attempt: number,
    started: number,
    body: string | null,
    decision: { outcome: AttemptResult['outcome']; next_attempt_at: number | null; health: AttemptResult['health']; result: SendResult },
  ): Promise<void> {
    const { result } = decision;
    const destination = this.#destination.name;
    const finished = Date.now();
    const { logger, metrics, store, retry } = this.#options;
    const line = {
      delivery_id: delivery.id,
      event_id: delivery.event.id,
      destination,
      attempt,
      outcome: decision.outcome,
      status: result.status,
      latency_ms: result.latency_ms,
      ...(result.error ? { error: result.error } : {}),
      ...(decision.next_attempt_at ? { next_attempt_at: new Date(decision.next_attempt_at).toISOString() } : {}),
      ...(delivery.member_ids.length > 0 ? { batch_size: delivery.member_ids.length + 1 } : {}),
    };
    metrics.deliveryAttempts.inc({ destination, outcome: decision.outcome });
    metrics.attemptDuration.observe({ destination }, result.latency_ms / 1_000);
    if (decision.outcome === 'succeeded') {
      metrics.endToEnd.observe({ destination }, (finished - Date.parse(delivery.event.received_at)) / 1_000);
    }
    try {
      const recorded = await store.recordAttempt({
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
        disable_after: retry.disable_after,
        incident: this.#destination.stateful ? { dedup_key: delivery.event.dedup_key, event_id: delivery.event.id } : null,
      });
      if (decision.outcome === 'failed') logger.warn(line, 'delivery failed');
      else logger.info(line, 'delivery attempt');
      if (recorded.disabled_now) {
        this.#enabled = false;
        logger.error(
          { destination, consecutive_failures: recorded.destination.consecutive_failures, last_error: result.error, pending: recorded.destination.pending },
          `DESTINATION DISABLED: "${destination}" failed ${recorded.destination.consecutive_failures} times in a row. Its deliveries wait as pending and nothing is dropped. Fix it, then POST /api/v1/destinations/${destination}/enable`,
        );
      }
      if (decision.next_attempt_at !== null) this.#wakeAt(decision.next_attempt_at);
    } catch (error) {
      // Attempted again once the store commits (or when its lease runs out): at-least-once, never lost.
      logger.error({ ...line, err: error }, 'could not record a delivery attempt; it is attempted again once the store can commit');
      for (const id of [delivery.id, ...delivery.member_ids]) this.#unrecorded.add(id);
      this.#giveBackSoon();
    }
  }

  /** While the store cannot commit (ping probes it), looks again every STORE_RETRY_MS; then gives the unrecorded back, due now. */
  #giveBackSoon(): void {
    if (this.#giveBackTimer || this.#stopped) return;
    this.#giveBackTimer = setTimeout(() => {
      void this.#giveBack().finally(() => {
        this.#giveBackTimer = null;
        if (this.#unrecorded.size > 0) this.#giveBackSoon();
      });
    }, STORE_RETRY_MS);
    this.#giveBackTimer.unref();
  }

  async #giveBack(): Promise<void> {
    const ids = [...this.#unrecorded];
    if (ids.length === 0 || this.#stopped) return;
    try {
      await this.#options.store.ping();
      await this.#options.store.releaseClaims(ids, this.#owner);
    } catch {
      return;
    }
    for (const id of ids) this.#unrecorded.delete(id);
    this.#options.logger.info({ destination: this.#destination.name, deliveries: ids.length }, 'the store commits again: unrecorded attempts are due again');
    void this.pump();
  }

  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#resumeTimer) clearTimeout(this.#resumeTimer);
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    if (this.#giveBackTimer) clearTimeout(this.#giveBackTimer);
    this.#queue.clear();
    const notStarted = [...this.#held.values()].filter((delivery) => !this.#running.has(delivery.id));
    for (const delivery of notStarted) this.#held.delete(delivery.id);
    try {
      await this.#options.store.releaseClaims(
        [...notStarted.flatMap((delivery) => [delivery.id, ...delivery.member_ids]), ...this.#unrecorded],
        this.#owner,
      );
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'could not give back claimed deliveries; their leases will expire');
    }
    const idle = this.#queue.onIdle();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([idle, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }
}
