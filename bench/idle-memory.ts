/**
 * Phase 8: resident memory of an idle relay, after its first events. hookrelay with a typical
 * config (three senders, Slack, PagerDuty and HTTP destinations, the Slack app, admin pages)
 * takes three signed events, delivers each to its three destinations, then idles; beside it,
 * with the same start-up flags (V8 heap sizes, glibc arenas and trim threshold, as bin/hookrelay.js sets them),
 * the durable floor (bench/floor-idle-relay.mjs: express, pino, undici and node:sqlite in a
 * writer thread) does the same, and a bare Node.js HTTP server shows what the runtime alone holds.
 * RSS is read from /proc after the idle wait: anonymous memory (heaps, malloc) and file-backed
 * pages (mostly the node binary's own code) apart, since only the first is the program's doing.
 */
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { FLOOR_IDLE_RELAY, freePort, spawnServer } from './children.ts';
import type { Child } from './children.ts';
import { eventBody, nextEventId } from './events.ts';
import type { Receiver } from './receiver.ts';
import { SIGNATURE_HEADER, tapemetricSignature } from './sign.ts';

/** bin/hookrelay.js's restartSizedForARelay, for the floor and the bare runtime. */
const RELAY_FLAGS = ['--max-semi-space-size=4', '--max-old-space-size=1024'];
const RELAY_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' };
const EVENTS = 3;

export interface Resident {
  readonly rssMb: number;
  readonly anonMb: number;
  readonly fileMb: number;
}

export interface IdleMemoryResult {
  readonly idleSeconds: number;
  readonly hookrelay: Resident;
  readonly floor: Resident;
  readonly bareNode: Resident;
}

export interface IdleMemoryOptions {
  readonly root: string;
  readonly tmpDir: string;
  readonly secret: string;
  readonly receiver: Receiver;
  readonly idleSeconds: number;
}

function resident(pid: number): Resident {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  const mb = (value: number): number => Math.round((value / 1024) * 10) / 10;
  return { rssMb: mb(kb('VmRSS')), anonMb: mb(kb('RssAnon')), fileMb: mb(kb('RssFile')) };
}

async function sendEvents(server: Child, secret: string): Promise<void> {
  for (let i = 0; i < EVENTS; i++) {
    const body = eventBody(nextEventId('memory'));
    const response = await fetch(`${server.url}/hooks/tapemetric`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: tapemetricSignature(body, secret) },
      body,
    });
    await response.arrayBuffer();
    if (response.status !== 202) throw new Error(`${server.name} answered ${response.status} to a signed event:\n${server.output()}`);
  }
}

/** Starts it, sends the events, waits for `deliveries` more at the receiver, idles, reads RSS, stops it. */
async function measure(start: () => Promise<Child>, options: IdleMemoryOptions, deliveries: number): Promise<Resident> {
  const server = await start();
  try {
    const expected = options.receiver.received + deliveries;
    if (deliveries > 0) await sendEvents(server, options.secret);
    await options.receiver.whenReceived(expected, 60_000);
    await new Promise((resume) => setTimeout(resume, options.idleSeconds * 1_000));
    return resident(server.process.pid!);
  } finally {
    await server.stop();
  }
}

function typicalConfig(options: IdleMemoryOptions, dir: string): string {
  const at = (path: string): string => options.receiver.url(path);
  const config = join(dir, 'hookrelay.yaml');
  writeFileSync(
    config,
    `store: "sqlite:${join(dir, 'hookrelay.db')}"
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${options.secret}"] }
  - { name: prometheus, preset: alertmanager, token: "bench-alertmanager-token-0123456789" }
  - { name: grafana, preset: grafana, secrets: ["bench-grafana-secret-0123456789"] }
destinations:
  - { name: ops-slack, type: slack, url: "${at('/services/T000/B000/XXXX')}" }
  - { name: oncall, type: pagerduty, routing_key: "R0123456789abcdef0123456789abcdef", url: "${at('/v2/enqueue')}" }
  - { name: audit, type: http, url: "${at('/audit')}" }
routes:
  - { to: [ops-slack, oncall, audit] }
slack_app:
  signing_secret: "bench-slack-signing-secret-0123456789"
  allow: { users: [U024BE7LH] }
admin:
  token: "bench-admin-token-0123456789abcdef"
`,
  );
  return config;
}

export async function runIdleMemory(options: IdleMemoryOptions): Promise<IdleMemoryResult> {
  const dir = join(options.tmpDir, 'idle-memory');
  mkdirSync(dir, { recursive: true });
  const config = typicalConfig(options, dir);
  const startHookrelay = async (): Promise<Child> => {
    const port = await freePort();
    return spawnServer({
      name: 'hookrelay (typical config)',
      args: [join(options.root, 'bin', 'hookrelay.js'), 'serve', '--config', config],
      port,
      // info: the default, as a relay runs.
      env: { PORT: String(port), HOOKRELAY_ALLOW_PRIVATE: '1', LOG_LEVEL: 'info' },
    });
  };
  // The first start after a change strips the changed modules' types (amaro, ~17 MB that stays)
  // and fills Node's compile cache; every later start reads the cache. Measure a later one.
  await (await startHookrelay()).stop();
  const hookrelay = await measure(startHookrelay, options, EVENTS * 3);
  const floor = await measure(async () => {
    const port = await freePort();
    return spawnServer({
      name: 'floor (express, pino, undici, SQLite writer thread)',
      args: [FLOOR_IDLE_RELAY, String(port), options.secret, join(dir, 'floor.db'), options.receiver.url('/floor')],
      port,
      execArgv: RELAY_FLAGS,
      env: RELAY_ENV,
    });
  }, options, EVENTS);
  const bareNode = await measure(async () => {
    const port = await freePort();
    return spawnServer({
      name: 'bare Node.js (node:http)',
      args: ['-e', `require('node:http').createServer((q, s) => s.end('ready')).listen(${port}, '127.0.0.1')`],
      port,
      execArgv: RELAY_FLAGS,
      env: RELAY_ENV,
    });
  }, options, 0);
  return { idleSeconds: options.idleSeconds, hookrelay, floor, bareNode };
}
