import type pg from 'pg';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateGrant, SharedRateLimit } from '../shared-rate-limit.ts';
import { systemClock } from '../../util/clock.ts';
import { createPool, translate } from './connection.ts';

/** Where the budgets live (created by rate-limiter-flexible if missing; it tolerates replicas racing to create it). */
export const RATE_LIMIT_TABLE = 'hookrelay_rate_limits';

type Rate = { readonly max: number; readonly per_ms: number };

/**
 * Per-destination rate budgets in PostgreSQL, shared by every replica (rate-limiter-flexible's
 * `RateLimiterPostgres`: one atomic upsert per send on the destination's row).
 *
 * `max` per `per` is spent evenly: one send per `per / max` across the cluster, not a burst of
 * `max` at the start of each window. A burst at the end of one window and another at the start
 * of the next would put twice the budget in one `per`; Slack asks for one message per second
 * ("Rate limits": short bursts tolerated, not relied on). Each replica reads the window's expiry
 * against its own machine's time, so replicas' clocks must be in step (NTP).
 */
export class PostgresRateLimit implements SharedRateLimit {
  /**
   * Its answers are measured on the machines' own time (the library reads the system time and takes
   * no clock), so a lane waits for them on that time even when the server runs on a driven clock.
   */
  readonly clock = systemClock;
  readonly #pool: pg.Pool;
  readonly #limiters = new Map<string, Promise<RateLimiterPostgres>>();

  private constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  /**
   * Its own small pool (two connections): a send waiting for its budget never competes with
   * ingest for the store's connections, and the store's back-pressure stays the store's.
   */
  static open(url: string): PostgresRateLimit {
    return new PostgresRateLimit(createPool(url, { max: 2 }));
  }

  async take(destination: string, rate: Rate): Promise<RateGrant> {
    const limiter = await this.#limiter(destination, rate);
    try {
      await limiter.consume(destination, 1);
      return { granted: true };
    } catch (outcome) {
      // The library rejects with a RateLimiterRes when the budget is spent, with an Error otherwise.
      if (outcome instanceof RateLimiterRes) return { granted: false, retry_in_ms: Math.max(1, outcome.msBeforeNext) };
      throw translate(outcome);
    }
  }

  async pause(destination: string, rate: Rate, ms: number): Promise<void> {
    const limiter = await this.#limiter(destination, rate);
    try {
      await limiter.block(destination, ms / 1_000);
    } catch (error) {
      throw translate(error);
    }
  }

  /** One limiter per destination and rate (its points and window are the limiter's settings). */
  #limiter(destination: string, rate: Rate): Promise<RateLimiterPostgres> {
    const name = `${destination}\u0000${rate.max}/${rate.per_ms}`;
    let limiter = this.#limiters.get(name);
    if (!limiter) {
      limiter = new Promise<RateLimiterPostgres>((resolve, reject) => {
        const created: RateLimiterPostgres = new RateLimiterPostgres(
          {
            storeClient: this.#pool,
            storeType: 'pool',
            tableName: RATE_LIMIT_TABLE,
            // The window is part of the key: replicas running different configs of one
            // destination (a rolling deploy) keep separate budgets rather than misread each other's.
            keyPrefix: `rate:${rate.max}/${rate.per_ms}`,
            points: 1,
            duration: rate.per_ms / rate.max / 1_000,
            // Expired rows are swept once an hour; one row per destination, so it stays tiny.
            clearExpiredByTimeout: true,
            // No in-memory shortcuts: the row in PostgreSQL is the only budget.
            inMemoryBlockOnConsumed: 0,
          },
          (error?: unknown) => (error ? reject(translate(error)) : resolve(created)),
        );
      });
      // A failure to create the table (database away) is not remembered: the next send tries again.
      limiter.catch(() => this.#limiters.delete(name));
      this.#limiters.set(name, limiter);
    }
    return limiter;
  }

  async close(): Promise<void> {
    await this.#pool.end().catch(() => undefined);
  }
}
