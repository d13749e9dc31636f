/**
 * A real Prometheus Alertmanager posting to the real hookrelay server, which relays to a
 * loopback Slack Incoming Webhook (issue 7, "Tests and figures"). Alertmanager's own
 * behaviour is the point: it re-sends a whole group when an alert joins it, and it sends a
 * resolved alert in a later notification of its group.
 *
 * Every wait is on an event with a bound: Slack requests arriving, Alertmanager's own count
 * of webhook notifications sent, hookrelay's pending deliveries reaching zero.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ALERTMANAGER_MISSING, alertmanagerAvailable, startAlertmanager } from '../support/alertmanager.ts';
import type { AlertmanagerOptions, PostableAlert, RunningAlertmanager } from '../support/alertmanager.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { WAIT_MS } from '../support/wait.ts';

const TOKEN = 'am-bearer-token-5b8e2f41c7d9';
const SLACK_PATH = '/services/T000/B000/XXXX';
/** Alertmanager flushes a group at most every 2 s here: a few flushes fit in one test. */
const TEST_TIMEOUT_MS = 40_000;

if (!alertmanagerAvailable) console.warn(ALERTMANAGER_MISSING);

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Setup {
  readonly slack: FakeReceiver;
  readonly relay: TestRelay;
  readonly alertmanager: RunningAlertmanager;
}

/** Slack stand-in, then hookrelay (source `prometheus`, one route to Slack), then Alertmanager pointing at it. */
async function setup(extraYaml = '', options: Partial<AlertmanagerOptions> = {}): Promise<Setup> {
  const slack = await FakeReceiver.start();
  cleanups.push(() => slack.close());
  const relay = await startRelay(`
sources:
  - { name: prometheus, preset: alertmanager, token: "${TOKEN}" }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url(SLACK_PATH)}" }
routes:
  - { to: [ops-slack] }
admin: { token: ${ADMIN_TOKEN} }
${extraYaml}`);
  cleanups.push(() => relay.close());
  const alertmanager = await startAlertmanager({ webhookUrl: `${relay.url}/hooks/prometheus`, token: TOKEN, ...options });
  cleanups.push(() => alertmanager.stop());
  return { slack, relay, alertmanager };
}

/** The `text` of every Slack message, in arrival order (the default template's fallback line). */
function texts(slack: FakeReceiver): string[] {
  return slack.received(SLACK_PATH).map((request) => request.json<{ text: string }>().text);
}

const isResolved = (text: string): boolean => text.includes('Resolved:');
const about = (title: string) => (text: string): boolean => text.includes(title);

