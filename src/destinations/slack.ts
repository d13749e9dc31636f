import { z } from 'zod';
import { urlSchema } from '../util/schemas.ts';
import type { DestinationType } from './destination.ts';
import { chatWebhookDestination, commonDestinationKeys } from './destination.ts';
import { slackRendering } from './slack-message.ts';

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
  rendering: slackRendering,
  create: (config, deps) => chatWebhookDestination(config, deps, { template: 'slack/default', rendering: slackRendering, rate: { max: 3, per_ms: 3_000 } }),
};
