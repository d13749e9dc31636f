import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/, "Signature scheme"), shared by
 * the `standard-webhooks` source (verifying) and `http` destinations (signing what we send).
 */
export const STANDARD_SECRET_PREFIX = 'whsec_';

/** `whsec_` secrets are base64 after the prefix; other secrets are used as their UTF-8 bytes. */
export function standardWebhooksKey(secret: string): Buffer {
  return secret.startsWith(STANDARD_SECRET_PREFIX)
    ? Buffer.from(secret.slice(STANDARD_SECRET_PREFIX.length), 'base64')
    : Buffer.from(secret, 'utf8');
}

/** The raw HMAC-SHA256 of `${id}.${timestamp}.${body}`. */
export function standardWebhooksDigest(key: Buffer, id: string, timestampSeconds: string, body: Buffer | string): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestampSeconds}.`).update(body).digest();
}

/** The three headers a Standard Webhooks sender sends. */
export function signStandardWebhooks(key: Buffer, id: string, body: Buffer | string, nowMs: number): Record<string, string> {
  const timestamp = String(Math.floor(nowMs / 1_000));
  return {
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': `v1,${standardWebhooksDigest(key, id, timestamp, body).toString('base64')}`,
  };
}

/** A new secret for a sender or an `http` destination (`hookrelay secret`). */
export function newStandardSecret(): string {
  return `${STANDARD_SECRET_PREFIX}${randomBytes(32).toString('base64')}`;
}
