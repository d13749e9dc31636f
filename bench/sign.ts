import { createHmac } from 'node:crypto';

/**
 * Signing the way Tapemetric does it (its "Signature verification" document), written
 * here rather than imported from src/ so the bench never uses hookrelay's own code to
 * produce the input it measures hookrelay on.
 */
export const SIGNATURE_HEADER = 'x-tapemetric-signature';

/** `sha256=<hex HMAC-SHA256(secret, raw body)>`. */
export function tapemetricSignature(body: string | Buffer, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** One secret for the whole run; hookrelay's config and the baseline server get the same one. */
export const BENCH_SECRET = 'bench-secret-0c5f1e7a9d2b4c6e';
