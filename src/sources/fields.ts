/**
 * Payload helpers every preset's `normalize` shares (validation into `invalid_payload`, times,
 * readable numbers), and the configurable normalizer of the generic presets
 * (`standard-webhooks`, `hmac`): dotted paths into the payload, so a new sender is config, not code.
 */
import { z } from 'zod';
import { HookrelayError } from '../errors.ts';
import { SEVERITIES, type EventStatus, type IncomingEvent, type Severity } from '../events/event.ts';
import { formatNumber as formatAmount } from '../util/format.ts';
import { formatPath, isRecord, lookupTable, valueAtPath } from '../util/objects.ts';
import { parseFlexibleTimestamp } from './signature.ts';
import { MAX_DATE_MS, isoTime } from '../util/iso-time.ts';

/**
 * Validates the parsed body against a preset's (lenient) payload schema, or throws
 * `invalid_payload` naming the field and the problem: `data.severity: expected string, received number`.
 */
export function parsePayload<Schema extends z.ZodType>(
  sender: string,
  schema: Schema,
  payload: unknown,
): z.output<Schema> {
  const result = schema.safeParse(payload);
  if (result.success) return result.data;
  const problems = result.error.issues
    .slice(0, 3)
    .map((issue) => `${formatPath(issue.path, '(body)')}: ${issue.message}`)
    .join('; ');
  throw new HookrelayError('invalid_payload', `${problems} (expected a ${sender} payload)`);
}

/** A scalar as text (numbers and booleans too); undefined for objects, arrays, null and empty strings. */
export function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  return undefined;
}

/** ISO 8601 from a sender's time (ISO text, unix seconds or ms as text or number); null when it is none. */
export function toIsoTime(value: unknown): string | null {
  let ms: number | null = null;
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) {
    ms = parseFlexibleTimestamp(String(value));
  } else if (typeof value === 'string') {
    ms = parseFlexibleTimestamp(value.trim());
  }
  if (ms === null) return null;
  // A time past what a Date holds (±8.64e15 ms, ECMA-262 TimeClip) is none.
  return Math.abs(ms) > MAX_DATE_MS ? null : isoTime(ms);
}

/**
 * `occurred_at`: the payload's own time, else the signed header time seen at verification,
 * else null: the sender did not say, and ingest puts the receive time in its place.
 */
export function occurredAt(payloadTime: unknown, headerTime?: string): string | null {
  return toIsoTime(payloadTime) ?? (headerTime === undefined ? null : toIsoTime(headerTime));
}


/** `rebuffer_spike` → `rebuffer spike` (for use inside a sentence). */
export function spaced(text: string): string {
  return text.replace(/[_-]+/g, ' ').trim();
}

/** 24000 → `24,000`; 8.4 → `8.4` (two decimals at most in summaries). */
export function formatNumber(value: number): string {
  return formatAmount(value, { maxDecimals: 2 });
}

/** Every number directly in `data`, as "affected sessions 1,200", for types a preset has no wording for. */
export function describeNumbers(data: Readonly<Record<string, unknown>>, skip: readonly string[] = []): string[] {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (typeof value === 'number' && !skip.includes(key)) parts.push(`${spaced(key)} ${formatNumber(value)}`);
  }
  return parts;
}

/** Each severity table by its keys as compared (trimmed, lower case; the first of equal keys wins), made once per table. */
const normalizedTables = new WeakMap<Readonly<Record<string, Severity>>, ReadonlyMap<string, Severity>>();

function normalizedTable(table: Readonly<Record<string, Severity>>): ReadonlyMap<string, Severity> {
  let normalized = normalizedTables.get(table);
  if (normalized === undefined) {
    const byKey = new Map<string, Severity>();
    for (const [key, severity] of Object.entries(table)) {
      const compared = key.trim().toLowerCase();
      if (!byKey.has(compared)) byKey.set(compared, severity);
    }
    normalizedTables.set(table, (normalized = byKey));
  }
  return normalized;
}

/** Looks a sender's value up in a severity table, ignoring case and surrounding space. */
export function lookupSeverity(table: Readonly<Record<string, Severity>>, value: unknown): Severity | undefined {
  const text = scalarText(value);
  if (text === undefined) return undefined;
  return normalizedTable(table).get(text.trim().toLowerCase());
}

/** The first path (in order) whose value is a scalar, as text. */
function firstText(payload: unknown, paths: readonly string[], skip?: string): string | undefined {
  for (const path of paths) {
    const text = scalarText(valueAtPath(payload, path));
    if (text !== undefined && text !== skip) return text;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The generic normalizer (`standard-webhooks`, `hmac`)
// ---------------------------------------------------------------------------------------------

/**
 * Severity of the generic presets when `severity_map` does not name the value:
 *
 * | sender's value                                   | severity |
 * |--------------------------------------------------|----------|
 * | critical, fatal, emergency, page, p1, sev1       | critical |
 * | error, high, major, p2, sev2                     | error    |
 * | warning, warn, medium, minor, p3, sev3           | warning  |
 * | info, low, none, notice, debug, p4, p5           | info     |
 * | any other value                                  | warning  |
 * | no severity field                                | info     |
 */
export const GENERIC_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  critical: 'critical', fatal: 'critical', emergency: 'critical', page: 'critical', p1: 'critical', sev1: 'critical',
  error: 'error', high: 'error', major: 'error', p2: 'error', sev2: 'error',
  warning: 'warning', warn: 'warning', medium: 'warning', minor: 'warning', p3: 'warning', sev3: 'warning',
  info: 'info', low: 'info', none: 'info', notice: 'info', debug: 'info', p4: 'info', p5: 'info',
});

