import { App, ExpressReceiver, LogLevel } from '@slack/bolt';
import type { Logger as BoltLogger } from '@slack/bolt';
import express from 'express';
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { SlackAppConfig } from '../config/schema.ts';
import { HookrelayError } from '../errors.ts';
import { COMMAND_USAGE, parseCommand } from './command-parser.ts';
import type { Operations } from '../app/index.ts';
import type { SlackCommand } from './command-parser.ts';
import { SlackPermissions, slackUsergroupMembers } from './permissions.ts';
import type { SlackActor, WebApiFetch } from './permissions.ts';
import * as reply from './replies.ts';
import { responseOrigins, slackReplier } from './response-url.ts';
import { checkSlackRequestBody } from './slack-request-body.ts';
import { SeenSignatures, verifySlackRequest } from './verify-slack-request.ts';
import type { ReplayGuard } from './verify-slack-request.ts';

export interface SlackAppOptions {
  /** `slack_app` from the config: signing secret, allow list, bot token, Web API URL. */
  readonly config: SlackAppConfig;
  readonly operations: Operations;
  readonly logger: Logger;
  /** Outbound calls to Slack (user group members, replies to response_url), through the egress guard. */
  readonly fetch: WebApiFetch;
  /** The clock for Slack's timestamp window, the replay memory and the membership cache (tests drive it). */
  readonly now: () => number;
  /** Requests already received: this process's memory by default; the shared store's with several replicas. */
  readonly replays?: ReplayGuard;
}

/** Commands that change something; `mutes`, `status`, `help` (and usage answers) stay open to all. */
const STATE_CHANGING: ReadonlySet<SlackCommand['kind']> = new Set(['mute', 'unmute', 'replay', 'test', 'ack']);

/** Block actions carry the whole message (up to 50 blocks); far below the ingest limit all the same. */
const SLACK_BODY_LIMIT = '1mb';

/** Bolt logs through our pino logger. */
function boltLogger(logger: Logger): BoltLogger {
  const child = logger.child({ component: 'slack' });
  return {
    debug: (...messages) => child.debug(messages.map(String).join(' ')),
    info: (...messages) => child.info(messages.map(String).join(' ')),
    warn: (...messages) => child.warn(messages.map(String).join(' ')),
    error: (...messages) => child.error(messages.map(String).join(' ')),
    setLevel: () => undefined,
    getLevel: () => LogLevel.INFO,
    setName: () => undefined,
  };
}

/** Who clicked or typed: a readable name for logs and messages (never a mention, which would ping). */
function who(user: { id: string; username?: string; name?: string; user_name?: string }): string {
  return user.username ?? user.user_name ?? user.name ?? user.id;
}

/** A button's reply address: on messages Slack sends one (checked before it is used). */
function responseUrlOf(body: object): string | undefined {
  const url = (body as { response_url?: unknown }).response_url;
  return typeof url === 'string' ? url : undefined;
}

function explain(error: unknown): string {
  return error instanceof HookrelayError ? error.message : 'something went wrong; see the hookrelay log';
}

/**
 * Slack slash commands and button clicks at POST /slack/events, through Bolt. Buffer → verify
 * → parse: our middleware checks Slack's signature (v0, 5 minutes either way) and refuses a
 * request already received, before Bolt parses the same bytes; refusals are 401 with a code.
 * Everything is acknowledged at once; slow work answers through response_url.
 */
