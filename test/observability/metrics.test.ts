import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.ts';
import type { QueueStat } from '../../src/observability/metrics.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

describe('queue gauges', () => {
  it('read the store at most once per cache period, however often /metrics is scraped', async () => {
    let reads = 0;
    let now = 1_000_000;
    const stats: QueueStat[] = [{ destination: 'ops', enabled: true, depth: 4, oldest_pending_at: now - 90_000 }];
    const metrics = new Metrics({
      queues: async () => {
        reads += 1;
        return stats;
      },
      queueCacheMs: 5_000,
      now: () => now,
    });
    const first = await metrics.registry.metrics();
    expect(reads).toBe(1);
    expect(first).toMatch(/^hookrelay_queue_depth_deliveries\{destination="ops"\} 4$/m);
    expect(first).toMatch(/^hookrelay_queue_oldest_age_seconds\{destination="ops"\} 90$/m);
    expect(first).toMatch(/^hookrelay_destination_enabled\{destination="ops"\} 1$/m);
    for (let i = 0; i < 10; i++) await metrics.registry.metrics();
    expect(reads).toBe(1);
    now += 5_000;
    stats[0] = { destination: 'ops', enabled: false, depth: 0, oldest_pending_at: null };
    const later = await metrics.registry.metrics();
    expect(reads).toBe(2);
    expect(later).toMatch(/^hookrelay_queue_depth_deliveries\{destination="ops"\} 0$/m);
    expect(later).toMatch(/^hookrelay_queue_oldest_age_seconds\{destination="ops"\} 0$/m);
    expect(later).toMatch(/^hookrelay_destination_enabled\{destination="ops"\} 0$/m);
  });
});

describe('a destination\'s delivery series (counted as plain numbers, handed to prom-client on scrape)', () => {
  it('every attempt and finished delivery is in the next scrape, added to what was counted directly, and counted once', async () => {
    const metrics = new Metrics();
    const series = metrics.deliverySeries('ops');
    expect(metrics.deliverySeries('ops')).toBe(series);
    series.attempted('succeeded');
    series.attempted('succeeded');
    series.attempted('retry');
    series.finished('succeeded', 3);
    metrics.deliveries.inc({ destination: 'ops', outcome: 'succeeded' });
    series.attemptSeconds(0.02);
    series.latencySeconds(1.5);
    const first = await metrics.registry.metrics();
    expect(first).toContain('hookrelay_delivery_attempts_total{destination="ops",outcome="succeeded"} 2');
    expect(first).toContain('hookrelay_delivery_attempts_total{destination="ops",outcome="retry"} 1');
    expect(first).toContain('hookrelay_deliveries_total{destination="ops",outcome="succeeded"} 4');
    expect(first).toContain('hookrelay_delivery_attempt_duration_seconds_count{destination="ops"} 1');
    expect(first).toContain('hookrelay_delivery_latency_seconds_sum{destination="ops"} 1.5');
    series.attempted('succeeded');
    const second = await metrics.registry.metrics();
    expect(second).toContain('hookrelay_delivery_attempts_total{destination="ops",outcome="succeeded"} 3');
    expect(second).toContain('hookrelay_deliveries_total{destination="ops",outcome="succeeded"} 4');
  });
});

