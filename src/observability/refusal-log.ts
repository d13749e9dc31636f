import type { Logger } from 'pino';
import { systemClock } from '../util/clock.ts';

export interface Refusal {
  /** The source named in the path (a configured one, or what the sender typed). */
  readonly source: string;
  readonly known: boolean;
  /** The refusal's error code: `signature_mismatch`, `signature_expired`, `unknown_source`, … */
  readonly reason: string;
  readonly message: string;
  readonly status: number;
  readonly address: string | null;
}

/**
 * One `warn` line per refused webhook — source, reason, sender's address — at most one per
 * source and reason per window; the next line says how many were suppressed meanwhile. Keys are
 * bounded: unknown sources share one key, and reasons are error codes.
 */
export class RefusalLog {
  readonly #logger: Logger;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(logger: Logger, options: { windowMs?: number; now?: () => number } = {}) {
    this.#logger = logger;
    this.#windowMs = options.windowMs ?? 10_000;
    this.#now = options.now ?? systemClock.now;
  }

  refused(refusal: Refusal): void {
    const key = `${refusal.known ? refusal.source : '(unknown)'}\u0000${refusal.reason}`;
    const now = this.#now();
    const last = this.#last.get(key);
    if (last && now - last.at < this.#windowMs) {
      last.suppressed += 1;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#last.set(key, { at: now, suppressed: 0 });
    this.#logger.warn(
      {
        source: refusal.source.slice(0, 100),
        reason: refusal.reason,
        status: refusal.status,
        address: refusal.address,
        detail: refusal.message.slice(0, 300),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      `webhook refused: ${refusal.reason} (source ${refusal.source.slice(0, 100)}, from ${refusal.address ?? 'unknown address'})` +
        (suppressed > 0 ? `; ${suppressed} more like it suppressed since the last line` : ''),
    );
  }
}
