import type { ErrorCode, WebAPIPlatformError, WebAPIRateLimitedError, WebAPIHTTPError, WebAPIRequestError, WebClient } from '@slack/web-api';
import { z } from 'zod';
import { urlSchema } from '../util/schemas.ts';
import type { RelayEvent } from '../events/event.ts';
import type { DeliveryEffects, IncidentMessage } from '../store/store.ts';
import type { IncidentView, TemplateContext } from '../templates/types.ts';
import type { Destination, DestinationType, OutboundRequest } from './destination.ts';
import { commonDestinationKeys, limitsOf, stormOf } from './destination.ts';
import { DEFAULT_STORM } from '../notify/digest.ts';
import { failure, findEgressRefusal, retryableStatus } from './http-client.ts';
import type { SendResult } from './http-client.ts';
import { fitSlackMessage, slackRendering } from './slack-message.ts';
import type { SlackMessage } from './slack-message.ts';
import { lookupTable } from '../util/objects.ts';
import { realTime } from '../util/clock.ts';

const schema = z
  .object({
    ...commonDestinationKeys,
    type: z.literal('slack-bot'),
    /** A bot token (`xoxb-…`) with the `chat:write` scope. */
    token: z.string().min(1, 'the bot token may not be empty'),
    /** `#ops` or a channel id (`C0123…`); the bot must be a member. */
    channel: z.string().min(1),
    /** Slack's Web API; overridable for tests. */
    api_url: urlSchema.default('https://slack.com/api/'),
    /** The thread reply posted for each later event of an incident. */
    reply_template: z.string().optional(),
  })
  .strict();

/** Slack answers that no retry can fix (Slack Web API "Errors" of chat.postMessage / chat.update). */
const PERMANENT: Readonly<Record<string, string>> = lookupTable({
  invalid_auth: 'Slack rejected the bot token: check the destination\'s token',
  not_authed: 'no bot token was sent: check the destination\'s token',
  token_revoked: 'the bot token was revoked: install the app again and update the token',
  token_expired: 'the bot token expired: update the destination\'s token',
  account_inactive: 'the bot\'s account is inactive: install the app again',
  missing_scope: 'the bot token lacks the chat:write scope: add it in the app\'s OAuth settings and reinstall',
  channel_not_found: 'the channel does not exist or the bot cannot see it (invite the bot, or use the channel id)',
  not_in_channel: 'the bot is not a member of the channel: /invite it there',
  is_archived: 'the channel is archived',
  restricted_action: 'the workspace does not let the bot post in this channel',
  invalid_blocks: 'Slack refused the message blocks: check the slack-bot template',
  invalid_attachments: 'Slack refused the message attachments: check the slack-bot template',
  msg_too_long: 'the message is too long for Slack',
  no_text: 'the message has no text: check the slack-bot template',
});
/**
 * The Web API client's error codes (its `ErrorCode` enum), spelled here so that classifying a
 * failure needs no import of the client: @slack/web-api is loaded only by a slack-bot
 * destination's first call (see `create`).
 */
const SLACK_ERROR = {
  platform: 'slack_webapi_platform_error',
  rateLimited: 'slack_webapi_rate_limited_error',
  http: 'slack_webapi_http_error',
  request: 'slack_webapi_request_error',
} as const satisfies Record<string, `${ErrorCode}`>;

type PostMessageArguments = Parameters<WebClient['chat']['postMessage']>[0];
type UpdateArguments = Parameters<WebClient['chat']['update']>[0];

/** A redraw that keeps finding the message changed gives up after this many chat.update calls. */
const MAX_REDRAWS = 5;
/** chat.update on a message that is gone: post a new one instead. */
const MESSAGE_GONE = new Set(['message_not_found', 'cant_update_message', 'edit_window_closed']);

interface Rendered {
  readonly card: SlackMessage;
  readonly reply: SlackMessage;
}

/** The request as stored: both messages and the version of the incident message they were drawn from. */
interface Drawn extends Rendered {
  readonly version?: number;
  /** A storm digest: posted as a message of its own, never as (or over) an incident's card. */
  readonly digest?: boolean;
}

