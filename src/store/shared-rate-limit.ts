import type { Clock } from '../util/clock.ts';

/**
 * A destination's rate budget shared by every replica that sends to it (PostgreSQL store):
 * three replicas must not send three times Slack's one message per second. A lane asks for one
 * send at a time; when the budget is spent it is told how long to wait, and waits on its own
 * clock. With the embedded store one process sends, and the lane keeps the rate by itself.
 */
export interface SharedRateLimit {
  /**
   * The clock its answers are measured on, when not the lane's: a lane waits `retry_in_ms` on it.
   * PostgreSQL's budget is measured on each replica's own time (rate-limiter-flexible reads it).
   */
  readonly clock?: Clock;
  /** One send to `destination`, now: granted, or the milliseconds before the budget allows the next. */
  take(destination: string, rate: { readonly max: number; readonly per_ms: number }): Promise<RateGrant>;
  /** The destination said "too many requests": no replica sends to it for `ms`. */
  pause(destination: string, rate: { readonly max: number; readonly per_ms: number }, ms: number): Promise<void>;
  close(): Promise<void>;
}

export type RateGrant = { readonly granted: true } | { readonly granted: false; readonly retry_in_ms: number };