export function slackEventsRouter(options: SlackAppOptions): Router {
  const { operations, logger, config } = options;
  const { now } = options;
  const permissions = new SlackPermissions({
    allow: config.allow,
    members: config.bot_token ? slackUsergroupMembers({ token: config.bot_token, apiUrl: config.api_url, fetch: options.fetch }) : undefined,
    logger,
    now,
  });
  if (!permissions.restricted) {
    logger.warn(
      'slack_app.allow is not set: every member of the Slack workspace may mute, unmute, replay, acknowledge and send tests from Slack; set slack_app.allow (users, usergroups, channels) to limit who may',
    );
  }
  const router = express.Router();
  const seen = options.replays ?? new SeenSignatures();
  router.post('/slack/events', express.raw({ type: () => true, limit: SLACK_BODY_LIMIT }), async (request, _response, next) => {
    const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    const at = now();
    try {
      await seen.admit(verifySlackRequest(request.headers, rawBody, config.signing_secret, at), at);
      checkSlackRequestBody(rawBody, request.headers['content-type']);
    } catch (error) {
      // A refusal is the sender's mistake (or an attack), not ours: one line saying why and from
      // where, no stack. Anything else (the replay store away) is logged by the error handler.
      if (error instanceof HookrelayError) {
        const address = request.socket.remoteAddress ?? null;
        logger.warn(
          { path: '/slack/events', reason: error.code, status: error.status, address, detail: error.message },
          `slack request refused: ${error.code} (from ${address ?? 'unknown address'})`,
        );
      }
      throw error;
    }
    // Bolt reads `rawBody` when it is set (its GCP path) instead of the consumed stream.
    Object.assign(request, { rawBody });
    next();
  });
  const receiver = new ExpressReceiver({
    signingSecret: config.signing_secret,
    // Verified above, with the window in both directions and replays refused.
    signatureVerification: false,
    endpoints: '/slack/events',
    router,
    processBeforeResponse: false,
    logger: boltLogger(logger),
  });
  // Commands and buttons need no token: replies go through response_url.
  const app = new App({ receiver, authorize: async () => ({}), logger: boltLogger(logger) });

  // Not Bolt's `respond`, which posts to whatever response_url the request names, unguarded.
  const replyTo = slackReplier({ origins: responseOrigins(config.api_url), fetch: options.fetch, logger });
  const answer = async (responseUrl: string | undefined, text: string): Promise<void> => {
    await replyTo(responseUrl, { response_type: 'ephemeral', replace_original: false, text });
  };

  /** Every command and button is logged with who, where and what, allowed or refused. */
  const permitted = async (actor: SlackActor & { user_name: string }, what: Record<string, unknown>, changesState: boolean): Promise<boolean> => {
    const permission = changesState ? await permissions.check(actor) : null;
    const entry = { slack_user_id: actor.user_id, slack_user: actor.user_name, slack_channel_id: actor.channel_id, ...what };
    if (permission && !permission.allowed) {
      logger.warn({ ...entry, allowed: false, reason: permission.reason }, 'slack request refused: not allowed');
      return false;
    }
    logger.info({ ...entry, allowed: true, ...(permission ? { via: permission.via } : {}) }, 'slack request');
    return true;
  };

  app.command(/.*/, async ({ command, ack }) => {
    const parsed = parseCommand(command.text ?? '');
    const user = who({ id: command.user_id, user_name: command.user_name });
    const actor = { user_id: command.user_id, user_name: user, channel_id: command.channel_id || null };
    if (!(await permitted(actor, { command: `${command.command} ${parsed.kind}`, text: command.text }, STATE_CHANGING.has(parsed.kind)))) {
      await ack({ response_type: 'ephemeral', text: reply.notAllowed(`run \`${command.command} ${parsed.kind}\``) });
      return;
    }
    const failed = (error: unknown): string => {
      if (!(error instanceof HookrelayError)) logger.error({ err: error, command: command.text }, 'slack command failed');
      return `:x: ${explain(error)}`;
    };

    // Slow work (an HTTP call to the destination): acknowledged at once (Slack waits 3 s at most),
    // answered through response_url.
    if (parsed.kind === 'test') {
      if (!operations.destinationNames.includes(parsed.destination)) {
        await ack({
          response_type: 'ephemeral',
          text: `No destination is named \`${parsed.destination}\`: try ${operations.destinationNames.map((name) => `\`${name}\``).join(', ')}.`,
        });
        return;
      }
      await ack({ response_type: 'ephemeral', text: `:hourglass_flowing_sand: Sending a test alert to *${parsed.destination}*…` });
      let text: string;
      try {
        text = reply.testResult(await operations.test(parsed.destination));
      } catch (error) {
        text = failed(error);
      }
      await answer(command.response_url, text);
      return;
    }

    // Quick work (store reads and writes): the answer is the acknowledgement, errors included,
    // so an unknown id is said at once.
    let text: string;
    try {
      switch (parsed.kind) {
        case 'help':
          text = COMMAND_USAGE;
          break;
        case 'usage':
          text = `${parsed.problem}.\n\n${COMMAND_USAGE}`;
          break;
        case 'mutes':
          text = reply.muteList(operations.activeMutes());
          break;
        case 'mute':
          text = reply.muteCreated(
            await operations.mute({ matchers: parsed.matchers, duration_ms: parsed.duration_ms, reason: parsed.reason, by: `${user} (${command.user_id})` }),
          );
          break;
        case 'unmute':
          text = reply.muteEnded(await operations.unmute(parsed.id), parsed.id);
          break;
        case 'replay':
          text = reply.replayed(await operations.replay(parsed.id));
          break;
        case 'ack':
          text = reply.acknowledged(await operations.acknowledge(parsed.incident, user), user);
          break;
        case 'status':
          text = reply.statusReport(await operations.status());
          break;
      }
    } catch (error) {
      text = failed(error);
    }
    await ack({ response_type: 'ephemeral', text });
  });

  const button = (
    actionId: string,
    label: string,
    run: (deliveryId: string, user: string) => Promise<string>,
  ): void => {
    app.action(actionId, async ({ ack, action, body }) => {
      await ack();
      const deliveryId = 'value' in action && typeof action.value === 'string' ? action.value : '';
      const user = who(body.user as { id: string; username?: string; name?: string });
      const where = body as { channel?: { id?: string }; container?: { channel_id?: string } };
      const actor = { user_id: body.user.id, user_name: user, channel_id: where.channel?.id ?? where.container?.channel_id ?? null };
      if (!(await permitted(actor, { button: actionId, delivery_id: deliveryId }, true))) {
        await answer(responseUrlOf(body), reply.notAllowed(`use the *${label}* button`));
        return;
      }
      try {
        await answer(responseUrlOf(body), await run(deliveryId, user));
      } catch (error) {
        if (!(error instanceof HookrelayError)) logger.error({ err: error, action: actionId }, 'slack button failed');
        await answer(responseUrlOf(body), `:x: ${explain(error)}`);
      }
    });
  };
  button('hookrelay_mute_1h', 'Mute 1h', async (deliveryId, user) => reply.muteCreated(await operations.muteIncident(deliveryId, user)));
  button('hookrelay_acknowledge', 'Acknowledge', async (deliveryId, user) => reply.acknowledged(await operations.acknowledge(deliveryId, user), user));
  button('hookrelay_replay', 'Replay', async (deliveryId) => reply.replayed(await operations.replay(deliveryId)));

  app.error(async (error) => {
    logger.error({ err: error }, 'slack app error');
  });
  return router;
}