/**
 * A change of an incident made elsewhere (PagerDuty acknowledged it): the card is redrawn from the
 * stored state when sent, and `reply` (the event that told of it) goes into the thread.
 */
interface Noted {
  readonly note: string;
  readonly reply: SlackMessage;
}

/** A destination that keeps one message per incident and can redraw it (after an acknowledgement, from Slack or PagerDuty). */
export interface IncidentMessenger {
  refreshIncident(dedupKey: string): Promise<void>;
  /**
   * The request that redraws the incident's card from its stored state and adds `event` (which
   * told of a change made elsewhere) to its thread, sent as delivery `deliveryId`; null when this
   * destination has no message for the incident. `message`: the incident's message as it will
   * stand once the change is stored with this request (read from the store when absent).
   */
  noteRequest(dedupKey: string, event: RelayEvent, deliveryId: string, message?: IncidentMessage): Promise<string | null>;
}

export function isIncidentMessenger(destination: Destination): destination is Destination & IncidentMessenger {
  return typeof (destination as Partial<IncidentMessenger>).refreshIncident === 'function';
}

/** A new incident starts when there is no message yet, or the last one was resolved and this fires again. */
function startsIncident(message: IncidentMessage | null, event: RelayEvent): boolean {
  return message === null || (message.status === 'resolved' && event.status === 'firing');
}

/**
 * How an incident stands with `event` as its latest, after `updates` thread replies. Resolved by
 * the event, or on the message (resolved elsewhere, in PagerDuty, while its events still fire).
 */
function standing(message: IncidentMessage | null, event: RelayEvent, updates: number): IncidentView {
  const started = message?.started_at ?? event.occurred_at;
  const resolvedAt = event.status === 'resolved' ? event.occurred_at : message?.status === 'resolved' ? (message.resolved_at ?? event.occurred_at) : null;
  return {
    started_at: started,
    updates,
    acknowledged_by: message?.acknowledged_by ?? null,
    acknowledged_at: message?.acknowledged_at ?? null,
    resolved: resolvedAt !== null,
    resolved_by: message?.resolved_by ?? null,
    duration_ms: Math.max(0, Date.parse(resolvedAt ?? event.occurred_at) - Date.parse(started)),
  };
}

/** The incident as it will stand once this event is delivered. */
export function incidentView(message: IncidentMessage | null, event: RelayEvent): IncidentView {
  return message === null || startsIncident(message, event) ? standing(null, event, 0) : standing(message, event, message.updates + 1);
}

/**
 * Slack through a bot token: one message per incident (dedup key), kept up to date — the
 * first event posts it (chat.postMessage), later ones update it (chat.update: status, colour,
 * "Resolved after 14m", who acknowledged) and add a thread reply. The message's channel and
 * ts are kept in the store, so this survives restarts. Carries the Mute / Acknowledge / Replay
 * buttons handled at /slack/events.
 */
