/**
 * Grafana Alerting's webhook contact point (grafana.com/docs, "Configure webhook notifications";
 * payload built by `grafana/alerting` `receivers/webhook/v1/webhook.go`): `receiver, status, orgId,
 * alerts[], groupLabels, commonLabels, commonAnnotations, externalURL, version, groupKey,
 * truncatedAlerts, title, state, message`; each alert `status, labels, annotations, startsAt, endsAt,
 * generatorURL, fingerprint, silenceURL, dashboardURL, panelURL, values`.
 *
 * Authentication, either or both (at least one is required):
 * - `secrets:` the contact point's *HMAC signature* secret. Grafana puts the hex HMAC-SHA256 in
 *   `X-Grafana-Alerting-Signature` (its default; `header:` when the contact point names another).
 *   With a *Timestamp Header* configured in Grafana, it writes unix seconds there and signs
 *   `<timestamp>:<body>` (`grafana/alerting` `http/hmac.go`, separator ":"); set `timestamp_header:`
 *   to the same name and the timestamp must then be present and within `tolerance`.
 * - `token:` the contact point's *Authorization header* credentials (scheme Bearer, Grafana's default).
 *
 * One event per alert, each with its own status and `fingerprint` (the dedup key). external_id is
 * null: Grafana re-sends a group every repeat interval on purpose, like Alertmanager.
 *
 * Severity (`labels.severity`, the same table as Alertmanager, since Grafana rules use its labels):
 *
 * | labels.severity                    | severity |
 * |------------------------------------|----------|
 * | critical, page, emergency          | critical |
 * | error, high, major                 | error    |
 * | warning, warn, minor, medium       | warning  |
 * | info, low, none                    | info     |
 * | missing, alertname DatasourceError | error    |
 * | missing or anything else           | warning  |
 */
import { z } from 'zod';
import type { IncomingEvent, Severity } from '../events/event.ts';
import { nameSchema, secretListSchema, tokenListSchema } from '../util/schemas.ts';
import {
  ACCEPTED,
  anySignatureMatches,
  checkTolerance,
  decodeHexDigest,
  firstOf,
  hmacDigest,
  parseUnixSeconds,
  readHeader,
  rejected,
  tokenMatches,
  toleranceSchema,
} from './signature.ts';
import { formatNumber, lookupSeverity, parsePayload } from './fields.ts';
import { ALERTMANAGER_SEVERITY, alertEvent } from './alertmanager.ts';
import type { InboundRequest, Source, SourcePreset, Verdict } from './source.ts';

export const GRAFANA_SEVERITY: Readonly<Record<string, Severity>> = ALERTMANAGER_SEVERITY;

/** Grafana's documented default signature header ("HMAC signature → Header"). */
export const GRAFANA_SIGNATURE_HEADER = 'X-Grafana-Alerting-Signature';

/** An HTTP header name (RFC 9110 token). */
const headerNameSchema = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name such as X-Signature');

export const grafanaSchema = z
  .strictObject({
    name: nameSchema,
    preset: z.literal('grafana'),
    secrets: secretListSchema.optional(),
    header: headerNameSchema.default(GRAFANA_SIGNATURE_HEADER),
    timestamp_header: headerNameSchema.optional(),
    tolerance: toleranceSchema,
    token: tokenListSchema.optional(),
  })
  .superRefine((config, ctx) => {
    if (config.secrets === undefined && config.token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secrets'],
        message: 'set secrets (the contact point\'s HMAC signature secret) or token (its Authorization credentials), or both',
      });
    }
    if (config.secrets === undefined && config.timestamp_header !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['timestamp_header'], message: 'only used with secrets (the HMAC signature covers the timestamp)' });
    }
  });
export type GrafanaConfig = z.output<typeof grafanaSchema>;

interface GrafanaSignature {
  readonly header: string;
  readonly timestamp?: { readonly header: string; readonly toleranceMs: number } | undefined;
}

/** Grafana's `http/hmac.go`: hex HMAC-SHA256 of the body, or of `<timestamp>:<body>` with a timestamp header. */
export function verifyGrafanaSignature(
  scheme: GrafanaSignature,
  secrets: readonly string[],
  request: InboundRequest,
  nowMs: number,
): Verdict {
  const value = readHeader(request, scheme.header);
  if (value === undefined) return rejected('signature_missing', `the ${scheme.header} header is required`);
  const signature = decodeHexDigest(value, 32);
  if (signature === null) {
    return rejected('signature_malformed', `${scheme.header} must be 64 hex characters (HMAC-SHA256)`);
  }
  let content: (string | Buffer)[] = [request.rawBody];
  if (scheme.timestamp) {
    const { header, toleranceMs } = scheme.timestamp;
    const timestamp = readHeader(request, header);
    if (timestamp === undefined) {
      return rejected(
        'signature_missing',
        `the ${header} header is required: timestamp_header is set, so ${scheme.header} signs "<${header}>:<body>" ` +
          '(set the same Timestamp Header in the Grafana contact point, or remove timestamp_header)',
      );
    }
    const timestampMs = parseUnixSeconds(timestamp);
    if (timestampMs === null) return rejected('signature_malformed', `${header} must be whole unix seconds`);
    const fresh = checkTolerance(header, timestampMs, nowMs, toleranceMs);
    if (!fresh.ok) return fresh;
    content = [`${timestamp}:`, request.rawBody];
  }
  if (anySignatureMatches(secrets, [signature], (secret) => hmacDigest('sha256', secret, content))) return ACCEPTED;
  const signed = scheme.timestamp ? `"<${scheme.timestamp.header}>:<body>"` : 'the raw body';
  const hint = scheme.timestamp
    ? ''
    : '; if the Grafana contact point sets a Timestamp Header, set timestamp_header to the same name';
  return rejected('signature_mismatch', `${scheme.header} does not match an HMAC-SHA256 of ${signed} with any configured secret${hint}`);
}

