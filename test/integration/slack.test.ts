import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import type { ReceivedRequest, Reply } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { statusSentryHeaders, tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { actAsSlackWebApi, buttonClick, signedSlackPost, slashCommand, webApiCall } from '../support/slack.ts';

const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TAPEMETRIC = 'tm-secret';
const SENTRY = 'sentry-secret';
const ROUTING_KEY = 'R0UT1NGKEY0123456789012345678901';

let slackWebhook: FakeReceiver;
let slackApi: FakeReceiver;
let pagerduty: FakeReceiver;
let responses: FakeReceiver;
let relay: TestRelay;
let dataDir: string;

const config = () => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${TAPEMETRIC}"] }
  - { name: statussentry, preset: statussentry, secrets: ["${SENTRY}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slackWebhook.url('/services/T/B/X')}", rate: { max: 100, per: 1s } }
  - { name: ops-bot, type: slack-bot, token: xoxb-test-token, channel: "#ops", api_url: "${slackApi.url('/api/')}", rate: { max: 100, per: 1s } }
  - { name: oncall, type: pagerduty, routing_key: ${ROUTING_KEY}, url: "${pagerduty.url('/v2/enqueue')}" }
routes:
  - { to: [ops-slack], match: { source: tapemetric } }
  - { to: [ops-bot, oncall], match: { source: statussentry } }
retry: { schedule: [100ms, 200ms], disable_after: 10 }
slack_app: { signing_secret: "${SIGNING_SECRET}", api_url: "${responses.url('/api/')}" }
admin: { token: ${ADMIN_TOKEN} }
`;

interface Delivery {
  id: string;
  event_id: string;
  destination: string;
  status: string;
  note: string | null;
  last_error: string | null;
  attempts: number;
}

beforeAll(async () => {
  slackWebhook = await FakeReceiver.start();
  slackApi = await FakeReceiver.start();
  pagerduty = await FakeReceiver.start();
  responses = await FakeReceiver.start();
  pagerduty.respond(() => ({ status: 202, headers: { 'content-type': 'application/json' }, body: '{"status":"success"}' }));
  dataDir = mkdtempSync(join(tmpdir(), 'hookrelay-slack-'));
  relay = await startRelay(config(), {}, { dataDir });
});

afterAll(async () => {
  await relay.close();
  for (const fake of [slackWebhook, slackApi, pagerduty, responses]) await fake.close();
  rmSync(dataDir, { recursive: true, force: true });
});

let topLevelPosts: string[] = [];
beforeEach(() => {
  topLevelPosts = actAsSlackWebApi(slackApi);
});

async function command(text: string): Promise<{ status: number; text: string }> {
  const post = signedSlackPost(SIGNING_SECRET, slashCommand(text, responses.url('/response')));
  const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
  const body = await response.text();
  return { status: response.status, text: body ? String((JSON.parse(body) as { text?: string }).text ?? '') : '' };
}

async function click(actionId: string, deliveryId: string): Promise<string> {
  const before = responses.requests.length;
  const post = signedSlackPost(SIGNING_SECRET, buttonClick(actionId, deliveryId, responses.url('/response')));
  const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
  expect(response.status).toBe(200);
  const [answer] = (await responses.waitFor(before + 1)).slice(before);
  return String(answer!.json<{ text: string }>().text);
}

async function sendTapemetric(data: Record<string, unknown> = {}): Promise<string> {
  const body = JSON.stringify(tapemetricPayload({}, data));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC));
  expect(response.status).toBe(202);
  return response.json.id as string;
}

async function deliveriesOf(eventId: string, check: (deliveries: Delivery[]) => boolean): Promise<Delivery[]> {
  const { json } = await relay.until(
    () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${eventId}`),
    ({ json }) => check(json.deliveries),
  );
  return json.deliveries;
}

