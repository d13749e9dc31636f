/**
 * Phase 5: how fast hookrelay drains a backlog. `backlog` pending deliveries for one `http`
 * destination (`concurrency` N) pointed at the loopback receiver are delivered from the
 * store, and the deliveries/s are compared with a bare undici client (its own process, an
 * Agent of N connections) posting the same bodies to the same receiver in the same run.
 *
 * The backlog piles up the way it does in production, behind a destination that is down:
 * the receiver answers 503, the first delivery fails and disables the destination
 * (`disable_after: 1`), the rest are ingested through `POST /hooks/tapemetric` and wait. The
 * receiver comes back, and the clock runs from `POST /api/v1/destinations/loopback/enable` to
 * the receiver answering the backlog's last delivery.
 *
 * Each round is one fresh hookrelay process that does this twice: its first drain runs cold
 * (just started, nothing compiled yet), its second warm, as a hookrelay that had been
 * delivering before its destination went down. The bare client likewise posts the bodies twice
 * in one process. The target compares warm with warm; cold with cold is reported beside it.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import type { Child } from './children.ts';
import { summarizeProfiles } from './cpu-profile.ts';
import { cpuSpentUs, threadTimes, totalUs } from './cpu-time.ts';
import type { ThreadTimes } from './cpu-time.ts';
import type { ProfileWindow, ThreadProfile } from './cpu-profile.ts';
import { eventBody, nextEventId } from './events.ts';
import type { Receiver } from './receiver.ts';
import { checkIngest, startHookrelay } from './servers.ts';
import { SIGNATURE_HEADER, tapemetricSignature } from './sign.ts';

const DRAIN_CLIENT = fileURLToPath(new URL('./drain-client.ts', import.meta.url));
const FLOOR_RELAY = fileURLToPath(new URL('./floor-relay.ts', import.meta.url));
const ALLOC_PROBE = fileURLToPath(new URL('./alloc-probe.ts', import.meta.url));
const SIGNAL_TIMEOUT_MS = 5_000;

/**
 * Bytes hookrelay's main thread has allocated so far: alloc-probe.ts, loaded into it, writes the
 * figure to `file` when signalled.
 */
