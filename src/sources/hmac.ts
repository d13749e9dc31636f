/**
 * The generic HMAC preset: a sender that signs with one HMAC in one header is configuration, not code.
 *
 * ```yaml
 * - name: acme
 *   preset: hmac
 *   header: X-Acme-Signature        # where the signature is
 *   prefix: "sha256="               # literal text before the digest (default none)
 *   encoding: hex                   # hex | base64
 *   algorithm: sha256               # sha1 | sha256 | sha512
 *   signed: timestamp.body          # body (default) | timestamp.body: "<timestamp header>.<body>"
 *   timestamp_header: X-Acme-Timestamp   # required with timestamp.body; unix s, unix ms or ISO 8601
 *   id_header: X-Acme-Delivery      # optional: the sender's event id
 *   secrets: [ "${ACME_SECRET}" ]
 *   fields: { type: event, severity: data.level }   # dotted paths, see fields.ts
 *   severity_map: { P1: critical }
 * ```
 *
 * Severity when `severity_map` does not say:
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
import { z } from 'zod';
import { nameSchema, secretListSchema } from '../util/schemas.ts';
import type { HeaderSignatureScheme } from './signature.ts';
import {
  HMAC_ALGORITHMS,
  firstOf,
  readHeader,
  signHeaderSignature,
  toleranceSchema,
  verifyHeaderSignature,
} from './signature.ts';
import { genericNormalizationShape, normalizeGeneric } from './fields.ts';
import type { Source, SourcePreset } from './source.ts';

/** An HTTP header name (RFC 9110 token). */
const headerNameSchema = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be an HTTP header name such as X-Signature');

export const hmacSchema = z
  .strictObject({
    name: nameSchema,
    preset: z.literal('hmac'),
    secrets: secretListSchema,
    header: headerNameSchema,
    prefix: z.string().default(''),
    encoding: z.enum(['hex', 'base64']).default('hex'),
    algorithm: z.enum(HMAC_ALGORITHMS).default('sha256'),
    signed: z.enum(['body', 'timestamp.body']).default('body'),
    timestamp_header: headerNameSchema.optional(),
    id_header: headerNameSchema.optional(),
    tolerance: toleranceSchema,
    ...genericNormalizationShape,
  })
  .superRefine((config, ctx) => {
    if (config.signed === 'timestamp.body' && config.timestamp_header === undefined) {
      ctx.addIssue({ code: 'custom', path: ['timestamp_header'], message: 'required when signed is "timestamp.body"' });
    }
    if (config.signed === 'body' && config.timestamp_header !== undefined) {
      // Otherwise a user would believe stale requests are refused while nothing checks the header.
      ctx.addIssue({
        code: 'custom',
        path: ['timestamp_header'],
        message: 'only used with signed: "timestamp.body" (a body-only signature does not cover the timestamp)',
      });
    }
  });
export type HmacConfig = z.output<typeof hmacSchema>;

export const hmacPreset: SourcePreset<typeof hmacSchema> = {
  preset: 'hmac',
  schema: hmacSchema,
  create(config: HmacConfig): Source {
    const scheme: HeaderSignatureScheme = {
      header: config.header,
      prefix: config.prefix,
      encoding: config.encoding,
      algorithm: config.algorithm,
      timestamp:
        config.signed === 'timestamp.body' && config.timestamp_header !== undefined
          ? { header: config.timestamp_header, toleranceMs: config.tolerance }
          : undefined,
    };
    return {
      name: config.name,
      preset: 'hmac',
      verify: (request, nowMs) => verifyHeaderSignature(scheme, config.secrets, request, nowMs),
      normalize: (payload, request) => [
        normalizeGeneric(config.name, payload, config, {
          headerId: config.id_header === undefined ? undefined : readHeader(request, config.id_header),
          headerTime: scheme.timestamp === undefined ? undefined : readHeader(request, scheme.timestamp.header),
          defaultType: 'webhook',
        }),
      ],
      sign(rawBody, nowMs) {
        return {
          headers: {
            'Content-Type': 'application/json',
            ...signHeaderSignature(scheme, firstOf(config.secrets, 'secret'), rawBody, nowMs),
          },
        };
      },
    };
  },
};
