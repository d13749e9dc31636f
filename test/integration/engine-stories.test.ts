import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { AttemptResult } from '../../src/store/store.ts';
import { FakeReceiver } from '../support/receiver.ts';
import type { Reply } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { statusSentryHeaders, tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { actAsSlackWebApi, buttonClick, signedSlackPost, webApiCall } from '../support/slack.ts';
import type { WebApiCall } from '../support/slack.ts';
import { ManualClock } from '../support/clock.ts';

/**
 * The notification engine's remaining stories on the real server with loopback fakes:
 * an acknowledgement that must not vanish, a Slack card that must not be posted twice,
 * slack-bot with several requests at once, and restarts in the middle of a group window
 * or a repeat interval.
 */

const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const SENTRY = 'sentry-secret';
const TAPEMETRIC = 'tm-secret';

interface Delivery {
  id: string;
  event_id: string;
  destination: string;
  status: string;
  attempts: number;
  note: string | null;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

async function fake(): Promise<FakeReceiver> {
  const receiver = await FakeReceiver.start();
  cleanups.push(() => receiver.close());
  return receiver;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hookrelay-stories-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function relayWith(yaml: string, dataDir?: string, clock?: ManualClock): Promise<TestRelay> {
  const relay = await startRelay(`${yaml}\nadmin: { token: ${ADMIN_TOKEN} }\n`, {}, { ...(dataDir ? { dataDir } : {}), ...(clock ? { clock } : {}) });
  cleanups.push(() => relay.close());
  return relay;
}

async function deliveriesOf(relay: TestRelay, query: string, check: (deliveries: Delivery[]) => boolean): Promise<Delivery[]> {
  const { json } = await relay.until(
    () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?${query}`),
    ({ json }) => check(json.deliveries),
  );
  return json.deliveries;
}

/** A StatusSentry incident event (its documented webhook shape), one title per step so Slack calls can be told apart. */
function sentryEvent(incident: string, type: string, status: string, title: string, createdAt = new Date()): string {
  return JSON.stringify({
    id: `evt_${Math.random().toString(36).slice(2, 12)}`,
    type,
    created_at: createdAt.toISOString(),
    data: { incident_id: incident, title, status, severity: 'major', components: [] },
  });
}

async function sentry(relay: TestRelay, body: string): Promise<string> {
  const response = await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, SENTRY));
  expect(response.status).toBe(202);
  return response.json.id as string;
}

const calls = (slack: FakeReceiver): WebApiCall[] => slack.requests.map(webApiCall);
const topLevelPosts = (slack: FakeReceiver) => calls(slack).filter((call) => call.method === 'chat.postMessage' && !call.args.thread_ts);
const updates = (slack: FakeReceiver) => calls(slack).filter((call) => call.method === 'chat.update');

const slackBotConfig = (slack: FakeReceiver, responses: FakeReceiver | null, extra = '') => `
sources:
  - { name: statussentry, preset: statussentry, secrets: ["${SENTRY}"] }
destinations:
  - { name: ops-bot, type: slack-bot, token: xoxb-test-token, channel: "#ops", api_url: "${slack.url('/api/')}", rate: { max: 100, per: 1s }${extra} }
routes:
  - { to: [ops-bot], match: { source: statussentry } }
retry: { schedule: [100ms, 200ms, 400ms], disable_after: 10 }
${responses ? `slack_app: { signing_secret: "${SIGNING_SECRET}", api_url: "${responses.url('/api/')}" }` : ''}
`;

describe('an acknowledgement that vanished', () => {
  it('an Acknowledge click answered while the update of the incident\'s next event is in flight → still acknowledged in the store, and the card Slack shows last says so', async () => {
    const slack = await fake();
    const responses = await fake();
    actAsSlackWebApiWith(slack, async (_call, reply) => reply);
    const relay = await relayWith(slackBotConfig(slack, responses));

    const created = await sentry(relay, sentryEvent('inc_vanish', 'incident.created', 'investigating', 'Vanish step 1'));
    const [posted] = await deliveriesOf(relay, `event_id=${created}`, (d) => d.length === 1 && d[0]!.status === 'succeeded');
    const dedupKey = (await relay.admin<{ event: { dedup_key: string } }>(`/events/${created}`)).json.event.dedup_key;

    // The next chat.update (the second event's) is held until the test lets it go.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    let heldArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (heldArrived = resolve));
    actAsSlackWebApiWith(slack, async (call, reply) => {
      if (call.method === 'chat.update' && !held) {
        held = true;
        heldArrived();
        await released;
      }
      return reply;
    });

    const second = await sentry(relay, sentryEvent('inc_vanish', 'incident.updated', 'identified', 'Vanish step 2'));
    await arrived;

    // The click lands and is answered while that update is still out.
    const before = responses.requests.length;
    const click = signedSlackPost(SIGNING_SECRET, buttonClick('hookrelay_acknowledge', posted!.id, responses.url('/response')));
    const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: click.headers, body: click.body });
    expect(response.status).toBe(200);
    const [said] = (await responses.waitFor(before + 1)).slice(before);
    expect(said!.json<{ text: string }>().text).toContain('Acknowledged by alice');
    // The acknowledgement's own redraw (a chat.update after the held one) reaches Slack first.
    await relay.until(async () => updates(slack).length, (count) => count >= 2);

    release();
    await deliveriesOf(relay, 'destination=ops-bot&status=succeeded', (d) => d.length === 2);
    const message = await relay.server.store.view('incident_message', 'ops-bot', dedupKey);
    expect(message).toMatchObject({ acknowledged_by: 'alice', last_event_id: second, updates: 1 });
    // The held update carried the stale card; the card is redrawn after it, with the acknowledgement.
    const last = await relay.until(
      async () => appliedUpdates(slack),
      (list) => list.length >= 3,
    );
    const lastCard = JSON.stringify(last.at(-1)!.args);
    expect(lastCard).toMatch(/acknowledged by alice/i);
    expect(lastCard).toContain('Vanish step 2');
    expect(topLevelPosts(slack)).toHaveLength(1);
  });

  it('the acknowledgement\'s redraw answered after the incident\'s next update → Slack ends up showing the latest state, acknowledged', async () => {
    const slack = await fake();
    const responses = await fake();
    actAsSlackWebApiWith(slack, async (_call, reply) => reply);
    const relay = await relayWith(slackBotConfig(slack, responses));
    const created = await sentry(relay, sentryEvent('inc_redraw', 'incident.created', 'investigating', 'Redraw step 1'));
    const [posted] = await deliveriesOf(relay, `event_id=${created}`, (d) => d.length === 1 && d[0]!.status === 'succeeded');

    // The acknowledgement's redraw (the next chat.update) is slow: held until the resolve went out.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = false;
    actAsSlackWebApiWith(slack, async (call, reply) => {
      if (call.method === 'chat.update' && !held) {
        held = true;
        await released;
      }
      return reply;
    });
    const before = responses.requests.length;
    const click = signedSlackPost(SIGNING_SECRET, buttonClick('hookrelay_acknowledge', posted!.id, responses.url('/response')));
    expect((await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: click.headers, body: click.body })).status).toBe(200);
    await responses.waitFor(before + 1);
    await relay.until(async () => updates(slack).length, (count) => count === 1);

    await sentry(relay, sentryEvent('inc_redraw', 'incident.resolved', 'resolved', 'Redraw step 2'));
    await deliveriesOf(relay, 'destination=ops-bot&status=succeeded', (d) => d.length === 2);
    await relay.until(async () => updates(slack).length, (count) => count === 2);
    release();
    // The stale redraw was applied after the resolve; the card Slack shows in the end is the resolved one, acknowledged.
    await relay.until(async () => appliedUpdates(slack).length, (count) => count >= 2);
    const lastCard = JSON.stringify(
      (await relay.until(async () => appliedUpdates(slack).at(-1), (last) => /Redraw step 2/.test(JSON.stringify(last?.args))))!.args,
    );
    expect(lastCard).toMatch(/Resolved after/);
    expect(lastCard).toMatch(/acknowledged by alice/i);
  });

  it('recording fails once after chat.postMessage succeeded → one card only; the delivery ends succeeded with the message saved', async () => {
    const slack = await fake();
    const ts = actAsSlackWebApi(slack);
    const relay = await relayWith(slackBotConfig(slack, null));
    const record = SqliteStore.prototype.commitAttempts;
    let failed = 0;
    vi.spyOn(SqliteStore.prototype, 'commitAttempts').mockImplementation(function (this: SqliteStore, results: readonly AttemptResult[]) {
      if (failed === 0 && results.some((result) => result.destination === 'ops-bot' && result.outcome === 'succeeded')) {
        failed += 1;
        return Promise.reject(new Error('disk I/O error (simulated)'));
      }
      return record.call(this, results);
    });

    const created = await sentry(relay, sentryEvent('inc_once', 'incident.created', 'investigating', 'Once step 1'));
    const [delivery] = await deliveriesOf(relay, `event_id=${created}`, (d) => d.length === 1 && d[0]!.status === 'succeeded');
    expect(failed).toBe(1);
    expect(delivery).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(topLevelPosts(slack)).toHaveLength(1);
    const dedupKey = (await relay.admin<{ event: { dedup_key: string } }>(`/events/${created}`)).json.event.dedup_key;
    expect(await relay.server.store.view('incident_message', 'ops-bot', dedupKey)).toMatchObject({ ts: ts[0], channel: 'C0OPS', last_event_id: created });

    // The incident's next event updates that card: the message was saved, not lost with the failed write.
    await sentry(relay, sentryEvent('inc_once', 'incident.resolved', 'resolved', 'Once step 2'));
    await deliveriesOf(relay, 'destination=ops-bot&status=succeeded', (d) => d.length === 2);
    expect(updates(slack).map((call) => call.args.ts)).toEqual([ts[0]]);
    expect(topLevelPosts(slack)).toHaveLength(1);
  });

  it('slack-bot with concurrency: 4 and several events of one incident → one card, updated in the events\' order', async () => {
    const slack = await fake();
    // The first post is slow, so every later event is queued while it is out.
    actAsSlackWebApiWith(slack, async (call, reply) => (call.method === 'chat.postMessage' && !call.args.thread_ts ? { ...reply, delayMs: 300 } : reply));
    const relay = await relayWith(slackBotConfig(slack, null, ', concurrency: 4'));
    const t0 = Date.now();
    const steps = ['investigating', 'identified', 'monitoring', 'monitoring', 'resolved'];
    for (const [index, status] of steps.entries()) {
      const type = index === 0 ? 'incident.created' : status === 'resolved' ? 'incident.resolved' : 'incident.updated';
      await sentry(relay, sentryEvent('inc_parallel', type, status, `Parallel step ${index + 1}`, new Date(t0 + index * 1_000)));
    }
    const done = await deliveriesOf(relay, 'destination=ops-bot', (d) => d.length === 5 && d.every((x) => x.status === 'succeeded'));
    expect(done.every((delivery) => delivery.attempts === 1)).toBe(true);
    expect(topLevelPosts(slack)).toHaveLength(1);
    expect(JSON.stringify(topLevelPosts(slack)[0]!.args)).toContain('Parallel step 1');
    const titles = (list: WebApiCall[]) => list.map((call) => /Parallel step (\d)/.exec(JSON.stringify(call.args))?.[1]);
    expect(titles(updates(slack))).toEqual(['2', '3', '4', '5']);
    const replies = calls(slack).filter((call) => call.method === 'chat.postMessage' && call.args.thread_ts);
    expect(replies).toHaveLength(4);
    expect(titles(replies)).toEqual(['2', '3', '4', '5']);
    // Every update and reply is on the one card.
    expect(new Set([...updates(slack).map((call) => call.args.ts), ...replies.map((call) => call.args.thread_ts)]).size).toBe(1);
  });
});

/**
 * Wraps the fake Slack Web API's answers: `change` sees each call and the answer
 * `actAsSlackWebApi` would give, and may hold it or change it.
 */
let ts = 1_800_000_000;
/** Per fake Slack: each call in the order it was answered (what the channel shows is the last update applied). */
const applied = new WeakMap<FakeReceiver, WebApiCall[]>();
const appliedUpdates = (slack: FakeReceiver) => (applied.get(slack) ?? []).filter((call) => call.method === 'chat.update');

function actAsSlackWebApiWith(slack: FakeReceiver, change: (call: WebApiCall, reply: Reply) => Promise<Reply>): void {
  if (!applied.has(slack)) applied.set(slack, []);
  slack.respond(async (request) => {
    const call = webApiCall(request);
    const json = (body: unknown): Reply => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    let reply: Reply;
    if (call.method === 'chat.postMessage') {
      ts += 1;
      reply = json({ ok: true, channel: 'C0OPS', ts: `${ts}.000100`, message: {} });
    } else if (call.method === 'chat.update') {
      reply = json({ ok: true, channel: call.args.channel, ts: call.args.ts });
    } else {
      reply = json({ ok: false, error: 'unknown_method' });
    }
    const answer = await change(call, reply);
    applied.get(slack)!.push(call);
    return answer;
  });
}

describe('a restart loses and repeats nothing', () => {
  async function tapemetric(relay: TestRelay, data: Record<string, unknown> = {}): Promise<string> {
    const body = JSON.stringify(tapemetricPayload({}, data));
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TAPEMETRIC));
    expect(response.status).toBe(202);
    return response.json.id as string;
  }

  it('restarted in the middle of a group window → the group goes out once, at the end of its window, with the events from before and after', async () => {
    // On a driven clock shared by both processes: the window's end is a time the test sets, not
    // a race between a 2 s wait and how long a restart takes on a busy machine.
    const clock = new ManualClock();
    const slack = await fake();
    const dataDir = tempDir();
    const config = `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${TAPEMETRIC}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/services/T/B/X')}" }
routes:
  - { to: [ops-slack], group: { by: [type, data.region], wait: 2s, interval: 1m } }
`;
    let relay = await relayWith(config, dataDir, clock);
    const before = [await tapemetric(relay), await tapemetric(relay)];
    await clock.advance(1_000);
    await relay.close();
    relay = await relayWith(config, dataDir, clock);
    const after = await tapemetric(relay);
    // Due 2 s after the group's first event (before the restart), not 2 s after the restart:
    // at 1.999 s nobody may claim it, at 2 s it goes.
    await clock.advance(999);
    expect((await relay.server.store.claim('ops-slack', { limit: 10, now: clock.now(), lease_ms: 60_000, owner: 'another-replica' })).deliveries).toEqual([]);
    expect(slack.requests).toHaveLength(0);
    await clock.advance(1);
    const [request] = await slack.waitFor(1);
    expect(request!.body).toContain('3 events in this group');
    const sent = await deliveriesOf(relay, 'destination=ops-slack', (d) => d.length === 3 && d.every((x) => x.status === 'succeeded'));
    expect(sent.map((delivery) => delivery.event_id).sort()).toEqual([...before, after].sort());
    // Nothing goes a second time: past the group's interval, its next notification still waits for new events.
    await clock.jump(2 * 60_000);
    expect((await relay.server.store.claim('ops-slack', { limit: 10, now: clock.now(), lease_ms: 60_000, owner: 'another-replica' })).deliveries).toEqual([]);
    expect(slack.requests).toHaveLength(1);
  });

  it('restarted in the middle of a repeat interval → the unchanged repeat is still suppressed, and a change still goes out', async () => {
    const slack = await fake();
    const dataDir = tempDir();
    const config = `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${TAPEMETRIC}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/services/T/B/X')}" }
routes:
  - { to: [ops-slack], repeat_interval: 1h }
`;
    let relay = await startRelay(`${config}\nadmin: { token: ${ADMIN_TOKEN} }\n`, {}, { dataDir });
    const first = await tapemetric(relay);
    await deliveriesOf(relay, `event_id=${first}`, (d) => d[0]?.status === 'succeeded');
    const [told] = await deliveriesOf(relay, `event_id=${first}`, () => true);
    await relay.close();

    relay = await relayWith(config, dataDir);
    const repeat = await tapemetric(relay);
    const [held] = await deliveriesOf(relay, `event_id=${repeat}`, (d) => d[0]?.status === 'skipped');
    expect(held!.note).toBe(`repeat within 1h of ${told!.id}`);
    expect(slack.requests).toHaveLength(1);
    // Another incident (another region) is news and goes out.
    const other = await tapemetric(relay, { region: 'Kerala' });
    await deliveriesOf(relay, `event_id=${other}`, (d) => d[0]?.status === 'succeeded');
    expect(slack.requests).toHaveLength(2);
  });
});