describe('POST /slack/events verification', () => {
  it('a request signed with another secret → 401, nothing runs', async () => {
    const post = signedSlackPost('not-the-signing-secret', slashCommand('mutes', responses.url('/response')));
    const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
    expect(response.status).toBe(401);
  });

  it('a correctly signed request older than 5 minutes → 401 (replay protection)', async () => {
    const post = signedSlackPost(SIGNING_SECRET, slashCommand('mute type=* 1h', responses.url('/response')), Math.floor(Date.now() / 1000) - 6 * 60);
    const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
    expect(response.status).toBe(401);
    expect((await relay.admin<{ mutes: unknown[] }>('/mutes')).json.mutes).toEqual([]);
  });

  it('a byte-identical signed command sent again → 401 signature_replayed, run once (one mute, not two)', async () => {
    const post = signedSlackPost(SIGNING_SECRET, slashCommand('mute data.region=Replayed 1h once', responses.url('/response')));
    const send = () => fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
    const first = await send();
    expect(first.status).toBe(200);
    expect(((await first.json()) as { text: string }).text).toContain(':mute:');
    const again = await send();
    expect(again.status).toBe(401);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('signature_replayed');
    const { json } = await relay.admin<{ mutes: Array<{ id: string; matchers: Record<string, string> }> }>('/mutes');
    const replayed = json.mutes.filter((mute) => mute.matchers['data.region'] === 'Replayed');
    expect(replayed).toHaveLength(1);
    await relay.admin(`/mutes/${replayed[0]!.id}`, { method: 'DELETE' });
  });

  it.each([
    ['6 minutes', 6 * 60],
    ['1 day', 86_400],
    ['1 year', 365 * 86_400],
  ])('a correctly signed request dated %s in the future → 401 signature_expired, nothing runs', async (_name, ahead) => {
    const post = signedSlackPost(SIGNING_SECRET, slashCommand('mute type=* 1h', responses.url('/response')), Math.floor(Date.now() / 1000) + ahead);
    const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
    expect(response.status).toBe(401);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('signature_expired');
    expect((await relay.admin<{ mutes: Array<{ matchers: Record<string, string> }> }>('/mutes')).json.mutes.filter((m) => m.matchers.type === '*')).toEqual([]);
  });

  it('a signed button click with a tampered body → 401', async () => {
    const post = signedSlackPost(SIGNING_SECRET, buttonClick('hookrelay_replay', 'dlv_x', responses.url('/response')));
    const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body.replace('dlv_x', 'dlv_y') });
    expect(response.status).toBe(401);
  });
});

