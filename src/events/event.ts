/**
 * The one normalized event shape every route, filter and template sees
 * (DESIGN.md, "Target design").
 */
export const SEVERITIES = ['critical', 'error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const EVENT_STATUSES = ['firing', 'resolved'] as const;
export type EventStatus = (typeof EVENT_STATUSES)[number];

/** Higher is more severe; used by `severity: ">=warning"` route matchers. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = {
  info: 0,
  warning: 1,
  error: 2,
  critical: 3,
};

export function isSeverity(value: unknown): value is Severity {
  return typeof value === 'string' && (SEVERITIES as readonly string[]).includes(value);
}

/** What a source preset produces from one verified request (one per alert for Alertmanager). */
export interface IncomingEvent {
  /** The sender's own id for this event (payload id, `webhook-id`), used to drop duplicates; null when the sender has none. */
  external_id: string | null;
  type: string;
  severity: Severity;
  status: EventStatus;
  title: string;
  summary: string;
  dedup_key: string;
  /** ISO 8601; null when the sender gave no time (ingest then puts the receive time in its place). */
  occurred_at: string | null;
  /** The sender's payload, untouched. */
  data: unknown;
}

/** An event as stored and as templates see it. */
export interface RelayEvent extends Omit<IncomingEvent, 'external_id' | 'occurred_at'> {
  id: string;
  /** ISO 8601: the sender's time, else the receive time. */
  occurred_at: string;
  /** The configured source name (the `:source` of `POST /hooks/:source`). */
  source: string;
  external_id: string | null;
  /** ISO 8601 */
  received_at: string;
}
