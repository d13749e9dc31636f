import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { buttonClick, signedSlackPost, slashCommand } from '../support/slack.ts';

// Replies to a signed request's response_url go only to Slack's reply hosts (or slack_app.api_url's
// origin, here a fake Slack), through the egress guard; a body the handlers cannot use is 400.
const SIGNING_SECRET = 'response-url-signing-secret';

type LogLine = Record<string, unknown>;

/** A logger whose lines a test can wait for (an event, not a sleep). */
function capturingLogger() {
  const lines: LogLine[] = [];
  let waiters: Array<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }> = [];
  const logger = pino({ level: 'info' }, {
    write: (text: string) => {
      const line = JSON.parse(text) as LogLine;
      lines.push(line);
      waiters = waiters.filter((waiter) => {
        if (!waiter.match(line)) return true;
        waiter.resolve(line);
        return false;
      });
    },
  });
  const logged = (match: (line: LogLine) => boolean, timeoutMs = 10_000): Promise<LogLine> => {
    const found = lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no such log line within ${timeoutMs} ms; lines: ${JSON.stringify(lines.map((entry) => entry.msg))}`)), timeoutMs);
      waiters.push({ match, resolve: (line) => (clearTimeout(timer), resolve(line)) });
    });
  };
  return { logger, lines, logged };
}

async function postSigned(relay: TestRelay, form: Record<string, string>): Promise<{ status: number; body: string }> {
  const post = signedSlackPost(SIGNING_SECRET, form);
  const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
  return { status: response.status, body: await response.text() };
}

const notSent = (origin: string) => (line: LogLine) => String(line.msg).startsWith('slack reply not sent') && String(line.reason).includes(origin);

describe('response_url: only Slack’s reply hosts (or slack_app.api_url’s)', () => {
  let slackApi: FakeReceiver;
  let stray: FakeReceiver;
  let destination: FakeReceiver;
  let relay: TestRelay;
  let log: ReturnType<typeof capturingLogger>;

  beforeAll(async () => {
    slackApi = await FakeReceiver.start();
    stray = await FakeReceiver.start();
    destination = await FakeReceiver.start();
    log = capturingLogger();
    relay = await startRelay(
      `
destinations:
  - { name: audit, type: http, url: "${destination.url('/hook')}" }
routes:
  - { to: [audit] }
slack_app: { signing_secret: "${SIGNING_SECRET}", api_url: "${slackApi.url('/api/')}" }
`,
      {},
      { logger: log.logger },
    );
  });

  afterAll(async () => {
    await relay.close();
    for (const fake of [slackApi, stray, destination]) await fake.close();
  });

  it('a signed `test` command whose response_url is a loopback server, not Slack: answered, the test sent, the reply refused and logged, nothing POSTed there', async () => {
    const answer = await postSigned(relay, slashCommand('test audit', stray.url('/commands/T0001/1/secret')));
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('Sending a test alert to *audit*');
    const refused = await log.logged(notSent(stray.url('')));
    expect(refused.level).toBe(40);
    // The reply was the last step: the test went out before it, and nothing reached the loopback server.
    expect(destination.requests).toHaveLength(1);
    expect(stray.requests).toEqual([]);
    // The log names the host, never the response_url itself (it is a credential for posting to the channel).
    expect(JSON.stringify(refused)).not.toContain('/commands/T0001/1/secret');
  });

  it('a signed button click whose response_url is not Slack’s: acknowledged, the reply refused, nothing POSTed there', async () => {
    const before = log.lines.length;
    const answer = await postSigned(relay, buttonClick('hookrelay_replay', 'dlv_01NOPE', stray.url('/actions/T0001/2/secret')));
    expect(answer.status).toBe(200);
    await log.logged((line) => log.lines.indexOf(line) >= before && notSent(stray.url(''))(line));
    expect(stray.requests).toEqual([]);
  });

  it('a response_url on slack_app.api_url’s origin gets the reply', async () => {
    const answer = await postSigned(relay, buttonClick('hookrelay_replay', 'dlv_01NOPE', slackApi.url('/actions/T0001/3/secret')));
    expect(answer.status).toBe(200);
    const [reply] = await slackApi.waitFor(1, { path: '/actions/T0001/3/secret' });
    expect(reply!.json<{ text: string; response_type: string }>()).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('dlv_01NOPE') });
  });
});

describe('response_url goes through the egress guard', () => {
  it('on slack_app.api_url’s origin but a loopback address, with the guard on → refused by the guard, logged, nothing POSTed', async () => {
    const slackApi = await FakeReceiver.start();
    const log = capturingLogger();
    const relay = await startRelay(`slack_app: { signing_secret: "${SIGNING_SECRET}", api_url: "${slackApi.url('/api/')}" }\n`, { HOOKRELAY_ALLOW_PRIVATE: '0' }, { logger: log.logger });
    try {
      const answer = await postSigned(relay, buttonClick('hookrelay_replay', 'dlv_01NOPE', slackApi.url('/actions/T0001/4/secret')));
      expect(answer.status).toBe(200);
      const refused = await log.logged((line) => String(line.msg).startsWith('slack reply not sent'));
      expect(String(refused.reason)).toMatch(/refusing to connect to 127\.0\.0\.1.*not a public address/);
      expect(slackApi.requests).toEqual([]);
    } finally {
      await relay.close();
      await slackApi.close();
    }
  });
});

describe('a signed request the handlers cannot use → 400 with what is wrong, nothing runs', () => {
  let relay: TestRelay;
  let responses: FakeReceiver;

  beforeAll(async () => {
    responses = await FakeReceiver.start();
    relay = await startRelay(`slack_app: { signing_secret: "${SIGNING_SECRET}", api_url: "${responses.url('/api/')}" }\nadmin: { token: ${ADMIN_TOKEN} }\n`);
  });

  afterAll(async () => {
    await relay.close();
    await responses.close();
  });

  const click = (payload: unknown) => ({ payload: typeof payload === 'string' ? payload : JSON.stringify(payload) });
  const valid = JSON.parse(buttonClick('hookrelay_mute_1h', 'dlv_01X', 'https://hooks.slack.com/actions/T/1/x').payload!) as Record<string, unknown>;
  const without = (key: string): Record<string, unknown> => Object.fromEntries(Object.entries(valid).filter(([name]) => name !== key));

  it.each([
    ['payload is not JSON', click('{"type":"block_actions",'), 'invalid_json', /^payload: not valid JSON/],
    ['payload is JSON null', click('null'), 'invalid_payload', /^payload: must be a JSON object/],
    ['payload is an array', click([valid]), 'invalid_payload', /^payload: must be a JSON object/],
    ['block_actions without user', click(without('user')), 'invalid_payload', /^payload\.user: /],
    ['block_actions with user as text', click({ ...valid, user: 'U024BE7LH' }), 'invalid_payload', /^payload\.user: /],
    ['block_actions without actions', click(without('actions')), 'invalid_payload', /^payload\.actions: /],
    ['block_actions with no action', click({ ...valid, actions: [] }), 'invalid_payload', /^payload\.actions: at least one action/],
    ['an action without action_id', click({ ...valid, actions: [{ type: 'button', value: 'dlv_01X' }] }), 'invalid_payload', /^payload\.actions\[0\]\.action_id: /],
    ['a payload type hookrelay does not handle', click({ ...valid, type: 'view_submission' }), 'invalid_payload', /^payload\.type: "view_submission" is not handled here/],
    ['a payload without type', click(without('type')), 'invalid_payload', /^payload\.type: null is not handled here/],
    ['a slash command without user_id', { command: '/hookrelay', text: 'mute type=* 1h', response_url: 'https://hooks.slack.com/commands/T/1/x' }, 'invalid_payload', /^user_id: /],
    ['neither a command nor a payload', { text: 'mute type=* 1h' }, 'invalid_payload', /^neither a slash command/],
  ])('%s → 400 %s', async (_name, form, code, message) => {
    const answer = await postSigned(relay, form as Record<string, string>);
    expect(answer.status).toBe(400);
    const { error } = JSON.parse(answer.body) as { error: { code: string; message: string } };
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
  });

  it('nothing ran: no mute, no reply', async () => {
    const { status, json } = await relay.admin<{ mutes: unknown[] }>('/mutes');
    expect(status).toBe(200);
    expect(json.mutes).toEqual([]);
    expect(responses.requests).toEqual([]);
  });
});
