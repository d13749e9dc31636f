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

/**
 * What happens after attempt number `attempt` (1-based) came back as `result`:
 * 2xx succeeds; 429 waits Retry-After (at least the schedule step) and does not count
 * against the destination's health; 5xx, 408, 425, timeouts and connection errors
 * retry on the schedule; other 4xx fail at once (400/413/422 without counting against health).
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
  const wait = Math.max(withJitter(step, random), result.retry_after_ms ?? 0);
  return { outcome: 'retry', next_attempt_at: now + wait, health };
}
