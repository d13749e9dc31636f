import { App, ExpressReceiver, LogLevel } from '@slack/bolt';
import type { Logger as BoltLogger, RespondFn } from '@slack/bolt';
import express from 'express';
import type { Router } from 'express';
import type { Logger } from 'pino';
import { HookrelayError } from '../errors.ts';
import { COMMAND_USAGE, parseCommand } from './command-parser.ts';
import type { Operations } from '../app/index.ts';
import * as reply from './replies.ts';

export interface SlackAppOptions {
  readonly signingSecret: string;
  readonly operations: Operations;
  readonly logger: Logger;
}

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

function explain(error: unknown): string {
  return error instanceof HookrelayError ? error.message : 'something went wrong; see the hookrelay log';
}

/**
 * Slack slash commands and button clicks at POST /slack/events, through Bolt: Slack's
 * signature (v0, 5-minute window) is checked before anything runs, so forged or stale
 * requests get 401. Everything is acknowledged at once; slow work answers through response_url.
 */
export function slackEventsRouter(options: SlackAppOptions): Router {
  const { operations, logger } = options;
  const router = express.Router();
  const receiver = new ExpressReceiver({
    signingSecret: options.signingSecret,
    endpoints: '/slack/events',
    router,
    processBeforeResponse: false,
    logger: boltLogger(logger),
  });
  // Commands and buttons need no token: replies go through response_url.
  const app = new App({ receiver, authorize: async () => ({}), logger: boltLogger(logger) });

  const answer = async (respond: RespondFn, text: string): Promise<void> => {
    await respond({ response_type: 'ephemeral', replace_original: false, text });
  };

  app.command(/.*/, async ({ command, ack, respond }) => {
    const parsed = parseCommand(command.text ?? '');
    const user = who({ id: command.user_id, user_name: command.user_name });
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
      await answer(respond, text);
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
    run: (deliveryId: string, user: string) => Promise<string>,
  ): void => {
    app.action(actionId, async ({ ack, action, body, respond }) => {
      await ack();
      const deliveryId = 'value' in action && typeof action.value === 'string' ? action.value : '';
      const user = who(body.user as { id: string; username?: string; name?: string });
      try {
        await answer(respond, await run(deliveryId, user));
      } catch (error) {
        if (!(error instanceof HookrelayError)) logger.error({ err: error, action: actionId }, 'slack button failed');
        await answer(respond, `:x: ${explain(error)}`);
      }
    });
  };
  button('hookrelay_mute_1h', async (deliveryId, user) => reply.muteCreated(await operations.muteIncident(deliveryId, user)));
  button('hookrelay_acknowledge', async (deliveryId, user) => reply.acknowledged(await operations.acknowledge(deliveryId, user), user));
  button('hookrelay_replay', async (deliveryId) => reply.replayed(await operations.replay(deliveryId)));

  app.error(async (error) => {
    logger.error({ err: error }, 'slack app error');
  });
  return router;
}
