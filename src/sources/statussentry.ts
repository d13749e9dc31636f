/**
 * StatusSentry (status pages and synthetic monitors), per its "Webhooks | Event-Driven Notifications"
 * document (seed 004): `X-StatusSentry-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256("<t>.<raw body>")>`.
 * Several `v1=` entries may be present (the sender rotating its secret): any one may match.
 * Entries of other schemes (`v0=`, …) are ignored. `t` must be within `tolerance`.
 * Envelope: `{id, type, created_at, data: {…}}`; types incident.created, incident.resolved,
 * monitor.status_change, sla.breach_warning.
 *
 * Severity:
 *
 * | `data.severity`        | severity |    | type                              | severity, status          |
 * |------------------------|----------|----|-----------------------------------|---------------------------|
 * | critical               | critical |    | monitor.status_change, DOWN       | critical, firing          |
 * | major                  | error    |    | monitor.status_change, DEGRADED   | warning, firing           |
 * | minor                  | warning  |    | monitor.status_change, UP         | info, resolved            |
 * | none, maintenance      | info     |    | sla.breach_warning                | warning, firing           |
 * | (missing, incidents)   | warning  |    | incident.resolved                 | by `data.severity`, resolved |
 * | (missing, other types) | info     |    | `data.status: resolved`           | by `data.severity`, resolved |
 */
import { z } from 'zod';
import type { EventStatus, IncomingEvent, Severity } from '../events/event.ts';
import { nameSchema, secretListSchema } from '../util/schemas.ts';
import {
  ACCEPTED,
  anySignatureMatches,
  checkTolerance,
  hmacDigest,
  readHeader,
  rejected,
  timestampedContent,
  toleranceSchema,
  parseTimestampedSignatures,
  signTimestampedSignatures,
} from './signature.ts';
import { describeNumbers, formatNumber, lookupSeverity, occurredAt, parsePayload, spaced } from './fields.ts';
import { humanize } from '../util/format.ts';
import type { InboundRequest, Source, SourcePreset, Verdict } from './source.ts';
import { lookupTable } from '../util/objects.ts';

export const STATUSSENTRY_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  critical: 'critical',
  major: 'error',
  minor: 'warning',
  none: 'info', maintenance: 'info',
});

/** `monitor.status_change`: the monitor's new state (the document's example is `UP` to `DOWN`). */
export const STATUSSENTRY_MONITOR_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  down: 'critical',
  degraded: 'warning',
  up: 'info',
});

const SIGNATURE_HEADER = 'X-StatusSentry-Signature';
const FORMAT = `${SIGNATURE_HEADER} must be "t=<unix seconds>,v1=<64 hex characters>" (several v1= entries allowed)`;

export const statussentrySchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('statussentry'),
  secrets: secretListSchema,
  tolerance: toleranceSchema,
});
export type StatusSentryConfig = z.output<typeof statussentrySchema>;


export function verifyStatusSentry(
  secrets: readonly string[],
  toleranceMs: number,
  request: InboundRequest,
  nowMs: number,
): Verdict {
  const value = readHeader(request, SIGNATURE_HEADER);
  if (value === undefined) return rejected('signature_missing', `the ${SIGNATURE_HEADER} header is required`);
  const parsed = parseTimestampedSignatures(value, FORMAT);
  if (typeof parsed === 'string') return rejected('signature_malformed', parsed);
  const fresh = checkTolerance(`${SIGNATURE_HEADER} t=`, parsed.timestampMs, nowMs, toleranceMs);
  if (!fresh.ok) return fresh;
  // The document: "Construct a string timestamp + '.' + raw_body. Compute the HMAC-SHA256".
  const content = timestampedContent(parsed.timestamp, request.rawBody);
  const matched = anySignatureMatches(secrets, parsed.signatures, (secret) => hmacDigest('sha256', secret, content));
  return matched
    ? ACCEPTED
    : rejected(
        'signature_mismatch',
        `no v1= signature in ${SIGNATURE_HEADER} matches an HMAC-SHA256 of "<t>.<body>" with any configured secret`,
      );
}

/** The `t=` of a verified request: `occurred_at` when the payload has no `created_at`. */
function signedTime(request: InboundRequest): string | undefined {
  const value = readHeader(request, SIGNATURE_HEADER);
  const parsed = value === undefined ? undefined : parseTimestampedSignatures(value, FORMAT);
  return typeof parsed === 'object' ? parsed.timestamp : undefined;
}

const componentSchema = z.looseObject({ name: z.string().optional(), status: z.string().optional() });

