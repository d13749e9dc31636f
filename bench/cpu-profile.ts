/**
 * Reads the `.cpuprofile` files node writes with `--cpu-prof` (one per thread: the main
 * thread and the SQLite writer thread) and ranks functions by self time, plus the same
 * time grouped by where the code lives (hookrelay's src/, a dependency, node internals).
 *
 * A window keeps only the samples taken between two instants: V8 stamps samples with the
 * monotonic clock in µs, the same clock as `process.hrtime.bigint()` in any process on the
 * machine (on Linux, CLOCK_MONOTONIC), so the bench can cut out start-up and shutdown.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly ms: number;
  /** Share of the thread's non-idle time. */
  readonly percent: number;
}

export interface ThreadProfile {
  readonly file: string;
  /** Sampled wall time, ms. */
  readonly totalMs: number;
  /** Time not spent idle (waiting in the event loop), ms. */
  readonly busyMs: number;
  readonly topFunctions: SelfTime[];
  readonly byLocation: SelfTime[];
}

/** `src/ingest/ingestor.ts`, `express`, `node:internal/…`: who owns a frame. */
function locationOf(url: string, root: string): string {
  if (url === '') return '(native / VM)';
  if (url.startsWith('node:')) return url.startsWith('node:internal') ? 'node internals' : url;
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const inModules = path.lastIndexOf('/node_modules/');
  if (inModules >= 0) {
    const rest = path.slice(inModules + '/node_modules/'.length).split('/');
    return rest[0]?.startsWith('@') ? `${rest[0]}/${rest[1]}` : (rest[0] ?? path);
  }
  return relative(root, path);
}

function rank(totals: Map<string, number>, busyMs: number, limit: number): SelfTime[] {
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([name, ms]) => ({ name, ms: Math.round(ms), percent: Math.round((ms / busyMs) * 1_000) / 10 }));
}

/** Monotonic µs (`process.hrtime.bigint() / 1000n`): only samples taken from `fromUs` to `toUs` count. */
export interface ProfileWindow {
  readonly fromUs: number;
  readonly toUs: number;
}

export function summarizeProfile(file: string, root: string, limit = 15, window: ProfileWindow | null = null): ThreadProfile {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  // Self time per node from the sample stream (each sample owns the delta that follows it).
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let at = profile.startTime;
  for (let i = 0; i < samples.length; i += 1) {
    at += deltas[i] ?? 0;
    if (window && (at < window.fromUs || at > window.toUs)) continue;
    const id = samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[i + 1] ?? 0));
  }
  const byFunction = new Map<string, number>();
  const byLocation = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = locationOf(url, root);
    const name = url === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
    byFunction.set(name, (byFunction.get(name) ?? 0) + us / 1_000);
    const owner = url === '' ? functionName : where;
    byLocation.set(owner, (byLocation.get(owner) ?? 0) + us / 1_000);
  }
  const busyMs = (totalUs - idleUs) / 1_000;
  return {
    file,
    totalMs: Math.round(totalUs / 1_000),
    busyMs: Math.round(busyMs),
    topFunctions: rank(byFunction, busyMs, limit),
    byLocation: rank(byLocation, busyMs, limit),
  };
}

/** Every profile in a folder, busiest thread first. */
export function summarizeProfiles(dir: string, root: string, window: ProfileWindow | null = null): ThreadProfile[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => summarizeProfile(join(dir, name), root, 15, window))
    .sort((a, b) => b.busyMs - a.busyMs);
}
