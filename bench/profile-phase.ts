/**
 * Optional (`npm run bench -- --profile`): where hookrelay spends its CPU under the
 * throughput load. A separate hookrelay child runs with `--cpu-prof` (node writes one
 * profile per thread when the process exits, so it is stopped gracefully), takes one
 * warm-up and one measured autocannon round, is stopped, and the profiles are ranked by
 * self time. Kept apart from the measured phases: profiling slows the process.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { summarizeProfiles } from './cpu-profile.ts';
import type { ThreadProfile } from './cpu-profile.ts';
import { runLoad } from './load.ts';
import type { LoadResult } from './load.ts';
import type { Receiver } from './receiver.ts';
import { readCounters } from './relay-metrics.ts';
import { startHookrelay } from './servers.ts';

export interface ProfileOptions {
  readonly root: string;
  readonly tmpDir: string;
  readonly outDir: string;
  readonly secret: string;
  readonly receiver: Receiver;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly concurrency: number;
}

export interface ProfileResult {
  /** The measured round, while profiled (slower than unprofiled). */
  readonly load: LoadResult;
  /** Deliveries not yet made when the process was stopped. */
  readonly pendingAtEnd: number;
  readonly threads: ThreadProfile[];
}

async function profileUnderLoad(options: ProfileOptions): Promise<ProfileResult> {
  const relay = await startHookrelay({
    root: options.root,
    dir: join(options.tmpDir, 'profiled'),
    secret: options.secret,
    destinationUrl: options.receiver.url(),
    concurrency: options.concurrency,
    execArgv: ['--cpu-prof', '--cpu-prof-dir', options.outDir],
  });
  try {
    const load = (seconds: number, phase: string) =>
      runLoad({ url: relay.url, secret: options.secret, connections: options.connections, durationSeconds: seconds, phase });
    // Warm-up and measured round back to back, and no drain after: the profile should be
    // mostly "under load", not the backlog being delivered afterwards.
    await load(options.warmupSeconds, 'prof-warm');
    const measured = await load(options.durationSeconds, 'prof');
    const counters = await readCounters(relay.url);
    return { load: measured, pendingAtEnd: counters.pending, threads: [] };
  } finally {
    const how = await relay.stop();
    if (how !== 'exit code 0') console.log(`  (profiled hookrelay ended with ${how}; its profile may be missing)`);
  }
}

/** Profiles a hookrelay under load, then ranks where its threads spent their time. */
export async function runProfile(options: ProfileOptions): Promise<ProfileResult> {
  rmSync(options.outDir, { recursive: true, force: true });
  mkdirSync(options.outDir, { recursive: true });
  // The profiles are written when the child exits, i.e. once profileUnderLoad has stopped it.
  const measured = await profileUnderLoad(options);
  return { ...measured, threads: summarizeProfiles(options.outDir, options.root) };
}
