/**
 * Prometheus Alertmanager's webhook receiver (`webhook_config`, payload version "4": `version, groupKey,
 * truncatedAlerts, status, receiver, groupLabels, commonLabels, commonAnnotations, externalURL, alerts[]`).
 * Alertmanager does not sign; it sends `Authorization: Bearer <token>` when `http_config.authorization`
 * is set, and that token is checked here in constant time.
 *
 * One event per alert of the group, each with its own status and `fingerprint` (the dedup key).
 * external_id is null: Alertmanager re-sends a group every `repeat_interval` on purpose, and those
 * repeats must not be dropped as duplicates.
 *
 * Severity (`labels.severity`):
 *
 * | labels.severity                    | severity |
 * |------------------------------------|----------|
 * | critical, page, emergency          | critical |
 * | error, high, major                 | error    |
 * | warning, warn, minor, medium       | warning  |
 * | info, low, none                    | info     |
 * | missing or anything else           | warning  |
 */
import { z } from 'zod';
import type { IncomingEvent, Severity } from '../events/event.ts';
import { nameSchema, tokenListSchema } from '../util/schemas.ts';
import { ACCEPTED, firstOf, readHeader, rejected, tokenMatches } from './signature.ts';
import { lookupSeverity, occurredAt, parsePayload } from './fields.ts';
import type { InboundRequest, Source, SourcePreset, Verdict } from './source.ts';
import { lookupTable } from '../util/objects.ts';

export const ALERTMANAGER_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  critical: 'critical', page: 'critical', emergency: 'critical',
  error: 'error', high: 'error', major: 'error',
  warning: 'warning', warn: 'warning', minor: 'warning', medium: 'warning',
  info: 'info', low: 'info', none: 'info',
});

export const alertmanagerSchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('alertmanager'),
  token: tokenListSchema,
});
export type AlertmanagerConfig = z.output<typeof alertmanagerSchema>;

const BEARER = /^Bearer\s+(\S+)$/i;

export function verifyBearerToken(tokens: readonly string[], request: InboundRequest): Verdict {
  const authorization = readHeader(request, 'authorization');
  if (authorization === undefined) {
    return rejected('token_missing', 'the Authorization header is required: "Bearer <token>" (http_config.authorization in alertmanager.yml)');
  }
  const token = BEARER.exec(authorization)?.[1];
  if (token === undefined) return rejected('token_invalid', 'the Authorization header must be "Bearer <token>"');
  return tokenMatches(tokens, token)
    ? ACCEPTED
    : rejected('token_invalid', 'the bearer token does not match any configured token');
}

const stringMap = z.record(z.string(), z.string());
const alertStatus = z.enum(['firing', 'resolved']);

const alertSchema = z.looseObject({
  status: alertStatus,
  labels: stringMap,
  annotations: stringMap.default({}),
  startsAt: z.string().min(1),
  endsAt: z.string().optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().min(1),
});

const payloadSchema = z.looseObject({
  version: z.literal('4', { error: 'expected "4" (the Alertmanager webhook payload version)' }),
  groupKey: z.string(),
  truncatedAlerts: z.number().optional(),
  status: alertStatus,
  receiver: z.string(),
  groupLabels: stringMap.optional(),
  commonLabels: stringMap.optional(),
  commonAnnotations: stringMap.optional(),
  externalURL: z.string().optional(),
  alerts: z.array(alertSchema),
});

/** An alert as Alertmanager (and Grafana, which sends the same shape) describes it. */
export interface AlertLike {
  readonly status: 'firing' | 'resolved';
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly endsAt?: string | undefined;
  readonly fingerprint: string;
}

/**
 * One event per alert, keyed by its fingerprint; `data` is the alert exactly as sent (the
 * validated copy may have defaults filled in). Titles and summaries come from the usual annotations.
 */
export function alertEvent(alert: AlertLike, sent: unknown, how: { readonly severity: Severity; readonly fallbackTitle: string; readonly summary: string }): IncomingEvent {
  const alertname = alert.labels['alertname'];
  return {
    external_id: null,
    type: alertname ?? 'alert',
    severity: how.severity,
    status: alert.status,
    title: alert.annotations['summary'] ?? alertname ?? how.fallbackTitle,
    summary: alert.annotations['description'] ?? alert.annotations['message'] ?? how.summary,
    dedup_key: alert.fingerprint,
    // A firing alert's endsAt is a zero time or a prediction; a resolved one's is when it ended.
    occurred_at: occurredAt(alert.status === 'resolved' ? (alert.endsAt ?? alert.startsAt) : alert.startsAt),
    data: sent,
  };
}

function normalizeAlertmanager(payload: unknown): IncomingEvent[] {
  const group = parsePayload('Alertmanager', payloadSchema, payload);
  const sentAlerts = (payload as { alerts: readonly unknown[] }).alerts;
  return group.alerts.map((alert, index) =>
    alertEvent(alert, sentAlerts[index], {
      severity: lookupSeverity(ALERTMANAGER_SEVERITY, alert.labels['severity']) ?? 'warning',
      fallbackTitle: 'Alert',
      summary: '',
    }),
  );
}

export const alertmanagerPreset: SourcePreset<typeof alertmanagerSchema> = {
  preset: 'alertmanager',
  schema: alertmanagerSchema,
  create(config: AlertmanagerConfig): Source {
    return {
      name: config.name,
      preset: 'alertmanager',
      verify: (request) => verifyBearerToken(config.token, request),
      normalize: normalizeAlertmanager,
      sign() {
        return {
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${firstOf(config.token, 'token')}` },
        };
      },
    };
  },
};
