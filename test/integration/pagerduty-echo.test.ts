/**
 * PagerDuty's own webhooks (V3) back into Slack, through the real server: a loopback Slack Web API
 * holds the incident's card, a loopback PagerDuty Events API takes the pages, and PagerDuty's
 * webhooks are signed here as PagerDuty signs them (v1= hex HMAC-SHA256 of the body).
 * Runs on PostgreSQL too (postgres-pagerduty-echo.test.ts).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { statusSentryHeaders } from '../support/signers.ts';
import { actAsSlackWebApi, buttonClick, signedSlackPost, webApiCall } from '../support/slack.ts';
import type { WebApiCall } from '../support/slack.ts';

const SIGNING_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const SENTRY = 'sentry-secret';
const PD_WEBHOOK_SECRET = 'pd-subscription-secret';
const ROUTING_KEY = 'R0UT1NGKEY0123456789012345678901';

let slackApi: FakeReceiver;
let slackWebhook: FakeReceiver;
let pagerduty: FakeReceiver;
let responses: FakeReceiver;
let relay: TestRelay;

// PagerDuty's events go to Slack and even back to PagerDuty by route: only those of incidents
// hookrelay did not page are routed.
const config = () => `
sources:
  - { name: statussentry, preset: statussentry, secrets: ["${SENTRY}"] }
  - { name: pagerduty, preset: pagerduty, secrets: ["${PD_WEBHOOK_SECRET}"] }
destinations:
  - { name: ops-bot, type: slack-bot, token: xoxb-test-token, channel: "#ops", api_url: "${slackApi.url('/api/')}", rate: { max: 100, per: 1s } }
  - { name: ops-slack, type: slack, url: "${slackWebhook.url('/services/T/B/X')}", rate: { max: 100, per: 1s } }
  - { name: oncall, type: pagerduty, routing_key: ${ROUTING_KEY}, url: "${pagerduty.url('/v2/enqueue')}" }
routes:
  - { to: [ops-bot, oncall], match: { source: statussentry } }
  - { to: [ops-slack, oncall], match: { source: pagerduty } }
retry: { schedule: [100ms, 200ms], disable_after: 10 }
slack_app: { signing_secret: "${SIGNING_SECRET}", api_url: "${responses.url('/api/')}" }
admin: { token: ${ADMIN_TOKEN} }
`;

interface Delivery {
  id: string;
  destination: string | null;
  route: string | null;
  status: string;
  note: string | null;
}

beforeAll(async () => {
  slackApi = await FakeReceiver.start();
  slackWebhook = await FakeReceiver.start();
  pagerduty = await FakeReceiver.start();
  responses = await FakeReceiver.start();
  pagerduty.respond(() => ({ status: 202, headers: { 'content-type': 'application/json' }, body: '{"status":"success"}' }));
  relay = await startRelay(config());
});

afterAll(async () => {
  await relay.close();
  for (const fake of [slackApi, slackWebhook, pagerduty, responses]) await fake.close();
});

let topLevelPosts: string[] = [];
beforeEach(() => {
  topLevelPosts = actAsSlackWebApi(slackApi);
});

async function deliveriesOf(eventId: string, check: (deliveries: Delivery[]) => boolean): Promise<Delivery[]> {
  const { json } = await relay.until(
    () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${eventId}`),
    ({ json }) => check(json.deliveries),
  );
  return json.deliveries;
}

const calls = (): WebApiCall[] => slackApi.requests.map(webApiCall);

/** A StatusSentry incident opening: sent to the slack-bot card and paged to PagerDuty. */
async function openIncident(incidentId: string): Promise<{ eventId: string; dedupKey: string; ts: string; botDelivery: string }> {
  const pagesBefore = pagerduty.requests.length;
  const postsBefore = topLevelPosts.length;
  const body = JSON.stringify({
    id: `evt_${randomUUID()}`,
    type: 'incident.created',
    created_at: new Date().toISOString(),
    data: { incident_id: incidentId, title: 'Checkout latency above 2s', status: 'investigating', severity: 'major', components: [] },
  });
  const response = await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, SENTRY));
  expect(response.status).toBe(202);
  const eventId = response.json.id as string;
  const deliveries = await deliveriesOf(eventId, (list) => list.length === 2 && list.every((d) => d.status === 'succeeded'));
  const trigger = (await pagerduty.waitFor(pagesBefore + 1))[pagesBefore]!.json<{ event_action: string; dedup_key: string }>();
  expect(trigger.event_action).toBe('trigger');
  expect(topLevelPosts).toHaveLength(postsBefore + 1);
  return { eventId, dedupKey: trigger.dedup_key, ts: topLevelPosts.at(-1)!, botDelivery: deliveries.find((d) => d.destination === 'ops-bot')!.id };
}