const BEARER = /^Bearer\s+(\S+)$/i;

/** The contact point's "Authorization header" (scheme Bearer), compared in constant time. */
export function verifyGrafanaToken(tokens: readonly string[], request: InboundRequest): Verdict {
  const authorization = readHeader(request, 'authorization');
  if (authorization === undefined) {
    return rejected(
      'token_missing',
      'the Authorization header is required: "Bearer <token>" (the contact point\'s Authorization header credentials)',
    );
  }
  const token = BEARER.exec(authorization)?.[1];
  if (token === undefined) {
    return rejected('token_invalid', 'the Authorization header must be "Bearer <token>" (Authentication Header Scheme: Bearer)');
  }
  return tokenMatches(tokens, token) ? ACCEPTED : rejected('token_invalid', 'the bearer token does not match any configured token');
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
  silenceURL: z.string().optional(),
  dashboardURL: z.string().optional(),
  panelURL: z.string().optional(),
  // Grafana sends null when a rule has no numeric values (a classic condition or an error).
  values: z.record(z.string(), z.number()).nullable().optional(),
  valueString: z.string().optional(),
});

const payloadSchema = z.looseObject({
  // "1" from Grafana's own webhook; "4" from its Alertmanager-compatible (Mimir) receiver: both normalize.
  version: z.string().optional(),
  status: alertStatus,
  receiver: z.string().optional(),
  orgId: z.number().optional(),
  groupKey: z.string().optional(),
  alerts: z.array(alertSchema),
});
type GrafanaAlert = z.output<typeof alertSchema>;

function severityFor(alert: GrafanaAlert): Severity {
  const stated = lookupSeverity(GRAFANA_SEVERITY, alert.labels['severity']);
  if (stated) return stated;
  // Grafana's own alerts for a rule that cannot evaluate (query error): broken monitoring is an error.
  return alert.labels['alertname'] === 'DatasourceError' ? 'error' : 'warning';
}

/** "B=44.24, C=1": the rule's query results, when there is no description. */
function describeValues(values: Readonly<Record<string, number>> | null | undefined): string {
  if (!values) return '';
  return Object.entries(values)
    .map(([name, value]) => `${name}=${formatNumber(value)}`)
    .join(', ');
}

function normalizeGrafana(payload: unknown): IncomingEvent[] {
  const group = parsePayload('Grafana', payloadSchema, payload);
  // `data` is each alert exactly as sent (the validated copy may have defaults filled in).
  const sentAlerts = (payload as { alerts: readonly unknown[] }).alerts;
  return group.alerts.map((alert, index) =>
    alertEvent(alert, sentAlerts[index], { severity: severityFor(alert), fallbackTitle: 'Grafana alert', summary: describeValues(alert.values) }),
  );
}

export const grafanaPreset: SourcePreset<typeof grafanaSchema> = {
  preset: 'grafana',
  schema: grafanaSchema,
  create(config: GrafanaConfig): Source {
    const scheme: GrafanaSignature = {
      header: config.header,
      timestamp:
        config.timestamp_header === undefined ? undefined : { header: config.timestamp_header, toleranceMs: config.tolerance },
    };
    return {
      name: config.name,
      preset: 'grafana',
      verify(request, nowMs) {
        if (config.token !== undefined) {
          const authorized = verifyGrafanaToken(config.token, request);
          if (!authorized.ok) return authorized;
        }
        return config.secrets === undefined ? ACCEPTED : verifyGrafanaSignature(scheme, config.secrets, request, nowMs);
      },
      normalize: normalizeGrafana,
      sign(rawBody, nowMs) {
        const headers: Record<string, string> = { 'Content-Type': 'application/json' };
        if (config.token !== undefined) headers['Authorization'] = `Bearer ${firstOf(config.token, 'token')}`;
        if (config.secrets !== undefined) {
          let content: (string | Buffer)[] = [rawBody];
          if (scheme.timestamp) {
            const timestamp = String(Math.floor(nowMs / 1_000));
            headers[scheme.timestamp.header] = timestamp;
            content = [`${timestamp}:`, rawBody];
          }
          headers[scheme.header] = hmacDigest('sha256', firstOf(config.secrets, 'secret'), content).toString('hex');
        }
        return { headers };
      },
    };
  },
};
