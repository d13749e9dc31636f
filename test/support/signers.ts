import { createHmac } from 'node:crypto';

/**
 * Independent signers written from the senders' documents, so tests never use the code
 * under test to sign its own input.
 */
export const hmacHex = (secret: string | Buffer, data: string | Buffer): string => createHmac('sha256', secret).update(data).digest('hex');

/** Tapemetric doc "Signature verification": sha256= + hex HMAC of the raw body. */
export function tapemetricSignature(body: string | Buffer, secret: string): string {
  return `sha256=${hmacHex(secret, body)}`;
}

export function tapemetricHeaders(body: string, secret: string): Record<string, string> {
  return { 'x-tapemetric-signature': tapemetricSignature(body, secret), 'x-tapemetric-delivery': `d-${Math.random().toString(16).slice(2)}` };
}

/** StatusPulse (003): hex HMAC of "<timestamp>.<body>". */
export function statusPulseHeaders(body: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return { 'x-statuspulse-timestamp': String(timestamp), 'x-statuspulse-signature': hmacHex(secret, `${timestamp}.${body}`) };
}

/** StatusSentry: t=<unix>,v1=<hex HMAC("t.body")>. */
export function statusSentryHeaders(body: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  return { 'x-statussentry-signature': `t=${timestamp},v1=${hmacHex(secret, `${timestamp}.${body}`)}` };
}

/** Standard Webhooks: base64 HMAC of "id.timestamp.body" with the base64-decoded whsec_ key. */
export function standardWebhookHeaders(body: string, secret: string, id: string, timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
}

export function tapemetricPayload(overrides: Record<string, unknown> = {}, data: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `evt_${Math.random().toString(36).slice(2, 12)}`,
    type: 'qos.rebuffer_spike',
    created_at: '2026-04-23T18:28:00Z',
    tenant_slug: 'tapemetric',
    data: {
      severity: 'critical',
      region: 'Maharashtra',
      current_rate: 8.4,
      baseline_rate: 3.1,
      affected_sessions: 24000,
      pop: 'ap-south-1',
      ...data,
    },
    ...overrides,
  };
}
