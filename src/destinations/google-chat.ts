import { z } from 'zod';
import { webhookUrlSchema } from '../util/schemas.ts';
import type { DestinationType } from './destination.ts';
import { chatWebhookDestination, commonDestinationKeys } from './destination.ts';
import { googleChatRendering } from './google-chat-message.ts';

// A space webhook: POST https://chat.googleapis.com/v1/spaces/<space>/messages?key=…&token=…
const WEBHOOK_PATH = /^\/v1\/spaces\/[^/]+\/messages$/;
// "Start or reply to a message thread": reply in the thread of `thread.threadKey`, or start it.
const REPLY_OPTION = 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD';

const schema = z
  .object({
    ...commonDestinationKeys,
    type: z.literal('google_chat'),
    /** The space's webhook URL (Apps & integrations → Webhooks): its key and token are secrets. */
    url: webhookUrlSchema((url) =>
      WEBHOOK_PATH.test(url.pathname)
        ? null
        : "not a Google Chat space webhook URL (https://chat.googleapis.com/v1/spaces/<space>/messages?key=…&token=…: the space's Apps & integrations → Webhooks)",
    ),
  })
  .strict()
  .transform((config) => {
    // Every message goes to its incident's thread, or starts it.
    const url = new URL(config.url);
    url.searchParams.set('messageReplyOption', REPLY_OPTION);
    return { ...config, url: url.toString() };
  });

/**
 * A Google Chat space webhook: `text` for the notification plus a `cardsV2` card (default
 * `google_chat/default`), every message of an incident in one thread (`thread.threadKey` from
 * the incident key). A space takes about one message a second (Chat API usage limits: 60
 * writes a minute per space), hence 1 per 1 s by default; a 429 waits its Retry-After.
 */
export const googleChatDestination: DestinationType<typeof schema> = {
  type: 'google_chat',
  schema,
  rendering: googleChatRendering,
  create: (config, deps) => chatWebhookDestination(config, deps, { template: 'google_chat/default', rendering: googleChatRendering, rate: { max: 1, per_ms: 1_000 } }),
};
