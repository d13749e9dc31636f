/**
 * The circuit breaker's state machine (src/notify/breaker.ts): what each attempt's report does
 * to a destination's health row, what the store must write, and what the dispatcher announces.
 */
import { describe, expect, it } from 'vitest';
import { breakerFold, breakerStep, healthy, probeAt, stampOnly, SUCCESS_STAMP_MS } from '../../src/notify/breaker.ts';
import type { CircuitState, HealthReport } from '../../src/notify/breaker.ts';

const CLOSED: CircuitState = {
  enabled: true,
  consecutive_failures: 0,
  failed_probes: 0,
  probe_at: null,
  last_success_at: null,
  last_error: null,
  disabled_at: null,
  disabled_reason: null,
};
const T = 1_000_000;
const POLICY = { disable_after: 3, probe_backoff_ms: [10_000, 60_000] };
const failure = (at: number, extra: Partial<HealthReport> = {}): HealthReport => ({ health: 'failure', outcome: 'retry', error: 'HTTP 500', finished_at: at, breaker: POLICY, ...extra });
const success = (at: number): HealthReport => ({ ...failure(at), health: 'success', outcome: 'succeeded', error: null });
const flags = (step: { changed: boolean; disabled_now: boolean; enabled_now: boolean }) => [step.changed, step.disabled_now, step.enabled_now];

describe('circuit breaker', () => {
  it('each attempt says whether the row changes and whether the circuit opened or closed just now', () => {
    const fold = breakerFold(CLOSED, [
      failure(T), // 1 of 3
      failure(T + 1), // 2 of 3
      failure(T + 2), // opens
      failure(T + 3), // was running when it opened
      failure(T + 20_000, { probe: true }), // a failed probe
      { ...failure(T + 20_001), health: 'neutral' }, // a rate limit
      success(T + 90_000), // the next probe closes it
    ]);
    expect(fold.steps.map(flags)).toEqual([
      [true, false, false],
      [true, false, false],
      [true, true, false],
      [true, false, false],
      [true, false, false],
      [false, false, false],
      [true, false, true],
    ]);
    expect(fold.changed).toBe(true);
    expect(fold.state).toMatchObject({ enabled: true, consecutive_failures: 0, failed_probes: 0, probe_at: null, last_success_at: T + 90_000 });
  });

  it('a batch that tells the breaker nothing, or only a fresh success stamp, does not write the row', () => {
    expect(breakerFold(CLOSED, []).changed).toBe(false);
    expect(breakerFold(CLOSED, [{ ...failure(T), health: 'neutral' }]).changed).toBe(false);
    const stamped = breakerStep(CLOSED, success(T)).state;
    expect(breakerFold(stamped, [success(T + 10), success(T + 20)]).changed).toBe(false);
    expect(breakerFold(stamped, [success(T + 10), failure(T + 20)]).changed).toBe(true);
  });

  it('the first success ever is stamped; a second exactly one second later is not written', () => {
    const first = breakerStep(CLOSED, success(T));
    expect(first).toMatchObject({ changed: true, state: { last_success_at: T } });
    expect(breakerStep(first.state, success(T + SUCCESS_STAMP_MS)).changed).toBe(false);
  });

  it('a success right after another still clears the failures counted since', () => {
    const stamped = breakerStep(CLOSED, success(T)).state;
    const failing = breakerFold(stamped, [failure(T + 10), failure(T + 20)]).state;
    const step = breakerStep(failing, success(T + 30));
    expect(step.changed).toBe(true);
    expect(step.state.consecutive_failures).toBe(0);
    // Had the failures stayed counted, one more would open the circuit.
    expect(breakerStep(step.state, failure(T + 40)).disabled_now).toBe(false);
  });

  it('a success reported late does not move the last success back', () => {
    const failing = breakerStep({ ...CLOSED, last_success_at: T + 5_000 }, failure(T + 6_000)).state;
    expect(breakerStep(failing, success(T)).state.last_success_at).toBe(T + 5_000);
  });

  it('without an error text the reason names an unknown error', () => {
    const open = breakerFold(CLOSED, [failure(T), failure(T), failure(T, { error: null })]).state;
    expect(open.disabled_reason).toBe('3 consecutive failed attempts; last: unknown error');
  });

  it('an empty backoff list means no automatic recovery: no probe is scheduled', () => {
    expect(probeAt({ disable_after: 3, probe_backoff_ms: [] }, T, 0)).toBeNull();
    expect(probeAt({ disable_after: 3, probe_backoff_ms: null }, T, 0)).toBeNull();
    const open = breakerFold(CLOSED, [1, 2, 3].map(() => failure(T, { breaker: { disable_after: 3, probe_backoff_ms: [] } }))).state;
    expect(open).toMatchObject({ enabled: false, probe_at: null });
  });

  it('healthy means closed with no failure, no failed probe and no probe pending', () => {
    expect(healthy(CLOSED)).toBe(true);
    expect(healthy({ ...CLOSED, enabled: false })).toBe(false);
    expect(healthy({ ...CLOSED, consecutive_failures: 1 })).toBe(false);
    expect(healthy({ ...CLOSED, failed_probes: 1 })).toBe(false);
    expect(healthy({ ...CLOSED, probe_at: T })).toBe(false);
  });

  it('a failure of a healthy destination is more than a stamp: the row is locked and written in full', () => {
    const stamped = breakerStep(CLOSED, success(T)).state;
    expect(stampOnly(stamped, breakerStep(stamped, failure(T + 10)).state)).toBe(false);
  });
});
