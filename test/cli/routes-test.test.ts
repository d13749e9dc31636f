import { describe, expect, it } from 'vitest';
import { hookrelay as runHookrelay, lines, PUBLIC_URL, scratchFolder, TAPEMETRIC_PAYLOAD, writeScratchFile } from './support.ts';

const scratch = scratchFolder();
const hookrelay = (args: string[], options?: Parameters<typeof runHookrelay>[2]) => runHookrelay(scratch, args, options);
const file = (name: string, text: string): string => writeScratchFile(scratch, name, text);

const CONFIG = file(
  'routes.yaml',
  `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s] }
  - { name: pulse, preset: statuspulse, secrets: [s] }
destinations:
  - { name: ops-slack, type: slack, url: "https://hooks.slack.com/services/T/B/X" }
  - { name: oncall, type: pagerduty, routing_key: "0123456789abcdef0123456789abcdef" }
  - { name: billing, type: http, url: "${PUBLIC_URL}" }
routes:
  - name: qos-critical
    match: { source: tapemetric, type: "qos.*", severity: ">=warning" }
    filter: { "data.affected_sessions": { $gte: 10000 } }
    to: [ ops-slack, oncall ]
    group: { by: [ type, data.region ], wait: 30s, interval: 5m }
  - name: billing
    match: { type: "billing.*" }
    to: [ billing ]
  - name: huge
    filter: { "data.affected_sessions": { $gte: 100000 } }
    to: [ oncall ]
  - name: everything
    to: [ ops-slack ]
`,
);

// Tapemetric's own example (seed 000) and StatusPulse's (seed 001), as a user would save them.
const TAPEMETRIC_EVENT = file('tapemetric.json', JSON.stringify(TAPEMETRIC_PAYLOAD));
const STATUSPULSE_EVENT = file(
  'statuspulse.json',
  JSON.stringify({
    event_id: 'evt_7f3a9c2b1d',
    monitor_name: 'checkout-service-redis',
    status: 'degraded',
    timestamp: '2024-05-14T09:23:11Z',
    metadata: { region: 'us-west-2', affected_endpoints: ['/api/v1/cart', '/api/v1/checkout'], response_time_ms: 1840, error_rate_pct: 12.4 },
  }),
);

interface Result {
  note: string | null;
  events: Array<{
    event: Record<string, unknown>;
    routes: Array<{ route: string; matches: boolean; notes: string[]; to: string[] }>;
    deliveries: Array<{ destination: string; route: string; verdict: string; decisions: Array<{ rule: string; outcome: string; detail: string }>; request: Record<string, unknown> }>;
  }>;
}

const NOISE_CONFIG = file(
  'noise.yaml',
  `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s] }
destinations:
  - { name: ops-slack, type: slack, url: "https://hooks.slack.com/services/T/B/X" }
time_intervals:
  - { name: nights, time_intervals: [ { times: [ { start_time: "00:00", end_time: "06:00" } ] } ] }
mutes:
  - { name: cdn-work, matchers: { type: "qos.*" }, reason: CDN maintenance, during: [ nights ] }
routes:
  - { name: qos, to: [ ops-slack ], threshold: { count: 5, within: 10m }, repeat_interval: 1h, muted_during: [ nights ] }
inhibit:
  - { source: { match: { severity: critical } }, target: { match: { severity: warning } }, equal: [ data.region ] }
`,
);