async function allocatedSoFar(relay: Child, file: string, reading: number): Promise<number> {
  relay.process.kill('SIGUSR2');
  const deadline = Date.now() + SIGNAL_TIMEOUT_MS;
  for (;;) {
    const [count, bytes] = (existsSync(file) ? readFileSync(file, 'utf8') : '').trim().split(' ').map(Number);
    if (count === reading && bytes !== undefined && Number.isFinite(bytes)) return bytes;
    if (Date.now() > deadline) throw new Error(`hookrelay's allocation probe did not answer within ${SIGNAL_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
export const ADMIN_TOKEN = 'bench-admin-token-3e9a1c5b7d';
const DESTINATION = 'loopback';
/** Requests in flight while the backlog is ingested (how fast it piles up does not matter). */
const INGEST_CONNECTIONS = 16;

export interface DrainOptions {
  readonly root: string;
  readonly tmpDir: string;
  readonly secret: string;
  readonly receiver: Receiver;
  /** Pending deliveries to drain (the issue: 3,000). */
  readonly backlog: number;
  /** The destination's `concurrency` and the bare client's connections (the issue: 32). */
  readonly concurrency: number;
  /**
   * How many incidents (dedup keys) the backlog spreads over, round robin. Events of one
   * incident go one at a time, in order, so with fewer incidents than `concurrency` the drain
   * cannot use all its connections; the bare client knows no incidents.
   */
  readonly incidents: number;
  /** Alternating rounds: H B, B H, … */
  readonly rounds: number;
  /** Upper bound on one drain, so a stuck dispatcher ends the bench with a message, not a hang. */
  readonly timeoutMs: number;
  /** When set, one more hookrelay drain runs with `--cpu-prof` and its profiles go here. */
  readonly profileDir: string | null;
}

export interface DrainRound {
  /** Deliveries made (hookrelay: the backlog; baseline: 2xx answers). */
  readonly delivered: number;
  readonly ms: number;
  readonly perSec: number;
  /** CPU µs per delivery meanwhile (Linux only): the sending process, by thread name, and the receiver. */
  readonly cpu?: DrainCpu;
  /** KB the sender's main thread allocated per delivery meanwhile (V8 heap statistics; test/support/allocation.ts). */
  readonly allocatedKb?: number;
}

export interface DrainCpu {
  readonly senderUs: number;
  readonly senderThreadsUs: Readonly<Record<string, number>>;
  readonly receiverUs: number;
}

/** Per delivery: CPU µs the sender's threads (by name) and the receiver spent during a drain. */
export function drainCpu(senderUs: Readonly<Record<string, number>>, receiverUs: Readonly<Record<string, number>>, delivered: number): DrainCpu {
  const threads = Object.fromEntries(Object.entries(senderUs).map(([name, us]) => [name, us / delivered]));
  return { senderUs: totalUs(threads), senderThreadsUs: threads, receiverUs: totalUs(receiverUs) / delivered };
}

/** One process's two drains: the first right after start, the second warm. */
export interface DrainPair {
  readonly cold: DrainRound;
  readonly warm: DrainRound;
}

export interface DrainResult {
  readonly backlog: number;
  readonly concurrency: number;
  readonly incidents: number;
  readonly hookrelay: DrainPair[];
  readonly baseline: DrainPair[];
  /** The durable floor (floor-relay.ts): claim from SQLite, render, POST, commit a record per attempt. */
  readonly floor: DrainPair[];
  /** The profiled warm drain (slower than the measured ones) and where its CPU went. */
  readonly profile: { readonly round: DrainRound; readonly threads: ThreadProfile[] } | null;
}

const log = (line: string): void => console.log(line);

export function describeDrain(round: DrainRound): string {
  const cpu = round.cpu ? `  ${round.cpu.senderUs.toFixed(0)} µs CPU` : '';
  const allocated = round.allocatedKb === undefined ? '' : `  ${round.allocatedKb.toFixed(1)} KB allocated`;
  return `${round.perSec.toFixed(0).padStart(6)} deliveries/s  (${round.delivered} in ${round.ms.toFixed(0)} ms)${cpu}${allocated}`;
}

/** Posts `count` new signed events, each answered 202 (anything else fails the phase). */
export async function ingest(url: string, count: number, secret: string, incidents: number): Promise<void> {
  const dispatcher = new Agent({ connections: INGEST_CONNECTIONS });
  let sent = 0;
  const worker = async (): Promise<void> => {
    while (sent < count) {
      sent += 1;
      const body = eventBody(nextEventId('drain'), `drain-region-${sent % incidents}`);
      const response = await request(`${url}/hooks/tapemetric`, {
        method: 'POST',
        dispatcher,
        headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: tapemetricSignature(body, secret) },
        body,
      });
      const text = await response.body.text();
      if (response.statusCode !== 202) throw new Error(`hookrelay answered a backlog event with ${response.statusCode}: ${text.slice(0, 300)}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: INGEST_CONNECTIONS }, () => worker()));
  } finally {
    await dispatcher.close();
  }
}

async function destinationEnabled(url: string): Promise<boolean> {
  const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`hookrelay_destination_enabled{destination="${DESTINATION}"}`));
  return line === undefined || !line.endsWith(' 0');
}

export async function waitUntilDisabled(relay: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await destinationEnabled(relay.url)) {
    if (Date.now() > deadline) throw new Error(`the destination was not disabled within ${timeoutMs} ms after a 503:\n${relay.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function enable(relay: Child): Promise<void> {
  const response = await fetch(`${relay.url}/api/v1/destinations/${DESTINATION}/enable`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST /api/v1/destinations/${DESTINATION}/enable answered ${response.status}: ${text.slice(0, 300)}`);
}

/**
 * One hookrelay process draining the backlog twice, cold then warm; with `capture`, also the
 * bodies of the warm drain.
 */
