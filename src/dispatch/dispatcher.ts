import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Destination } from '../destinations/destination.ts';
import type { BreakerChange } from '../notify/breaker.ts';
import { stormCapacity } from '../notify/digest.ts';
import type { NotificationStage } from '../notify/pipeline.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { ClaimedDelivery, Store } from '../store/store.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import { AttemptRunner } from './attempt-runner.ts';
import { BreakerWatch, breakerPolicy } from './breaker-watch.ts';
import { SuspectGate } from './crash-guard.ts';
import type { RetryPolicy } from './retry-policy.ts';
import { Scheduler } from './scheduler.ts';
import type { SharedRateLimit } from '../store/shared-rate-limit.ts';

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

/** One destination's part of the dispatcher: its flow of work, and its view of the circuit. */
interface Lane {
  readonly destination: Destination;
  readonly scheduler: Scheduler;
  readonly circuit: BreakerWatch;
}

/**
 * Moves due deliveries from the store to their destinations. One lane per destination, made of
 * three parts: a scheduler (scheduler.ts) claims a few deliveries ahead under a lease and starts
 * them within the destination's concurrency and rate; an attempt runner (attempt-runner.ts) asks
 * the notification stage whether each may go, renders, sends and records it with its effects;
 * a breaker watch (breaker-watch.ts) turns the circuit's transitions, which the store decides as
 * it records, into what the lane does. Lanes wake at once on new work (`notify`) and by the clock
 * for the next due retry or probe.
 */
export class Dispatcher {
  readonly owner = `${hostname()}:${process.pid}:${newId('dlv').slice(-6)}`;
  readonly #lanes = new Map<string, Lane>();
  readonly #store: Store;

  constructor(options: DispatcherOptions) {
    this.#store = options.store;
    // Suspects of a crash loop (crash-guard.ts) are attempted one at a time across all lanes.
    const suspects = new SuspectGate();
    const byName = new Map(options.destinations.map((destination) => [destination.name, destination]));
    const fallbacks: LaneFallbacks = {
      find: (name) => byName.get(name),
      handedOver: (name) => this.notify([name]),
    };
    for (const destination of options.destinations) {
      this.#lanes.set(destination.name, lane(destination, options, this.owner, suspects, fallbacks));
    }
  }

  async start(): Promise<void> {
    const states = await this.#store.view('destinations');
    for (const state of states) this.#lanes.get(state.name)?.circuit.setEnabled(state.enabled);
    for (const { scheduler } of this.#lanes.values()) scheduler.startHeartbeat();
    for (const { scheduler } of this.#lanes.values()) void scheduler.pump();
  }

  /** New work for these destinations is committed: look now. */
  notify(destinations: Iterable<string>): void {
    for (const name of destinations) void this.#lanes.get(name)?.scheduler.pump();
  }

  /** A destination was re-enabled (admin API): its lane takes work again. */
  enabled(destination: string): void {
    const lane = this.#lanes.get(destination);
    if (!lane) return;
    lane.circuit.setEnabled(true);
    void lane.scheduler.pump();
  }

  /** Whether this destination keeps per-incident order (every type does unless configured `ordered: false`). */
  ordered(destination: string): boolean {
    const lane = this.#lanes.get(destination);
    return lane === undefined || lane.destination.ordered !== false;
  }

  /**
   * A lease for one fresh delivery of this destination, when its lane can start it soon; the
   * delivery is then stored already leased and handed over with `adopt` after the commit, so
   * new work costs no claim. Null when the lane is full or the destination is disabled.
   */
  reserve(destination: string): { readonly owner: string; readonly until: number } | null {
    return this.#lanes.get(destination)?.scheduler.reserve() ?? null;
  }

  /** Reserved deliveries, now committed: start them. */
  adopt(deliveries: readonly ClaimedDelivery[]): void {
    for (const delivery of deliveries) this.#lanes.get(delivery.destination)?.scheduler.adopt(delivery);
  }

  /**
   * Reservations that were not used (a duplicate, a failed commit, or work waiting behind its
   * incident: `waitsBehind` names that incident, whose update in flight is then recorded at once).
   */
  release(destination: string, waitsBehind: string | null = null): void {
    this.#lanes.get(destination)?.scheduler.release(waitsBehind);
  }

  /** Stops claiming, gives back work not yet started, and waits (bounded) for attempts in flight. */
  async stop(timeoutMs = 10_000): Promise<void> {
    await Promise.all([...this.#lanes.values()].map(({ scheduler }) => scheduler.stop(timeoutMs)));
  }
}

/** What a lane needs of the others for fallbacks (src/notify/fallback.ts). */
interface LaneFallbacks {
  find(name: string): Destination | undefined;
  /** A fallback was given work: its lane looks now. */
  handedOver(name: string): void;
}

/** A destination's lane: its scheduler, breaker watch and attempt runner, wired to one another. */
function lane(destination: Destination, options: DispatcherOptions, owner: string, suspects: SuspectGate, fallbacks: LaneFallbacks): Lane {
  const fallback = destination.fallback === undefined ? null : (fallbacks.find(destination.fallback) ?? null);
  const { store, clock, logger, metrics } = options;
  const leaseMs = options.leaseMs ?? 60_000;
  const breaker = breakerPolicy(destination, options.retry.disable_after, options.probeBackoffMs);
  const capacity = stormCapacity(destination.storm, destination.limits.rate);
  const circuit = new BreakerWatch({
    destination: destination.name,
    policy: breaker,
    clock,
    logger,
    metrics,
    onBreakerChange: options.onBreakerChange,
    fallback: fallback?.name,
    lane: {
      dropHeldWork: () => scheduler.dropHeldWork(),
      wake: (at) => scheduler.wake(at),
      pump: () => void scheduler.pump(),
    },
  });
  const scheduler: Scheduler = new Scheduler({
    destination: destination.name,
    limits: destination.limits,
    // One message per incident (slack-bot): incidents with their own message keep updating it.
    storm: capacity === null ? null : { capacity, keep_incident_messages: destination.refreshIncident !== undefined },
    store,
    owner,
    leaseMs,
    clock,
    logger,
    circuit,
    fallback: fallback !== null,
    sharedRateLimit: options.sharedRateLimit,
    run: (delivery) => runner.attempt(delivery),
  });
  const runner = new AttemptRunner({
    destination,
    store,
    stage: options.stage,
    retry: options.retry,
    breaker,
    owner,
    version: options.version,
    clock,
    logger,
    metrics,
    suspects,
    lane: scheduler,
    circuit,
    fallback: {
      to: fallback,
      describe: (name) => fallbacks.find(name),
      handedOver: (name) => fallbacks.handedOver(name),
    },
  });
  return { destination, scheduler, circuit };
}
