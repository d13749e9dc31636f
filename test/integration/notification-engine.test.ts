import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../support/clock.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

/**
 * The notification engine's stories (issue: what to send, when, in which order), each on the real
 * server. Where a story says nothing more was sent, the server runs on a driven clock (no retry or
 * probe comes by itself) and the test waits for the store to record every decision, never a sleep.
 */

const AM_TOKEN = 'am-token-0123456789';
const TM_SECRET = 'tm-secret';

interface Delivery {
  id: string;
  event_id: string;
  destination: string;
  status: string;
  attempts: number;
  note: string | null;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(): Promise<FakeReceiver> {
  const fake = await FakeReceiver.start();
  cleanups.push(() => fake.close());
  return fake;
}

async function relayWith(yaml: string, clock?: ManualClock): Promise<TestRelay> {
  const relay = await startRelay(`${yaml}\nadmin: { token: ${ADMIN_TOKEN} }\n`, {}, clock ? { clock } : {});
  cleanups.push(() => relay.close());
  return relay;
}

async function deliveries(relay: TestRelay, query: string): Promise<Delivery[]> {
  return (await relay.admin<{ deliveries: Delivery[] }>(`/deliveries?${query}`)).json.deliveries;
}

/** Every delivery is recorded as decided: none waits or is being sent, so nothing more goes out. */
const allDecided = (list: readonly Delivery[]): boolean => list.every((delivery) => delivery.status !== 'pending' && delivery.status !== 'in_flight');

/** One Alertmanager webhook notification (its documented JSON), for the given alerts. */
function alertmanagerNotification(alerts: Array<{ name: string; fingerprint: string; status?: string; startsAt: string; endsAt?: string }>) {
  return JSON.stringify({
    version: '4',
    groupKey: '{}:{alertname="group"}',
    truncatedAlerts: 0,
    status: alerts.some((alert) => (alert.status ?? 'firing') === 'firing') ? 'firing' : 'resolved',
    receiver: 'hookrelay',
    groupLabels: { job: 'api' },
    commonLabels: { job: 'api' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.local',
    alerts: alerts.map((alert) => ({
      status: alert.status ?? 'firing',
      labels: { alertname: alert.name, job: 'api', severity: 'warning' },
      annotations: { summary: `${alert.name} is happening` },
      startsAt: alert.startsAt,
      endsAt: alert.endsAt ?? '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.local/graph',
      fingerprint: alert.fingerprint,
    })),
  });
}

describe('Alertmanager re-sends its whole group: an unchanged alert is not posted again', () => {
  it('a second alert joining the group → Slack gets each alert once; the resolve still goes out', async () => {
    const slack = await receiver();
    const clock = new ManualClock();
    const relay = await relayWith(
      `
sources:
  - { name: prometheus, preset: alertmanager, token: "${AM_TOKEN}" }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/webhook')}" }
routes:
  - { to: [ops-slack] }
`,
      clock,
    );
    const post = async (body: string) => {
      const response = await relay.post('/hooks/prometheus', body, { authorization: `Bearer ${AM_TOKEN}` });
      expect(response.status).toBe(202);
    };
    const a = { name: 'HighLatency', fingerprint: 'aaaa000000000001', startsAt: '2026-11-29T10:00:00Z' };
    const b = { name: 'HighErrorRate', fingerprint: 'bbbb000000000002', startsAt: '2026-11-29T10:00:30Z' };
    await post(alertmanagerNotification([a]));
    await slack.waitFor(1);
    await relay.until(() => deliveries(relay, 'status=succeeded'), (list) => list.length === 1);
    // Alertmanager's next notification for the group: A unchanged, B new.
    await post(alertmanagerNotification([a, b]));
    const held = await relay.until(() => deliveries(relay, 'status=skipped'), (list) => list.length === 1);
    expect(held[0]!.note).toMatch(/^repeat within 4h of dlv_/);
    await slack.waitFor(2);
    // A resolve is a change of state: it goes out.
    await post(alertmanagerNotification([{ ...a, status: 'resolved', endsAt: '2026-11-29T10:05:00Z' }, b]));
    // Slack's rate (3 per 3 s) holds the last two until 3 s of the driven clock have passed.
    await clock.jump(3_000);
    // Five deliveries (A, A again, B, A resolved, B again): three sent, the unchanged two skipped.
    const decided = await relay.until(() => deliveries(relay, 'destination=ops-slack&limit=20'), (list) => list.length === 5 && allDecided(list));
    expect(decided.filter((delivery) => delivery.status === 'succeeded')).toHaveLength(3);
    const texts = slack.requests.map((request) => request.body);
    expect(texts).toHaveLength(3);
    expect(texts.filter((text) => text.includes('HighLatency'))).toHaveLength(2);
    expect(texts.filter((text) => text.includes('HighErrorRate'))).toHaveLength(1);
  });
});

const tapemetricRelay = (url: string, retry: string, extra = '') => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${TM_SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${url}", concurrency: 1${extra} }
routes:
  - { to: [receiver] }
retry: ${retry}
`;

async function sendTapemetric(relay: TestRelay, id: string, region: string): Promise<string> {
  const body = JSON.stringify(tapemetricPayload({ id }, { region }));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TM_SECRET));
  expect(response.status).toBe(202);
  return response.json.id as string;
}

describe('a disabled destination is sent nothing more', () => {
  it('20 deliveries queued for a dead endpoint with disable_after: 3 → 3 requests, the rest pending and untouched', async () => {
    const dead = await receiver();
    dead.respond(() => ({ status: 503 }));
    // On a driven clock: the retries and the probe (10 s) never come by themselves.
    const relay = await relayWith(tapemetricRelay(dead.url('/hook'), '{ schedule: [10s], disable_after: 3 }'), new ManualClock());
    for (let i = 0; i < 20; i++) await sendTapemetric(relay, `evt_dead_${i}`, `region-${i}`);
    await relay.until(
      () => relay.admin<{ destinations: Array<{ enabled: boolean }> }>('/destinations'),
      ({ json }) => json.destinations[0]!.enabled === false,
    );
    // Held work given back: nothing in flight, three attempts recorded; nothing more can start.
    const all = await relay.until(
      () => deliveries(relay, 'destination=receiver&limit=50'),
      (list) => list.length === 20 && list.every((delivery) => delivery.status === 'pending') && list.reduce((sum, delivery) => sum + delivery.attempts, 0) === 3,
    );
    expect(dead.requests).toHaveLength(3);
    expect(all.filter((delivery) => delivery.status === 'failed')).toHaveLength(0);
    expect(all.filter((delivery) => delivery.status === 'pending' && delivery.attempts === 0)).toHaveLength(17);
  });

  it('400/413/422 (our own request refused) fail the delivery but never disable the destination; 404 does', async () => {
    const refusing = await receiver();
    let status = 400;
    refusing.respond(() => ({ status }));
    const relay = await relayWith(tapemetricRelay(refusing.url('/hook'), '{ schedule: [100ms], disable_after: 2 }'));
    for (let i = 0; i < 4; i++) await sendTapemetric(relay, `evt_bad_${i}`, `r${i}`);
    await relay.until(() => deliveries(relay, 'status=failed'), (list) => list.length === 4);
    let { json } = await relay.admin<{ destinations: Array<{ enabled: boolean; consecutive_failures: number }> }>('/destinations');
    expect(json.destinations[0]).toMatchObject({ enabled: true, consecutive_failures: 0 });
    status = 404;
    for (let i = 0; i < 2; i++) await sendTapemetric(relay, `evt_gone_${i}`, `g${i}`);
    ({ json } = await relay.until(
      () => relay.admin<{ destinations: Array<{ enabled: boolean; consecutive_failures: number }> }>('/destinations'),
      ({ json }) => json.destinations[0]!.enabled === false,
    ));
    expect(json.destinations[0]).toMatchObject({ enabled: false, consecutive_failures: 2 });
  });
});

describe('mutes are checked when a delivery is about to go out', () => {
  it('a mute created while an event is being retried holds its next attempt: logged muted with the mute id, not sent', async () => {
    const flaky = await receiver();
    flaky.respond(() => ({ status: 500 }));
    const clock = new ManualClock();
    const relay = await relayWith(tapemetricRelay(flaky.url('/hook'), '{ schedule: [600ms, 600ms], disable_after: 10 }'), clock);
    const id = await sendTapemetric(relay, 'evt_mute_later', 'Maharashtra');
    await flaky.waitFor(1);
    await relay.until(() => deliveries(relay, `event_id=${id}`), (list) => list[0]?.attempts === 1);
    const { json: mute } = await relay.admin<{ id: string }>('/mutes', {
      method: 'POST',
      body: { matchers: { 'data.region': 'Maharashtra' }, duration: '1h', reason: 'maintenance' },
    });
    expect(mute.id).toMatch(/^mut_/);
    // The retry falls due (600 ms, jittered ±20%): the stage holds it, and muted is final (no later retry either).
    await clock.advance(720);
    const [held] = await relay.until(() => deliveries(relay, `event_id=${id}`), (list) => list[0]?.status === 'muted');
    expect(held!.note).toContain(`muted by ${mute.id}`);
    expect(held!.attempts).toBe(1);
    expect(flaky.requests).toHaveLength(1);
  });
});

describe('threshold: a route fires once at least `count` events of a key arrived within the window', () => {
  it('7 events of one incident with threshold { count: 5, within: 10m } → one message, at the 5th, saying how many', async () => {
    const slack = await receiver();
    const relay = await relayWith(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${TM_SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/webhook')}" }
routes:
  - { name: qos, to: [ops-slack], threshold: { count: 5, within: 10m } }
`);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push(await sendTapemetric(relay, `evt_spike_${i}`, 'Maharashtra'));
    const all = await relay.until(
      () => deliveries(relay, 'destination=ops-slack&limit=20'),
      (list) => list.length === 7 && list.every((delivery) => delivery.status !== 'pending' && delivery.status !== 'in_flight'),
    );
    const byEvent = new Map(all.map((delivery) => [delivery.event_id, delivery]));
    expect(ids.map((id) => byEvent.get(id)!.status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped', 'succeeded', 'skipped', 'skipped']);
    expect(byEvent.get(ids[0]!)!.note).toMatch(/^below threshold 1\/5 within 10m/);
    expect(byEvent.get(ids[3]!)!.note).toMatch(/^below threshold 4\/5/);
    expect(byEvent.get(ids[6]!)!.note).toMatch(/^threshold already fired within 10m \(dlv_/);
    expect(slack.requests).toHaveLength(1);
    expect(slack.requests[0]!.body).toContain('5 events within 10m');
  });
});

describe('inhibit: a firing source holds back targets with equal fields until it resolves', () => {
  it('a warning in the region of a firing critical is held (logged inhibited); the critical resolving releases it', async () => {
    const slack = await receiver();
    const relay = await relayWith(`
sources:
  - { name: prometheus, preset: alertmanager, token: "${AM_TOKEN}" }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/webhook')}" }
routes:
  - { to: [ops-slack] }
inhibit:
  - source: { match: { severity: critical } }
    target: { match: { severity: warning } }
    equal: [ data.labels.region ]
`);
    const post = async (alerts: Array<Record<string, unknown>>) => {
      const body = JSON.stringify({
        version: '4', groupKey: '{}', truncatedAlerts: 0, status: 'firing', receiver: 'hookrelay', groupLabels: {}, commonLabels: {},
        commonAnnotations: {}, externalURL: 'http://alertmanager.local', alerts,
      });
      const response = await relay.post('/hooks/prometheus', body, { authorization: `Bearer ${AM_TOKEN}` });
      expect(response.status).toBe(202);
      return (response.json.ids as string[] | undefined) ?? [response.json.id as string];
    };
    const alert = (name: string, region: string, severity: string, fingerprint: string, status = 'firing') => ({
      status,
      labels: { alertname: name, region, severity },
      annotations: { summary: `${name} in ${region}` },
      startsAt: '2026-11-29T10:00:00Z',
      endsAt: status === 'resolved' ? '2026-11-29T10:30:00Z' : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.local',
      fingerprint,
    });
    await post([alert('RegionDown', 'eu-west', 'critical', 'c000000000000001')]);
    await slack.waitFor(1);
    const [euWarning, usWarning] = await post([alert('HighLatency', 'eu-west', 'warning', 'w000000000000001'), alert('HighLatency', 'us-east', 'warning', 'w000000000000002')]);
    const [held] = await relay.until(() => deliveries(relay, `event_id=${euWarning}`), (list) => list[0]?.status === 'muted');
    expect(held!.note).toMatch(/^inhibited by evt_/);
    await relay.until(() => deliveries(relay, `event_id=${usWarning}`), (list) => list[0]?.status === 'succeeded');
    // The eu-west warning's only delivery is recorded as held: it was not sent.
    expect(slack.requests.map((request) => request.body).filter((text) => text.includes('HighLatency in eu-west'))).toHaveLength(0);

    // The critical resolves while the warning still fires: the warning goes out now.
    await post([alert('RegionDown', 'eu-west', 'critical', 'c000000000000001', 'resolved')]);
    await relay.until(() => deliveries(relay, `event_id=${euWarning}`), (list) => list[0]?.status === 'succeeded');
    const texts = slack.requests.map((request) => request.body);
    expect(texts.filter((text) => text.includes('HighLatency in eu-west'))).toHaveLength(1);
    expect(texts).toHaveLength(4);
  });
});
