/**
 * Phases 1 and 2: ingest throughput of hookrelay, of the bare express baseline and of the
 * durable floor (the baseline plus a synced SQLite insert per request), with the same
 * autocannon settings, in alternating rounds (B F H, H F B, …) so that drift in the machine
 * (thermal, other processes) hits every side alike.
 *
 * Every hookrelay round gets a fresh process and store, warmed up first: each round then
 * starts from the same state, and the delivery backlog a round leaves behind (hookrelay
 * relays what it ingests, and its dispatcher works during the round) is thrown away with
 * the process instead of being drained into the next round, where it would steal CPU
 * from the baseline. The backlog is reported, not hidden: committed vs delivered.
 */
import type { Child } from './children.ts';
import { runLoad } from './load.ts';
import type { LoadResult } from './load.ts';
import type { Receiver } from './receiver.ts';
import { readCounters, waitForDrain } from './relay-metrics.ts';

export interface ThroughputOptions {
  readonly connections: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly secret: string;
  /** Upper bound on waiting for the warm-up's deliveries before measuring. */
  readonly warmupDrainTimeoutMs: number;
}

export interface RelayRound extends LoadResult {
  /** Committed by hookrelay during the round (its own counter). */
  readonly committed: number;
  /** Deliveries the receiver got while the round ran. */
  readonly deliveredDuringRound: number;
  /** Deliveries still waiting when the round ended. */
  readonly pendingAtEnd: number;
}

export interface ThroughputResult {
  readonly baseline: LoadResult[];
  /** The durable floor: the baseline plus one synced SQLite insert per request (floor-ingest-server.ts). */
  readonly floor: LoadResult[];
  /** Ingest alone: verified, normalized, committed; no route, nothing sent. */
  readonly hookrelay: RelayRound[];
  /** Ingest while the same process delivers every event to the loopback receiver. */
  readonly delivering: RelayRound[];
}

const log = (line: string): void => console.log(line);

export function describeLoad(result: LoadResult): string {
  const codes = Object.entries(result.statusCodes)
    .map(([code, count]) => `${code}×${count}`)
    .join(' ');
  return (
    `${result.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${result.latencyMs.p50} ms  p99 ${result.latencyMs.p99} ms  ` +
    `non-2xx ${result.non2xx}  errors ${result.errors}  [${codes || 'no answers'}]`
  );
}

export async function runThroughput(
  baseline: Child,
  startRelay: (deliver: boolean) => Promise<Child>,
  startFloor: () => Promise<Child>,
  receiver: Receiver,
  options: ThroughputOptions,
): Promise<ThroughputResult> {
  const load = (url: string, seconds: number, phase: string): Promise<LoadResult> =>
    runLoad({ url, secret: options.secret, connections: options.connections, durationSeconds: seconds, phase });

  const relayRound = async (round: number, deliver: boolean): Promise<RelayRound> => {
    const relay = await startRelay(deliver);
    try {
      // Warm-up: JIT, connection pools, SQLite page cache. Not reported.
      await load(relay.url, options.warmupSeconds, `warm-relay${round}`);
      const warm = await waitForDrain(relay.url, options.warmupDrainTimeoutMs);
      if (!warm.drained) {
        log(`  (round ${round}: ${warm.pending} warm-up deliveries still pending after ${options.warmupDrainTimeoutMs / 1_000} s; measuring anyway)`);
      }
      const receivedBefore = receiver.received;
      const measured = await load(relay.url, options.durationSeconds, `tp-relay${round}`);
      const deliveredDuringRound = receiver.received - receivedBefore;
      const after = await readCounters(relay.url);
      return { ...measured, committed: after.accepted - warm.accepted, deliveredDuringRound, pendingAtEnd: after.pending };
    } finally {
      await relay.stop();
    }
  };

  /** Like hookrelay's rounds: a fresh process and SQLite file, warmed up, then measured. */
  const floorRound = async (round: number): Promise<LoadResult> => {
    const floor = await startFloor();
    try {
      await load(floor.url, options.warmupSeconds, `warm-floor${round}`);
      return await load(floor.url, options.durationSeconds, `tp-floor${round}`);
    } finally {
      await floor.stop();
    }
  };

  log(`  baseline warm-up ${options.warmupSeconds} s; each hookrelay round: fresh process and store, ${options.warmupSeconds} s warm-up, its deliveries drained, then measured`);
  await load(baseline.url, options.warmupSeconds, 'warm-base');

  const result: ThroughputResult = { baseline: [], floor: [], hookrelay: [], delivering: [] };
  for (let round = 1; round <= options.rounds; round += 1) {
    const order =
      round % 2 === 1 ? (['baseline', 'floor', 'ingest', 'delivering'] as const) : (['delivering', 'ingest', 'floor', 'baseline'] as const);
    for (const which of order) {
      if (which === 'floor') {
        const measured = await floorRound(round);
        result.floor.push(measured);
        log(`  round ${round} floor (+SQLite)       ${describeLoad(measured)}`);
      } else if (which === 'baseline') {
        const measured = await load(baseline.url, options.durationSeconds, `tp-base${round}`);
        result.baseline.push(measured);
        log(`  round ${round} baseline              ${describeLoad(measured)}`);
      } else if (which === 'ingest') {
        const measured = await relayRound(round, false);
        result.hookrelay.push(measured);
        log(`  round ${round} hookrelay (ingest)    ${describeLoad(measured)}`);
      } else {
        const measured = await relayRound(round, true);
        result.delivering.push(measured);
        log(`  round ${round} hookrelay (+delivery) ${describeLoad(measured)}`);
        log(
          `                   committed ${measured.committed}, delivered during the round ${measured.deliveredDuringRound} ` +
            `(${Math.round(measured.deliveredDuringRound / measured.durationSeconds)}/s), still pending at its end ${measured.pendingAtEnd}`,
        );
      }
    }
  }
  return result;
}