describe('hookrelay routes test', () => {
  it('names the noise rules that would decide: inhibit, time interval, mute, threshold (holds a single event), repeat', async () => {
    const run = await hookrelay(['routes', 'test', '--config', NOISE_CONFIG, '--source', 'tapemetric', '--event', TAPEMETRIC_EVENT, '--json']);
    expect(run.code).toBe(0);
    const [routed] = (JSON.parse(run.stdout) as Result).events;
    const [slack] = routed!.deliveries;
    expect(slack!.decisions.map(({ rule, outcome }) => ({ rule, outcome }))).toEqual([
      { rule: 'inhibit', outcome: 'unknown' },
      { rule: 'interval', outcome: 'unknown' },
      { rule: 'mute', outcome: 'unknown' },
      { rule: 'threshold', outcome: 'hold' },
      { rule: 'repeat', outcome: 'unknown' },
    ]);
    expect(slack!.decisions[1]!.detail).toBe('held while the time is in nights (muted_during): decided when it is about to be sent');
    expect(slack!.decisions[2]!.detail).toBe('muted by cdn-work (CDN maintenance) while the time is in nights, a mute in the config');
    expect(slack!.decisions[3]!.detail).toContain('5 events of its key arrive within 10m');
    expect(slack!.decisions[4]!.detail).toContain('within 1h');
    expect(slack!.verdict).toBe('hold');
  });


  it('a mute in the config without intervals holds the delivery, named with its reason', async () => {
    const config = file(
      'config-mute.yaml',
      `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s] }
destinations:
  - { name: ops-slack, type: slack, url: "https://hooks.slack.com/services/T/B/X" }
mutes:
  - { name: staging, matchers: { data.region: Maharashtra }, reason: not production }
routes:
  - { to: [ ops-slack ] }
`,
    );
    const run = await hookrelay(['routes', 'test', '--config', config, '--source', 'tapemetric', '--event', TAPEMETRIC_EVENT, '--json']);
    expect(run.code).toBe(0);
    const [slack] = (JSON.parse(run.stdout) as Result).events[0]!.deliveries;
    expect(slack!.decisions).toEqual([{ rule: 'mute', outcome: 'hold', detail: 'muted by staging (not production), a mute in the config' }]);
    expect(slack!.verdict).toBe('hold');
  });

  it('Tapemetric example: the normalized event, matching routes, why others do not, what holds each delivery and what it would send', async () => {
    const run = await hookrelay(['routes', 'test', '--config', CONFIG, '--source', 'tapemetric', '--event', TAPEMETRIC_EVENT, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as Result;
    expect(result.note).toBeNull();
    const [routed] = result.events;
    expect(routed!.event).toMatchObject({ source: 'tapemetric', type: 'qos.rebuffer_spike', severity: 'critical', status: 'firing', dedup_key: 'qos.rebuffer_spike:Maharashtra' });
    expect(routed!.routes).toEqual([
      { route: 'qos-critical', matches: true, notes: [], to: ['ops-slack', 'oncall'] },
      { route: 'billing', matches: false, notes: ['type "qos.rebuffer_spike" does not match "billing.*"'], to: ['billing'] },
      { route: 'huge', matches: false, notes: ['filter "data.affected_sessions": {"$gte":100000} does not hold (the event has 24000)'], to: ['oncall'] },
      { route: 'everything', matches: true, notes: ['"ops-slack" gets one delivery, through route "qos-critical"'], to: ['ops-slack'] },
    ]);
    expect(routed!.deliveries.map(({ destination, route, verdict }) => ({ destination, route, verdict }))).toEqual([
      { destination: 'ops-slack', route: 'qos-critical', verdict: 'hold' },
      { destination: 'oncall', route: 'qos-critical', verdict: 'hold' },
    ]);
    const slack = routed!.deliveries[0]!;
    expect(slack.decisions.map(({ rule, outcome }) => ({ rule, outcome }))).toEqual([
      { rule: 'mute', outcome: 'unknown' },
      { rule: 'group', outcome: 'hold' },
    ]);
    expect(slack.decisions[1]!.detail).toContain('type="qos.rebuffer_spike", data.region="Maharashtra"');
    expect(slack.decisions[1]!.detail).toContain('30s');
    expect(slack.request).toMatchObject({ text: expect.stringContaining('Rebuffer spike in Maharashtra') });
    expect(routed!.deliveries[1]!.request).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'qos.rebuffer_spike:Maharashtra',
      payload: { severity: 'critical' },
    });
    // The routing key is added when sending, as for the delivery log: a preview never prints it.
    expect(run.stdout).not.toContain('0123456789abcdef0123456789abcdef');
  });

  it('the same, for a person: routes with reasons, deliveries with their decisions and requests', async () => {
    const run = await hookrelay(['routes', 'test', '--config', CONFIG, '--source', 'tapemetric', '--event', TAPEMETRIC_EVENT]);
    expect(run.code).toBe(0);
    const output = lines(run.stdout);
    expect(output).toContain('Normalized event:');
    expect(output).toContain('  match     qos-critical → ops-slack, oncall');
    expect(output).toContain('  no match  billing: type "qos.rebuffer_spike" does not match "billing.*"');
    expect(output).toContain('  ops-slack (slack) via route qos-critical: held');
    expect(output).toContain('    would send (template slack/default):');
    expect(output).toContain('    would send (template pagerduty/default):');
  });

  it('StatusPulse example: a degraded monitor matches only the catch-all route, sent now', async () => {
    const run = await hookrelay(['routes', 'test', '--config', CONFIG, '--source', 'pulse', '--event', STATUSPULSE_EVENT, '--json']);
    expect(run.code).toBe(0);
    const [routed] = (JSON.parse(run.stdout) as Result).events;
    expect(routed!.event).toMatchObject({ source: 'pulse', severity: 'warning', dedup_key: expect.stringContaining('checkout-service-redis') });
    expect(routed!.routes.find((route) => route.route === 'qos-critical')!.notes).toEqual([
      'source "pulse" is not "tapemetric"',
      expect.stringMatching(/^type ".*" does not match "qos\.\*"$/),
      'filter "data.affected_sessions": {"$gte":10000} does not hold (the event has null)',
    ]);
    expect(routed!.deliveries).toEqual([expect.objectContaining({ destination: 'ops-slack', route: 'everything', verdict: 'send' })]);
  });

  it('no route matches → says the event would be logged as skipped', async () => {
    const config = file('billing-only.yaml', `sources:\n  - { name: tapemetric, preset: tapemetric, secrets: [s] }\ndestinations:\n  - { name: billing, type: http, url: "${PUBLIC_URL}" }\nroutes:\n  - { match: { type: "billing.*" }, to: [billing] }\n`);
    const run = await hookrelay(['routes', 'test', '--config', config, '--source', 'tapemetric', '--event', TAPEMETRIC_EVENT]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Deliveries: none — no route matches, so the event would be logged with a skipped delivery');
  });

  it('a preset that no source of the config uses → routed anyway, with a note that its webhooks get 404', async () => {
    const run = await hookrelay(['routes', 'test', '--config', CONFIG, '--source', 'statussentry', '--event', TAPEMETRIC_EVENT, '--json']);
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as Result).note).toMatch(/no source of the config is named "statussentry": webhooks to \/hooks\/statussentry would get 404/);
  });

  it('no --event → exit 2 with its usage', async () => {
    const run = await hookrelay(['routes', 'test', '--config', CONFIG, '--source', 'tapemetric']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--event is required');
    expect(run.stderr).toContain('Usage: hookrelay routes test');
  });

  it('a payload that is not the preset\'s shape → exit 2 naming --event', async () => {
    const event = file('not-tapemetric.json', '[1, 2]');
    const run = await hookrelay(['routes', 'test', '--config', CONFIG, '--source', 'tapemetric', '--event', event]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^--event .*not-tapemetric\.json: not a tapemetric payload/);
  });
});
