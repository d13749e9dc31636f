import { newStandardSecret } from '../util/standard-webhooks.ts';

/**
 * A new signing secret for a sender or an `http` destination: `whsec_` + 32 random bytes in
 * base64 (Standard Webhooks "Signature scheme"), shown once by whoever asked for it.
 */
export function generateSecret(): string {
  return newStandardSecret();
}
