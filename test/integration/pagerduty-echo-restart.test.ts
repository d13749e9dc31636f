/**
 * "A 202 is a promise": PagerDuty's report on an incident hookrelay paged, accepted by a process
 * that stops before its change reaches Slack, is applied by the next process on the same store —
 * the card redrawn and the thread line posted exactly once. The stop is forced at a chosen store
 * write (test/support/stopping-store.ts); a loopback Slack Web API holds the card, a loopback
 * PagerDuty Events API takes the page. Runs on PostgreSQL too (postgres-pagerduty-echo-restart.test.ts).
 */
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { statusSentryHeaders } from '../support/signers.ts';
import { actAsSlackWebApi, webApiCall } from '../support/slack.ts';
import type { WebApiCall } from '../support/slack.ts';
import type { Store } from '../../src/store/store.ts';
import { ManualClock } from '../support/clock.ts';
import { stoppingStore } from '../support/stopping-store.ts';
import type { StoppingStore } from '../support/stopping-store.ts';

const SENTRY = 'sentry-secret';
const PD_WEBHOOK_SECRET = 'pd-subscription-secret';

let slackApi: FakeReceiver;
let pagerduty: FakeReceiver;
let topLevelPosts: string[];
const dataDirs: string[] = [];

const config = () => `
sources:
  - { name: statussentry, preset: statussentry, secrets: ["${SENTRY}"] }
  - { name: pagerduty, preset: pagerduty, secrets: ["${PD_WEBHOOK_SECRET}"] }
destinations:
  - { name: ops-bot, type: slack-bot, token: xoxb-test-token, channel: "#ops", api_url: "${slackApi.url('/api/')}", rate: { max: 100, per: 1s } }
  - { name: oncall, type: pagerduty, routing_key: R0UT1NGKEY0123456789012345678901, url: "${pagerduty.url('/v2/enqueue')}" }
routes:
  - { to: [ops-bot, oncall], match: { source: statussentry } }
retry: { schedule: [100ms, 200ms], disable_after: 10 }
admin: { token: test-admin-token-0123456789 }
`;

interface Delivery {
  id: string;
  destination: string | null;
  route: string | null;
  status: string;
}

beforeAll(async () => {
  slackApi = await FakeReceiver.start();
  pagerduty = await FakeReceiver.start();
  pagerduty.respond(() => ({ status: 202, headers: { 'content-type': 'application/json' }, body: '{"status":"success"}' }));
  topLevelPosts = actAsSlackWebApi(slackApi);
});

