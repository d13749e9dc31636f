/**
 * PagerDuty Webhooks V3 (developer.pagerduty.com, "Verifying Signatures" and "V3 Overview"):
 * `X-PagerDuty-Signature: v1=<hex HMAC-SHA256(secret, raw body)>`, one `v1=` per signing secret,
 * comma-separated, while a subscription's secret is rotated (any one valid is enough; other
 * versions are not ours to check and are ignored). No timestamp is signed: PagerDuty's retry of
 * an event keeps `event.id`, so a replay is caught as a duplicate.
 *
 * Body: `{"event": {id, event_type, resource_type, occurred_at, agent, client, data}}`; `data` is the
 * incident for most `incident.*` types (its `incident_key` is the dedup key an Events API v2
 * trigger gave it: go-pagerduty `webhookv3/payload.go` IncidentData), or an object naming the
 * incident in `data.incident` (notes, status updates, responders). `pagey.ping` (PagerDuty's
 * "Send Test Event") is answered `200 {"pong": true}` once its signature is checked, never stored.
 *
 * Severity and status (`type` is `event.event_type`):
 *
 * | event                                                   | severity                                   | status   |
 * |---------------------------------------------------------|--------------------------------------------|----------|
 * | incident.resolved                                       | by urgency: high → critical, low → warning | resolved |
 * | other types whose data is the incident (triggered, acknowledged, unacknowledged, reassigned, escalated, …) | by urgency (none given: warning) | firing |
 * | incident.annotated, status updates, responders (data names the incident) | info                 | firing   |
 * | anything else                                           | info                                       | firing   |
 *
 * Dedup key `pagerduty:<incident id>`, so every event of one PagerDuty incident (its notes too,
 * which do not carry the incident key) is one incident here. Events of incidents hookrelay paged
 * itself are told apart by their `incident_key` (src/app/pagerduty-echo.ts), not by this key.
 */
import { z } from 'zod';
import type { EventStatus, IncomingEvent, Severity } from '../events/event.ts';
import { nameSchema, secretListSchema } from '../util/schemas.ts';
import { anySignatureMatches, ACCEPTED, decodeHexDigest, hmacDigest, readHeader, rejected } from './signature.ts';
import { occurredAt, parsePayload, scalarText, spaced } from './fields.ts';
import { humanize } from '../util/format.ts';
import { isRecord, lookupTable } from '../util/objects.ts';
import type { HandshakeReply, InboundRequest, Source, SourcePreset, Verdict } from './source.ts';

const SIGNATURE_HEADER = 'X-PagerDuty-Signature';
const FORMAT = `${SIGNATURE_HEADER} must be "v1=<64 hex characters>" (several comma-separated while a secret is rotated)`;
/** At most this many signatures are compared: PagerDuty sends one per secret of the subscription. */
const MAX_SIGNATURES = 8;
/** PagerDuty's test event ("Send Test Event" on a webhook subscription). */
const PING_TYPE = 'pagey.ping';

export const pagerdutySchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('pagerduty'),
  secrets: secretListSchema,
});
export type PagerDutySourceConfig = z.output<typeof pagerdutySchema>;

/** An incident's urgency (PagerDuty "Incident urgency": high pages at once, low waits). */
export const PAGERDUTY_URGENCY_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  high: 'critical',
  low: 'warning',
});

/** The `v1=` signatures of the header, or what is wrong with it. */
export function parsePagerDutySignatures(value: string): Buffer[] | string {
  const signatures: Buffer[] = [];
  for (const entry of value.split(',')) {
    const trimmed = entry.trim();
    const separator = trimmed.indexOf('=');
    if (separator <= 0) return `${FORMAT}; "${trimmed.slice(0, 12)}" is not a version=signature entry`;
    if (trimmed.slice(0, separator) !== 'v1') continue;
    const digest = decodeHexDigest(trimmed.slice(separator + 1), 32);
    if (digest === null) return `${FORMAT}; a v1= entry is not 64 hex characters`;
    signatures.push(digest);
  }
  if (signatures.length === 0) return `${FORMAT}; no v1= entry`;
  if (signatures.length > MAX_SIGNATURES) return `${FORMAT}; more than ${MAX_SIGNATURES} v1= entries`;
  return signatures;
}

