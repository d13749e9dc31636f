import { z } from 'zod';
import { urlSchema } from '../config/common.ts';
import type { DestinationType } from './destination.ts';
import { commonDestinationKeys, limitsOf, stormOf, templateRenderer } from './destination.ts';
import { DEFAULT_STORM } from '../notify/digest.ts';
import { fitSlackMessage } from './slack-message.ts';

const schema = z
  .object({ ...commonDestinationKeys, type: z.literal('slack'), url: urlSchema })
  .strict();

/**
 * Slack Incoming Webhook. Slack allows about one message per second per webhook with
 * short bursts (Slack "Rate limits" docs), hence 3 per 3 s by default; it answers
 * 200 "ok", or 4xx with a reason such as `invalid_blocks` / `no_service`.
 */
export const slackDestination: DestinationType<typeof schema> = {
  type: 'slack',
  schema,
  create(config, deps) {
    const url = new URL(config.url);
    const template = config.template ?? 'slack/default';
    const limits = limitsOf(config, { concurrency: 1, rate: { max: 3, per_ms: 3_000 } });
    return {
      name: config.name,
      type: 'slack',
      template,
      limits,
      auto_enable: config.auto_enable !== false,
      // People read a channel: a storm collapses into digests unless `storm: false`.
      storm: stormOf(config, DEFAULT_STORM),
      urls: [url],
      ...templateRenderer(deps, template, 'slack', (payload) => fitSlackMessage(payload).message),
      send: (request) => deps.http.post(url, { headers: {}, body: request.body, timeoutMs: limits.timeout_ms }),
    };
  },
};