/** A PagerDuty V3 webhook about incident `incidentKey`, signed as PagerDuty signs it. */
async function fromPagerDuty(
  eventType: string,
  incidentKey: string,
  agent: Record<string, unknown> | null,
  title = 'Checkout latency above 2s',
): Promise<{ status: number; id: string }> {
  const body = JSON.stringify({
    event: {
      id: randomUUID().replace(/-/g, '').toUpperCase().slice(0, 26),
      event_type: eventType,
      resource_type: 'incident',
      occurred_at: new Date().toISOString(),
      agent,
      client: null,
      data: {
        id: `Q${incidentKey.length}ABCDEF`,
        type: 'incident',
        html_url: 'https://acme.pagerduty.com/incidents/Q1ABCDEF',
        number: 42,
        status: eventType.replace('incident.', ''),
        incident_key: incidentKey,
        title,
        service: { id: 'PF9KMXH', type: 'service_reference', summary: 'Checkout' },
        assignees: [{ id: 'PLH1HKV', type: 'user_reference', summary: 'Dana' }],
        urgency: 'high',
      },
    },
  });
  const signature = `v1=${createHmac('sha256', 'an-older-secret').update(body).digest('hex')},v1=${createHmac('sha256', PD_WEBHOOK_SECRET).update(body).digest('hex')}`;
  const response = await relay.post('/hooks/pagerduty', body, { 'content-type': 'application/json', 'x-pagerduty-signature': signature });
  return { status: response.status, id: response.json.id as string };
}

const person = (name: string) => ({ id: 'PLH1HKV', type: 'user_reference', summary: name, html_url: 'https://acme.pagerduty.com/users/PLH1HKV' });

/** The deliveries of a PagerDuty event that changed a card: the stored event's own (skipped) and the card's, done. */
async function cardDelivered(eventId: string): Promise<Delivery[]> {
  return deliveriesOf(eventId, (list) => list.length === 2 && list.some((d) => d.destination === 'ops-bot' && d.status === 'succeeded'));
}

