/**
 * Closed-loop throughput with autocannon: N connections each keep one request in flight.
 * Every request is a new event (unique id) with a valid signature, generated per request
 * by `setupRequest`, so hookrelay commits every one of them instead of answering
 * "duplicate", and the baseline verifies as many HMACs as hookrelay does.
 */
import autocannon from 'autocannon';
import { eventBody, nextEventId } from './events.ts';
import { SIGNATURE_HEADER, tapemetricSignature } from './sign.ts';

export interface LoadOptions {
  readonly url: string;
  readonly secret: string;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Prefix of the event ids, e.g. `tp-hookrelay`. */
  readonly phase: string;
}

export interface LoadResult {
  /** Mean of the per-second request counts. */
  readonly reqPerSec: number;
  /** Completed requests / duration (a check on the mean). */
  readonly completed: number;
  readonly durationSeconds: number;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number; readonly mean: number };
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  /** Responses by status code, e.g. `{ "202": 41000 }`. */
  readonly statusCodes: Record<string, number>;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result = await autocannon({
    url: `${options.url}/hooks/tapemetric`,
    connections: options.connections,
    pipelining: 1,
    duration: options.durationSeconds,
    timeout: 10,
    requests: [
      {
        method: 'POST',
        path: '/hooks/tapemetric',
        setupRequest: (request) => {
          const body = eventBody(nextEventId(options.phase));
          return {
            ...request,
            body,
            headers: {
              ...request.headers,
              'content-type': 'application/json',
              [SIGNATURE_HEADER]: tapemetricSignature(body, options.secret),
            },
          };
        },
      },
    ],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = stats.count ?? 0;
  return {
    reqPerSec: result.requests.mean,
    completed: result.requests.total,
    durationSeconds: result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
  };
}
