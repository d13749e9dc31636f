/**
 * Tapemetric (QoS analytics), per its "Webhooks" document (seed 000):
 * `X-Tapemetric-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`, no timestamp,
 * `X-Tapemetric-Delivery: <delivery id>`, payload `{id, type, created_at, data: {severity, region, pop, …}}`.
 *
 * Severity (`data.severity`, else by event type):
 *
 * | `data.severity`          | severity |    | type (no `data.severity`)  | severity |
 * |--------------------------|----------|----|----------------------------|----------|
 * | critical                 | critical |    | qos.*                      | warning  |
 * | error, high, major       | error    |    | billing.payment_failure    | error    |
 * | warning, medium, minor   | warning  |    | billing.churn_spike        | warning  |
 * | info, low                | info     |    | ingest.quota_exceeded      | error    |
 * |                          |          |    | ingest.quota_80pct         | warning  |
 * |                          |          |    | content.*                  | info     |
 * |                          |          |    | anything else              | warning  |
 *
 * Status is `resolved` when `data.status` is resolved/ok/recovered or the type ends in `.resolved`
 * (the document lists no resolve events; this keeps a future one from paging as new).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { IncomingEvent, Severity } from '../events/event.ts';
import { nameSchema, secretListSchema } from '../util/schemas.ts';
import type { HeaderSignatureScheme } from './signature.ts';
import { firstOf, readHeader, signHeaderSignature, verifyHeaderSignature } from './signature.ts';
import { describeNumbers, formatNumber, lookupSeverity, occurredAt, parsePayload } from './fields.ts';
import { humanize } from '../util/format.ts';
import type { InboundRequest, Source, SourcePreset } from './source.ts';
import { lookupTable } from '../util/objects.ts';

export const TAPEMETRIC_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  critical: 'critical',
  error: 'error', high: 'error', major: 'error',
  warning: 'warning', medium: 'warning', minor: 'warning',
  info: 'info', low: 'info',
});

/** Exact types first, then `<category>.*`; anything else is a warning. */
export const TAPEMETRIC_TYPE_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  'billing.payment_failure': 'error',
  'billing.churn_spike': 'warning',
  'ingest.quota_exceeded': 'error',
  'ingest.quota_80pct': 'warning',
  'qos.*': 'warning',
  'content.*': 'info',
});

const RESOLVED_STATUSES = new Set(['resolved', 'ok', 'recovered']);

const DELIVERY_HEADER = 'X-Tapemetric-Delivery';

/** Tapemetric signs the raw body, hex, `sha256=` prefix (tapemetric doc, "Signature verification"). */
const SCHEME: HeaderSignatureScheme = {
  header: 'X-Tapemetric-Signature',
  prefix: 'sha256=',
  encoding: 'hex',
  algorithm: 'sha256',
};

export const tapemetricSchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('tapemetric'),
  secrets: secretListSchema,
});
export type TapemetricConfig = z.output<typeof tapemetricSchema>;

const payloadSchema = z.looseObject({
  id: z.string().optional(),
  type: z.string().min(1),
  created_at: z.string().optional(),
  data: z
    .looseObject({
      severity: z.string().optional(),
      status: z.string().optional(),
      region: z.string().optional(),
      pop: z.string().optional(),
      current_rate: z.number().optional(),
      baseline_rate: z.number().optional(),
      affected_sessions: z.number().optional(),
    })
    .optional(),
});
type TapemetricPayload = z.output<typeof payloadSchema>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const optionalText = (value: unknown): boolean => value === undefined || typeof value === 'string';
/** z.number() takes finite numbers only (JSON's 1e400 parses to Infinity). */
const optionalNumber = (value: unknown): boolean => value === undefined || (typeof value === 'number' && Number.isFinite(value));

/**
 * Whether the payload already has payloadSchema's shape — what Tapemetric sends — checked without
 * zod, whose parse builds a copy of every object it checks (per webhook, about a tenth of the
 * event loop's work beyond the HMAC and JSON.parse). It accepts nothing payloadSchema refuses;
 * whatever it does not accept goes to zod, which takes it or refuses it with its own message.
 */