describe('GET /metrics', () => {
  const SECRET = 'tm-metrics-secret';
  let relay: TestRelay;
  let receiver: FakeReceiver;
  let text: string;

  beforeAll(async () => {
    receiver = await FakeReceiver.start();
    relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: audit, type: http, url: "${receiver.url('/hook')}" }
routes:
  - { to: [audit] }
admin: { token: ${ADMIN_TOKEN} }
`);
    const send = async () => {
      const body = JSON.stringify(tapemetricPayload());
      return relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
    };
    expect((await send()).status).toBe(202);
    await receiver.waitFor(1);
    const mute = await relay.admin('/mutes', { method: 'POST', body: { matchers: { source: 'tapemetric' }, duration: '1h' } });
    expect(mute.status).toBe(201);
    expect((await send()).status).toBe(202);
    await relay.until(
      async () => (await fetch(`${relay.url}/metrics`)).text(),
      (metrics) => /^hookrelay_deliveries_total\{destination="audit",outcome="succeeded"\} 1$/m.test(metrics),
    );
    text = await (await fetch(`${relay.url}/metrics`)).text();
  });
  afterAll(async () => {
    await relay.close();
    await receiver.close();
  });

  const names = (): string[] => [...new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]!))];

  it('no doubled prefixes; every name is hookrelay_*; process and Node.js defaults are there', () => {
    expect(text).not.toContain('hookrelay_process_process_');
    expect(names().every((name) => name.startsWith('hookrelay_'))).toBe(true);
    expect(names()).toContain('hookrelay_process_cpu_seconds_total');
    expect(names()).toContain('hookrelay_nodejs_eventloop_lag_seconds');
  });

  it('counters end in _total, times in _seconds', () => {
    for (const match of text.matchAll(/^# TYPE (hookrelay_\S+) (counter|histogram|gauge)$/gm)) {
      const [, name, type] = match as unknown as [string, string, string];
      if (type === 'counter') expect(name).toMatch(/_total$/);
      if (name.includes('duration') || name.includes('latency') || name.includes('age')) expect(name).toMatch(/_seconds$/);
    }
  });

  it('ingest latency, commit batch size, queue depth and age, deliveries by outcome, rule decisions', () => {
    expect(text).toMatch(/^hookrelay_ingest_duration_seconds_count\{source="tapemetric"\} 2$/m);
    expect(text).toMatch(/^hookrelay_store_commit_operations_count [1-9]\d*$/m);
    expect(text).toMatch(/^hookrelay_queue_depth_deliveries\{destination="audit"\} 0$/m);
    expect(text).toMatch(/^hookrelay_queue_oldest_age_seconds\{destination="audit"\} 0$/m);
    expect(text).toMatch(/^hookrelay_deliveries_total\{destination="audit",outcome="succeeded"\} 1$/m);
    expect(text).toMatch(/^hookrelay_deliveries_total\{destination="audit",outcome="muted"\} 1$/m);
    expect(text).toMatch(/^hookrelay_rule_decisions_total\{rule="mute",decision="muted"\} 1$/m);
    expect(text).toMatch(/^hookrelay_events_received_total\{source="tapemetric",outcome="accepted"\} 2$/m);
    expect(text).toMatch(/^# TYPE hookrelay_request_log_dropped_total counter$/m);
  });
});

describe('a destination removed from the config', () => {
  it('has no series in /metrics after a restart without it, though the store still holds its waiting work', async () => {
    const SECRET = 'tm-removed-secret';
    const up = await FakeReceiver.start();
    const down = await FakeReceiver.start();
    down.respond(() => ({ status: 503 }));
    const yaml = (destinations: string) => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
${destinations}
routes:
  - { to: [audit] }
retry: { schedule: [1h], disable_after: 10 }
admin: { token: ${ADMIN_TOKEN} }
`;
    const audit = `  - { name: audit, type: http, url: "${up.url('/hook')}" }`;
    const dataDir = mkdtempSync(join(tmpdir(), 'hookrelay-removed-'));
    const first = await startRelay(yaml(`${audit}\n  - { name: legacy, type: http, url: "${down.url('/hook')}" }`).replace('to: [audit]', 'to: [audit, legacy]'), {}, { dataDir });
    let second: TestRelay | null = null;
    try {
      const body = JSON.stringify(tapemetricPayload());
      expect((await first.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET))).status).toBe(202);
      await down.waitFor(1); // legacy answered 503: its delivery waits for a retry in an hour
      const before = await (await fetch(`${first.url}/metrics`)).text();
      expect(before).toMatch(/^hookrelay_queue_depth_deliveries\{destination="legacy"\} 1$/m);
      await first.close();

      second = await startRelay(yaml(audit), {}, { dataDir });
      expect((await second.server.store.view('queue')).map((stat) => stat.destination)).toContain('legacy');
      const after = await (await fetch(`${second.url}/metrics`)).text();
      expect(after).not.toContain('destination="legacy"');
      expect(after).toMatch(/^hookrelay_queue_depth_deliveries\{destination="audit"\} 0$/m);
      expect(after).toMatch(/^hookrelay_destination_enabled\{destination="audit"\} 1$/m);
    } finally {
      await second?.close();
      await first.close();
      await up.close();
      await down.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
