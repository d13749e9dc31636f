import type { DeliveryAfter } from '../notify/outcome.ts';
import type { AttemptResult, IncidentState } from './store.ts';

/**
 * Values both stores write in the same columns, in the order their statements list them: one
 * place says which value goes where, each store only says how its dialect binds them.
 */

/**
 * What an attempt writes on every delivery it covers (a grouped batch is one request): status,
 * next_attempt_at, request_body, response_code, response_body, latency_ms, last_error, note,
 * updated_at.
 */
export function attemptColumns(after: DeliveryAfter, result: AttemptResult): Array<string | number | null> {
  return [
    after.status,
    after.next_attempt_at,
    result.request_body,
    result.response_code,
    result.response_body,
    result.latency_ms,
    after.last_error,
    after.note,
    result.finished_at,
  ];
}

/**
 * How an incident stands, decided elsewhere (PagerDuty): acknowledged_by, acknowledged_at,
 * status, resolved_at, resolved_by, updated_at (times stored as ms).
 */
export function incidentStateColumns(state: IncidentState, now: number): Array<string | number | null> {
  return [
    state.acknowledged_by,
    state.acknowledged_at === null ? null : Date.parse(state.acknowledged_at),
    state.status,
    state.resolved_at === null ? null : Date.parse(state.resolved_at),
    state.resolved_by,
    now,
  ];
}