export function verifyPagerDuty(secrets: readonly string[], request: InboundRequest): Verdict {
  const value = readHeader(request, SIGNATURE_HEADER);
  if (value === undefined) return rejected('signature_missing', `the ${SIGNATURE_HEADER} header is required`);
  const signatures = parsePagerDutySignatures(value);
  if (typeof signatures === 'string') return rejected('signature_malformed', signatures);
  return anySignatureMatches(secrets, signatures, (secret) => hmacDigest('sha256', secret, [request.rawBody]))
    ? ACCEPTED
    : rejected(
        'signature_mismatch',
        `no v1= signature in ${SIGNATURE_HEADER} matches an HMAC-SHA256 of the raw body with any configured secret ` +
          '(each webhook subscription has its own secret, shown once when it is created)',
      );
}

const reference = z.looseObject({
  id: z.string().optional(),
  type: z.string().optional(),
  summary: z.string().optional(),
  html_url: z.string().optional(),
});

const payloadSchema = z.looseObject({
  event: z.looseObject({
    id: z.string().min(1),
    event_type: z.string().min(1),
    resource_type: z.string().optional(),
    occurred_at: z.string().optional(),
    agent: reference.nullable().optional(),
    data: z.record(z.string(), z.unknown()),
  }),
});
type PagerDutyWebhook = z.output<typeof payloadSchema>;

/** What an incident event says, read from the payload as sent. */
export interface PagerDutyIncidentReport {
  readonly event_type: string;
  /** PagerDuty's incident id (`Q…`/`P…`), or null when the event names none. */
  readonly incident_id: string | null;
  /** The dedup key the incident was triggered with (Events API v2); null when the payload does not carry it (notes). */
  readonly incident_key: string | null;
  readonly incident_title: string | null;
  /** The person who did it (`agent` of type user_reference), or null (an integration, PagerDuty itself). */
  readonly person: string | null;
  /** Who the incident is assigned to now (reassigned, escalated). */
  readonly assignees: readonly string[];
}

function text(value: unknown, ...path: string[]): string | undefined {
  let current = value;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return scalarText(current);
}

function summaries(value: unknown): string[] {
  return Array.isArray(value) ? value.map((item) => text(item, 'summary')).filter((name): name is string => name !== undefined) : [];
}

/** True when `data` is the incident itself, not an object naming it. */
function isIncident(data: Readonly<Record<string, unknown>>): boolean {
  return data['type'] === 'incident';
}

function reportOf(webhook: PagerDutyWebhook): PagerDutyIncidentReport {
  const { event } = webhook;
  const data = event.data;
  const incident = isIncident(data) ? data : isRecord(data['incident']) ? data['incident'] : null;
  const agent = event.agent ?? null;
  const person = agent !== null && (agent.type ?? '').endsWith('user_reference') ? (scalarText(agent.summary) ?? null) : null;
  return {
    event_type: event.event_type,
    incident_id: incident === null ? null : (text(incident, 'id') ?? null),
    incident_key: isIncident(data) ? (text(data, 'incident_key') ?? null) : null,
    incident_title: incident === null ? null : (text(incident, isIncident(data) ? 'title' : 'summary') ?? text(incident, 'summary') ?? null),
    person,
    assignees: isIncident(data) ? summaries(data['assignees']) : [],
  };
}

/**
 * The incident an event reports on, or null when `data` (an event's `data`, the payload as sent)
 * is not a PagerDuty V3 webhook.
 */
export function readPagerDutyReport(data: unknown): PagerDutyIncidentReport | null {
  const parsed = payloadSchema.safeParse(data);
  return parsed.success ? reportOf(parsed.data) : null;
}

/** "Dana in PagerDuty", or "PagerDuty" when no person did it (an integration, an automatic resolve). */
export function actorInPagerDuty(person: string | null): string {
  return person === null ? 'PagerDuty' : `${person} in PagerDuty`;
}

