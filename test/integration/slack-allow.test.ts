import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { parseConfigText } from '../../src/config/load.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { buttonClick, signedSlackPost, slashCommand, webApiCall } from '../support/slack.ts';

const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const BOT_TOKEN = 'xoxb-allow-test-token';
const ADMIN = { id: 'U0ADMIN01', name: 'ada' };
const ONCALL = { id: 'U0ONCALL1', name: 'omar' };
const STRANGER = { id: 'U0STRANGE', name: 'mallory' };
const OPS_CHANNEL = 'C0OPSROOM';
const OTHER_CHANNEL = 'C2147483705';

let slackApi: FakeReceiver;
let relay: TestRelay;
const logLines: Array<Record<string, unknown>> = [];
const groupMembers = [ONCALL.id];

beforeAll(async () => {
  slackApi = await FakeReceiver.start();
  // Slack's Web API as far as usergroups.users.list goes (Slack API reference: usergroups.users.list),
  // and its replies to response_url (at /response: a reply goes only to Slack, or slack_app.api_url's host).
  slackApi.respond((request) => {
    if (request.path === '/response') return { status: 200, body: 'ok' };
    const { method, args } = webApiCall(request);
    const json = (body: unknown) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (method !== 'usergroups.users.list') return json({ ok: false, error: 'unknown_method' });
    if (request.headers.authorization !== `Bearer ${BOT_TOKEN}`) return json({ ok: false, error: 'invalid_auth' });
    if (args.usergroup !== 'S0ONCALL1') return json({ ok: false, error: 'no_such_subteam' });
    return json({ ok: true, users: groupMembers });
  });
  const logger = pino({ level: 'info' }, { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
  relay = await startRelay(
    `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s] }
slack_app:
  signing_secret: "${SIGNING_SECRET}"
  allow: { users: [${ADMIN.id}], usergroups: [S0ONCALL1], channels: [${OPS_CHANNEL}] }
  bot_token: ${BOT_TOKEN}
  api_url: "${slackApi.url('/api/')}"
admin: { token: ${ADMIN_TOKEN} }
`,
    {},
    { logger },
  );
});

afterAll(async () => {
  await relay.close();
  await slackApi.close();
});

async function command(text: string, user: { id: string; name: string }, channel = OTHER_CHANNEL): Promise<string> {
  const post = signedSlackPost(SIGNING_SECRET, { ...slashCommand(text, slackApi.url('/response'), user), channel_id: channel });
  const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
  expect(response.status).toBe(200);
  return String(((await response.json()) as { text?: string }).text ?? '');
}

async function click(actionId: string, value: string, user: { id: string; name: string }): Promise<string> {
  const before = slackApi.received('/response').length;
  const post = signedSlackPost(SIGNING_SECRET, buttonClick(actionId, value, slackApi.url('/response'), { id: user.id, username: user.name }));
  const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
  expect(response.status).toBe(200);
  const [answer] = (await slackApi.waitFor(before + 1, { path: '/response' })).slice(before);
  return String(answer!.json<{ text: string }>().text);
}

const mutes = async () => (await relay.admin<{ mutes: Array<{ id: string; created_by: string }> }>('/mutes')).json.mutes;

async function unmuteAll(): Promise<void> {
  for (const mute of await mutes()) await relay.admin(`/mutes/${mute.id}`, { method: 'DELETE' });
}

describe('slack_app.allow: who may change state from Slack', () => {
  it('someone not allowed: mute refused with a clear ephemeral reply, nothing stored, and logged', async () => {
    const text = await command('mute type=* 30d', STRANGER);
    expect(text).toContain('You may not run `/hookrelay mute`');
    expect(text).toContain('slack_app.allow');
    expect(await mutes()).toEqual([]);
    const line = logLines.find((entry) => entry.slack_user_id === STRANGER.id && entry.allowed === false);
    expect(line).toMatchObject({ slack_user: 'mallory', slack_channel_id: OTHER_CHANNEL, command: '/hookrelay mute', text: 'mute type=* 30d', level: 40 });
  });

  it.each(['unmute mut_01X', 'replay dlv_01X', 'test ops'])('someone not allowed: %s refused too', async (text) => {
    expect(await command(text, STRANGER)).toContain('You may not run');
  });

  it('read-only commands stay open to everyone (mutes, status, help), and are logged', async () => {
    expect(await command('mutes', STRANGER)).toContain('No active mutes');
    expect(await command('status', STRANGER)).toContain('hookrelay status');
    expect(await command('help', STRANGER)).toContain('mute <field=glob>');
    expect(logLines.some((entry) => entry.slack_user_id === STRANGER.id && entry.command === '/hookrelay status' && entry.allowed === true)).toBe(true);
  });

  it('a listed user may mute', async () => {
    expect(await command('mute data.region=Goa 1h', ADMIN)).toContain(':mute:');
    expect((await mutes()).map((mute) => mute.created_by)).toEqual([`ada (${ADMIN.id})`]);
    expect(logLines.find((entry) => entry.slack_user_id === ADMIN.id && entry.command === '/hookrelay mute')).toMatchObject({ allowed: true, via: `user ${ADMIN.id}` });
    await unmuteAll();
  });

  it('anyone in a listed channel may mute', async () => {
    expect(await command('mute data.region=Goa 1h', STRANGER, OPS_CHANNEL)).toContain(':mute:');
    expect(await mutes()).toHaveLength(1);
    await unmuteAll();
  });

  it('a member of a listed user group may mute; membership is read once (with the bot token) and cached', async () => {
    expect(await command('mute data.region=Goa 1h', ONCALL)).toContain(':mute:');
    expect(await command('mute data.region=Kerala 1h', ONCALL)).toContain(':mute:');
    expect(await mutes()).toHaveLength(2);
    // One call for every check in this file so far (the refusals above asked too): the cache answered the rest.
    const webApiCalls = slackApi.requests.filter((request) => request.path !== '/response');
    expect(webApiCalls.map(webApiCall)).toEqual([{ method: 'usergroups.users.list', args: expect.objectContaining({ usergroup: 'S0ONCALL1' }) }]);
    expect(webApiCalls[0]!.headers.authorization).toBe(`Bearer ${BOT_TOKEN}`);
    await unmuteAll();
  });

  it('buttons: Mute 1h, Acknowledge and Replay are refused to someone not allowed, allowed to a listed user', async () => {
    for (const [actionId, label] of [
      ['hookrelay_mute_1h', 'Mute 1h'],
      ['hookrelay_acknowledge', 'Acknowledge'],
      ['hookrelay_replay', 'Replay'],
    ] as const) {
      expect(await click(actionId, 'dlv_01NOPE', STRANGER)).toContain(`You may not use the *${label}* button`);
    }
    expect(logLines.find((entry) => entry.button === 'hookrelay_acknowledge' && entry.allowed === false)).toMatchObject({
      slack_user_id: STRANGER.id,
      slack_channel_id: OTHER_CHANNEL,
      delivery_id: 'dlv_01NOPE',
    });
    // Allowed: the button runs (and says there is no such delivery).
    expect(await click('hookrelay_replay', 'dlv_01NOPE', ADMIN)).toContain('no delivery or event dlv_01NOPE');
    expect(await mutes()).toEqual([]);
  });
});

describe('slack_app config', () => {
  const yaml = (slackApp: string) => `sources:\n  - { name: t, preset: tapemetric, secrets: [s] }\nslack_app: ${slackApp}\n`;
  const problems = (text: string): string[] => {
    try {
      parseConfigText(text, {});
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };

  it('allow.usergroups without a bot token is a config error naming slack_app.bot_token', () => {
    const found = problems(yaml('{ signing_secret: x, allow: { usergroups: [S0ONCALL1] } }'));
    expect(found.join('\n')).toMatch(/slack_app\.bot_token.*required when allow\.usergroups is set/);
  });

  it('names instead of ids are config errors', () => {
    const found = problems(yaml('{ signing_secret: x, allow: { users: ["@alice"], channels: ["#ops"] } }')).join('\n');
    expect(found).toContain('slack_app.allow.users[0]');
    expect(found).toContain('expected a Slack user id');
    expect(found).toContain('slack_app.allow.channels[0]');
  });

  it('users and channels alone need no bot token', () => {
    expect(problems(yaml(`{ signing_secret: x, allow: { users: [${ADMIN.id}], channels: [${OPS_CHANNEL}] } }`))).toEqual([]);
  });
});

describe('no slack_app.allow', () => {
  it('keeps today’s behaviour (everyone) and warns at start-up', async () => {
    const lines: Array<Record<string, unknown>> = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const open = await startRelay(`slack_app: { signing_secret: "${SIGNING_SECRET}" }\nadmin: { token: ${ADMIN_TOKEN} }\n`, {}, { logger });
    try {
      expect(lines.find((line) => String(line.msg).startsWith('slack_app.allow is not set'))?.level).toBe(40);
      const post = signedSlackPost(SIGNING_SECRET, slashCommand('mute type=x 1h', slackApi.url('/response'), STRANGER));
      const response = await fetch(`${open.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
      expect(((await response.json()) as { text: string }).text).toContain(':mute:');
    } finally {
      await open.close();
    }
  });
});
