import type { SendResult } from '../destinations/http-client.ts';
import type { AttemptOutcome } from '../store/store.ts';

export interface RetryPolicy {
  /** Delay before retry n (ms): one attempt, then one per step, then the delivery has failed. */
  readonly schedule: readonly number[];
  /** Consecutive failed attempts that disable a destination. */
  readonly disable_after: number;
}

export interface Decision {
  readonly outcome: AttemptOutcome;
  readonly next_attempt_at: number | null;
  readonly health: 'success' | 'failure' | 'neutral';
}

/**
 * Refusals of the request we drew (a broken template, a body too large), not of the destination:
 * they fail that delivery but say nothing about the destination's health, so one bad template
 * cannot take down every other alert. 401/403/404/410 do count: the destination is misconfigured or gone.
 */
const OUR_REQUEST_REFUSED = new Set([400, 413, 422]);

export function ourRequestRefused(status: number | null): boolean {
  return status !== null && OUR_REQUEST_REFUSED.has(status);
}

/** ±20 % so that retries of a burst do not arrive as a burst again. */
export function withJitter(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * (0.8 + 0.4 * random()));
}

/** The longest a destination's `Retry-After` is followed: a far-off date (or a typo) does not park a delivery for a day. */
export const MAX_RETRY_AFTER_MS = 3_600_000;

/**
 * How long the destination asked us to wait (429 or 503 with `Retry-After`, RFC 9110 §10.2.3,
 * or a destination's own rate-limit answer, such as Discord's `retry_after` and
 * `X-RateLimit-Reset-After`), capped at an hour; null when it did not say (or said it with
 * another status).
 */
export function retryAfterWait(result: SendResult): number | null {
  if (result.retry_after_ms === null || (result.status !== 429 && result.status !== 503 && !result.rate_limited)) return null;
  return Math.min(result.retry_after_ms, MAX_RETRY_AFTER_MS);
}

/**
 * What happens after attempt number `attempt` (1-based) came back as `result`:
 * 2xx succeeds; 429 and 503 with `Retry-After` wait what it says (capped at an hour) instead
 * of the schedule step, since the destination said when it is ready, and a 429 does not
 * count against the destination's health; 5xx, 408, 425, timeouts and connection errors
 * retry on the schedule; other 4xx fail at once (400/413/422 without counting against health).
 * Every retry uses a step of the schedule, so a destination that keeps asking for another
 * try still fails the delivery after the last step.
 */
export function decide(
  policy: RetryPolicy,
  attempt: number,
  result: SendResult,
  now: number,
  random: () => number = Math.random,
): Decision {
  if (result.kind === 'success') return { outcome: 'succeeded', next_attempt_at: null, health: 'success' };
  const health = result.rate_limited || ourRequestRefused(result.status) ? 'neutral' : 'failure';
  const step = policy.schedule[attempt - 1];
  if (result.kind === 'permanent' || step === undefined) return { outcome: 'failed', next_attempt_at: null, health };
  const wait = retryAfterWait(result) ?? withJitter(step, random);
  return { outcome: 'retry', next_attempt_at: now + wait, health };
}
