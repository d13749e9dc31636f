/**
 * StatusPulse (uptime monitoring). Its two documents disagree on what is signed:
 * - "Webhooks - Custom Event Handling" (seed 003): `X-StatusPulse-Signature` = hex HMAC-SHA256 of
 *   `<X-StatusPulse-Timestamp>.<raw body>` — the default here (`signed: timestamp.body`), with the
 *   timestamp checked against `tolerance` (unix seconds, unix ms or ISO 8601: the format is not given).
 * - "Webhooks - Real-Time Event Streaming" (seed 001): hex HMAC-SHA256 of the raw body alone —
 *   opt in with `signed: body` (no timestamp then, so no replay protection).
 *
 * Two payload shapes exist and both are normalized: the monitor form (001: `event_id, monitor_name,
 * status, timestamp, metadata{…}`) and the check form (003: `event_id, timestamp, event_type, check_id,
 * endpoint, previous_status, current_status, response_time_ms, region, error_code, retry_count`).
 *
 * Severity (`status` / `current_status`):
 *
 * | status                               | severity | status   |
 * |--------------------------------------|----------|----------|
 * | down, major_outage, outage           | critical | firing   |
 * | partial_outage                       | error    | firing   |
 * | degraded, degraded_performance       | warning  | firing   |
 * | maintenance, under_maintenance       | info     | firing   |
 * | operational, up                      | info     | resolved |
 * | anything else                        | warning  | firing   |
 *
 * `event_type` `latency_spike` and `certificate_expiry` are at least `warning` (worse when the status
 * says so) and always firing; `maintenance_window` is `info`.
 */
import { z } from 'zod';
import type { EventStatus, IncomingEvent, Severity } from '../events/event.ts';
import { SEVERITY_RANK } from '../events/event.ts';
import { nameSchema, secretListSchema } from '../util/schemas.ts';
import type { HeaderSignatureScheme } from './signature.ts';
import { firstOf, readHeader, signHeaderSignature, toleranceSchema, verifyHeaderSignature } from './signature.ts';
import { formatNumber, lookupSeverity, occurredAt, parsePayload, spaced } from './fields.ts';
import { humanize } from '../util/format.ts';
import type { InboundRequest, Source, SourcePreset } from './source.ts';
import { lookupTable } from '../util/objects.ts';

export const STATUSPULSE_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  down: 'critical', major_outage: 'critical', outage: 'critical',
  partial_outage: 'error',
  degraded: 'warning', degraded_performance: 'warning',
  maintenance: 'info', under_maintenance: 'info',
  operational: 'info', up: 'info',
});
const RESOLVED_STATUSES = new Set(['operational', 'up']);
/** Event types that are a warning in themselves, whatever the check's status. */
const WARNING_EVENT_TYPES = new Set(['latency_spike', 'certificate_expiry']);

const SIGNATURE_HEADER = 'X-StatusPulse-Signature';
const TIMESTAMP_HEADER = 'X-StatusPulse-Timestamp';

export const statuspulseSchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('statuspulse'),
  secrets: secretListSchema,
  tolerance: toleranceSchema,
  /** What the signature covers: `timestamp.body` (seed 003, default) or `body` (seed 001). */
  signed: z.enum(['timestamp.body', 'body']).default('timestamp.body'),
});
export type StatusPulseConfig = z.output<typeof statuspulseSchema>;

function schemeFor(config: StatusPulseConfig): HeaderSignatureScheme {
  const base = { header: SIGNATURE_HEADER, prefix: '', encoding: 'hex', algorithm: 'sha256' } as const;
  if (config.signed === 'body') return base;
  return {
    ...base,
    timestamp: { header: TIMESTAMP_HEADER, toleranceMs: config.tolerance },
    mismatchHint: 'if this StatusPulse account signs the body alone, as its older document describes, set "signed: body"',
  };
}

const payloadSchema = z
  .looseObject({
    event_id: z.string().min(1),
    timestamp: z.string().optional(),
    // monitor form (seed 001)
    monitor_name: z.string().optional(),
    status: z.string().optional(),
    metadata: z
      .looseObject({
        region: z.string().optional(),
        affected_endpoints: z.array(z.string()).optional(),
        response_time_ms: z.number().optional(),
        error_rate_pct: z.number().optional(),
      })
      .optional(),
    // check form (seed 003)
    event_type: z.string().optional(),
    check_id: z.string().optional(),
    endpoint: z.string().optional(),
    previous_status: z.string().optional(),
    current_status: z.string().optional(),
    response_time_ms: z.number().optional(),
    region: z.string().optional(),
    error_code: z.union([z.number(), z.string()]).optional(),
    retry_count: z.number().optional(),
  })
  .refine((payload) => payload.status !== undefined || payload.current_status !== undefined, {
    path: ['current_status'],
    message: 'expected "current_status" (check form) or "status" (monitor form)',
  });
