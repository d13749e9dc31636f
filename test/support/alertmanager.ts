import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './child-relay.ts';
import { WAIT_MS } from './wait.ts';

/**
 * A real Prometheus Alertmanager (Debian package `prometheus-alertmanager`) as a child
 * process, its single receiver a `webhook_configs` entry pointing at a hookrelay source
 * with the `alertmanager` preset. Alerts go in through Alertmanager's own API v2, so the
 * requests hookrelay sees are exactly what Alertmanager sends: its grouping, its re-sends
 * of a whole group when an alert joins it, its resolved notifications.
 *
 * Loopback only: the web API listens on 127.0.0.1, clustering is off
 * (`--cluster.listen-address=` empty: no gossip port), the webhook URL is the caller's.
 */

/** Where `ALERTMANAGER_BIN` is unset, the Debian package's binary; CI installs it. */
export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

/** True when the binary is there; tests use it with `describe.skipIf`. */
export const alertmanagerAvailable = existsSync(ALERTMANAGER_BIN);
export const ALERTMANAGER_MISSING = `Alertmanager not found at ${ALERTMANAGER_BIN} (apt-get install prometheus-alertmanager, or set ALERTMANAGER_BIN): skipping the real-Alertmanager tests`;

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
const OUTPUT_TAIL = 8_000;

/** One `inhibit_rules` entry of alertmanager.yml (Alertmanager's own inhibition, not hookrelay's). */
export interface AlertmanagerInhibitRule {
  readonly source_matchers: readonly string[];
  readonly target_matchers: readonly string[];
  readonly equal?: readonly string[];
}

export interface AlertmanagerOptions {
  /** hookrelay's `/hooks/<source>` URL for the `alertmanager` preset. */
  readonly webhookUrl: string;
  /** Sent as `Authorization: Bearer <token>` (`http_config.authorization`), as the preset expects. */
  readonly token: string;
  /** Route `group_by` (default: alertname). */
  readonly groupBy?: readonly string[];
  /** Durations in Alertmanager's syntax; short defaults so a test sees several flushes in seconds. */
  readonly groupWait?: string;
  readonly groupInterval?: string;
  readonly repeatInterval?: string;
  readonly inhibitRules?: readonly AlertmanagerInhibitRule[];
}

/** An alert as Alertmanager's API v2 takes it (`postableAlert`). */
export interface PostableAlert {
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** RFC 3339; Alertmanager uses the time it receives the alert when absent. */
  readonly startsAt?: string;
  /** RFC 3339; in the past resolves the alert. Absent: firing until `resolve_timeout`. */
  readonly endsAt?: string;
  readonly generatorURL?: string;
}

export interface RunningAlertmanager {
  readonly url: string;
  /** The generated alertmanager.yml, for error messages. */
  readonly config: string;
  /** POST /api/v2/alerts; throws with Alertmanager's answer unless it is 200. */
  post(alerts: readonly PostableAlert[]): Promise<void>;
  /** Fires an alert now (startsAt defaults to now); returns what was posted, with startsAt set. */
  fire(alert: PostableAlert): Promise<PostableAlert>;
  /** Resolves a posted alert: the same labels and startsAt, endsAt now. */
  resolve(alert: PostableAlert): Promise<void>;
  /** Webhook notifications Alertmanager has sent, and how many of them failed (its own metrics). */
  notifications(): Promise<{ sent: number; failed: number }>;
  /** Resolves once Alertmanager has sent at least `count` webhook notifications (bounded wait). */
  waitForNotifications(count: number, timeoutMs?: number): Promise<{ sent: number; failed: number }>;
  output(): string;
  stop(): Promise<void>;
}

/** alertmanager.yml: JSON is YAML, and JSON.stringify quotes every string safely. */
export function alertmanagerConfig(options: AlertmanagerOptions): string {
  const config = {
    route: {
      receiver: 'hookrelay',
      group_by: options.groupBy ?? ['alertname'],
      group_wait: options.groupWait ?? '1s',
      group_interval: options.groupInterval ?? '2s',
      repeat_interval: options.repeatInterval ?? '1h',
    },
    receivers: [
      {
        name: 'hookrelay',
        webhook_configs: [
          {
            url: options.webhookUrl,
            send_resolved: true,
            http_config: { authorization: { type: 'Bearer', credentials: options.token } },
          },
        ],
      },
    ],
    inhibit_rules: options.inhibitRules ?? [],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Sum of every sample of a metric whose labels contain `labels`. */
function metricSum(text: string, name: string, labels: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(labels)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

export async function startAlertmanager(options: AlertmanagerOptions): Promise<RunningAlertmanager> {
  if (!alertmanagerAvailable) throw new Error(ALERTMANAGER_MISSING);
  const host = new URL(options.webhookUrl).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '[::1]') {
    throw new Error(`the test Alertmanager may only notify loopback, not ${options.webhookUrl}`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'hookrelay-am-'));
  const configFile = join(dir, 'alertmanager.yml');
  const config = alertmanagerConfig(options);
  writeFileSync(configFile, config);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    ALERTMANAGER_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const running = (): boolean => child.exitCode === null && child.signalCode === null;

  const stop = async (): Promise<void> => {
    if (running()) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  // Ready when /-/ready answers 200 (config loaded, API up).
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (!running()) {
      await stop();
      throw new Error(`Alertmanager exited before it was ready:\n${output}\nconfig:\n${config}`);
    }
    try {
      const response = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`Alertmanager was not ready within ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }

  const post = async (alerts: readonly PostableAlert[]): Promise<void> => {
    const response = await fetch(`${url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(alerts),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`Alertmanager answered POST /api/v2/alerts with ${response.status}: ${text}`);
  };

  const notifications = async (): Promise<{ sent: number; failed: number }> => {
    const response = await fetch(`${url}/metrics`);
    const text = await response.text();
    return {
      sent: metricSum(text, 'alertmanager_notifications_total', 'integration="webhook"'),
      failed: metricSum(text, 'alertmanager_notifications_failed_total', 'integration="webhook"'),
    };
  };

  return {
    url,
    config,
    post,
    async fire(alert) {
      const posted = { ...alert, startsAt: alert.startsAt ?? new Date().toISOString() };
      await post([posted]);
      return posted;
    },
    async resolve(alert) {
      // Alertmanager treats an alert whose endsAt has passed as resolved; the same labels
      // (its fingerprint) and startsAt make it the same alert, not a new one. endsAt must
      // not be before startsAt (Alertmanager answers 400), hence "now", not "a second ago".
      const startsAt = alert.startsAt === undefined ? 0 : Date.parse(alert.startsAt);
      await post([{ ...alert, endsAt: new Date(Math.max(Date.now(), startsAt + 1)).toISOString() }]);
    },
    notifications,
    async waitForNotifications(count, timeoutMs = WAIT_MS) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const counts = await notifications();
        if (counts.sent >= count) return counts;
        if (Date.now() > until) {
          throw new Error(`Alertmanager sent ${counts.sent} webhook notifications (${counts.failed} failed) within ${timeoutMs} ms, expected ${count}:\n${output}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    output: () => output,
    stop,
  };
}