describe('/hookrelay commands', () => {
  it('help and a wrong command both answer with the usage, never an error', async () => {
    const help = await command('help');
    expect(help.status).toBe(200);
    expect(help.text).toContain('mute <field=glob>');
    const wrong = await command('frobnicate now');
    expect(wrong.status).toBe(200);
    expect(wrong.text).toContain('unknown command `frobnicate`');
    expect(wrong.text).toContain('mute <field=glob>');
    const noDuration = await command('mute type=qos.* forever');
    expect(noDuration.text).toContain('needs a duration');
  });

  it('mute → matching alert logged as muted, not sent → unmute → next alert sent', async () => {
    const muted = await command('mute type=qos.* data.region=Maharashtra 2h deploy in progress');
    const id = /mut_[0-9A-Z]+/.exec(muted.text)?.[0];
    expect(id).toBeDefined();
    expect(muted.text).toContain('deploy in progress');
    expect((await command('mutes')).text).toContain(id!);
    const mutes = await relay.admin<{ mutes: Array<{ id: string; created_by: string; matchers: Record<string, string> }> }>('/mutes');
    expect(mutes.json.mutes).toEqual([expect.objectContaining({ id, created_by: 'alice (U024BE7LH)', matchers: { type: 'qos.*', 'data.region': 'Maharashtra' } })]);

    const sentBefore = slackWebhook.requests.length;
    const silenced = await sendTapemetric({ region: 'Maharashtra' });
    const [delivery] = await deliveriesOf(silenced, (d) => d.length === 1);
    expect(delivery).toMatchObject({ status: 'muted', note: expect.stringContaining(id!) });
    // Another region is not muted and goes out.
    const other = await sendTapemetric({ region: 'Kerala' });
    await deliveriesOf(other, (d) => d[0]?.status === 'succeeded');
    expect(slackWebhook.requests).toHaveLength(sentBefore + 1);

    expect((await command(`unmute ${id}`)).text).toContain('Unmuted');
    const after = await sendTapemetric({ region: 'Maharashtra' });
    await deliveriesOf(after, (d) => d[0]?.status === 'succeeded');

    // The muted one is replayable later.
    await command(`replay ${silenced}`);
    await deliveriesOf(silenced, (d) => d.some((x) => x.status === 'succeeded'));
  });

  it('a mute ends by itself when it expires', async () => {
    const muted = await command('mute data.region=Goa 1s');
    expect(muted.text).toContain(':mute:');
    const during = await sendTapemetric({ region: 'Goa' });
    expect((await deliveriesOf(during, (d) => d.length === 1))[0]?.status).toBe('muted');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const afterwards = await sendTapemetric({ region: 'Goa' });
    await deliveriesOf(afterwards, (d) => d[0]?.status === 'succeeded');
  });

  it('a mute that cannot be made is answered at once with the reason (never left unacknowledged)', async () => {
    const started = Date.now();
    const badField = await command('mute colour=red 1h');
    expect(badField.status).toBe(200);
    expect(badField.text).toContain('"colour" is not an event field');
    const tooLong = await command('mute type=x 90d');
    expect(tooLong.status).toBe(200);
    expect(tooLong.text).toContain('30 days');
    const manyStars = await command(`mute title=${'*?'.repeat(17)}! 1h`);
    expect(manyStars.status).toBe(200);
    expect(manyStars.text).toContain(':x: the glob for title has 17 *; a glob may have at most 16');
    const longGlob = await command(`mute data.region=${'x'.repeat(300)} 1h`);
    expect(longGlob.text).toContain('the glob for data.region is 300 characters long; a glob may have at most 256');
    expect((await relay.admin<{ mutes: unknown[] }>('/mutes')).json.mutes).toEqual([]);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('status lists destinations with pending work', async () => {
    const status = await command('status');
    for (const name of ['ops-slack', 'ops-bot', 'oncall']) expect(status.text).toContain(name);
    expect(status.text).toContain('pending');
  });

  it('test <destination> acknowledges at once and answers through response_url with the result', async () => {
    const before = responses.requests.length;
    const ack = await command('test ops-slack');
    expect(ack.text).toContain('Sending a test alert');
    const [answer] = (await responses.waitFor(before + 1)).slice(before);
    expect(answer!.json<{ text: string; response_type: string }>()).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('HTTP 200') });
    expect(slackWebhook.requests.at(-1)?.body).toContain('Test from hookrelay');
    expect((await command('test nowhere')).text).toContain('No destination is named `nowhere`');
  });

  it('replay <delivery-id> sends it again, answered in the acknowledgement', async () => {
    const eventId = await sendTapemetric({ region: 'Assam' });
    const [original] = await deliveriesOf(eventId, (d) => d[0]?.status === 'succeeded');
    const answer = await command(`replay ${original!.id}`);
    expect(answer.text).toContain(':repeat: Replaying 1 delivery');
    expect(answer.text).toContain(original!.id);
    await deliveriesOf(eventId, (d) => d.filter((x) => x.status === 'succeeded').length === 2);
  });

  it('replay of an unknown id says so at once, never "Replaying…" first', async () => {
    const before = responses.requests.length;
    const answer = await command('replay dlv_01NOPE');
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('no delivery or event dlv_01NOPE');
    expect(answer.text).not.toContain('Replaying');
    const missingEvent = await command('replay evt_01NOPE');
    expect(missingEvent.text).toContain('no event evt_01NOPE');
    // Nothing follows through response_url.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(responses.requests.length).toBe(before);
  });
});

