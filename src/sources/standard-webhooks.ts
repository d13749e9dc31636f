/**
 * Standard Webhooks (https://www.standardwebhooks.com/, spec "Verifying webhooks"):
 * headers `webhook-id`, `webhook-timestamp` (unix seconds) and `webhook-signature`, a space-separated
 * list of `<version>,<base64>`; only `v1` (HMAC-SHA256) is checked, other versions are ignored.
 * Signed content: `${webhook-id}.${webhook-timestamp}.${raw body}`.
 * Secrets `whsec_<base64>` are the base64-decoded bytes after the prefix; any other secret is used as
 * its UTF-8 bytes. external_id is `webhook-id` (the spec's idempotency key).
 *
 * The payload is normalized by `fields:` (see `fields.ts`); severity when `severity_map` does not say:
 *
 * | sender's value                             | severity |
 * |--------------------------------------------|----------|
 * | critical, fatal, emergency, page, p1, sev1 | critical |
 * | error, high, major, p2, sev2               | error    |
 * | warning, warn, medium, minor, p3, sev3     | warning  |
 * | info, low, none, notice, debug, p4, p5     | info     |
 * | any other value                            | warning  |
 * | no severity field                          | info     |
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { nameSchema, secretListSchema } from '../util/schemas.ts';
import {
  ACCEPTED,
  anySignatureMatches,
  checkTolerance,
  decodeBase64Digest,
  firstOf,
  parseUnixSeconds,
  readHeader,
  rejected,
  toleranceSchema,
} from './signature.ts';
import { genericNormalizationShape, normalizeGeneric } from './fields.ts';
import type { InboundRequest, Source, SourcePreset, Verdict } from './source.ts';
import {
  STANDARD_SECRET_PREFIX,
  signStandardWebhooks,
  standardWebhooksDigest,
  standardWebhooksKey,
} from '../util/standard-webhooks.ts';

const BASE64_SECRET = /^[A-Za-z0-9+/]+={0,2}$/;

export const standardWebhooksSchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('standard-webhooks'),
  secrets: secretListSchema.superRefine((secrets, ctx) => {
    secrets.forEach((secret, index) => {
      if (secret.startsWith(STANDARD_SECRET_PREFIX) && !BASE64_SECRET.test(secret.slice(STANDARD_SECRET_PREFIX.length))) {
        ctx.addIssue({ code: 'custom', path: [index], message: 'a whsec_ secret must be whsec_ followed by base64' });
      }
    });
  }),
  tolerance: toleranceSchema,
  ...genericNormalizationShape,
});
export type StandardWebhooksConfig = z.output<typeof standardWebhooksSchema>;

const ID_HEADER = 'webhook-id';
const TIMESTAMP_HEADER = 'webhook-timestamp';
const SIGNATURE_HEADER = 'webhook-signature';
const FORMAT = `${SIGNATURE_HEADER} must be a space-separated list of "v1,<base64 HMAC-SHA256>" (44 characters each)`;

/** The v1 signatures of the header, or a message saying what is wrong with it. */
function parseSignatures(value: string): Buffer[] | string {
  const signatures: Buffer[] = [];
  for (const entry of value.split(' ').filter((part) => part !== '')) {
    const comma = entry.indexOf(',');
    if (comma <= 0) return `${FORMAT}; "${entry.slice(0, 8)}…" has no "<version>," prefix`;
    if (entry.slice(0, comma) !== 'v1') continue; // e.g. v1a (asymmetric): not ours to check
    const digest = decodeBase64Digest(entry.slice(comma + 1), 32);
    if (digest === null) return `${FORMAT}; a v1 entry is not 32 bytes of base64`;
    signatures.push(digest);
  }
  return signatures.length === 0 ? `${FORMAT}; no v1 entry` : signatures;
}

export function verifyStandardWebhooks(
  keys: readonly Buffer[],
  toleranceMs: number,
  request: InboundRequest,
  nowMs: number,
): Verdict {
  const missing = (header: string): Verdict =>
    rejected('signature_missing', `the ${header} header is required (Standard Webhooks)`);
  const id = readHeader(request, ID_HEADER);
  if (id === undefined) return missing(ID_HEADER);
  const timestamp = readHeader(request, TIMESTAMP_HEADER);
  if (timestamp === undefined) return missing(TIMESTAMP_HEADER);
  const signature = readHeader(request, SIGNATURE_HEADER);
  if (signature === undefined) return missing(SIGNATURE_HEADER);

  const timestampMs = parseUnixSeconds(timestamp);
  if (timestampMs === null) return rejected('signature_malformed', `${TIMESTAMP_HEADER} must be whole unix seconds`);
  const signatures = parseSignatures(signature);
  if (typeof signatures === 'string') return rejected('signature_malformed', signatures);
  const fresh = checkTolerance(TIMESTAMP_HEADER, timestampMs, nowMs, toleranceMs);
  if (!fresh.ok) return fresh;

  return anySignatureMatches(keys, signatures, (key) => standardWebhooksDigest(key, id, timestamp, request.rawBody))
    ? ACCEPTED
    : rejected(
        'signature_mismatch',
        `no v1 signature in ${SIGNATURE_HEADER} matches an HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>" ` +
          'with any configured secret',
      );
}

export const standardWebhooksPreset: SourcePreset<typeof standardWebhooksSchema> = {
  preset: 'standard-webhooks',
  schema: standardWebhooksSchema,
  create(config: StandardWebhooksConfig): Source {
    const keys = config.secrets.map(standardWebhooksKey);
    return {
      name: config.name,
      preset: 'standard-webhooks',
      verify: (request, nowMs) => verifyStandardWebhooks(keys, config.tolerance, request, nowMs),
      normalize: (payload, request) => [
        normalizeGeneric('Standard Webhooks', payload, config, {
          headerId: readHeader(request, ID_HEADER),
          headerTime: readHeader(request, TIMESTAMP_HEADER),
          defaultType: 'webhook',
        }),
      ],
      sign(rawBody, nowMs) {
        const id = `msg_${randomBytes(12).toString('base64url')}`;
        return {
          headers: {
            'Content-Type': 'application/json',
            ...signStandardWebhooks(standardWebhooksKey(firstOf(config.secrets, 'secret')), id, rawBody, nowMs),
          },
        };
      },
    };
  },
};