const payloadSchema = z.looseObject({
  id: z.string().min(1),
  type: z.string().min(1),
  created_at: z.string().optional(),
  data: z
    .looseObject({
      incident_id: z.string().optional(),
      title: z.string().optional(),
      status: z.string().optional(),
      severity: z.string().optional(),
      components: z.array(componentSchema).optional(),
      // monitor.status_change: "the monitor ID, region, and response time metrics"; names not given.
      monitor_id: z.string().optional(),
      monitor_name: z.string().optional(),
      name: z.string().optional(),
      previous_status: z.string().optional(),
      current_status: z.string().optional(),
      region: z.string().optional(),
      response_time_ms: z.number().optional(),
    })
    .default({}),
});
type StatusSentryPayload = z.output<typeof payloadSchema>;
type StatusSentryData = StatusSentryPayload['data'];

function monitorState(data: StatusSentryData): string | undefined {
  return data.current_status ?? data.status;
}

function classify(event: StatusSentryPayload): { severity: Severity; status: EventStatus } {
  const { type, data } = event;
  const stated = lookupSeverity(STATUSSENTRY_SEVERITY, data.severity);
  if (type === 'monitor.status_change') {
    const state = (monitorState(data) ?? '').toLowerCase();
    const severity = lookupSeverity(STATUSSENTRY_MONITOR_SEVERITY, state) ?? stated ?? 'warning';
    return { severity, status: state === 'up' ? 'resolved' : 'firing' };
  }
  if (type === 'sla.breach_warning') return { severity: 'warning', status: 'firing' };
  const resolved = type === 'incident.resolved' || data.status?.toLowerCase() === 'resolved';
  const severity = stated ?? (type.startsWith('incident.') ? 'warning' : 'info');
  return { severity, status: resolved ? 'resolved' : 'firing' };
}

function titleFor(event: StatusSentryPayload): string {
  const { type, data } = event;
  const subject = data.monitor_name ?? data.name ?? data.monitor_id;
  if (type === 'monitor.status_change' && subject !== undefined) {
    const state = monitorState(data);
    const where = data.region === undefined ? '' : ` in ${data.region}`;
    return state === undefined ? `${subject} changed state${where}` : `${subject} is ${state}${where}`;
  }
  if (type === 'sla.breach_warning') return subject === undefined ? 'SLA breach expected' : `SLA breach expected for ${subject}`;
  return data.title ?? (data.incident_id === undefined ? humanize(type.replace(/\./g, ' ')) : `Incident ${data.incident_id}`);
}

/** "major · investigating · API Gateway: degraded performance". */
function summaryFor(event: StatusSentryPayload): string {
  const { type, data } = event;
  const parts: string[] = [];
  if (type === 'monitor.status_change') {
    if (data.previous_status !== undefined && monitorState(data) !== undefined) {
      parts.push(`${data.previous_status} → ${monitorState(data)}`);
    }
    if (data.response_time_ms !== undefined) parts.push(`${formatNumber(data.response_time_ms)} ms response time`);
    return parts.join(' · ');
  }
  if (type.startsWith('incident.')) {
    if (data.severity !== undefined) parts.push(data.severity);
    if (data.status !== undefined) parts.push(spaced(data.status));
    for (const component of data.components ?? []) {
      if (component.name !== undefined) {
        parts.push(component.status === undefined ? component.name : `${component.name}: ${spaced(component.status)}`);
      }
    }
    return parts.join(' · ');
  }
  return describeNumbers(data).join(' · ');
}

function normalizeStatusSentry(payload: unknown, request: InboundRequest): IncomingEvent[] {
  const event = parsePayload('StatusSentry', payloadSchema, payload);
  const { data } = event;
  const dedupKey =
    data.incident_id !== undefined
      ? `incident:${data.incident_id}`
      : data.monitor_id !== undefined
        ? `monitor:${data.monitor_id}`
        : `event:${event.id}`;
  return [
    {
      external_id: event.id,
      type: event.type,
      ...classify(event),
      title: titleFor(event),
      summary: summaryFor(event),
      dedup_key: dedupKey,
      occurred_at: occurredAt(event.created_at, signedTime(request)),
      data: payload,
    },
  ];
}

export const statussentryPreset: SourcePreset<typeof statussentrySchema> = {
  preset: 'statussentry',
  schema: statussentrySchema,
  create(config: StatusSentryConfig): Source {
    return {
      name: config.name,
      preset: 'statussentry',
      verify: (request, nowMs) => verifyStatusSentry(config.secrets, config.tolerance, request, nowMs),
      normalize: normalizeStatusSentry,
      sign: (rawBody, nowMs) => ({ headers: signTimestampedSignatures(config.secrets, SIGNATURE_HEADER, rawBody, nowMs) }),
    };
  },
};