describe('slack-bot: one message per incident', () => {
  const incident = (type: string, status: string, title = 'High Latency in EU-West') =>
    JSON.stringify({
      id: `evt_${type}_${Math.random().toString(36).slice(2, 8)}`,
      type,
      created_at: new Date().toISOString(),
      data: { incident_id: 'inc_lifecycle', title, status, severity: 'major', components: [] },
    });

  async function sentry(body: string): Promise<string> {
    const response = await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, SENTRY));
    expect(response.status).toBe(202);
    return response.json.id as string;
  }

  it('created → update → acknowledged (button) → resolved, with PagerDuty acknowledged too', async () => {
    slackApi.requests.length = 0;
    pagerduty.requests.length = 0;
    const created = await sentry(incident('incident.created', 'investigating'));
    const [botDelivery] = (await deliveriesOf(created, (d) => d.every((x) => x.status === 'succeeded'))).filter((d) => d.destination === 'ops-bot');
    let calls = slackApi.requests.map(webApiCall);
    expect(calls.map((c) => c.method)).toEqual(['chat.postMessage']);
    expect(calls[0]!.args.channel).toBe('#ops');
    const card = JSON.stringify(calls[0]!.args);
    expect(card).toContain('hookrelay_acknowledge');
    expect(card).toContain(botDelivery!.id);
    const [ts] = topLevelPosts;

    await sentry(incident('incident.updated', 'identified', 'High Latency in EU-West: cause found'));
    await slackApi.waitFor(3);
    calls = slackApi.requests.map(webApiCall);
    expect(calls.slice(1).map((c) => c.method).sort()).toEqual(['chat.postMessage', 'chat.update']);
    expect(calls.find((c, i) => i > 0 && c.method === 'chat.update')?.args.ts).toBe(ts);
    expect(calls.find((c, i) => i > 0 && c.method === 'chat.postMessage')?.args.thread_ts).toBe(ts);

    const answer = await click('hookrelay_acknowledge', botDelivery!.id);
    expect(answer).toContain('Acknowledged by alice');
    const [trigger, , acknowledge] = (await pagerduty.waitFor(3)).map((r) => r.json<Record<string, unknown>>());
    expect(trigger).toMatchObject({ event_action: 'trigger' });
    expect(acknowledge).toMatchObject({ event_action: 'acknowledge', dedup_key: trigger!.dedup_key, routing_key: ROUTING_KEY });
    const redrawn = (
      await relay.until(
        async () => slackApi.requests.map(webApiCall).filter((c) => c.method === 'chat.update'),
        (updates) => JSON.stringify(updates.at(-1)?.args).includes('Acknowledged by alice'),
      )
    ).at(-1)!;
    expect(JSON.stringify(redrawn.args)).not.toContain('hookrelay_acknowledge');

    const resolved = await sentry(incident('incident.resolved', 'resolved'));
    await deliveriesOf(resolved, (d) => d.length === 2 && d.every((x) => x.status === 'succeeded'));
    const last = slackApi.requests.map(webApiCall).slice(-2);
    const update = last.find((c) => c.method === 'chat.update')!;
    expect(update.args.ts).toBe(ts);
    expect(JSON.stringify(update.args)).toMatch(/Resolved after/);
    expect(JSON.stringify(update.args)).toContain('acknowledged by alice');
    expect(last.find((c) => c.method === 'chat.postMessage')?.args.thread_ts).toBe(ts);
    expect(pagerduty.requests.at(-1)!.json()).toMatchObject({ event_action: 'resolve', dedup_key: trigger!.dedup_key });
    // Only one top-level message for the whole incident.
    expect(slackApi.requests.map(webApiCall).filter((c) => c.method === 'chat.postMessage' && !c.args.thread_ts)).toHaveLength(1);
  });

  it('the Mute 1h button mutes that incident by its dedup key; Replay sends it again', async () => {
    const created = await sentry(
      JSON.stringify({ id: 'evt_mute_btn', type: 'incident.created', created_at: new Date().toISOString(), data: { incident_id: 'inc_*noisy', title: 'Noisy', status: 'investigating', severity: 'minor', components: [] } }),
    );
    const [bot] = (await deliveriesOf(created, (d) => d.every((x) => x.status === 'succeeded'))).filter((d) => d.destination === 'ops-bot');
    const answer = await click('hookrelay_mute_1h', bot!.id);
    expect(answer).toContain(':mute:');
    const { json } = await relay.admin<{ mutes: Array<{ matchers: Record<string, string> }> }>('/mutes');
    const mute = json.mutes.find((m) => 'dedup_key' in m.matchers);
    expect(mute?.matchers.source).toBe('statussentry');
    expect(mute).toBeDefined();
    const again = await sentry(
      JSON.stringify({ id: 'evt_mute_btn2', type: 'incident.updated', created_at: new Date().toISOString(), data: { incident_id: 'inc_*noisy', title: 'Noisy', status: 'identified', severity: 'minor', components: [] } }),
    );
    expect((await deliveriesOf(again, (d) => d.length === 2)).map((d) => d.status)).toEqual(['muted', 'muted']);
    // The literal * in the key did not become a wildcard.
    const unrelated = await sentry(
      JSON.stringify({ id: 'evt_other', type: 'incident.created', created_at: new Date().toISOString(), data: { incident_id: 'inc_Xnoisy', title: 'Other', status: 'investigating', severity: 'minor', components: [] } }),
    );
    expect((await deliveriesOf(unrelated, (d) => d.length === 2)).every((d) => d.status !== 'muted')).toBe(true);

    const replayAnswer = await click('hookrelay_replay', bot!.id);
    expect(replayAnswer).toContain('Replaying');
    await deliveriesOf(created, (d) => d.filter((x) => x.destination === 'ops-bot' && x.status === 'succeeded').length === 2);
  });

  it('Slack errors: channel_not_found fails at once, said plainly; ratelimited waits Retry-After', async () => {
    // Only this incident's calls are answered so: a call still on its way from an earlier test
    // (a redraw, a thread line) must not take the 429 meant for this one's first attempt.
    const ours = (request: ReceivedRequest): boolean => new URLSearchParams(request.body).get('text')?.includes(' Err (statussentry)') === true;
    let calls = 0;
    slackApi.respond((request): Reply => {
      if (!ours(request)) return { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":true,"channel":"C1","ts":"1.000001"}' };
      calls += 1;
      return calls === 1
        ? { status: 429, headers: { 'retry-after': '1', 'content-type': 'application/json' }, body: '{"ok":false,"error":"ratelimited"}' }
        : { status: 200, headers: { 'content-type': 'application/json' }, body: '{"ok":false,"error":"channel_not_found"}' };
    });
    const start = slackApi.requests.length;
    const created = await sentry(
      JSON.stringify({ id: 'evt_err', type: 'incident.created', created_at: new Date().toISOString(), data: { incident_id: 'inc_err', title: 'Err', status: 'investigating', severity: 'minor', components: [] } }),
    );
    const deliveries = await deliveriesOf(created, (d) => d.find((x) => x.destination === 'ops-bot')?.status === 'failed');
    const bot = deliveries.find((d) => d.destination === 'ops-bot')!;
    expect(bot.attempts).toBe(2);
    expect(bot.last_error).toMatch(/^channel_not_found: .*invite the bot/);
    const [first, second] = slackApi.requests.slice(start).filter(ours);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(990);
  });
});