describe('PagerDuty acknowledgements and resolutions come back to Slack', () => {
  it('acknowledged, then resolved in PagerDuty → the card says who, with a line in the thread each time; nothing is paged back', async () => {
    const incident = await openIncident('inc_pd_story');

    // The echo of hookrelay's own trigger: stored, not routed, nothing changes.
    const triggered = await fromPagerDuty('incident.triggered', incident.dedupKey, { id: 'PSVC', type: 'service_reference', summary: 'Checkout' });
    expect(triggered.status).toBe(202);
    const [skipped] = await deliveriesOf(triggered.id, (list) => list.length > 0);
    expect(skipped).toMatchObject({ destination: null, status: 'skipped' });
    expect(skipped!.note).toContain('applied to its Slack messages, not routed');

    // Acknowledged by a person whose name tries to ping the channel.
    const slackCallsBefore = calls().length;
    const acknowledged = await fromPagerDuty('incident.acknowledged', incident.dedupKey, person('Dana <!channel> @here'));
    expect(acknowledged.status).toBe(202);
    const [card] = (await cardDelivered(acknowledged.id)).filter((d) => d.destination === 'ops-bot');
    expect(card!.route).toBe('command:pagerduty');
    const afterAck = calls().slice(slackCallsBefore);
    const update = afterAck.find((c) => c.method === 'chat.update')!;
    expect(update.args.ts).toBe(incident.ts);
    const drawn = JSON.stringify(update.args);
    expect(drawn).toContain('Acknowledged by Dana &lt;!channel&gt; @\u200dhere in PagerDuty');
    expect(drawn).not.toContain('<!channel>');
    expect(drawn).not.toContain('hookrelay_acknowledge');
    const line = afterAck.find((c) => c.method === 'chat.postMessage')!;
    expect(line.args.thread_ts).toBe(incident.ts);
    expect(JSON.stringify(line.args)).toContain('Acknowledged by Dana &lt;!channel&gt;');

    // Someone else acknowledges too (or PagerDuty repeats it): the card already says so, nothing changes twice.
    const again = await fromPagerDuty('incident.acknowledged', incident.dedupKey, person('Fox'));
    expect(again.status).toBe(202);
    expect((await deliveriesOf(again.id, (list) => list.length > 0)).map((d) => d.status)).toEqual(['skipped']);

    // Reassigned: the card stays as it is (redrawn the same), a line goes into the thread.
    const reassignedBefore = calls().length;
    const reassigned = await fromPagerDuty('incident.reassigned', incident.dedupKey, person('Lee'));
    await cardDelivered(reassigned.id);
    const afterReassign = calls().slice(reassignedBefore);
    expect(JSON.stringify(afterReassign.find((c) => c.method === 'chat.update')!.args)).toContain('Acknowledged by Dana &lt;!channel&gt;');
    const reassignLine = afterReassign.find((c) => c.method === 'chat.postMessage')!;
    expect(reassignLine.args.thread_ts).toBe(incident.ts);
    expect(JSON.stringify(reassignLine.args)).toContain('Reassigned to Dana by Lee in PagerDuty');

    const resolvedBefore = calls().length;
    const resolved = await fromPagerDuty('incident.resolved', incident.dedupKey, person('Dana'));
    await cardDelivered(resolved.id);
    const afterResolve = calls().slice(resolvedBefore);
    const resolvedCard = JSON.stringify(afterResolve.find((c) => c.method === 'chat.update')!.args);
    expect(resolvedCard).toMatch(/Resolved by Dana in PagerDuty after/);
    expect(resolvedCard).toContain('acknowledged by Dana &lt;!channel&gt;');
    expect(afterResolve.find((c) => c.method === 'chat.postMessage')!.args.thread_ts).toBe(incident.ts);

    // One card for the incident all along, and PagerDuty was told only the trigger: nothing paged back.
    expect(topLevelPosts.filter((ts) => ts === incident.ts)).toHaveLength(1);
    const pages = pagerduty.requests.map((r) => r.json<{ dedup_key: string; event_action: string }>()).filter((page) => page.dedup_key === incident.dedupKey);
    expect(pages.map((page) => page.event_action)).toEqual(['trigger']);
    expect(slackWebhook.requests.filter((r) => r.body.includes('Checkout latency'))).toHaveLength(0);
  });

  it('a Slack acknowledgement that PagerDuty echoes back changes nothing twice', async () => {
    const incident = await openIncident('inc_pd_slack_ack');
    const before = responses.requests.length;
    const pagesBefore = pagerduty.requests.length;
    const click = signedSlackPost(SIGNING_SECRET, buttonClick('hookrelay_acknowledge', incident.botDelivery, responses.url('/response')));
    expect((await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: click.headers, body: click.body })).status).toBe(200);
    await responses.waitFor(before + 1);
    const acknowledge = (await pagerduty.waitFor(pagesBefore + 1))[pagesBefore]!.json<{ event_action: string; dedup_key: string }>();
    expect(acknowledge).toMatchObject({ event_action: 'acknowledge', dedup_key: incident.dedupKey });

    // PagerDuty tells of the acknowledgement it got through the Events API (its agent is the integration).
    const echoed = await fromPagerDuty('incident.acknowledged', incident.dedupKey, { id: 'PINTEG', type: 'events_api_v2_inbound_integration_reference', summary: 'hookrelay' });
    expect(echoed.status).toBe(202);
    expect((await deliveriesOf(echoed.id, (list) => list.length > 0)).map((d) => d.status)).toEqual(['skipped']);
    const { json } = await relay.admin<{ deliveries: Delivery[] }>(`/deliveries?destination=ops-bot&limit=100`);
    expect(json.deliveries.filter((d) => d.route === 'command:pagerduty' && d.id > incident.botDelivery)).toHaveLength(0);
  });

  it('an incident hookrelay did not page is an ordinary event: its routes send it (here to Slack and to PagerDuty)', async () => {
    const slackBefore = slackWebhook.requests.length;
    const pagesBefore = pagerduty.requests.length;
    const foreign = await fromPagerDuty('incident.triggered', 'opened-by-another-integration', null, 'Disk full <!channel> <https://evil.example|click here>');
    expect(foreign.status).toBe(202);
    const deliveries = await deliveriesOf(foreign.id, (list) => list.length === 2 && list.every((d) => d.status === 'succeeded'));
    expect(deliveries.map((d) => d.destination).sort()).toEqual(['oncall', 'ops-slack']);
    const [posted] = (await slackWebhook.waitFor(slackBefore + 1)).slice(slackBefore);
    // PagerDuty's text is the sender's: escaped, it can neither ping the channel nor forge a link.
    expect(posted!.body).toContain('Triggered in PagerDuty: Disk full &lt;!channel&gt; &lt;https://evil.example|click here&gt;');
    expect(posted!.body).not.toContain('<!channel>');
    expect(posted!.body).not.toContain('<https://evil.example');
    const [page] = (await pagerduty.waitFor(pagesBefore + 1)).slice(pagesBefore);
    expect(page!.json()).toMatchObject({ event_action: 'trigger', dedup_key: `pagerduty:Q${'opened-by-another-integration'.length}ABCDEF` });
  });

  it('a wrong signature → 401 signature_mismatch, nothing stored', async () => {
    const body = JSON.stringify({ event: { id: 'x', event_type: 'incident.resolved', data: { type: 'incident', id: 'Q1' } } });
    const response = await relay.post('/hooks/pagerduty', body, { 'x-pagerduty-signature': `v1=${createHmac('sha256', 'not-ours').update(body).digest('hex')}` });
    expect(response.status).toBe(401);
    expect((response.json.error as { code: string }).code).toBe('signature_mismatch');
  });
});
