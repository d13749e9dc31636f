import { createHmac } from 'node:crypto';
import type { FakeReceiver, ReceivedRequest } from './receiver.ts';

/**
 * Requests exactly as Slack sends them to /slack/events: form-encoded, signed with
 * Slack's v0 scheme (Slack "Verifying requests from Slack": HMAC-SHA256 of
 * `v0:<timestamp>:<body>` with the signing secret), written here independently of Bolt.
 */
export function slackSignature(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export interface SlackPost {
  readonly body: string;
  readonly headers: Record<string, string>;
}

export function signedSlackPost(secret: string, form: Record<string, string>, timestamp = Math.floor(Date.now() / 1000)): SlackPost {
  const body = new URLSearchParams(form).toString();
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': slackSignature(secret, timestamp, body),
    },
  };
}

/** The fields Slack sends with a slash command. */
export function slashCommand(text: string, responseUrl: string, user = { id: 'U024BE7LH', name: 'alice' }): Record<string, string> {
  return {
    token: 'gIkuvaNzQIHg97ATvDxqgjtO',
    team_id: 'T0001',
    team_domain: 'example',
    enterprise_id: 'E0001',
    enterprise_name: 'Example',
    channel_id: 'C2147483705',
    channel_name: 'ops',
    user_id: user.id,
    user_name: user.name,
    command: '/hookrelay',
    text,
    api_app_id: 'A123456',
    response_url: responseUrl,
    trigger_id: '13345224609.738474920.8088930838d88f008e0',
  };
}

/** A block_actions payload for a button click, as Slack sends it (form field `payload`). */
export function buttonClick(actionId: string, value: string, responseUrl: string, user = { id: 'U024BE7LH', username: 'alice' }): Record<string, string> {
  return {
    payload: JSON.stringify({
      type: 'block_actions',
      user: { id: user.id, username: user.username, name: user.username, team_id: 'T0001' },
      api_app_id: 'A123456',
      token: 'gIkuvaNzQIHg97ATvDxqgjtO',
      container: { type: 'message', message_ts: '1700000000.000100', channel_id: 'C2147483705', is_ephemeral: false },
      trigger_id: '13345224609.738474920.8088930838d88f008e0',
      team: { id: 'T0001', domain: 'example' },
      channel: { id: 'C2147483705', name: 'ops' },
      response_url: responseUrl,
      actions: [
        {
          action_id: actionId,
          block_id: 'b1',
          text: { type: 'plain_text', text: actionId, emoji: true },
          value,
          type: 'button',
          action_ts: String(Date.now() / 1000),
        },
      ],
    }),
  };
}

/** A Slack Web API call as the fake received it: method and arguments (form or JSON). */
export interface WebApiCall {
  readonly method: string;
  readonly args: Record<string, unknown>;
}

export function webApiCall(request: ReceivedRequest): WebApiCall {
  const method = request.path.replace(/^.*\/api\//, '').replace(/\?.*$/, '');
  const type = String(request.headers['content-type'] ?? '');
  let args: Record<string, unknown>;
  if (type.includes('json')) args = request.json();
  else {
    args = {};
    for (const [key, value] of new URLSearchParams(request.body)) {
      try {
        args[key] = value.startsWith('[') || value.startsWith('{') ? JSON.parse(value) : value;
      } catch {
        args[key] = value;
      }
    }
  }
  return { method, args };
}

/**
 * Makes a FakeReceiver answer like Slack's Web API: chat.postMessage gives new ts values.
 * Returns the ts of every top-level message posted, in order.
 */
export function actAsSlackWebApi(fake: FakeReceiver, channel = 'C0OPS'): string[] {
  let ts = 1_700_000_000;
  const topLevel: string[] = [];
  fake.respond((request) => {
    const { method, args } = webApiCall(request);
    if (method === 'chat.postMessage') {
      ts += 1;
      if (!args.thread_ts) topLevel.push(`${ts}.000100`);
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true, channel, ts: `${ts}.000100`, message: {} }) };
    }
    if (method === 'chat.update') {
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: true, channel: args.channel, ts: args.ts }) };
    }
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ok: false, error: 'unknown_method' }) };
  });
  return topLevel;
}