export const slackBotDestination: DestinationType<typeof schema> = {
  type: 'slack-bot',
  schema,
  rendering: slackRendering,
  create(config, deps) {
    const template = config.template ?? 'slack-bot/default';
    const replyTemplate = config.reply_template ?? 'slack-bot/reply';
    // One at a time keeps an incident's events in order and its message single.
    const limits = limitsOf(config, { concurrency: 1, rate: { max: 2, per_ms: 2_000 } });
    // Built at the first call, so that a process with no slack-bot destination (or one that has
    // not sent yet) does not hold the Web API client's modules in memory.
    let client: Promise<WebClient> | null = null;
    const web = (): Promise<WebClient> =>
      (client ??= import('@slack/web-api').then(
        ({ LogLevel, WebClient }) =>
          new WebClient(config.token, {
            slackApiUrl: config.api_url.endsWith('/') ? config.api_url : `${config.api_url}/`,
            // The dispatcher owns retries and Retry-After.
            retryConfig: { retries: 0 },
            rejectRateLimitedCalls: true,
            timeout: limits.timeout_ms,
            logLevel: LogLevel.ERROR,
            fetch: deps.http.fetch,
          }),
      ));

    const renderBoth = (context: TemplateContext): Rendered => ({
      card: fitSlackMessage(deps.templates.render(template, slackRendering.mode, context), template).message,
      reply: fitSlackMessage(deps.templates.render(replyTemplate, slackRendering.mode, context), replyTemplate).message,
    });

    // The message's channel and ts go back as effects, recorded with the attempt (never written here).
    const post = async (event: RelayEvent, card: SlackMessage, elapsed: () => number): Promise<SendResult> => {
      const posted = await (await web()).chat.postMessage({ ...card, channel: config.channel, unfurl_links: false, unfurl_media: false } as PostMessageArguments);
      return ok(elapsed, { posted: posted.ts, channel: posted.channel }, {
        incident_message: {
          kind: 'posted',
          dedup_key: event.dedup_key,
          channel: String(posted.channel),
          ts: String(posted.ts),
          started_at: event.occurred_at,
          status: event.status,
          resolved_at: event.status === 'resolved' ? event.occurred_at : null,
          last_event_id: event.id,
        },
      });
    };

    // A digest belongs to no incident: no card is kept for it (the events' incidents start theirs later).
    const postDigest = async (card: SlackMessage, elapsed: () => number): Promise<SendResult> => {
      const posted = await (await web()).chat.postMessage({ ...card, channel: config.channel, unfurl_links: false, unfurl_media: false } as PostMessageArguments);
      return ok(elapsed, { posted: posted.ts, channel: posted.channel, digest: true }, {});
    };

    // The card is drawn now, from the newest state (the change was stored before this was queued);
    // then the line goes into the thread. A retry repeats the idempotent redraw, not the line.
    const sendNote = async ({ note, reply }: Noted, elapsed: () => number): Promise<SendResult> => {
      await destination.refreshIncident(note);
      const message = await deps.store().view('incident_message', config.name, note);
      if (!message) return ok(elapsed, { skipped: 'no message for this incident' }, {});
      await (await web()).chat.postMessage({ ...reply, channel: message.channel, thread_ts: message.ts, unfurl_links: false } as PostMessageArguments);
      return ok(elapsed, { noted: message.ts, channel: message.channel }, {});
    };

    const destination: Destination & IncidentMessenger = {
      name: config.name,
      type: 'slack-bot',
      template,
      limits,
      auto_enable: config.auto_enable !== false,
      stateful: true,
      // A digest is a message of its own; incidents that have their card keep updating it.
      storm: stormOf(config, DEFAULT_STORM),
      read_by_people: true,
      urls: [new URL(config.api_url)],
      urls_key: 'api_url',
      prepare() {
        deps.templates.prepare(template, 'slack');
        deps.templates.prepare(replyTemplate, 'slack');
      },
      async render(context) {
        if (context.digest) return JSON.stringify({ ...renderBoth(context), digest: true } satisfies Drawn);
        const message = await deps.store().view('incident_message', config.name, context.dedup_key);
        const drawn: Drawn = { ...renderBoth({ ...context, incident: incidentView(message, context) }), version: message?.version ?? 0 };
        return JSON.stringify(drawn);
      },
      async send(request: OutboundRequest): Promise<SendResult> {
        const elapsed = realTime.stopwatch();
        const { event } = request;
        try {
          const parsed = JSON.parse(request.body) as Drawn | Noted;
          if ('note' in parsed) return await sendNote(parsed, elapsed);
          const { card, reply, version, digest } = parsed;
          if (digest === true) return await postDigest(card, elapsed);
          const message = await deps.store().view('incident_message', config.name, event.dedup_key);
          if (startsIncident(message, event)) return await post(event, card, elapsed);
          const existing = message as IncidentMessage;
          try {
            // Update first: if the reply fails, the retry repeats an idempotent update, not a reply.
            await (await web()).chat.update({ ...card, channel: existing.channel, ts: existing.ts } as UpdateArguments);
          } catch (error) {
            if (MESSAGE_GONE.has(platformError(error) ?? '')) return await post(event, card, elapsed);
            throw error;
          }
          await (await web()).chat.postMessage({ ...reply, channel: existing.channel, thread_ts: existing.ts, unfurl_links: false } as PostMessageArguments);
          return ok(elapsed, { updated: existing.ts, channel: existing.channel }, {
            incident_message: {
              kind: 'updated',
              dedup_key: event.dedup_key,
              status: event.status,
              resolved_at: event.status === 'resolved' ? event.occurred_at : null,
              last_event_id: event.id,
              // Drawn before an acknowledgement that landed since? Then the card is redrawn after recording.
              drawn_from_version: version ?? existing.version,
            },
          });
        } catch (error) {
          return classify(error, Math.round(elapsed()));
        }
      },
      async noteRequest(dedupKey, event, deliveryId, standsAs) {
        const message = standsAs ?? (await deps.store().view('incident_message', config.name, dedupKey));
        if (!message) return null;
        const context: TemplateContext = {
          ...event,
          events: [event],
          incident: standing(message, event, message.updates),
          hookrelay: { version: deps.version, destination: config.name, delivery_id: deliveryId },
        };
        const reply = fitSlackMessage(deps.templates.render(replyTemplate, 'slack', context), replyTemplate).message;
        return JSON.stringify({ note: dedupKey, reply } satisfies Noted);
      },
      async refreshIncident(dedupKey) {
        const store = deps.store();
        // A redraw is a snapshot sent outside the incident's order: if the message changed while it
        // was out (the incident's next event updated the card), Slack may have applied it after
        // that update, so draw again until the card sent last is drawn from the newest version.
        let drawn: number | null = null;
        for (let round = 0; round < MAX_REDRAWS; round++) {
          const message = await store.view('incident_message', config.name, dedupKey);
          if (!message || message.version === drawn) return;
          const stored = await store.view('event', message.last_event_id);
          if (!stored) return;
          const event = stored.event;
          const view = standing(message, event, message.updates);
          const newest = stored.deliveries.filter((delivery) => delivery.destination === config.name).at(-1);
          const { card } = renderBoth({
            ...event,
            events: [event],
            incident: view,
            hookrelay: { version: deps.version, destination: config.name, delivery_id: newest?.id ?? '' },
          });
          await (await web()).chat.update({ ...card, channel: message.channel, ts: message.ts } as UpdateArguments);
          drawn = message.version;
        }
      },
    };
    return destination;
  },
};