export const DEFAULT_RESOLVED_VALUES = ['resolved', 'ok', 'up', 'operational', 'closed'] as const;

/** Where each field is looked for when `fields:` does not say (first match wins). */
export const DEFAULT_FIELD_PATHS = {
  id: ['id', 'event_id'],
  type: ['type', 'event_type', 'event'],
  severity: ['severity', 'data.severity', 'level'],
  status: ['status', 'data.status', 'state'],
  title: ['title', 'data.title', 'summary'],
  summary: ['summary', 'description', 'message', 'data.summary', 'data.description', 'data.message'],
  dedup_key: ['dedup_key', 'incident_id', 'data.incident_id'],
  occurred_at: ['occurred_at', 'timestamp', 'created_at', 'time'],
} as const satisfies Record<string, readonly string[]>;

const pathSchema = z.string().regex(/^[^.\s]+(\.[^.\s]+)*$/, 'must be a dotted path such as "data.severity"');

/** `fields:`: dotted paths into the payload, each replacing that field's default paths. */
export const fieldsSchema = z.strictObject({
  id: pathSchema.optional(),
  type: pathSchema.optional(),
  severity: pathSchema.optional(),
  status: pathSchema.optional(),
  title: pathSchema.optional(),
  summary: pathSchema.optional(),
  dedup_key: pathSchema.optional(),
  occurred_at: pathSchema.optional(),
});

/** The config keys the generic presets add to their schema (spread into a strict object). */
export const genericNormalizationShape = {
  fields: fieldsSchema.default({}),
  severity_map: z.record(z.string(), z.enum(SEVERITIES)).default({}),
  resolved_values: z.array(z.string().min(1)).min(1).default([...DEFAULT_RESOLVED_VALUES]),
};

export interface GenericNormalization {
  readonly fields: z.output<typeof fieldsSchema>;
  readonly severity_map: Readonly<Record<string, Severity>>;
  readonly resolved_values: readonly string[];
}

export interface GenericContext {
  /** The sender's id from a header (`webhook-id`, `id_header`), preferred over the payload's. */
  readonly headerId?: string | undefined;
  /** The signed timestamp header's value, the fallback for `occurred_at`. */
  readonly headerTime?: string | undefined;
  /** The type when the payload has none: the preset's name. */
  readonly defaultType: string;
}

/**
 * One event from any JSON object, following `fields:` and the defaults above.
 * `data` is the payload itself, untouched.
 */
export function normalizeGeneric(
  sender: string,
  payload: unknown,
  options: GenericNormalization,
  context: GenericContext,
): IncomingEvent {
  if (!isRecord(payload)) {
    throw new HookrelayError('invalid_payload', `(body): expected a JSON object (a ${sender} payload)`);
  }
  const { fields } = options;
  const paths = (key: keyof typeof DEFAULT_FIELD_PATHS): readonly string[] =>
    fields[key] === undefined ? DEFAULT_FIELD_PATHS[key] : [fields[key]];

  const externalId = context.headerId ?? firstText(payload, paths('id')) ?? null;
  const type = firstText(payload, paths('type')) ?? context.defaultType;
  const severityValue = firstText(payload, paths('severity'));
  const severity: Severity =
    severityValue === undefined
      ? 'info'
      : (lookupSeverity(options.severity_map, severityValue) ?? lookupSeverity(GENERIC_SEVERITY, severityValue) ?? 'warning');

  // `incident.resolved` is resolved even without a status field: its last type segment counts too.
  const resolved = new Set(options.resolved_values.map((value) => value.toLowerCase()));
  const statusValue = firstText(payload, paths('status'));
  const lastTypeSegment = type.split('.').at(-1) ?? type;
  const status: EventStatus =
    (statusValue !== undefined && resolved.has(statusValue.toLowerCase())) || resolved.has(lastTypeSegment.toLowerCase())
      ? 'resolved'
      : 'firing';

  const title = firstText(payload, paths('title')) ?? type;
  const summary = firstText(payload, paths('summary'), title) ?? '';
  const dedupValue = firstText(payload, paths('dedup_key'));
  const dedupKey = dedupValue ?? (externalId === null ? type : `event:${externalId}`);

  return {
    external_id: externalId,
    type,
    severity,
    status,
    title,
    summary,
    dedup_key: dedupKey,
    occurred_at: occurredAt(
      fields.occurred_at === undefined
        ? DEFAULT_FIELD_PATHS.occurred_at.map((path) => valueAtPath(payload, path)).find((value) => toIsoTime(value) !== null)
        : valueAtPath(payload, fields.occurred_at),
      context.headerTime,
    ),
    data: payload,
  };
}