describe('slack-bot across a restart', () => {
  it('keeps updating the same message after hookrelay restarts', async () => {
    const topLevel = actAsSlackWebApi(slackApi);
    const body = (type: string, status: string) =>
      JSON.stringify({ id: `evt_${type}_restart`, type, created_at: new Date().toISOString(), data: { incident_id: 'inc_restart', title: 'Restart', status, severity: 'critical', components: [] } });
    const createdBody = body('incident.created', 'investigating');
    const first = await relay.post('/hooks/statussentry', createdBody, statusSentryHeaders(createdBody, SENTRY));
    await deliveriesOf(first.json.id as string, (d) => d.every((x) => x.status === 'succeeded'));
    expect(topLevel).toHaveLength(1);
    const original = topLevel[0]!;

    await relay.close();
    relay = await startRelay(config(), {}, { dataDir });
    const before = slackApi.requests.length;
    const resolvedBody = body('incident.resolved', 'resolved');
    const second = await relay.post('/hooks/statussentry', resolvedBody, statusSentryHeaders(resolvedBody, SENTRY));
    await deliveriesOf(second.json.id as string, (d) => d.every((x) => x.status === 'succeeded'));
    const after = slackApi.requests.slice(before).map(webApiCall);
    expect(after.map((c) => c.method).sort()).toEqual(['chat.postMessage', 'chat.update']);
    expect(after.find((c) => c.method === 'chat.update')?.args.ts).toBe(original);
    expect(after.find((c) => c.method === 'chat.postMessage')?.args.thread_ts).toBe(original);
    expect(topLevel).toHaveLength(1);
  });
});

