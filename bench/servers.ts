/**
 * The two servers under test, each in its own child process: `hookrelay serve` with a
 * fresh SQLite store, and the bare express baseline.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BASELINE_SERVER, FLOOR_INGEST_SERVER, freePort, spawnServer } from './children.ts';
import type { Child } from './children.ts';
import { eventBody, nextEventId } from './events.ts';
import { SIGNATURE_HEADER, tapemetricSignature } from './sign.ts';

/** This checkout; `--hookrelay <dir>` points the bench at another one (e.g. a clean `git archive` of a commit). */
export const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface HookrelayOptions {
  /** The hookrelay checkout to run (its bin/hookrelay.js and src/). */
  readonly root: string;
  /** A folder of its own: the config file and the SQLite store go there. */
  readonly dir: string;
  readonly secret: string;
  /** Where the `http` destination delivers (the bench's loopback receiver). */
  readonly destinationUrl: string;
  /** Requests in flight at once towards the receiver. */
  readonly concurrency: number;
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly execArgv?: readonly string[];
  /** Extra environment (the drain phase's allocation probe). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * false: no route, so every event is verified, normalized and committed (with a `skipped`
   * delivery row) and nothing is sent: the ingest path alone, comparable to the baseline.
   */
  readonly deliver?: boolean;
  /**
   * The drain phase: consecutive failures that disable the destination (1: the first one,
   * so a backlog can pile up behind a disabled destination), with short retry steps so a
   * delivery that failed is due again by the time the destination is enabled.
   */
  readonly disableAfter?: number;
  /**
   * The destination's per-attempt timeout (`timeout`; hookrelay's default 5s when absent): under
   * valgrind a relay runs 50–150x slower, and attempts timed out by its own clock would fail and
   * disable the destination (bench/drain-callgrind.ts).
   */
  readonly destinationTimeout?: string;
  /** Enables the admin API (`POST /api/v1/destinations/:name/enable`) with this token. */
  readonly adminToken?: string;
  /** The store URL (default: a fresh SQLite file in `dir`); `postgres://…` for replicas on one database. */
  readonly store?: string;
}

/**
 * One tapemetric source routed to one `http` destination with the default `http/envelope`
 * template and no rate limit (http destinations have none unless configured). The retry
 * schedule is short so that a failed delivery would still show up within the run as late,
 * not as missing.
 */
export async function startHookrelay(options: HookrelayOptions): Promise<Child> {
  const config = writeHookrelayConfig(options);
  const port = await freePort();
  return spawnServer({
    name: 'hookrelay',
    args: [join(options.root, 'bin', 'hookrelay.js'), 'serve', '--config', config],
    port,
    execArgv: options.execArgv,
    env: { ...options.env, ...hookrelayEnv(port) },
  });
}

/**
 * Loopback is a private address: the egress guard would refuse it otherwise. warn: at info
 * every delivery attempt is logged, which would measure pino, not the relay.
 */
export function hookrelayEnv(port: number): Record<string, string> {
  return { PORT: String(port), HOOKRELAY_ALLOW_PRIVATE: '1', LOG_LEVEL: 'warn' };
}

/** The config file `startHookrelay` runs with, written into `options.dir`; its path. */
export function writeHookrelayConfig(options: Omit<HookrelayOptions, 'root' | 'execArgv' | 'env'>): string {
  mkdirSync(options.dir, { recursive: true });
  const config = join(options.dir, 'hookrelay.yaml');
  writeFileSync(
    config,
    `store: "${options.store ?? `sqlite:${join(options.dir, 'hookrelay.db')}`}"
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${options.secret}"] }
destinations:
  - { name: loopback, type: http, url: "${options.destinationUrl}", concurrency: ${options.concurrency}${
    options.destinationTimeout === undefined ? '' : `, timeout: ${options.destinationTimeout}`
  }${
    // The drain starts when the bench enables the destination, never earlier with a probe.
    options.disableAfter === undefined ? '' : ', auto_enable: false'
  } }
routes:${options.deliver === false ? ' []' : `
  - { to: [loopback] }`}
${
      options.disableAfter === undefined
        ? 'retry: { schedule: [1s, 2s, 5s], disable_after: 1000 }'
        : `retry: { schedule: [100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms], disable_after: ${options.disableAfter} }`
    }${options.adminToken === undefined ? '' : `\nadmin: { token: "${options.adminToken}" }`}
# The load comes from one address (127.0.0.1), as it would through a proxy: --connections above 64 must not be refused.
http: { max_connections_per_address: 1024 }
`,
  );
  return config;
}

export async function startBaseline(secret: string): Promise<Child> {
  const port = await freePort();
  return spawnServer({ name: 'baseline (express)', args: [BASELINE_SERVER, String(port), secret], port });
}

/**
 * The ingest floor (floor-ingest-server.ts): the baseline plus a synced SQLite insert per request,
 * its file in `dir`; with `destinationUrl`, also the latency floor: each committed event POSTed there.
 */
export async function startFloorIngest(secret: string, dir: string, destinationUrl?: string): Promise<Child> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const args = [FLOOR_INGEST_SERVER, String(port), secret, join(dir, 'floor.db'), ...(destinationUrl === undefined ? [] : [destinationUrl])];
  return spawnServer({ name: destinationUrl === undefined ? 'floor (express + SQLite)' : 'floor relay (express + SQLite + undici)', args, port });
}

/**
 * One signed event before any load: a server that refuses it (a broken build answering
 * 500, a signature mismatch) fails the bench at once with its answer, instead of
 * producing a table of fast errors.
 */
export async function checkIngest(server: Child, secret: string): Promise<void> {
  const body = eventBody(nextEventId('check'));
  const response = await fetch(`${server.url}/hooks/tapemetric`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: tapemetricSignature(body, secret) },
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 202) {
    throw new Error(`${server.name} answered a valid signed event with ${response.status} (expected 202): ${text.slice(0, 500)}\n${server.output()}`);
  }
}
