/**
 * Phase 9: one chatty incident. hookrelay keeps an incident's events in order at a destination
 * (at most one in flight, the next waits for the previous one's answer), so its updates go one
 * at a time however many slots the destination has: how long each takes is the incident's own
 * speed limit. Two measures, both into a fresh hookrelay and a loopback receiver:
 *   - `updates` events of one incident sent in bursts of 10 (the next burst after the previous
 *     one's 202s): ms per update from the first send to the last arrival, how long after its
 *     202 the last arrived, and whether they arrived in order (each burst's before the next's);
 *     twice, each time a new incident: cold (the fresh process's first, its ingest and send path
 *     still being compiled while it runs) and warm (the second, as the drain phase's warm drain);
 *   - an open-loop `rate`/s of one incident for `seconds`: sender → destination p50/p99, and
 *     the p50 of the first second against the last one's (growing: it does not keep up). Its
 *     sends overlap, so hookrelay may accept them in another order than they were sent: only
 *     the back-to-back part can check the order.
 */
import { request } from 'node:http';
import type { Child } from './children.ts';
import { eventBody, nextEventId } from './events.ts';
import type { Receiver } from './receiver.ts';
import { SIGNATURE_HEADER, tapemetricSignature } from './sign.ts';
import { summarize } from './stats.ts';
import type { Summary } from './stats.ts';
import { runSteady } from './steady-sender.ts';

export interface IncidentOrderOptions {
  readonly secret: string;
  readonly updates: number;
  readonly ratePerSecond: number;
  readonly seconds: number;
  readonly settleTimeoutMs: number;
}

export interface BackToBack {
  readonly updates: number;
  readonly delivered: number;
  readonly msPerUpdate: number;
  /** The last update's arrival after its 202, ms. */
  readonly lastAfterAckMs: number;
  readonly inOrder: boolean;
}

export interface IncidentOrderResult {
  /** The process's second run of updates (warm). */
  readonly backToBack: BackToBack;
  /** Its first (cold). */
  readonly coldBackToBack: BackToBack;
  readonly steady: {
    readonly ratePerSecond: number;
    readonly seconds: number;
    readonly sent: number;
    readonly delivered: number;
    readonly endToEnd: Summary;
    readonly firstSecondP50: number;
    readonly lastSecondP50: number;
  };
}

/** Arrivals of the listed ids at the receiver, in arrival order, with their times. */
function watch(receiver: Receiver, ids: ReadonlySet<string>): { arrivals: Array<{ id: string; at: number }>; whenAll: (timeoutMs: number) => Promise<void> } {
  const arrivals: Array<{ id: string; at: number }> = [];
  let wake: (() => void) | null = null;
  const seen = new Set<string>();
  receiver.listen((id, at) => {
    if (!ids.has(id) || seen.has(id)) return;
    seen.add(id);
    arrivals.push({ id, at });
    if (seen.size === ids.size) wake?.();
  });
  return {
    arrivals,
    whenAll: (timeoutMs) =>
      seen.size === ids.size
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`${seen.size} of ${ids.size} updates arrived within ${timeoutMs / 1_000} s`)), timeoutMs);
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          }),
  };
}

function post(url: string, body: string, secret: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL('/hooks/tapemetric', url),
      { method: 'POST', headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: tapemetricSignature(body, secret) } },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Updates sent at once in the first measure (as the issue measured them: bursts of 10). */
const BURST = 10;

async function backToBack(relay: Child, receiver: Receiver, options: IncidentOrderOptions): Promise<BackToBack> {
  const region = `incident-${nextEventId('b2b')}`;
  const ids = Array.from({ length: options.updates }, () => nextEventId('b2b'));
  const burstOf = new Map(ids.map((id, index) => [id, Math.floor(index / BURST)]));
  const watching = watch(receiver, new Set(ids));
  const start = performance.now();
  let lastAck = start;
  for (let from = 0; from < ids.length; from += BURST) {
    // A burst's events go at once; the next burst after all of its 202s.
    const statuses = await Promise.all(ids.slice(from, from + BURST).map((id) => post(relay.url, eventBody(id, region), options.secret)));
    const refused = statuses.find((status) => status !== 202);
    if (refused !== undefined) throw new Error(`${relay.name} answered ${refused} to an update of one incident:\n${relay.output()}`);
    lastAck = performance.now();
  }
  await watching.whenAll(options.settleTimeoutMs);
  const last = watching.arrivals.at(-1)!.at;
  // Within a burst hookrelay may accept them in any order; a burst's all before the next one's.
  const bursts = watching.arrivals.map((arrival) => burstOf.get(arrival.id)!);
  return {
    updates: ids.length,
    delivered: watching.arrivals.length,
    msPerUpdate: (last - start) / ids.length,
    lastAfterAckMs: last - lastAck,
    inOrder: watching.arrivals.length === ids.length && bursts.every((burst, index) => index === 0 || burst >= bursts[index - 1]!),
  };
}

async function steady(relay: Child, receiver: Receiver, options: IncidentOrderOptions): Promise<IncidentOrderResult['steady']> {
  const region = `incident-${nextEventId('steady')}`;
  const sentAt = new Map<string, number>();
  let first: number | null = null;
  const arrivals: Array<{ id: string; at: number }> = [];
  const arrived = new Set<string>();
  receiver.listen((id, at) => {
    if (!sentAt.has(id) || arrived.has(id)) return;
    arrived.add(id);
    arrivals.push({ id, at });
  });
  const result = await runSteady({
    url: relay.url,
    secret: options.secret,
    ratePerSecond: options.ratePerSecond,
    durationSeconds: options.seconds,
    region,
    onSend: (id, at) => {
      sentAt.set(id, at);
      first ??= at;
    },
  });
  const deadline = performance.now() + options.settleTimeoutMs;
  while (arrivals.length < result.accepted && performance.now() < deadline) await new Promise((resume) => setTimeout(resume, 50));
  receiver.listen(null);
  const latency = (arrival: { id: string; at: number }): number => arrival.at - sentAt.get(arrival.id)!;
  const start = first ?? 0;
  const sentWithin = (from: number, to: number) => arrivals.filter((arrival) => sentAt.get(arrival.id)! - start >= from && sentAt.get(arrival.id)! - start < to).map(latency);
  const end = options.seconds * 1_000;
  return {
    ratePerSecond: options.ratePerSecond,
    seconds: options.seconds,
    sent: result.sent,
    delivered: arrivals.length,
    endToEnd: summarize(arrivals.map(latency)),
    firstSecondP50: summarize(sentWithin(0, 1_000)).p50,
    lastSecondP50: summarize(sentWithin(end - 1_000, end)).p50,
  };
}

export async function runIncidentOrder(relay: Child, receiver: Receiver, options: IncidentOrderOptions): Promise<IncidentOrderResult> {
  try {
    const coldBackToBack = await backToBack(relay, receiver, options);
    return { backToBack: await backToBack(relay, receiver, options), coldBackToBack, steady: await steady(relay, receiver, options) };
  } finally {
    receiver.listen(null);
  }
}
