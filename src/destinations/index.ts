import { z } from 'zod';
import type { Destination, DestinationDeps, DestinationType, Rendering } from './destination.ts';
import { jsonRendering } from './destination.ts';
import { discordDestination } from './discord.ts';
import { emailDestination } from './email.ts';
import { googleChatDestination } from './google-chat.ts';
import { httpDestination } from './http.ts';
import { pagerDutyDestination } from './pagerduty.ts';
import { slackBotDestination } from './slack-bot.ts';
import { slackDestination } from './slack.ts';
import { teamsDestination } from './teams.ts';

export type { Destination, DestinationDeps, DestinationLimits, OutboundRequest } from './destination.ts';
export type { SendResult } from './http-client.ts';
export { failure } from './http-client.ts';
export { HttpClient } from './http-client.ts';
export { checkDestinationUrl } from './egress.ts';
export { isIncidentMessenger } from './slack-bot.ts';

/** Every destination type; a new one is a module here. */
export const DESTINATION_TYPES = [slackDestination, slackBotDestination, pagerDutyDestination, httpDestination, teamsDestination, discordDestination, googleChatDestination, emailDestination] as const;

export const destinationConfigSchema = z.discriminatedUnion(
  'type',
  DESTINATION_TYPES.map((type) => type.schema) as unknown as [
    (typeof DESTINATION_TYPES)[number]['schema'],
    ...(typeof DESTINATION_TYPES)[number]['schema'][],
  ],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? `type must be one of ${DESTINATION_TYPES.map((t) => t.type).join(', ')}`
        : undefined,
  },
);
export type DestinationConfig = z.output<typeof destinationConfigSchema>;

/** How templates of a destination type are escaped and fitted; any other name (a folder of your own) is plain JSON. */
export function renderingOf(type: string): Rendering {
  return DESTINATION_TYPES.find((candidate) => candidate.type === type)?.rendering ?? jsonRendering;
}

export function createDestination(config: DestinationConfig, deps: DestinationDeps): Destination {
  const type = DESTINATION_TYPES.find((candidate) => candidate.type === config.type) as DestinationType | undefined;
  if (!type) throw new Error(`unknown destination type "${config.type}"`);
  const destination = type.create(config, deps);
  // Every type takes `fallback:` (a common key); the dispatcher reads it from the destination.
  return config.fallback === undefined ? destination : Object.assign(destination, { fallback: config.fallback });
}
