import type { Logger } from 'pino';
import type { IngestStore, RequestLogEntry, RequestOutcome } from '../store/store.ts';
import { systemClock } from '../util/clock.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import type { Metrics } from './metrics.ts';

/** Refused bodies are kept only this far (the Requests page shows what the sender sent, not all of it). */
export const REQUEST_EXCERPT_BYTES = 256;
/** The source named in a path is the sender's text: stored at most this long. */
const MAX_SOURCE_LENGTH = 100;

export interface RequestFacts {
  readonly source: string;
  readonly address: string | null;
  readonly status: number;
  readonly outcome: RequestOutcome;
  readonly reason?: string | null;
  readonly body_bytes: number;
  /** The body as received; only refused requests keep (a short excerpt of) it. */
  readonly body?: Buffer | null;
  readonly received_at: number;
}

/** A line of the requests log from what is known of a request. */
export function requestLogEntry(facts: RequestFacts): RequestLogEntry {
  const refused = facts.outcome !== 'accepted' && facts.outcome !== 'duplicate' && facts.outcome !== 'answered';
  return {
    id: newId('req'),
    received_at: facts.received_at,
    source: facts.source.slice(0, MAX_SOURCE_LENGTH),
    address: facts.address,
    status: facts.status,
    outcome: facts.outcome,
    reason: facts.reason ? facts.reason.slice(0, 500) : null,
    body_bytes: facts.body_bytes,
    excerpt: refused && facts.body && facts.body.length > 0 ? facts.body.subarray(0, REQUEST_EXCERPT_BYTES).toString('utf8') : null,
  };
}

export interface RequestRecorderOptions {
  readonly store: Pick<IngestStore, 'append'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Lines waiting for a write; beyond this they are dropped (and counted), never queued. */
  readonly maxBuffered?: number;
  /** Lines per write. */
  readonly batchSize?: number;
  /** The longest a line waits before it is written. */
  readonly flushMs?: number;
  /** Schedules the writes (the server's clock; the system clock by default). */
  readonly clock?: Clock;
}

/**
 * Requests log lines that are not part of an ingest transaction (refusals, handshakes), written
 * in batches by one write at a time. Under a flood of refused requests the buffer fills while a
 * write is in progress, and further lines are dropped and counted
 * (`hookrelay_request_log_dropped_total`): a flood costs a bounded amount of memory and one
 * store write per batch, and never delays accepted webhooks behind it.
 */
export class RequestRecorder {
  readonly #options: RequestRecorderOptions;
  readonly #maxBuffered: number;
  readonly #batchSize: number;
  readonly #flushMs: number;
  readonly #clock: Clock;
  #buffer: RequestLogEntry[] = [];
  #writing: Promise<void> | null = null;
  /** Cancels the scheduled write, when one is. */
  #timer: (() => void) | null = null;

  constructor(options: RequestRecorderOptions) {
    this.#options = options;
    this.#maxBuffered = options.maxBuffered ?? 1_000;
    this.#batchSize = options.batchSize ?? 200;
    this.#flushMs = options.flushMs ?? 500;
    this.#clock = options.clock ?? systemClock;
  }

  /** Lines waiting to be written. */
  get buffered(): number {
    return this.#buffer.length;
  }

  record(entry: RequestLogEntry): void {
    if (this.#buffer.length >= this.#maxBuffered) {
      this.#options.metrics.requestLogDropped.inc();
      return;
    }
    this.#buffer.push(entry);
    if (this.#buffer.length >= this.#batchSize) this.#writeNext();
    else this.#timer ??= this.#clock.after(this.#flushMs, () => this.#writeNext());
  }

  /** Writes everything buffered (shutdown, tests). */
  async flush(): Promise<void> {
    while (this.#writing || this.#buffer.length > 0) {
      if (!this.#writing) this.#writeNext();
      await this.#writing;
    }
  }

  #writeNext(): void {
    this.#timer?.();
    this.#timer = null;
    if (this.#writing || this.#buffer.length === 0) return;
    const batch = this.#buffer.splice(0, this.#batchSize);
    this.#writing = this.#options.store
      .append('requests', batch)
      .catch((error: unknown) => {
        this.#options.metrics.requestLogDropped.inc(batch.length);
        this.#options.logger.warn({ err: error, lines: batch.length }, 'could not write to the requests log');
      })
      .finally(() => {
        this.#writing = null;
        if (this.#buffer.length >= this.#batchSize) this.#writeNext();
        else if (this.#buffer.length > 0) this.#timer ??= this.#clock.after(this.#flushMs, () => this.#writeNext());
      });
  }
}