function ok(elapsed: () => number, body: Record<string, unknown>, effects: DeliveryEffects): SendResult {
  return {
    effects,
    kind: 'success',
    status: 200,
    body: JSON.stringify(body),
    retry_after_ms: null,
    rate_limited: false,
    error: null,
    latency_ms: Math.round(elapsed()),
  };
}

function platformError(error: unknown): string | null {
  return (error as { code?: string }).code === SLACK_ERROR.platform ? String((error as WebAPIPlatformError).data.error) : null;
}

/** Slack Web API failures, in the dispatcher's terms and in plain words. */
export function classify(error: unknown, latency: number): SendResult {
  const base = { body: null, retry_after_ms: null, rate_limited: false, latency_ms: latency };
  const code = (error as { code?: string }).code;
  if (code === SLACK_ERROR.rateLimited) {
    const seconds = (error as WebAPIRateLimitedError).retryAfter;
    return { ...base, kind: 'retry', status: 429, rate_limited: true, retry_after_ms: seconds * 1_000, error: `ratelimited: Slack asked to retry after ${seconds}s` };
  }
  if (code === SLACK_ERROR.platform) {
    const slackError = platformError(error) ?? 'unknown_error';
    const reason = PERMANENT[slackError];
    return reason
      ? { ...base, kind: 'permanent', status: 200, error: `${slackError}: ${reason}` }
      : { ...base, kind: 'retry', status: 200, error: `${slackError}: Slack could not take the message; retrying` };
  }
  if (code === SLACK_ERROR.http) {
    const status = (error as WebAPIHTTPError).statusCode;
    return { ...base, kind: retryableStatus(status) ? 'retry' : 'permanent', status, error: `HTTP ${status} from the Slack API` };
  }
  const refused = findEgressRefusal(code === SLACK_ERROR.request ? (error as WebAPIRequestError).original : error);
  if (refused) return failure('permanent', refused.message, latency);
  return failure('retry', `could not reach the Slack API: ${(error as Error).message}`, latency);
}
