/**
 * Slack's request signature (verified by Bolt) refuses a signature right except in its last
 * digit, through the real server: the Slack side of signature-tail.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { signedSlackPost, slashCommand } from '../support/slack.ts';

describe('Slack request signature (v0=hex of "v0:<timestamp>:<body>"), through the real server', () => {
  const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
  let relay: TestRelay;
  let responses: FakeReceiver;

  beforeAll(async () => {
    responses = await FakeReceiver.start();
    relay = await startRelay(`
sources: []
destinations: []
routes: []
slack_app: { signing_secret: "${SIGNING_SECRET}" }
admin: { token: ${ADMIN_TOKEN} }
`);
  });

  afterAll(async () => {
    await relay.close();
    await responses.close();
  });

  it('the last hex digit changed → 401, and the mute it asked for is not made', async () => {
    const post = signedSlackPost(SIGNING_SECRET, slashCommand('mute type=* 1h', responses.url('/response')));
    const signature = post.headers['x-slack-signature']!;
    const last = signature.at(-1) === '0' ? '1' : '0';
    const response = await fetch(`${relay.url}/slack/events`, {
      method: 'POST',
      headers: { ...post.headers, 'x-slack-signature': `${signature.slice(0, -1)}${last}` },
      body: post.body,
    });
    expect(response.status).toBe(401);
    expect((await relay.admin<{ mutes: unknown[] }>('/mutes')).json.mutes).toEqual([]);

    // The same request with its real signature is taken: the refusal was the one digit.
    const accepted = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
    expect(accepted.status).toBe(200);
    const mutes = await relay.until(
      () => relay.admin<{ mutes: unknown[] }>('/mutes'),
      ({ json }) => json.mutes.length === 1,
    );
    expect(mutes.json.mutes).toHaveLength(1);
  });
});
