import type { Request } from 'express';
import type { Config } from '../config/schema.ts';
import { lookupTable } from '../util/objects.ts';

/** How each preset proves a request is genuine, in the words of its sender's documents. */
const SCHEMES: Readonly<Record<string, string>> = lookupTable({
  tapemetric: 'HMAC-SHA256 of the body: X-Tapemetric-Signature: sha256=<hex>',
  statuspulse: 'HMAC-SHA256 of "<X-StatusPulse-Timestamp>.<body>" in X-StatusPulse-Signature (hex)',
  statussentry: 'X-StatusSentry-Signature: t=<timestamp>,v1=<hex HMAC-SHA256>',
  tape: 'a URL token (?token=…), plus the hook.verify handshake',
  'standard-webhooks': 'Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature (v1, base64)',
  alertmanager: 'Authorization: Bearer <token> (Alertmanager http_config)',
  hmac: 'HMAC of the body in a configured header',
  grafana: 'Grafana alerting webhook, optional HMAC in X-Grafana-Alerting-Signature',
  github: 'X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>',
  stripe: 'Stripe-Signature: t=<timestamp>,v1=<hex HMAC-SHA256>',
  pagerduty: 'X-PagerDuty-Signature: v1=<hex HMAC-SHA256 of the body> (Webhooks V3)',
});

export interface SourceListing {
  readonly name: string;
  readonly preset: string;
  readonly scheme: string;
  /** What to paste into the sender's webhook settings. */
  readonly url: string;
}

const HOST = /^[a-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/i;

const firstValue = (header: string | undefined): string | undefined => header?.split(',')[0]?.trim() || undefined;

/**
 * The address senders reach this server at: the configured public URL, else what the browser
 * (or the proxy in front, X-Forwarded-Proto / X-Forwarded-Host) used to reach this page.
 */
export function publicBaseUrl(request: Request, configured: string | null): string {
  if (configured) return configured.replace(/\/+$/, '');
  const forwardedProto = firstValue(request.get('x-forwarded-proto'));
  const proto = forwardedProto === 'https' || forwardedProto === 'http' ? forwardedProto : request.protocol;
  const forwardedHost = firstValue(request.get('x-forwarded-host'));
  const host = [forwardedHost, request.get('host')].find((candidate) => candidate !== undefined && HOST.test(candidate)) ?? 'localhost';
  return `${proto}://${host}`;
}

/** Each configured source with the URL to paste into its sender and its signature scheme. */
export function sourceListings(config: Config, baseUrl: string): SourceListing[] {
  return config.sources.map((source) => {
    const path = `${baseUrl}/hooks/${encodeURIComponent(source.name)}`;
    // Tape has no signature: the URL token is the proof, so it is part of what to paste.
    // Several tokens while rotating: the first is the one to hand out.
    const token = source.preset === 'tape' && 'token' in source && Array.isArray(source.token) ? (source.token[0] as string) : null;
    return {
      name: source.name,
      preset: source.preset,
      scheme: SCHEMES[source.preset] ?? source.preset,
      url: token === null ? path : `${path}?token=${encodeURIComponent(token)}`,
    };
  });
}
