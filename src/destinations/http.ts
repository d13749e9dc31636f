import { z } from 'zod';
import { flagSchema, urlSchema } from '../util/schemas.ts';
import { signStandardWebhooks, standardWebhooksKey } from '../util/standard-webhooks.ts';
import type { DestinationType } from './destination.ts';
import { commonDestinationKeys, jsonRendering, limitsOf, requireRateForStorm, stormOf, templateRenderer } from './destination.ts';

/** Headers hookrelay sets itself; a configured `headers:` entry may not replace them. */
const RESERVED_HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature', 'retry-attempt', 'user-agent', 'content-type', 'content-length', 'host'];

const schema = z
  .object({
    ...commonDestinationKeys,
    type: z.literal('http'),
    url: urlSchema,
    method: z.enum(['POST', 'PUT']).default('POST'),
    /** Per-incident order (default); false lets events of one incident overtake each other (more throughput). */
    ordered: flagSchema.default(true),
    /** Signs requests with Standard Webhooks when set (`whsec_…`). */
    secret: z.string().min(1).optional(),
    /** Extra request headers, e.g. an API key the receiver wants. */
    headers: z
      .record(z.string(), z.string())
      .refine((headers) => !Object.keys(headers).some((name) => RESERVED_HEADERS.includes(name.toLowerCase())), {
        message: `may not set ${RESERVED_HEADERS.join(', ')} (hookrelay sets them)`,
      })
      .default({}),
  })
  .strict()
  .superRefine(requireRateForStorm);

/**
 * Any HTTP endpoint: templated JSON (default `http/envelope`), with the delivery id as
 * `webhook-id` (the same on every retry, so receivers can de-duplicate), `Retry-Attempt: n`
 * on the n-th retry, and a Standard Webhooks signature when a secret is set.
 */
export const httpDestination: DestinationType<typeof schema> = {
  type: 'http',
  schema,
  rendering: jsonRendering,
  create(config, deps) {
    const url = new URL(config.url);
    const template = config.template ?? 'http/envelope';
    const limits = limitsOf(config, { concurrency: 8, rate: null });
    const key = config.secret === undefined ? null : standardWebhooksKey(config.secret);
    return {
      name: config.name,
      type: 'http',
      template,
      limits,
      auto_enable: config.auto_enable !== false,
      ordered: config.ordered,
      // Machines usually want every event: digests only when configured (with a rate limit).
      storm: stormOf(config, null),
      urls: [url],
      ...templateRenderer(deps, template, jsonRendering),
      send(request) {
        const signed = key
          ? signStandardWebhooks(key, request.delivery_id, request.body, deps.http.now())
          : { 'webhook-id': request.delivery_id, 'webhook-timestamp': String(Math.floor(deps.http.now() / 1_000)) };
        const headers: Record<string, string> = { ...config.headers, ...signed };
        if (request.attempt > 1) headers['retry-attempt'] = String(request.attempt - 1);
        return deps.http.post(url, { method: config.method, headers, body: request.body, timeoutMs: limits.timeout_ms });
      },
    };
  },
};