async function drainHookrelay(
  options: DrainOptions,
  name: string,
  extra: { capture: boolean; execArgv?: readonly string[] },
): Promise<DrainPair & { bodies: string[]; window: ProfileWindow }> {
  const { receiver } = options;
  const dir = join(options.tmpDir, name);
  const allocFile = join(options.tmpDir, `${name}-allocated.txt`);
  let readings = 0;
  const relay = await startHookrelay({
    root: options.root,
    dir,
    secret: options.secret,
    destinationUrl: receiver.url(),
    concurrency: options.concurrency,
    disableAfter: 1,
    adminToken: ADMIN_TOKEN,
    execArgv: ['--import', ALLOC_PROBE, ...(extra.execArgv ?? [])],
    env: { BENCH_ALLOC_FILE: allocFile },
  });
  try {
    const drainOnce = async (capture: boolean): Promise<DrainRound & { bodies: string[]; window: ProfileWindow }> => {
      // Pile up: the destination is down, its first delivery fails and disables it, the rest wait.
      receiver.failWith(503);
      try {
        await checkIngest(relay, options.secret);
        await waitUntilDisabled(relay, 10_000);
        await ingest(relay.url, options.backlog - 1, options.secret, options.incidents);
      } finally {
        receiver.failWith(null);
      }
      if (capture) receiver.capture();
      const pending = options.backlog;
      const target = receiver.received + pending;
      const pid = relay.process.pid ?? 0;
      const relayBefore = threadTimes(pid);
      const receiverBefore = threadTimes(process.pid);
      const allocatedBefore = await allocatedSoFar(relay, allocFile, ++readings);
      const startedUs = Number(process.hrtime.bigint() / 1_000n);
      const started = performance.now();
      await enable(relay);
      const finished = await receiver.whenReceived(target, options.timeoutMs);
      const relayAfter = threadTimes(pid);
      const receiverAfter = threadTimes(process.pid);
      const allocatedBytes = (await allocatedSoFar(relay, allocFile, ++readings)) - allocatedBefore;
      const ms = finished - started;
      const cpu =
        relayBefore && relayAfter && receiverBefore && receiverAfter
          ? drainCpu(cpuSpentUs(relayBefore, relayAfter), cpuSpentUs(receiverBefore, receiverAfter), pending)
          : undefined;
      return {
        delivered: pending,
        ms,
        perSec: pending / (ms / 1_000),
        ...(cpu ? { cpu } : {}),
        allocatedKb: allocatedBytes / 1_024 / pending,
        bodies: capture ? receiver.takeCaptured() : [],
        window: { fromUs: startedUs, toUs: startedUs + ms * 1_000 },
      };
    };
    const cold = await drainOnce(false);
    const { bodies, window, ...warm } = await drainOnce(extra.capture);
    const { bodies: _coldBodies, window: _coldWindow, ...coldRound } = cold;
    return { cold: coldRound, warm, bodies, window };
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${relay.output()}`, { cause: error });
  } finally {
    receiver.failWith(null);
    await relay.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The bare undici client, in its own process, posting `bodiesFile` to the receiver `passes` times;
 * the receiver's CPU is read at each pass's edges (the client waits for a line before each).
 */
export async function drainBaselinePasses(options: Pick<DrainOptions, 'receiver' | 'concurrency' | 'timeoutMs'>, bodiesFile: string, passes: number): Promise<DrainRound[]> {
  return drainChildPasses(options, 'the bare client', [DRAIN_CLIENT, options.receiver.url(), bodiesFile, String(options.concurrency), String(passes)], passes);
}

/**
 * The durable floor (floor-relay.ts) in its own process, draining the same bodies from its own
 * SQLite queue in `dir` `passes` times, with the bare client's protocol.
 */
export async function drainFloorPasses(options: Pick<DrainOptions, 'receiver' | 'concurrency' | 'timeoutMs'>, bodiesFile: string, passes: number, dir: string): Promise<DrainRound[]> {
  mkdirSync(dir, { recursive: true });
  try {
    return await drainChildPasses(options, 'the floor relay', [FLOOR_RELAY, options.receiver.url(), bodiesFile, String(options.concurrency), String(passes), dir], passes);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A sender child speaking drain-client.ts's protocol (`ready` / a line / one JSON line per pass). */
async function drainChildPasses(options: Pick<DrainOptions, 'receiver' | 'timeoutMs'>, name: string, args: readonly string[], passes: number): Promise<DrainRound[]> {
  const child = spawn(process.execPath, args, {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = once(child, 'exit');
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs * passes);
  const rounds: DrainRound[] = [];
  try {
    let receiverBefore: ThreadTimes | null = null;
    for await (const line of createInterface({ input: child.stdout })) {
      if (line === 'ready') {
        receiverBefore = threadTimes(process.pid);
        child.stdin.write('go\n');
        continue;
      }
      const receiverAfter = threadTimes(process.pid);
      const result = JSON.parse(line) as { delivered: number; failed: number; ms: number; cpuUs: Record<string, number> | null; allocatedBytes?: number };
      if (result.failed > 0) throw new Error(`${name} got ${result.failed} non-2xx answers from the receiver`);
      const cpu =
        result.cpuUs && receiverBefore && receiverAfter ? drainCpu(result.cpuUs, cpuSpentUs(receiverBefore, receiverAfter), result.delivered) : undefined;
      rounds.push({
        delivered: result.delivered,
        ms: result.ms,
        perSec: result.delivered / (result.ms / 1_000),
        ...(cpu ? { cpu } : {}),
        ...(result.allocatedBytes === undefined ? {} : { allocatedKb: result.allocatedBytes / 1_024 / result.delivered }),
      });
    }
    const [code] = (await exited) as [number | null];
    if (code !== 0 || rounds.length !== passes) throw new Error(`${name} exited with ${code} after ${rounds.length} of ${passes} passes: ${stderr.slice(0, 300)}`);
    return rounds;
  } finally {
    clearTimeout(timer);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** The bare client's one pass in a fresh process (what a freshly started hookrelay is compared with). */
export async function drainBaseline(options: Pick<DrainOptions, 'receiver' | 'concurrency' | 'timeoutMs'>, bodiesFile: string): Promise<DrainRound> {
  const [pass] = await drainBaselinePasses(options, bodiesFile, 1);
  return pass!;
}

const describePair = (pair: DrainPair): string => `${describeDrain(pair.warm)}   cold ${pair.cold.perSec.toFixed(0)}/s`;

export async function runDrain(options: DrainOptions): Promise<DrainResult> {
  const result: DrainResult = { backlog: options.backlog, concurrency: options.concurrency, incidents: options.incidents, hookrelay: [], baseline: [], floor: [], profile: null };
  const bodiesFile = join(options.tmpDir, 'drain-bodies.json');
  for (let round = 1; round <= options.rounds; round += 1) {
    // The first round starts with hookrelay: its bodies are what the baseline and the floor post.
    const order = round % 2 === 1 ? (['hookrelay', 'baseline', 'floor'] as const) : (['floor', 'baseline', 'hookrelay'] as const);
    for (const which of order) {
      if (which === 'floor') {
        const [cold, warm] = await drainFloorPasses(options, bodiesFile, 2, join(options.tmpDir, `floor-${round}`));
        const pair = { cold: cold!, warm: warm! };
        result.floor.push(pair);
        log(`  round ${round} floor relay warm ${describePair(pair)}`);
        continue;
      }
      if (which === 'hookrelay') {
        const measured = await drainHookrelay(options, `drain-${round}`, { capture: round === 1 });
        if (round === 1) writeFileSync(bodiesFile, JSON.stringify(measured.bodies));
        result.hookrelay.push({ cold: measured.cold, warm: measured.warm });
        log(`  round ${round} hookrelay   warm ${describePair(measured)}`);
      } else {
        const [cold, warm] = await drainBaselinePasses(options, bodiesFile, 2);
        const pair = { cold: cold!, warm: warm! };
        result.baseline.push(pair);
        log(`  round ${round} bare undici warm ${describePair(pair)}`);
      }
    }
  }
  if (options.profileDir === null) return result;

  rmSync(options.profileDir, { recursive: true, force: true });
  mkdirSync(options.profileDir, { recursive: true });
  const profiled = await drainHookrelay(options, 'drain-profiled', {
    capture: false,
    execArgv: ['--cpu-prof', '--cpu-prof-dir', options.profileDir],
  });
  log(`  profiled hookrelay     warm ${describePair(profiled)}`);
  // Node writes the profiles when the child exits, which drainHookrelay waited for; only the
  // samples of the warm drain count (from enable to its last delivery answered).
  return { ...result, profile: { round: profiled.warm, threads: summarizeProfiles(options.profileDir, options.root, profiled.window) } };
}
