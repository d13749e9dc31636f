import { describe, expect, it } from 'vitest';
import type { SendResult } from '../../src/destinations/http-client.ts';
import { decide, MAX_RETRY_AFTER_MS, retryAfterWait, withJitter } from '../../src/dispatch/retry-policy.ts';
import type { RetryPolicy } from '../../src/dispatch/retry-policy.ts';

const POLICY: RetryPolicy = { schedule: [1_000, 120_000, 600_000], disable_after: 6 };
const NOW = Date.parse('2026-04-23T18:28:00Z');
/** Jitter pinned to its middle (×1.0), its low end (×0.8) and its high end (→ ×1.2). */
const MIDDLE = (): number => 0.5;
const LOW = (): number => 0;
const HIGH = (): number => 0.999_999;

function answer(status: number | null, extra: Partial<SendResult> = {}): SendResult {
  const kind = status !== null && status >= 200 && status < 300 ? 'success' : status !== null && status < 500 && ![408, 425, 429].includes(status) ? 'permanent' : 'retry';
  return { kind, status, body: null, retry_after_ms: null, rate_limited: status === 429, error: kind === 'success' ? null : `HTTP ${status}`, latency_ms: 5, ...extra };
}

describe('retry policy: decide', () => {
  it('503 with Retry-After: 30 → retry 30 s later, not at the 1 s step; the destination is failing', () => {
    const decision = decide(POLICY, 1, answer(503, { retry_after_ms: 30_000 }), NOW, HIGH);
    expect(decision).toEqual({ outcome: 'retry', next_attempt_at: NOW + 30_000, health: 'failure' });
  });

  it('429 with Retry-After: 30 → retry 30 s later, and it does not count against the destination', () => {
    expect(decide(POLICY, 1, answer(429, { retry_after_ms: 30_000 }), NOW, MIDDLE)).toEqual({
      outcome: 'retry',
      next_attempt_at: NOW + 30_000,
      health: 'neutral',
    });
  });

  it('429 with Retry-After: 1 on the 2 min step → retry 1 s later: the destination said when it is ready', () => {
    expect(decide(POLICY, 2, answer(429, { retry_after_ms: 1_000 }), NOW, HIGH)).toEqual({ outcome: 'retry', next_attempt_at: NOW + 1_000, health: 'neutral' });
    expect(decide(POLICY, 2, answer(503, { retry_after_ms: 1_000 }), NOW, HIGH).next_attempt_at).toBe(NOW + 1_000);
  });

  it('a Retry-After beyond an hour is capped at an hour', () => {
    expect(decide(POLICY, 1, answer(429, { retry_after_ms: 86_400_000 }), NOW, MIDDLE).next_attempt_at).toBe(NOW + MAX_RETRY_AFTER_MS);
    expect(MAX_RETRY_AFTER_MS).toBe(3_600_000);
    // The lane's pause on a 429 is the same wait: it resumes when the retry is due.
    expect(retryAfterWait(answer(429, { retry_after_ms: 86_400_000 }))).toBe(MAX_RETRY_AFTER_MS);
  });

  it("a destination's own rate-limit answer (Discord: not sent while its bucket is empty) → retry when it says, neutral", () => {
    const deferred = { ...answer(null, { retry_after_ms: 1_337 }), kind: 'retry' as const, rate_limited: true };
    expect(decide(POLICY, 2, deferred, NOW, HIGH)).toEqual({ outcome: 'retry', next_attempt_at: NOW + 1_337, health: 'neutral' });
    expect(retryAfterWait(deferred)).toBe(1_337);
  });

  it('Retry-After on a status that does not define it (500) → the schedule step', () => {
    expect(decide(POLICY, 2, answer(500, { retry_after_ms: 1_000 }), NOW, MIDDLE).next_attempt_at).toBe(NOW + 120_000);
  });

  it('no Retry-After → the schedule step for this attempt, jittered within ±20 %', () => {
    expect(decide(POLICY, 2, answer(500), NOW, MIDDLE)).toEqual({ outcome: 'retry', next_attempt_at: NOW + 120_000, health: 'failure' });
    expect(decide(POLICY, 2, answer(500), NOW, LOW).next_attempt_at).toBe(NOW + 96_000);
    expect(decide(POLICY, 2, answer(500), NOW, HIGH).next_attempt_at).toBe(NOW + 144_000);
    expect(decide(POLICY, 3, answer(null), NOW, MIDDLE).next_attempt_at).toBe(NOW + 600_000);
  });

  it('after the last step the delivery has failed, Retry-After or not', () => {
    expect(decide(POLICY, 4, answer(503, { retry_after_ms: 30_000 }), NOW, MIDDLE)).toEqual({ outcome: 'failed', next_attempt_at: null, health: 'failure' });
    expect(decide(POLICY, 4, answer(429), NOW, MIDDLE)).toEqual({ outcome: 'failed', next_attempt_at: null, health: 'neutral' });
  });

  it('a permanent answer (403) fails at once, even with steps left, and counts against the destination', () => {
    expect(decide(POLICY, 1, answer(403), NOW, MIDDLE)).toEqual({ outcome: 'failed', next_attempt_at: null, health: 'failure' });
  });

  it('400/413/422 refuse our own request: failed at once, neutral for the destination; 401/404/410 count', () => {
    for (const status of [400, 413, 422]) {
      expect(decide(POLICY, 1, answer(status), NOW, MIDDLE)).toEqual({ outcome: 'failed', next_attempt_at: null, health: 'neutral' });
    }
    for (const status of [401, 404, 410]) {
      expect(decide(POLICY, 1, answer(status), NOW, MIDDLE)).toEqual({ outcome: 'failed', next_attempt_at: null, health: 'failure' });
    }
  });

  it('2xx succeeds', () => {
    expect(decide(POLICY, 3, answer(204), NOW, MIDDLE)).toEqual({ outcome: 'succeeded', next_attempt_at: null, health: 'success' });
  });

  it('jitter stays within ±20 % of the step', () => {
    expect(withJitter(10_000, LOW)).toBe(8_000);
    expect(withJitter(10_000, MIDDLE)).toBe(10_000);
    expect(withJitter(10_000, HIGH)).toBe(12_000);
    for (let i = 0; i < 200; i++) {
      const wait = withJitter(10_000);
      expect(wait).toBeGreaterThanOrEqual(8_000);
      expect(wait).toBeLessThanOrEqual(12_000);
    }
  });
});
