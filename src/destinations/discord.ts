import type { RESTRateLimit } from 'discord-api-types/v10';
import { z } from 'zod';
import { webhookUrlSchema } from '../util/schemas.ts';
import type { DestinationType } from './destination.ts';
import { chatWebhookDestination, commonDestinationKeys } from './destination.ts';
import { discordRendering } from './discord-message.ts';
import type { SendResult } from './http-client.ts';

// "Execute Webhook": POST /webhooks/{webhook.id}/{webhook.token}, under /api or /api/v{n}.
const WEBHOOK_PATH = /^\/api(\/v\d+)?\/webhooks\/\d+\/[\w-]+\/?$/;
// The same webhook with /slack or /github appended takes those services' payloads instead.
const COMPATIBLE_SUFFIX = /\/(slack|github)\/?$/;

const schema = z
  .object({
    ...commonDestinationKeys,
    type: z.literal('discord'),
    /** The channel's webhook URL (`https://discord.com/api/webhooks/<id>/<token>`): the token in it is a secret. */
    url: webhookUrlSchema((url) => {
      if (COMPATIBLE_SUFFIX.test(url.pathname)) return "ends in /slack or /github (Discord's compatibility endpoints): use the webhook URL without it";
      if (!WEBHOOK_PATH.test(url.pathname)) return 'not a Discord webhook URL (https://discord.com/api/webhooks/<id>/<token>: "Copy Webhook URL" in the channel\'s Integrations)';
      return null;
    }),
  })
  .strict();

/** Response headers of Discord's rate limits ("Rate Limits": Header Format). */
const RATE_LIMIT_HEADERS = ['x-ratelimit-remaining', 'x-ratelimit-reset-after', 'x-ratelimit-global', 'x-ratelimit-scope'];

function secondsToMs(text: string | undefined): number | null {
  const seconds = text === undefined ? Number.NaN : Number(text);
  return Number.isFinite(seconds) && seconds >= 0 ? Math.ceil(seconds * 1_000) : null;
}

/** `retry_after` of a 429's JSON body (seconds, fractional), in ms; null when the body says nothing usable. */
function retryAfterInBody(body: string | null): number | null {
  try {
    const parsed = JSON.parse(body ?? '') as Partial<RESTRateLimit> | null;
    return typeof parsed?.retry_after === 'number' ? secondsToMs(String(parsed.retry_after)) : null;
  } catch {
    return null;
  }
}

/**
 * What Discord's last answer said about this webhook's rate limit: a 429's `retry_after`, or
 * `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset-After` on a success. Until then, nothing
 * is sent (Discord counts refused requests against an invalid-request limit that bans the
 * address for an hour).
 */
class DiscordRateLimit {
  #until = 0;

  /** Ms until the bucket refills, 0 when a request may go. */
  waitAt(now: number): number {
    return Math.max(0, this.#until - now);
  }

  /** Learns from an answer; for a 429, the wait it asks for (body first, then headers). */
  learn(result: SendResult, now: number): number | null {
    const headers = result.headers ?? {};
    const resetAfter = secondsToMs(headers['x-ratelimit-reset-after']);
    if (result.status === 429) {
      const wait = retryAfterInBody(result.body) ?? resetAfter ?? result.retry_after_ms;
      if (wait !== null) this.#until = now + wait;
      return wait;
    }
    if (headers['x-ratelimit-remaining'] === '0' && resetAfter !== null) this.#until = now + resetAfter;
    return null;
  }
}

/**
 * A Discord channel webhook: embeds (default `discord/default`) coloured by severity, with
 * mentions always off. Discord allows 5 requests per 2 s per webhook and 30 messages a minute
 * per channel ("Rate Limits"; the latter is the known channel limit), hence 5 per 10 s by
 * default; its answers' rate-limit headers and a 429's `retry_after` are honoured too.
 */
export const discordDestination: DestinationType<typeof schema> = {
  type: 'discord',
  schema,
  rendering: discordRendering,
  create(config, deps) {
    const rateLimit = new DiscordRateLimit();
    return chatWebhookDestination(config, deps, {
      template: 'discord/default',
      rendering: discordRendering,
      rate: { max: 5, per_ms: 10_000 },
      async send(url, request, limits) {
        const wait = rateLimit.waitAt(deps.http.now());
        if (wait > 0) {
          return {
            kind: 'retry',
            status: null,
            body: null,
            retry_after_ms: wait,
            rate_limited: true,
            error: `not sent: Discord's rate limit for this webhook is used up for another ${wait} ms`,
            latency_ms: 0,
          };
        }
        const result = await deps.http.post(url, { headers: {}, body: request.body, timeoutMs: limits.timeout_ms, readHeaders: RATE_LIMIT_HEADERS });
        const retryAfter = rateLimit.learn(result, deps.http.now());
        return retryAfter === null ? result : { ...result, retry_after_ms: retryAfter };
      },
    });
  },
};
