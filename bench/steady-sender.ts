/**
 * Open-loop sender for the latency phase: events leave on a fixed schedule (rate per
 * second) whatever hookrelay's answers do, as real senders behave, so a slow relay shows
 * up as latency instead of silently lowering the offered load (coordinated omission).
 *
 * A 1 ms timer sends every event whose scheduled time has come; send times are recorded
 * just before each request is written, and how late the timer was is reported so that a
 * busy bench process cannot be mistaken for a slow relay.
 */
import { Agent, request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { eventBody, nextEventId } from './events.ts';
import { SIGNATURE_HEADER, tapemetricSignature } from './sign.ts';

export interface SteadyOptions {
  readonly url: string;
  readonly secret: string;
  readonly ratePerSecond: number;
  readonly durationSeconds: number;
  /** Every event in this one region (one incident); default: an incident of its own each. */
  readonly region?: string;
  /** Called with each event's id and send time before it is sent (performance.now() clock). */
  readonly onSend: (id: string, sentAt: number) => void;
}

export interface SteadyResult {
  readonly sent: number;
  /** Answered 202 (committed: hookrelay now owes a delivery). */
  readonly accepted: number;
  /** Any other answer or a network error, by status ("error" for no answer). */
  readonly rejected: Record<string, number>;
  /** Sender → 202 times, ms (the ingest half of the end-to-end latency). */
  readonly ackLatencies: number[];
  /** The worst lateness of the send timer behind schedule, ms. */
  readonly maxScheduleLagMs: number;
  readonly elapsedSeconds: number;
}

export async function runSteady(options: SteadyOptions): Promise<SteadyResult> {
  const target = new URL('/hooks/tapemetric', options.url);
  // Keep-alive like a real sender's client; enough sockets that a slow answer never
  // holds back the next scheduled event.
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const total = Math.round(options.ratePerSecond * options.durationSeconds);
  const intervalMs = 1_000 / options.ratePerSecond;
  const rejected: Record<string, number> = {};
  const ackLatencies: number[] = [];
  let sent = 0;
  let accepted = 0;
  let answered = 0;
  let maxLag = 0;

  const sendOne = (): void => {
    const id = nextEventId('lat');
    const body = options.region === undefined ? eventBody(id) : eventBody(id, options.region);
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      [SIGNATURE_HEADER]: tapemetricSignature(body, options.secret),
    };
    const sentAt = performance.now();
    options.onSend(id, sentAt);
    let finished = false;
    const finish = (status: string): void => {
      // An error after the answer (socket reset) must not count the event twice.
      if (finished) return;
      finished = true;
      answered += 1;
      if (status === '202') {
        accepted += 1;
        ackLatencies.push(performance.now() - sentAt);
      } else {
        rejected[status] = (rejected[status] ?? 0) + 1;
      }
      if (answered === total) allAnswered();
    };
    const req = request(target, { method: 'POST', agent, headers, timeout: 10_000 }, (response) => {
      response.resume();
      response.on('end', () => finish(String(response.statusCode)));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => finish('error'));
    req.end(body);
  };

  let allAnswered: () => void = () => {};
  const answeredAll = new Promise<void>((resolve) => (allAnswered = resolve));
  const start = performance.now();
  await new Promise<void>((done) => {
    const tick = (): void => {
      const now = performance.now();
      while (sent < total && start + sent * intervalMs <= now) {
        maxLag = Math.max(maxLag, now - (start + sent * intervalMs));
        sent += 1;
        sendOne();
      }
      if (sent < total) setTimeout(tick, 1);
      else done();
    };
    tick();
  });
  const elapsedSeconds = (performance.now() - start) / 1_000;
  // Answers still outstanding get the request timeout (10 s) plus a margin, no more.
  await Promise.race([answeredAll, new Promise((resolve) => setTimeout(resolve, 12_000).unref())]);
  agent.destroy();
  return { sent, accepted, rejected, ackLatencies, maxScheduleLagMs: maxLag, elapsedSeconds };
}
