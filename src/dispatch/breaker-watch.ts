import type { Logger } from 'pino';
import type { BreakerChange } from '../notify/breaker.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { BreakerPolicy, RecordedAttempt } from '../store/store.ts';
import type { Clock } from '../util/clock.ts';

/** Probes of an open circuit: 10 s, then doubling to 10 min. */
export const DEFAULT_PROBE_BACKOFF_MS: readonly number[] = [10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000];

/** What a lane does when its circuit changes (the scheduler does it). */
export interface CircuitReactions {
  /** Work held in memory and not started goes back to pending, untouched. */
  dropHeldWork(): void;
  /** Look at the store at this time (an open circuit: for its probe). */
  wake(at: number): void;
  /** Claim now (the circuit closed: the backlog flows). */
  pump(): void;
}

export interface BreakerWatchOptions {
  readonly destination: string;
  readonly policy: BreakerPolicy;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  readonly lane: CircuitReactions;
  /** Told when the circuit opens or closes (logged, and posted to Slack by the server). */
  readonly onBreakerChange?: ((change: BreakerChange) => void) | undefined;
  /** Where its work goes while open (src/notify/fallback.ts), for the log line; absent without one. */
  readonly fallback?: string | undefined;
}

/** What an attempt's record says of the destination's circuit. */
export type CircuitNews = Pick<RecordedAttempt, 'destination' | 'disabled_now' | 'enabled_now'>;

/**
 * One lane's view of its destination's circuit breaker. The store counts failures and opens or
 * closes the circuit as it records each attempt; this watch learns the outcome (from the lane's
 * own records, from an enable, or from what a claim read), and turns a transition into what the
 * lane does and what people see: held work dropped, the probe's wake-up, the backlog resumed, a
 * metric, a log line and `onBreakerChange`.
 */
export class BreakerWatch {
  readonly policy: BreakerPolicy;
  readonly #options: BreakerWatchOptions;
  /** Known from the store at start and kept up to date from every attempt; null until known. */
  #enabled: boolean | null = null;
  /**
   * Bumped each time the lane learns the circuit's state first-hand (its own attempt's record,
   * an enable through it). A claim's answer tells what the store had when the claim read it: one
   * that began before the latest of these knows less and must not overrule it.
   */
  #news = 0;

  constructor(options: BreakerWatchOptions) {
    this.#options = options;
    this.policy = options.policy;
  }

  /** Null until the store said. */
  get enabled(): boolean | null {
    return this.#enabled;
  }

  /** Taken when a claim begins; handed back with its answer to `fromClaim`. */
  get news(): number {
    return this.#news;
  }

  /** Whether an open circuit is probed by itself (`auto_enable`), rather than waiting for a person. */
  get probes(): boolean {
    return this.policy.probe_backoff_ms !== null;
  }

  /** First-hand: the store's state at start, or an enable through this process. */
  setEnabled(enabled: boolean): void {
    this.#enabled = enabled;
    this.#news += 1;
  }

  /** What a claim that began at `news` read: another replica (or a person, through it) may have opened or closed the circuit. */
  fromClaim(enabled: boolean | undefined, news: number): void {
    if (enabled === undefined || enabled === this.#enabled || news !== this.#news) return;
    const wasEnabled = this.#enabled;
    this.#enabled = enabled;
    if (!enabled && wasEnabled === true) this.#options.lane.dropHeldWork();
  }

  /** This lane's attempt was recorded: the store's verdict on the circuit, and `error`, the attempt's (for the log line). */
  afterAttempt(recorded: CircuitNews, error: string | null): void {
    const { destination, clock, logger, metrics, lane, onBreakerChange } = this.#options;
    const health = recorded.destination;
    const wasEnabled = this.#enabled;
    this.#enabled = health.enabled;
    this.#news += 1;
    if (recorded.disabled_now) {
      const backoff = this.policy.probe_backoff_ms;
      const probeAt = backoff ? clock.now() + (backoff[0] ?? 0) : null;
      metrics.breakerTransitions.inc({ destination, state: 'open' });
      const fallback = this.#options.fallback;
      const meanwhile = fallback === undefined ? 'Its deliveries wait as pending and nothing is dropped' : `Its deliveries go to its fallback "${fallback}" meanwhile, marked as such`;
      logger.error(
        { destination, consecutive_failures: health.consecutive_failures, last_error: error, pending: health.pending },
        probeAt === null
          ? `DESTINATION DISABLED: "${destination}" failed ${health.consecutive_failures} times in a row. ${meanwhile}. Fix it, then POST /api/v1/destinations/${destination}/enable`
          : `DESTINATION DISABLED: "${destination}" failed ${health.consecutive_failures} times in a row. ${meanwhile}; a probe goes at ${new Date(probeAt).toISOString()} and a success enables it again`,
      );
      onBreakerChange?.({ destination, state: 'open', consecutive_failures: health.consecutive_failures, last_error: error, probe_at: probeAt });
    }
    if (!health.enabled && wasEnabled !== false) lane.dropHeldWork();
    // Open: the store says when the probe is due (the claim's next due time).
    if (!health.enabled) lane.wake(clock.now());
    if (recorded.enabled_now) {
      metrics.breakerTransitions.inc({ destination, state: 'closed' });
      logger.warn({ destination }, `DESTINATION ENABLED AGAIN: "${destination}" answered; its waiting deliveries go out in order`);
      onBreakerChange?.({ destination, state: 'closed', consecutive_failures: 0, last_error: null, probe_at: null });
      lane.pump();
    }
  }
}

/** The breaker's settings for a destination: open after `disable_after` failures in a row; probe by itself unless `auto_enable: false`. */
export function breakerPolicy(destination: { readonly auto_enable?: boolean | undefined }, disableAfter: number, probeBackoffMs: readonly number[] | undefined): BreakerPolicy {
  return {
    disable_after: disableAfter,
    probe_backoff_ms: destination.auto_enable === false ? null : (probeBackoffMs ?? DEFAULT_PROBE_BACKOFF_MS),
  };
}
