import type { Logger } from 'pino';
import type { Clock } from '../util/clock.ts';
import type { SharedRateLimit } from '../store/shared-rate-limit.ts';

/** A destination's rate: at most `max` requests started per `per_ms`. */
export interface Rate {
  readonly max: number;
  readonly per_ms: number;
}

/** The lane's queue of attempts, as far as the rate holds it: nothing starts while paused. */
export interface Startable {
  pause(): void;
  start(): unknown;
}

export interface RateGateOptions {
  readonly destination: string;
  readonly rate: Rate | null;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly queue: Startable;
  /** Budgets shared with other replicas (PostgreSQL store): they replace the local window. */
  readonly shared?: SharedRateLimit | undefined;
}

/** After the shared budget could not be read, ask again this soon. */
const BUDGET_RETRY_MS = 1_000;

/**
 * How fast a lane may send: the destination's rate, kept by the lane's own window on its clock
 * (or by a budget shared with other replicas), and the destination's own "too many requests",
 * which holds every start until the time it named.
 */
export class RateGate {
  readonly #options: RateGateOptions;
  /** The rate this process keeps by itself (no shared budget); null: none, or the shared budget keeps it. */
  readonly #localRate: Rate | null;
  /** When the last `max` attempts started, oldest first (the local rate's window). */
  readonly #starts: number[] = [];
  /** Set while the local rate's window is full: reopens it when its oldest start leaves. */
  #cancelWindow: (() => void) | null = null;
  /** Set while a Retry-After holds the queue. */
  #cancelResume: (() => void) | null = null;
  /** Attempts waiting for the shared rate budget, woken at once by stop(). */
  readonly #budgetWaits = new Set<() => void>();
  #stopped = false;

  constructor(options: RateGateOptions) {
    this.#options = options;
    // A shared budget replaces the local rate (it already counts this process's sends). The local
    // rate is the lane's own window on its clock, not p-queue's interval (which reads the machine's time).
    this.#localRate = options.rate && !options.shared ? options.rate : null;
  }

  /** Paused by the destination's Retry-After: fresh work would only wait. */
  get paused(): boolean {
    return this.#cancelResume !== null;
  }

  /**
   * The local rate: at most `max` attempts start within any `per_ms` (as p-queue's interval
   * counted them: every start, held ones included). The start that fills the window pauses the
   * queue — p-queue starts each task synchronously and checks the pause before the next — until
   * the window's oldest start leaves it; waiting work stays unstarted, in priority order.
   */
  countStart(): void {
    const rate = this.#localRate;
    if (rate === null) return;
    const { clock, queue } = this.#options;
    const now = clock.now();
    this.#starts.push(now);
    if (this.#starts.length > rate.max) this.#starts.shift();
    const reopens = this.#starts.length < rate.max ? now : this.#starts[0]! + rate.per_ms;
    if (reopens <= now) return;
    queue.pause();
    this.#cancelWindow?.();
    this.#cancelWindow = clock.after(reopens - now, () => {
      this.#cancelWindow = null;
      this.#resume();
    });
  }

  /**
   * The destination said "too many requests": nothing else goes until it said to come back, here
   * and (with a shared budget) on every replica.
   */
  tooManyRequests(ms: number): void {
    const { clock, queue, shared, rate, destination, logger } = this.#options;
    if (!this.#stopped) {
      queue.pause();
      this.#cancelResume?.();
      this.#cancelResume = clock.after(ms, () => {
        this.#cancelResume = null;
        this.#resume();
      });
    }
    if (shared && rate) {
      shared.pause(destination, rate, ms).catch((error: unknown) => {
        logger.warn({ err: error, destination }, 'could not pause the shared rate budget');
      });
    }
  }

  /**
   * One send from the destination's shared rate budget, waiting (on the lane's clock) as long as
   * the budget says when it is spent. False when the lane stopped meanwhile. A budget that cannot
   * be read (the database away) is asked again shortly: nothing goes beyond the shared rate.
   */
  async takeBudget(): Promise<boolean> {
    const { shared, rate, destination, logger } = this.#options;
    if (!shared || !rate) return true;
    // The wait is measured on the budget's clock (PostgreSQL's: the machines' own time).
    const clock = shared.clock ?? this.#options.clock;
    while (!this.#stopped) {
      let wait: number;
      try {
        const grant = await shared.take(destination, rate);
        if (grant.granted) return !this.#stopped;
        wait = grant.retry_in_ms;
      } catch (error) {
        logger.warn({ err: error, destination }, 'could not read the shared rate budget; trying again shortly');
        wait = BUDGET_RETRY_MS;
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

  /** The lane stops: no more pauses or reopenings, and attempts waiting for the budget give up now. */
  stop(): void {
    this.#stopped = true;
    this.#cancelResume?.();
    this.#cancelWindow?.();
    for (const wake of [...this.#budgetWaits]) wake();
  }

  /** Starts the queue again, unless a Retry-After or a full rate window still holds it. */
  #resume(): void {
    if (!this.#stopped && this.#cancelResume === null && this.#cancelWindow === null) this.#options.queue.start();
  }
}
