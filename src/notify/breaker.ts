/**
 * The circuit breaker, as a state machine over a destination's health row: the stores load the
 * row, fold a batch of attempts through `breakerStep` and save the state it returns (when it
 * says so). `disable_after` consecutive failures open the circuit (the destination is
 * disabled); with automatic recovery a probe goes after a backoff that grows with each failed
 * probe; any success closes it, and its waiting work is then due at once.
 */

export interface BreakerPolicy {
  /** Consecutive failed attempts that open the circuit (disable the destination). */
  readonly disable_after: number;
  /** Waits before each probe while open (the last repeats); null: stay disabled until a person enables it. */
  readonly probe_backoff_ms: readonly number[] | null;
}

/** A destination's health row, times in ms. */
export interface CircuitState {
  readonly enabled: boolean;
  readonly consecutive_failures: number;
  readonly failed_probes: number;
  /** Open with automatic recovery: when the next probe may go; null when closed or manual. */
  readonly probe_at: number | null;
  readonly last_success_at: number | null;
  readonly last_error: string | null;
  readonly disabled_at: number | null;
  readonly disabled_reason: string | null;
}

/** What an attempt tells the breaker. */
export interface HealthReport {
  /** `neutral` for rate limits and our own errors: says nothing about the destination. */
  readonly health: 'success' | 'failure' | 'neutral';
  readonly outcome: 'succeeded' | 'retry' | 'failed' | 'superseded';
  /** The attempt was the probe of an open circuit. */
  readonly probe?: boolean | undefined;
  readonly error: string | null;
  readonly finished_at: number;
  readonly breaker: BreakerPolicy;
}

export interface BreakerStep {
  readonly state: CircuitState;
  /** The row must be written (a healthy destination's success stamp moves at most once a second). */
  readonly changed: boolean;
  /** This attempt opened the circuit. */
  readonly disabled_now: boolean;
  /** This attempt closed it (its waiting work is due now). */
  readonly enabled_now: boolean;
}

/** How stale a healthy destination's `last_success_at` may be: saves a row write per success. */
export const SUCCESS_STAMP_MS = 1_000;

/** Closed, no failures, nothing pending on a probe. */
export function healthy(state: CircuitState): boolean {
  return state.enabled && state.consecutive_failures === 0 && state.failed_probes === 0 && state.probe_at === null;
}

/** When the probe goes after `failedProbes` failed probes, or null without automatic recovery. */
export function probeAt(policy: BreakerPolicy, now: number, failedProbes: number): number | null {
  const backoff = policy.probe_backoff_ms;
  if (!backoff || backoff.length === 0) return null;
  return now + (backoff[Math.min(failedProbes, backoff.length - 1)] ?? 0);
}

export function breakerStep(state: CircuitState, report: HealthReport): BreakerStep {
  const now = report.finished_at;
  const same = { state, changed: false, disabled_now: false, enabled_now: false };
  if (report.health === 'success') {
    if (healthy(state) && state.last_success_at !== null && state.last_success_at >= now - SUCCESS_STAMP_MS) return same;
    return {
      state: { ...state, enabled: true, consecutive_failures: 0, failed_probes: 0, probe_at: null, last_success_at: Math.max(now, state.last_success_at ?? now), disabled_at: null, disabled_reason: null },
      changed: true,
      disabled_now: false,
      enabled_now: !state.enabled,
    };
  }
  if (report.health !== 'failure') return same;
  const failed = { ...state, consecutive_failures: state.consecutive_failures + 1, last_error: report.error };
  if (!state.enabled) {
    // Open already: a failed probe backs off further; an attempt that was already running when
    // the circuit opened tells nothing new and must not push the first probe back.
    if (report.probe !== true || (report.outcome !== 'retry' && report.outcome !== 'failed')) {
      return { state: failed, changed: true, disabled_now: false, enabled_now: false };
    }
    const failedProbes = state.failed_probes + 1;
    return { state: { ...failed, failed_probes: failedProbes, probe_at: probeAt(report.breaker, now, failedProbes) }, changed: true, disabled_now: false, enabled_now: false };
  }
  if (failed.consecutive_failures < report.breaker.disable_after) return { state: failed, changed: true, disabled_now: false, enabled_now: false };
  return {
    state: {
      ...failed,
      enabled: false,
      disabled_at: now,
      disabled_reason: `${String(failed.consecutive_failures)} consecutive failed attempts; last: ${report.error ?? 'unknown error'}`,
      failed_probes: 0,
      probe_at: probeAt(report.breaker, now, 0),
    },
    changed: true,
    disabled_now: true,
    enabled_now: false,
  };
}

/** Several attempts of one destination, in the order given: the final state and each one's step. */
export function breakerFold(state: CircuitState, reports: readonly HealthReport[]): { state: CircuitState; changed: boolean; steps: BreakerStep[] } {
  let current = state;
  let changed = false;
  const steps = reports.map((report) => {
    const step = breakerStep(current, report);
    current = step.state;
    changed ||= step.changed;
    return step;
  });
  return { state: current, changed, steps };
}

/** Only the success stamp moves (a healthy destination stays healthy): no lock on the row is needed to write it. */
export function stampOnly(before: CircuitState, after: CircuitState): boolean {
  return healthy(before) && healthy(after) && before.last_error === after.last_error;
}

/** A person enables the destination: closed, failures and probes forgotten (its last error and success kept). */
export function closedByHand(state: CircuitState): CircuitState {
  return { ...state, enabled: true, consecutive_failures: 0, disabled_at: null, disabled_reason: null, probe_at: null, failed_probes: 0 };
}

/**
 * Whose turn it is at an open circuit: `closed` (ordinary work flows again), `manual` (no
 * automatic recovery: a person enables it), `wait` until the probe is due, or `due`.
 */
export type ProbeTurn = { readonly kind: 'closed' } | { readonly kind: 'manual' } | { readonly kind: 'wait'; readonly until: number } | { readonly kind: 'due' };

export function probeTurn(state: CircuitState, now: number): ProbeTurn {
  if (state.enabled) return { kind: 'closed' };
  if (state.probe_at === null) return { kind: 'manual' };
  return state.probe_at > now ? { kind: 'wait', until: state.probe_at } : { kind: 'due' };
}

/** The probe is leased: until it is recorded no other goes; if its worker dies, another may probe after the lease. */
export function probeLeased(state: CircuitState, now: number, leaseMs: number): CircuitState {
  return { ...state, probe_at: now + leaseMs };
}

/** A held probe (muted, a repeat…) told nothing about the destination: the next may go at once. Null: nothing changes. */
export function probeHeld(state: CircuitState, now: number): CircuitState | null {
  if (state.enabled || state.probe_at === null) return null;
  return { ...state, probe_at: now };
}

/** A destination's circuit opened (disabled) or closed (enabled again): what the dispatcher tells whoever listens. */
export interface BreakerChange {
  readonly destination: string;
  readonly state: 'open' | 'closed';
  readonly consecutive_failures: number;
  readonly last_error: string | null;
  /** When open with automatic recovery: when the first probe goes. */
  readonly probe_at: number | null;
}