type StatusPulsePayload = z.output<typeof payloadSchema>;

function severityFor(eventType: string, status: string): Severity {
  const byStatus = lookupSeverity(STATUSPULSE_SEVERITY, status) ?? 'warning';
  if (eventType === 'maintenance_window') return 'info';
  if (WARNING_EVENT_TYPES.has(eventType) && SEVERITY_RANK[byStatus] < SEVERITY_RANK.warning) return 'warning';
  return byStatus;
}

function statusFor(eventType: string, status: string): EventStatus {
  if (WARNING_EVENT_TYPES.has(eventType)) return 'firing';
  return RESOLVED_STATUSES.has(status.toLowerCase()) ? 'resolved' : 'firing';
}

/** "checkout-service-redis is degraded", "Latency spike on https://api.example.com/v2/health". */
function titleFor(eventType: string, subject: string, status: string): string {
  switch (eventType) {
    case 'status_change':
      return `${subject} is ${spaced(status)}`;
    case 'latency_spike':
      return `Latency spike on ${subject}`;
    case 'certificate_expiry':
      return `Certificate expiring on ${subject}`;
    case 'maintenance_window':
      return `Maintenance on ${subject}`;
    default:
      return `${humanize(eventType)} on ${subject}`;
  }
}

/** "operational → degraded · us-east-1 · 1,420 ms response time · error 503". */
function summaryFor(event: StatusPulsePayload): string {
  const parts: string[] = [];
  if (event.previous_status !== undefined && event.current_status !== undefined) {
    parts.push(`${spaced(event.previous_status)} → ${spaced(event.current_status)}`);
  }
  const region = event.region ?? event.metadata?.region;
  if (region !== undefined) parts.push(region);
  const responseTime = event.response_time_ms ?? event.metadata?.response_time_ms;
  if (responseTime !== undefined) parts.push(`${formatNumber(responseTime)} ms response time`);
  if (event.metadata?.error_rate_pct !== undefined) parts.push(`${formatNumber(event.metadata.error_rate_pct)}% errors`);
  if (event.error_code !== undefined) parts.push(`error ${event.error_code}`);
  if (event.retry_count !== undefined && event.retry_count > 0) parts.push(`retry ${event.retry_count}`);
  const endpoints = event.metadata?.affected_endpoints;
  if (endpoints !== undefined && endpoints.length > 0) parts.push(`affects ${endpoints.join(', ')}`);
  return parts.join(' · ');
}

function normalizeStatusPulse(payload: unknown, request: InboundRequest): IncomingEvent[] {
  const event = parsePayload('StatusPulse', payloadSchema, payload);
  // The monitor form has no event type: it reports a status, i.e. a status change.
  const eventType = event.event_type ?? 'status_change';
  const status = event.current_status ?? event.status ?? '';
  const subject = event.endpoint ?? event.check_id ?? event.monitor_name ?? event.event_id;
  const identity =
    event.check_id !== undefined
      ? `check:${event.check_id}`
      : event.monitor_name !== undefined
        ? `monitor:${event.monitor_name}`
        : event.endpoint !== undefined
          ? `endpoint:${event.endpoint}`
          : `event:${event.event_id}`;
  return [
    {
      external_id: event.event_id,
      type: eventType,
      severity: severityFor(eventType, status),
      status: statusFor(eventType, status),
      title: titleFor(eventType, subject, status),
      summary: summaryFor(event),
      dedup_key: identity,
      occurred_at: occurredAt(event.timestamp, readHeader(request, TIMESTAMP_HEADER)),
      data: payload,
    },
  ];
}

export const statuspulsePreset: SourcePreset<typeof statuspulseSchema> = {
  preset: 'statuspulse',
  schema: statuspulseSchema,
  create(config: StatusPulseConfig): Source {
    const scheme = schemeFor(config);
    return {
      name: config.name,
      preset: 'statuspulse',
      verify: (request, nowMs) => verifyHeaderSignature(scheme, config.secrets, request, nowMs),
      normalize: normalizeStatusPulse,
      sign(rawBody, nowMs) {
        return {
          headers: {
            'Content-Type': 'application/json',
            ...signHeaderSignature(scheme, firstOf(config.secrets, 'secret'), rawBody, nowMs),
          },
        };
      },
    };
  },
};
