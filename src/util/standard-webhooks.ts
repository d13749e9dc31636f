import { createHmac, randomBytes } from 'node:crypto';

/**
 * Standard Webhooks signing (https://www.standardwebhooks.com/, "Signature scheme"):
 * HMAC-SHA256 over `${id}.${timestamp}.${body}`, base64, as `v1,<signature>`.
 * `whsec_` secrets are base64 after the prefix; other secrets are used as their UTF-8 bytes.
 */
export function decodeStandardSecret(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

export function standardSignature(key: Buffer, id: string, timestampSeconds: number, body: Buffer | string): string {
  const mac = createHmac('sha256', key);
  mac.update(`${id}.${timestampSeconds}.`);
  mac.update(body);
  return `v1,${mac.digest('base64')}`;
}

/** A new secret for a sender or an `http` destination (`hookrelay secret`). */
export function newStandardSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}