describe('/hookrelay ack <incident>', () => {
  const sentryIncident = (incidentId: string, status: string) =>
    JSON.stringify({
      id: `evt_${incidentId}_${Math.random().toString(36).slice(2, 8)}`,
      type: status === 'resolved' ? 'incident.resolved' : 'incident.created',
      created_at: new Date().toISOString(),
      data: { incident_id: incidentId, title: `Incident ${incidentId}`, status, severity: 'major', components: [] },
    });

  async function openIncident(incidentId: string): Promise<{ eventId: string; trigger: Record<string, unknown> }> {
    const sentBefore = pagerduty.requests.length;
    const body = sentryIncident(incidentId, 'investigating');
    const response = await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, SENTRY));
    expect(response.status).toBe(202);
    const eventId = response.json.id as string;
    await deliveriesOf(eventId, (d) => d.length === 2 && d.every((x) => x.status === 'succeeded'));
    const trigger = (await pagerduty.waitFor(sentBefore + 1)).at(-1)!.json<Record<string, unknown>>();
    expect(trigger).toMatchObject({ event_action: 'trigger' });
    return { eventId, trigger };
  }

  it('ack <dedup key> sends PagerDuty an acknowledge for that incident and redraws its Slack message', async () => {
    const { eventId, trigger } = await openIncident('inc_ack_by_key');
    const stored = await relay.admin<{ event: { dedup_key: string } }>(`/events/${eventId}`);
    const dedupKey = stored.json.event.dedup_key;
    const sentBefore = pagerduty.requests.length;
    const updatesBefore = slackApi.requests.map(webApiCall).filter((c) => c.method === 'chat.update').length;

    const answer = await command(`ack ${dedupKey}`);
    expect(answer.status).toBe(200);
    expect(answer.text).toContain('Acknowledged by alice');
    expect(answer.text).toContain('*oncall*');

    const acknowledge = (await pagerduty.waitFor(sentBefore + 1)).at(-1)!.json<Record<string, unknown>>();
    expect(acknowledge).toEqual({ event_action: 'acknowledge', dedup_key: trigger.dedup_key, routing_key: ROUTING_KEY });
    await slackApi.waitFor(1);
    const redrawn = await relay.until(
      async () => slackApi.requests.map(webApiCall).filter((c) => c.method === 'chat.update'),
      (updates) => updates.length > updatesBefore,
    );
    expect(JSON.stringify(redrawn.at(-1)!.args)).toContain('Acknowledged by alice');
    // The acknowledge is a logged delivery of the incident's event, not a new event.
    const { json } = await relay.admin<{ deliveries: Array<{ destination: string; route: string | null; status: string }> }>(`/deliveries?event_id=${eventId}`);
    expect(json.deliveries.some((d) => d.destination === 'oncall' && d.route === 'command:acknowledge')).toBe(true);
  });

  it('ack <event id> acknowledges the incident of that event', async () => {
    const { eventId, trigger } = await openIncident('inc_ack_by_event');
    const sentBefore = pagerduty.requests.length;
    const answer = await command(`ack ${eventId}`);
    expect(answer.text).toContain('Acknowledged by alice');
    const acknowledge = (await pagerduty.waitFor(sentBefore + 1)).at(-1)!.json<Record<string, unknown>>();
    expect(acknowledge).toMatchObject({ event_action: 'acknowledge', dedup_key: trigger.dedup_key });
  });

  it('ack of an incident nobody was told about says so at once; ack without an incident shows the usage', async () => {
    const sentBefore = pagerduty.requests.length;
    const unknown = await command('ack statussentry:no-such-incident');
    expect(unknown.status).toBe(200);
    expect(unknown.text).toContain(':x: no incident "statussentry:no-such-incident"');
    const missing = await command('ack');
    expect(missing.text).toContain('`ack` takes one incident');
    expect(pagerduty.requests.length).toBe(sentBefore);
  });
});
