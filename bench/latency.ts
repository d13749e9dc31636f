/**
 * Phase 3: sender-to-destination latency at a steady rate. Each event's send time is kept
 * here by id; the receiver reports each arrival with the sender's id (the envelope's
 * `payload.id`), on the same clock. Latency = arrival − send: signature check, commit
 * with fsync, the dispatcher noticing, rendering, and the HTTP hop to the destination.
 */
import type { Child } from './children.ts';
import type { Receiver } from './receiver.ts';
import { waitForDrain } from './relay-metrics.ts';
import { summarize } from './stats.ts';
import type { Summary } from './stats.ts';
import { runSteady } from './steady-sender.ts';

export interface LatencyOptions {
  readonly ratePerSecond: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly secret: string;
  /** After the last send, how long deliveries may take before they count as missing. */
  readonly settleTimeoutMs: number;
}

export interface LatencyResult {
  readonly ratePerSecond: number;
  readonly sent: number;
  readonly accepted: number;
  readonly rejected: Record<string, number>;
  /** Distinct events that reached the receiver. */
  readonly delivered: number;
  /** Deliveries of an event that had already arrived (at-least-once retries). */
  readonly duplicates: number;
  /** Deliveries whose body the receiver could not read an id from. */
  readonly malformed: number;
  /** Sender → receiver, ms. */
  readonly endToEnd: Summary;
  /** Sender → 202, ms (the ingest part of it). */
  readonly ack: Summary;
  readonly maxScheduleLagMs: number;
  readonly achievedRate: number;
}

async function measure(relay: Child, receiver: Receiver, options: LatencyOptions, seconds: number): Promise<LatencyResult> {
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let duplicates = 0;
  const malformedBefore = receiver.malformed;
  receiver.listen((id, arrivedAt) => {
    const start = sentAt.get(id);
    if (start === undefined) {
      // Seen already (deleted below) or an event from another phase.
      duplicates += 1;
      return;
    }
    sentAt.delete(id);
    latencies.push(arrivedAt - start);
  });
  try {
    const steady = await runSteady({
      url: relay.url,
      secret: options.secret,
      ratePerSecond: options.ratePerSecond,
      durationSeconds: seconds,
      onSend: (id, at) => sentAt.set(id, at),
    });
    // Everything committed must arrive; hookrelay's own pending count says when it has.
    await waitForDrain(relay.url, options.settleTimeoutMs);
    return {
      ratePerSecond: options.ratePerSecond,
      sent: steady.sent,
      accepted: steady.accepted,
      rejected: steady.rejected,
      delivered: latencies.length,
      duplicates,
      malformed: receiver.malformed - malformedBefore,
      endToEnd: summarize(latencies),
      ack: summarize(steady.ackLatencies),
      maxScheduleLagMs: steady.maxScheduleLagMs,
      achievedRate: steady.sent / steady.elapsedSeconds,
    };
  } finally {
    receiver.listen(null);
  }
}

/**
 * The same open-loop sender straight at the bare express baseline (HMAC check, JSON.parse, 202):
 * its sender → 202 times are what one webhook hop costs a sender on this machine now, the
 * yardstick for hookrelay's sender → destination (two hops and a durable commit).
 */
export async function runBareLatency(baseline: Child, options: LatencyOptions): Promise<Summary> {
  const run = (seconds: number) =>
    runSteady({ url: baseline.url, secret: options.secret, ratePerSecond: options.ratePerSecond, durationSeconds: seconds, onSend: () => {} });
  if (options.warmupSeconds > 0) await run(options.warmupSeconds);
  return summarize((await run(options.durationSeconds)).ackLatencies);
}

export async function runLatency(relay: Child, receiver: Receiver, options: LatencyOptions): Promise<LatencyResult> {
  // A short unreported run first, so the measured one sees a warm process (JIT, pools).
  if (options.warmupSeconds > 0) await measure(relay, receiver, options, options.warmupSeconds);
  return measure(relay, receiver, options, options.durationSeconds);
}
