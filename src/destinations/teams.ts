import { z } from 'zod';
import { webhookUrlSchema } from '../util/schemas.ts';
import type { DestinationType } from './destination.ts';
import { chatWebhookDestination, commonDestinationKeys } from './destination.ts';
import { teamsRendering } from './teams-message.ts';

// Office 365 connectors (incoming webhooks on webhook.office.com / outlook.office.com) are
// retired; Microsoft's replacement is a Workflows webhook.
const RETIRED_CONNECTOR_HOST = /(^|\.)(webhook\.office\.com|outlook\.office(365)?\.com)$/i;

const schema = z
  .object({
    ...commonDestinationKeys,
    type: z.literal('teams'),
    /** A Workflows webhook URL ("Post to a channel when a webhook request is received"): a secret. */
    url: webhookUrlSchema((url) =>
      RETIRED_CONNECTOR_HOST.test(url.hostname)
        ? 'an Office 365 connector URL: connectors are retired; in Teams, add the Workflows template "Post to a channel when a webhook request is received" and use its URL'
        : null,
    ),
  })
  .strict();

/**
 * Microsoft Teams through a Workflows webhook: an Adaptive Card (default `teams/default`) in a
 * `message` envelope, checked with Microsoft's Adaptive Cards library before it goes, since the
 * flow answers 202 even to a card it cannot show. Teams throttles webhooks beyond four
 * requests a second (Teams "Rate limiting for connectors"); a flow has limits of its own, hence
 * 4 per 2 s by default. A 429 is retried after its Retry-After (the retry policy).
 */
export const teamsDestination: DestinationType<typeof schema> = {
  type: 'teams',
  schema,
  rendering: teamsRendering,
  create: (config, deps) => chatWebhookDestination(config, deps, { template: 'teams/default', rendering: teamsRendering, rate: { max: 4, per_ms: 2_000 } }),
};