function hasPayloadShape(payload: unknown): payload is TapemetricPayload {
  if (!isObject(payload)) return false;
  if (typeof payload.type !== 'string' || payload.type.length === 0) return false;
  if (!optionalText(payload.id) || !optionalText(payload.created_at)) return false;
  const { data } = payload;
  if (data === undefined) return true;
  return (
    isObject(data) &&
    optionalText(data.severity) &&
    optionalText(data.status) &&
    optionalText(data.region) &&
    optionalText(data.pop) &&
    optionalNumber(data.current_rate) &&
    optionalNumber(data.baseline_rate) &&
    optionalNumber(data.affected_sessions)
  );
}

function severityFor(payload: TapemetricPayload): Severity {
  const stated = lookupSeverity(TAPEMETRIC_SEVERITY, payload.data?.severity);
  if (stated) return stated;
  const byType = TAPEMETRIC_TYPE_SEVERITY[payload.type];
  if (byType) return byType;
  const category = payload.type.split('.')[0];
  return TAPEMETRIC_TYPE_SEVERITY[`${category}.*`] ?? 'warning';
}

/** `qos.rebuffer_spike` in Maharashtra → "Rebuffer spike in Maharashtra". */
function titleFor(payload: TapemetricPayload): string {
  const name = humanize(payload.type.split('.').at(-1) ?? payload.type);
  const where = payload.data?.region ?? payload.data?.pop;
  return where === undefined ? name : `${name} in ${where}`;
}

/** The numbers an on-call person needs first: "8.4 vs baseline 3.1 · 24,000 sessions affected". */
function summaryFor(payload: TapemetricPayload): string {
  const data = payload.data;
  if (!data) return '';
  const parts: string[] = [];
  if (data.current_rate !== undefined) {
    parts.push(
      data.baseline_rate === undefined
        ? `rate ${formatNumber(data.current_rate)}`
        : `${formatNumber(data.current_rate)} vs baseline ${formatNumber(data.baseline_rate)}`,
    );
  }
  if (data.affected_sessions !== undefined) parts.push(`${formatNumber(data.affected_sessions)} sessions affected`);
  if (parts.length === 0) {
    // Other event types carry other numbers (quotas, completion rates): show them as they are named.
    parts.push(...describeNumbers(data));
  }
  return parts.join(' · ');
}

function normalizeTapemetric(payload: unknown, request: InboundRequest): IncomingEvent[] {
  const event = hasPayloadShape(payload) ? payload : parsePayload('Tapemetric', payloadSchema, payload);
  const lastSegment = event.type.split('.').at(-1) ?? '';
  const resolved = RESOLVED_STATUSES.has((event.data?.status ?? '').toLowerCase()) || lastSegment === 'resolved';
  return [
    {
      external_id: event.id ?? readHeader(request, DELIVERY_HEADER) ?? null,
      type: event.type,
      severity: severityFor(event),
      status: resolved ? 'resolved' : 'firing',
      title: titleFor(event),
      summary: summaryFor(event),
      // One incident per kind of problem per place (tapemetric doc: region, with the PoP as a fallback).
      // `qos.rebuffer_spike.resolved` closes the incident `qos.rebuffer_spike` opened.
      dedup_key: `${event.type.replace(/\.resolved$/, '')}:${event.data?.region ?? event.data?.pop ?? 'global'}`,
      occurred_at: occurredAt(event.created_at),
      data: payload,
    },
  ];
}

export const tapemetricPreset: SourcePreset<typeof tapemetricSchema> = {
  preset: 'tapemetric',
  schema: tapemetricSchema,
  create(config: TapemetricConfig): Source {
    return {
      name: config.name,
      preset: 'tapemetric',
      verify: (request, nowMs) => verifyHeaderSignature(SCHEME, config.secrets, request, nowMs),
      normalize: normalizeTapemetric,
      sign(rawBody, nowMs) {
        return {
          headers: {
            'Content-Type': 'application/json',
            ...signHeaderSignature(SCHEME, firstOf(config.secrets, 'secret'), rawBody, nowMs),
            [DELIVERY_HEADER]: randomUUID(),
          },
        };
      },
    };
  },
};