/** What happened, as the start of a title: "Acknowledged by Dana in PagerDuty". */
export function describePagerDutyChange(report: PagerDutyIncidentReport): string {
  const by = report.person === null ? '' : ` by ${report.person}`;
  const to = report.assignees.length === 0 ? '' : ` to ${report.assignees.join(', ')}`;
  switch (report.event_type) {
    case 'incident.triggered':
      return 'Triggered in PagerDuty';
    case 'incident.acknowledged':
      return `Acknowledged${by} in PagerDuty`;
    case 'incident.unacknowledged':
      return 'Unacknowledged in PagerDuty';
    case 'incident.resolved':
      return `Resolved${by} in PagerDuty`;
    case 'incident.reassigned':
      return `Reassigned${to}${by} in PagerDuty`;
    case 'incident.escalated':
      return `Escalated${to} in PagerDuty`;
    case 'incident.annotated':
      return `Note${by} in PagerDuty`;
    default:
      return `${humanize(spaced(report.event_type.replace(/^incident\./, '').replace(/\./g, ' ')))}${by} in PagerDuty`;
  }
}

function classify(webhook: PagerDutyWebhook): { severity: Severity; status: EventStatus } {
  const { event_type: type, data } = webhook.event;
  const status: EventStatus = type === 'incident.resolved' ? 'resolved' : 'firing';
  if (!isIncident(data)) return { severity: 'info', status };
  const urgency = text(data, 'urgency');
  return { severity: (urgency === undefined ? undefined : PAGERDUTY_URGENCY_SEVERITY[urgency]) ?? 'warning', status };
}

/** Number, service, urgency, priority, assignees and the link; a note's or status update's text first. */
function summaryFor(webhook: PagerDutyWebhook): string {
  const data = webhook.event.data;
  const said = text(data, 'content') ?? text(data, 'message');
  const incident = isIncident(data) ? data : {};
  const number = text(incident, 'number');
  const urgency = text(incident, 'urgency');
  const assignees = summaries(incident['assignees']);
  const parts = [
    said,
    number === undefined ? undefined : `#${number}`,
    text(incident, 'service', 'summary'),
    urgency === undefined ? undefined : `${urgency} urgency`,
    text(incident, 'priority', 'summary'),
    assignees.length === 0 ? undefined : `assigned to ${assignees.join(', ')}`,
    text(incident, 'html_url') ?? text(data, 'incident', 'html_url'),
  ];
  return parts.filter((part) => part !== undefined && part !== '').join(' · ');
}

function normalizePagerDuty(payload: unknown): IncomingEvent[] {
  const webhook = parsePayload('PagerDuty V3 webhook', payloadSchema, payload);
  const report = reportOf(webhook);
  const change = describePagerDutyChange(report);
  return [
    {
      external_id: webhook.event.id,
      type: webhook.event.event_type,
      ...classify(webhook),
      title: report.incident_title === null ? change : `${change}: ${report.incident_title}`,
      summary: summaryFor(webhook),
      dedup_key: report.incident_id === null ? `pagerduty:${webhook.event.id}` : `pagerduty:${report.incident_id}`,
      occurred_at: occurredAt(webhook.event.occurred_at),
      data: payload,
    },
  ];
}

/** `pagey.ping` after the signature was checked: answered, never stored. */
async function answerPing(payload: unknown): Promise<HandshakeReply | null> {
  const event = isRecord(payload) && isRecord(payload['event']) ? payload['event'] : null;
  return event !== null && event['event_type'] === PING_TYPE ? { status: 200, body: { pong: true } } : null;
}

/** The header PagerDuty sends: one `v1=` per signing secret (each configured secret here). */
export function signPagerDuty(secrets: readonly string[], rawBody: Buffer): Record<string, string> {
  const signatures = secrets.map((secret) => `v1=${hmacDigest('sha256', secret, [rawBody]).toString('hex')}`);
  return { 'Content-Type': 'application/json', [SIGNATURE_HEADER]: signatures.join(',') };
}

export const pagerdutyPreset: SourcePreset<typeof pagerdutySchema> = {
  preset: 'pagerduty',
  schema: pagerdutySchema,
  create(config: PagerDutySourceConfig): Source {
    return {
      name: config.name,
      preset: 'pagerduty',
      verify: (request) => verifyPagerDuty(config.secrets, request),
      normalize: normalizePagerDuty,
      handshake: answerPing,
      sign: (rawBody) => ({ headers: signPagerDuty(config.secrets, rawBody) }),
    };
  },
};