async function pendingDeliveries(relay: TestRelay): Promise<number> {
  const text = await (await fetch(`${relay.url}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('hookrelay_deliveries_pending{'))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/**
 * Alertmanager has sent `notifications` webhooks, hookrelay accepted all of them, and has
 * nothing left waiting or in flight: whatever it decided about those alerts is decided.
 */
async function settled({ relay, alertmanager }: Setup, notifications: number): Promise<void> {
  const counts = await alertmanager.waitForNotifications(notifications);
  expect(counts.failed, `Alertmanager's webhook failed (hookrelay refused it?):\n${alertmanager.output()}`).toBe(0);
  await relay.until(() => pendingDeliveries(relay), (pending) => pending === 0);
}

function alert(name: string, labels: Record<string, string>, summary: string): PostableAlert {
  return { labels: { alertname: name, ...labels }, annotations: { summary, description: `${summary} (test)` } };
}

describe.skipIf(!alertmanagerAvailable)('a real Prometheus Alertmanager posting to hookrelay', () => {
  it(
    'firing then resolved: Slack gets the alert, then its resolution, in that order',
    async () => {
      const env = await setup();
      const { slack, alertmanager } = env;
      const disk = await alertmanager.fire(alert('DiskFull', { instance: 'db-1', severity: 'warning' }, 'Disk full on db-1'));
      const [firing] = await slack.waitFor(1, { path: SLACK_PATH, timeoutMs: WAIT_MS });
      expect(firing!.json<{ text: string }>().text).toContain('Disk full on db-1');

      await alertmanager.resolve(disk);
      await slack.waitFor(2, { path: SLACK_PATH, timeoutMs: WAIT_MS });
      await settled(env, 2);
      const sent = texts(slack);
      expect(sent).toHaveLength(2);
      expect(sent.every(about('Disk full on db-1'))).toBe(true);
      expect(isResolved(sent[0]!)).toBe(false);
      expect(isResolved(sent[1]!)).toBe(true);
      // The same incident: the dedup key (Alertmanager's fingerprint) is in both messages.
      const dedupKey = (request: { json<T>(): T }): string | undefined =>
        /\*Dedup key\*\\n`([^`]+)`/.exec(JSON.stringify(request.json()))?.[1];
      const [first, second] = slack.received(SLACK_PATH);
      expect(dedupKey(first!)).toBeDefined();
      expect(dedupKey(second!)).toBe(dedupKey(first!));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "two alerts joining one group a second apart reach Slack once each (Alertmanager re-sends the whole group when the second joins)",
    async () => {
      const env = await setup();
      const { slack, alertmanager } = env;
      await alertmanager.fire(alert('DiskFull', { instance: 'db-1', severity: 'warning' }, 'Disk full on db-1'));
      // The group's first notification (after group_wait) carries db-1 alone.
      await slack.waitFor(1, { path: SLACK_PATH, timeoutMs: WAIT_MS });
      await alertmanager.waitForNotifications(1);
      await alertmanager.fire(alert('DiskFull', { instance: 'db-2', severity: 'warning' }, 'Disk full on db-2'));
      // The next flush (group_interval) carries the whole group again: db-1 unchanged, db-2 new.
      await settled(env, 2);
      await slack.waitFor(2, { path: SLACK_PATH, timeoutMs: WAIT_MS });
      const sent = texts(slack);
      expect(sent.filter(about('Disk full on db-1')), `Slack got: ${JSON.stringify(sent)}`).toHaveLength(1);
      expect(sent.filter(about('Disk full on db-2')), `Slack got: ${JSON.stringify(sent)}`).toHaveLength(1);
      expect(sent).toHaveLength(2);
    },
    TEST_TIMEOUT_MS,
  );

  it(
    "hookrelay's inhibit rule holds a warning while a critical of the same region fires, and sends it once the critical resolves",
    async () => {
      // `data` of an Alertmanager event is the alert as sent (src/sources/alertmanager.ts): its labels are data.labels.*.
      const env = await setup(`
inhibit:
  - source: { match: { severity: critical } }
    target: { match: { severity: warning } }
    equal: [data.labels.region]
`);
      const { slack, alertmanager } = env;
      const down = await alertmanager.fire(alert('RegionDown', { region: 'eu-west', severity: 'critical' }, 'Region eu-west down'));
      await slack.waitFor(1, { path: SLACK_PATH, timeoutMs: WAIT_MS });
      await alertmanager.waitForNotifications(1);

      // One group (alertname HighLatency), one notification: eu-west is inhibited, us-east is not.
      await alertmanager.post([
        alert('HighLatency', { region: 'eu-west', severity: 'warning' }, 'High latency in eu-west'),
        alert('HighLatency', { region: 'us-east', severity: 'warning' }, 'High latency in us-east'),
      ]);
      await slack.waitFor(2, { path: SLACK_PATH, timeoutMs: WAIT_MS });
      await settled(env, 2);
      const whileCritical = texts(slack);
      expect(whileCritical.filter(about('High latency in us-east')), `Slack got: ${JSON.stringify(whileCritical)}`).toHaveLength(1);
      expect(whileCritical.filter(about('High latency in eu-west')), `Slack got: ${JSON.stringify(whileCritical)}`).toHaveLength(0);

      // The critical resolves while the warning still fires: the held warning goes out now,
      // without Alertmanager sending it again (its group is unchanged until repeat_interval, 1h).
      const resolvedAt = Date.now();
      await alertmanager.resolve(down);
      await slack.waitFor(4, { path: SLACK_PATH, timeoutMs: WAIT_MS });
      await settled(env, 3);
      const sent = texts(slack);
      expect(sent, `Slack got: ${JSON.stringify(sent)}`).toHaveLength(4);
      expect(sent.filter((text) => about('Region eu-west down')(text) && isResolved(text))).toHaveLength(1);
      const released = slack.received(SLACK_PATH).filter((request) => request.json<{ text: string }>().text.includes('High latency in eu-west'));
      expect(released).toHaveLength(1);
      expect(isResolved(released[0]!.json<{ text: string }>().text)).toBe(false);
      expect(released[0]!.at).toBeGreaterThanOrEqual(resolvedAt);
    },
    TEST_TIMEOUT_MS,
  );
});