afterAll(async () => {
  for (const fake of [slackApi, pagerduty]) await fake.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

const calls = (): WebApiCall[] => slackApi.requests.map(webApiCall);

async function deliveriesOf(relay: TestRelay, eventId: string, check: (deliveries: Delivery[]) => boolean): Promise<Delivery[]> {
  const { json } = await relay.until(
    () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${eventId}`),
    ({ json }) => check(json.deliveries),
  );
  return json.deliveries;
}

/** A StatusSentry incident opening: its slack-bot card posted and paged to PagerDuty. */
async function openIncident(relay: TestRelay, incidentId: string, signedAt?: number): Promise<{ dedupKey: string; ts: string }> {
  const pagesBefore = pagerduty.requests.length;
  const body = JSON.stringify({
    id: `evt_${randomUUID()}`,
    type: 'incident.created',
    created_at: new Date().toISOString(),
    data: { incident_id: incidentId, title: 'Checkout latency above 2s', status: 'investigating', severity: 'major', components: [] },
  });
  const response = await relay.post('/hooks/statussentry', body, statusSentryHeaders(body, SENTRY, signedAt));
  expect(response.status).toBe(202);
  await deliveriesOf(relay, response.json.id as string, (list) => list.length === 2 && list.every((d) => d.status === 'succeeded'));
  const trigger = (await pagerduty.waitFor(pagesBefore + 1))[pagesBefore]!.json<{ dedup_key: string }>();
  return { dedupKey: trigger.dedup_key, ts: topLevelPosts.at(-1)! };
}

/** A PagerDuty V3 webhook about incident `incidentKey`, signed here as PagerDuty signs it (v1= hex HMAC-SHA256 of the body). */
async function fromPagerDuty(relay: TestRelay, eventType: string, incidentKey: string, by: string): Promise<{ status: number; id: string }> {
  const body = JSON.stringify({
    event: {
      id: randomUUID().replace(/-/g, '').toUpperCase().slice(0, 26),
      event_type: eventType,
      resource_type: 'incident',
      occurred_at: new Date().toISOString(),
      agent: { id: 'PLH1HKV', type: 'user_reference', summary: by, html_url: 'https://acme.pagerduty.com/users/PLH1HKV' },
      client: null,
      data: {
        id: 'Q1ABCDEF',
        type: 'incident',
        html_url: 'https://acme.pagerduty.com/incidents/Q1ABCDEF',
        number: 42,
        status: eventType.replace('incident.', ''),
        incident_key: incidentKey,
        title: 'Checkout latency above 2s',
        service: { id: 'PF9KMXH', type: 'service_reference', summary: 'Checkout' },
        assignees: [{ id: 'PLH1HKV', type: 'user_reference', summary: 'Dana' }],
        urgency: 'high',
      },
    },
  });
  const signature = `v1=${createHmac('sha256', PD_WEBHOOK_SECRET).update(body).digest('hex')}`;
  const response = await relay.post('/hooks/pagerduty', body, { 'content-type': 'application/json', 'x-pagerduty-signature': signature });
  return { status: response.status, id: response.json.id as string };
}

/** Thread lines posted under the incident's card since call `from`. */
const threadLines = (ts: string, from: number): WebApiCall[] => calls().slice(from).filter((c) => c.method === 'chat.postMessage' && c.args.thread_ts === ts);

const isPagerDutyIngest = (method: string, args: readonly unknown[]): boolean =>
  method === 'ingest' && (args[0] as { receipt: { source: string } }).receipt.source === 'pagerduty';

/**
 * The incident's state written: the whole apply now; before, its own compare-and-set
 * (`incident_state`), with the card's deliveries appended in a later transaction.
 */
const isStateChange = (method: string, args: readonly unknown[]): boolean => method === 'change' && (args[0] === 'incident_state' || args[0] === 'apply_echo');

/**
 * The first process pages the incident, then takes PagerDuty's acknowledgement (202) and stops
 * where `stopAfter` says; a second process on the same store must bring it to Slack, once.
 */
async function stopThenRestart(stopAfter: (method: string, args: readonly unknown[]) => boolean, eventType: string, by: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hookrelay-echo-'));
  dataDirs.push(dataDir);
  let stopping: StoppingStore | null = null;
  const first = await startRelay(config(), {}, { dataDir, wrapStore: (store) => (stopping = stoppingStore(store, stopAfter)).store });
  const incident = await openIncident(first, `inc_${randomUUID()}`);
  const from = calls().length;
  const accepted = await fromPagerDuty(first, eventType, incident.dedupKey, by);
  expect(accepted.status).toBe(202);
  await stopping!.stopped;
  await first.close();
  // Nothing reached Slack from the stopped process.
  expect(threadLines(incident.ts, from)).toHaveLength(0);

  const second = await startRelay(config(), {}, { dataDir });
  try {
    const deliveries = await deliveriesOf(second, accepted.id, (list) => list.some((d) => d.destination === 'ops-bot' && d.status === 'succeeded'));
    return { incident, from, accepted, deliveries, second };
  } catch (error) {
    await second.close();
    throw error;
  }
}

describe('a PagerDuty report accepted (202) reaches Slack even when the process stops before applying it', () => {
  it('stopped right after the ingest commit → the next start redraws the card and posts the thread line, once', async () => {
    const { incident, from, accepted, deliveries, second } = await stopThenRestart(isPagerDutyIngest, 'incident.acknowledged', 'Dana');
    try {
      expect(deliveries.map((d) => [d.destination, d.route, d.status]).sort()).toEqual([
        [null, null, 'skipped'],
        ['ops-bot', 'command:pagerduty', 'succeeded'],
      ]);
      const since = calls().slice(from);
      const update = since.find((c) => c.method === 'chat.update' && c.args.ts === incident.ts)!;
      expect(JSON.stringify(update.args)).toContain('Acknowledged by Dana in PagerDuty');
      const lines = threadLines(incident.ts, from);
      expect(lines).toHaveLength(1);
      expect(JSON.stringify(lines[0]!.args)).toContain('Acknowledged by Dana');
      // Nothing is left pending: a further start would add nothing.
      expect(await second.server.store.view('echoes', 10)).toEqual([]);
      expect(await second.server.store.view('incident_message', 'ops-bot', incident.dedupKey)).toMatchObject({ acknowledged_by: 'Dana in PagerDuty' });
      expect((await second.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${accepted.id}`)).json.deliveries).toHaveLength(2);
    } finally {
      await second.close();
    }
  });

  it('stopped right after the incident state is written → the card says resolved and the thread line comes, once', async () => {
    const { incident, from, second } = await stopThenRestart(isStateChange, 'incident.resolved', 'Lee');
    try {
      const since = calls().slice(from);
      expect(JSON.stringify(since.filter((c) => c.method === 'chat.update' && c.args.ts === incident.ts).at(-1)!.args)).toMatch(/Resolved by Lee in PagerDuty/);
      expect(threadLines(incident.ts, from)).toHaveLength(1);
      expect(await second.server.store.view('echoes', 10)).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('a thread line only (reassigned), stopped right after the ingest commit → posted once at the next start', async () => {
    const { incident, from, accepted, second } = await stopThenRestart(isPagerDutyIngest, 'incident.reassigned', 'Lee');
    try {
      const lines = threadLines(incident.ts, from);
      expect(lines).toHaveLength(1);
      expect(JSON.stringify(lines[0]!.args)).toContain('Reassigned to Dana by Lee in PagerDuty');
      expect((await second.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${accepted.id}`)).json.deliveries).toHaveLength(2);
      expect(await second.server.store.view('echoes', 10)).toEqual([]);
    } finally {
      await second.close();
    }
  });

  it('the apply fails while hookrelay keeps running → the next pruning round applies it, once', async () => {
    const clock = new ManualClock();
    // The first apply fails (the database away for a moment); the process goes on.
    let failures = 0;
    const failFirstApply = (store: Store): Store =>
      new Proxy(store, {
        get(target, property) {
          const value: unknown = Reflect.get(target, property, target);
          if (typeof value !== 'function') return value;
          const method = value as (...args: unknown[]) => unknown;
          return (...args: unknown[]): unknown => {
            if (property === 'change' && args[0] === 'apply_echo' && failures++ === 0) return Promise.reject(new Error('the store is away for a moment'));
            return method.apply(target, args);
          };
        },
      });
    const relay = await startRelay(config(), {}, { clock, wrapStore: failFirstApply });
    try {
      const incident = await openIncident(relay, `inc_${randomUUID()}`, Math.floor(clock.now() / 1000));
      const from = calls().length;
      const accepted = await fromPagerDuty(relay, 'incident.acknowledged', incident.dedupKey, 'Dana');
      expect(accepted.status).toBe(202);
      expect(failures).toBe(1);
      expect((await relay.server.store.view('echoes', 10)).map((echo) => echo.event_id)).toEqual([accepted.id]);

      await clock.advance(2 * 60_000);
      await deliveriesOf(relay, accepted.id, (list) => list.some((d) => d.destination === 'ops-bot' && d.status === 'succeeded'));
      const lines = threadLines(incident.ts, from);
      expect(lines).toHaveLength(1);
      expect(JSON.stringify(lines[0]!.args)).toContain('Acknowledged by Dana');
      expect(await relay.server.store.view('echoes', 10)).toEqual([]);
      expect(await relay.server.store.view('incident_message', 'ops-bot', incident.dedupKey)).toMatchObject({ acknowledged_by: 'Dana in PagerDuty' });
    } finally {
      await relay.close();
    }
  });
});
