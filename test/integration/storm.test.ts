import { afterEach, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { WAIT_MS } from '../support/wait.ts';

/**
 * "One storm drowns every other alert" (notification-engine issue), on the real server with a
 * loopback Slack: a storm beyond the destination's horizon arrives as digests, one per group,
 * and a critical event sent after it is not queued behind thousands of messages.
 */

const AM_TOKEN = 'am-token-0123456789';

interface Delivery {
  id: string;
  event_id: string;
  status: string;
  note: string | null;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function slackReceiver(): Promise<FakeReceiver> {
  const fake = await FakeReceiver.start();
  cleanups.push(() => fake.close());
  return fake;
}

async function relayWith(slackUrl: string, storm = ''): Promise<TestRelay> {
  const relay = await startRelay(`
sources:
  - { name: prometheus, preset: alertmanager, token: "${AM_TOKEN}" }
destinations:
  - { name: ops-slack, type: slack, url: "${slackUrl}"${storm} }
routes:
  - { to: [ops-slack] }
admin: { token: ${ADMIN_TOKEN} }
`);
  cleanups.push(() => relay.close());
  return relay;
}

interface Alert {
  readonly name: string;
  readonly fingerprint: string;
  readonly severity?: string;
}

/** Alertmanager's webhook JSON, alerts kept small (7,000 of them fit in the 1 MB body limit). */
function notification(alerts: readonly Alert[]): string {
  return JSON.stringify({
    version: '4',
    groupKey: '{}:{}',
    status: 'firing',
    receiver: 'hookrelay',
    alerts: alerts.map((alert) => ({
      status: 'firing',
      labels: { alertname: alert.name, ...(alert.severity ? { severity: alert.severity } : {}) },
      startsAt: '2026-11-29T10:00:00Z',
      fingerprint: alert.fingerprint,
    })),
  });
}

async function post(relay: TestRelay, alerts: readonly Alert[]): Promise<void> {
  const response = await relay.post('/hooks/prometheus', notification(alerts), { authorization: `Bearer ${AM_TOKEN}` });
  expect(response.status).toBe(202);
}

const isDigest = (body: string): boolean => body.includes('Storm digest');
/** "Storm digest: 1,000 events of HighLatency …": how many events the digest carries, and of which group. */
function digestOf(body: string): { count: number; label: string } {
  const text = JSON.parse(body) as { text: string };
  const match = /Storm digest: ([\d,]+) events of (\S+)/.exec(text.text);
  if (!match) throw new Error(`not a digest: ${text.text}`);
  return { count: Number(match[1]!.replaceAll(',', '')), label: match[2]! };
}

/**
 * Waits until nothing is pending, then reads the outcome: how many deliveries finished and how
 * (the relay's own counters, which pruning never touches) and the delivery log as it stands. The
 * log keeps the newest 200 finished deliveries per destination once its pruner has run (every
 * minute, docs/operating.md): on a loaded machine a storm outlives that minute.
 */
async function finished(relay: TestRelay, timeoutMs: number): Promise<{ outcomes: Map<string, number>; log: Delivery[] }> {
  const { json } = await relay.until(
    () => relay.admin<{ destinations: Array<{ pending: number }> }>('/destinations'),
    ({ json }) => json.destinations[0]!.pending === 0,
    timeoutMs,
  );
  expect(json.destinations[0]!.pending).toBe(0);
  const metrics = await (await fetch(`${relay.url}/metrics`)).text();
  const outcomes = new Map<string, number>();
  for (const [, outcome, count] of metrics.matchAll(/^hookrelay_deliveries_total\{destination="ops-slack",outcome="(\w+)"\} (\d+)$/gm)) {
    outcomes.set(outcome!, Number(count));
  }
  const log: Delivery[] = [];
  let before = '';
  for (;;) {
    const page = (await relay.admin<{ deliveries: Delivery[] }>(`/deliveries?destination=ops-slack&limit=1000${before}`)).json.deliveries;
    if (page.length === 0) break;
    log.push(...page);
    before = `&before=${page.at(-1)!.id}`;
  }
  return { outcomes, log };
}

describe('a storm collapses into digests; other alerts are not drowned', () => {
  it('7,000 alerts in one Alertmanager request to Slack (3/3s), then a critical → the critical is in Slack within seconds, the storm arrives as one digest per alert name', async () => {
    const slack = await slackReceiver();
    const relay = await relayWith(slack.url('/webhook'));
    const names = ['HighLatency', 'HighErrorRate', 'PodCrashLooping', 'DiskPressure', 'CertExpiring', 'QueueBacklog', 'NodeNotReady'];
    const storm = Array.from({ length: 7_000 }, (_, i) => ({ name: names[i % names.length]!, fingerprint: `f${i.toString(16).padStart(8, '0')}` }));
    await post(relay, storm);
    await post(relay, [{ name: 'DatabaseDown', fingerprint: 'critical-db-0001', severity: 'critical' }]);

    const critical = async () => slack.requests.findIndex((request) => request.body.includes('DatabaseDown'));
    await relay.until(critical, (index) => index >= 0, WAIT_MS);
    const index = await critical();
    // Behind it at most the lane's look-ahead (5 alerts leased as they arrived) and the digests
    // claimed before it: at Slack's 1/s that is seconds, whereas behind the storm it would be hours.
    // (Its order among the sends is what the test asserts; a wall-clock bound would only measure the machine.)
    expect(index).toBeLessThan(10);

    const { outcomes, log } = await finished(relay, WAIT_MS);
    // Every alert delivered, none failed (the log itself may be pruned to its newest 200 by now).
    expect(Object.fromEntries(outcomes)).toEqual({ succeeded: 7_001 });
    expect(log.length).toBeGreaterThanOrEqual(200);
    expect(log.every((delivery) => delivery.status === 'succeeded')).toBe(true);
    const digests = slack.requests.filter((request) => isDigest(request.body)).map((request) => digestOf(request.body));
    const singles = slack.requests.filter((request) => !isDigest(request.body));
    // One digest per alert name: every alert is in Slack once, in a digest or (the first few) on its own.
    expect(digests.map((digest) => digest.label).sort()).toEqual([...names].sort());
    expect(digests.reduce((sum, digest) => sum + digest.count, 0) + singles.length).toBe(7_001);
    expect(slack.requests.length).toBeLessThan(20);
    // The delivery log shows each folded alert as delivered in its digest, "in digest dlv_… (N
    // events)" with the N that digest carried in Slack; a log not yet pruned holds all of them.
    const folded = log.filter((delivery) => delivery.note?.startsWith('in digest dlv_'));
    expect(folded.length).toBeGreaterThan(0);
    const counts = new Map<string, number>();
    for (const delivery of folded) counts.set(delivery.note!, (counts.get(delivery.note!) ?? 0) + 1);
    const sizes = digests.map((digest) => digest.count);
    for (const [note, count] of counts) {
      const size = Number(/\(([\d,]+) events\)$/.exec(note)![1]!.replaceAll(',', ''));
      expect(sizes).toContain(size);
      expect(count).toBeLessThanOrEqual(size);
    }
    if (log.length === 7_001) {
      expect(folded.length).toBe(7_001 - singles.length);
      for (const [note, count] of counts) expect(note).toBe(`${note.split(' (')[0]} (${count.toLocaleString('en-US')} events)`);
    }
  }, WAIT_MS + 30_000);

  it('a burst of 100 events in 2 s beyond a 10 s horizon → digests per group, each event delivered once', async () => {
    const slack = await slackReceiver();
    // Slack answers nothing until the burst is in: the lane is busy, as it would be behind real traffic.
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    slack.respond(async () => {
      await gate;
      return { status: 200, body: 'ok' };
    });
    const relay = await relayWith(slack.url('/webhook'), ', storm: { horizon: 10s, worst: 3 }');
    const groups = ['alpha', 'beta', 'gamma', 'delta'];
    const started = Date.now();
    for (let i = 0; i < 100; i++) {
      await post(relay, [{ name: groups[i % 4]!, fingerprint: `burst-${i}` }]);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + (i + 1) * 20 - Date.now())));
    }
    open();

    const { outcomes } = await finished(relay, WAIT_MS);
    expect(Object.fromEntries(outcomes)).toEqual({ succeeded: 100 });
    const digests = slack.requests.filter((request) => isDigest(request.body)).map((request) => digestOf(request.body));
    const singles = slack.requests.filter((request) => !isDigest(request.body));
    // Each group is told in digests, not event by event. Usually one digest per group; when the
    // lane claims while the burst is still arriving (a loaded machine), a group's later events
    // form a second digest — still every event once, and a handful of messages.
    expect([...new Set(digests.map((digest) => digest.label))].sort()).toEqual([...groups].sort());
    expect(digests.length).toBeLessThanOrEqual(2 * groups.length);
    expect(digests.reduce((sum, digest) => sum + digest.count, 0) + singles.length).toBe(100);
    expect(singles.length).toBeLessThan(10);
    // The worst 3, then "+K more".
    const body = slack.requests.find((request) => isDigest(request.body))!.body;
    expect(body).toMatch(/\*Worst 3\*/);
    expect(body).toMatch(/\*\+\d+ more\*/);
  }, WAIT_MS + 30_000);
});
