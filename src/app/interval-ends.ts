import type { Logger } from 'pino';
import { RELEASED_NOTE, toRenotify } from '../notify/interval-ends.ts';
import type { IntervalHold } from '../notify/interval-ends.ts';
import type { Store } from '../store/store.ts';
import type { Clock } from '../util/clock.ts';

/** Time intervals are whole minutes (HH:MM in a zone): a look each minute sees every end. */
const MINUTE = 60_000;

export interface IntervalEndsOptions {
  readonly holds: readonly IntervalHold[];
  readonly store: Pick<Store, 'view' | 'holds'>;
  readonly clock: Clock;
  /** Wakes the lanes of destinations given work. */
  readonly notify: (destinations: readonly string[]) => void;
  readonly logger: Logger;
}

/**
 * When a muting interval ends, each incident it held that still fires is told its current state
 * once (notify/interval-ends.ts decides which deliveries): a look at each minute's start, on the
 * clock. The store is read only when a hold has just lifted, and once at start (an interval that
 * ended while hookrelay was stopped); a config without intervals starts nothing.
 */
export class IntervalEnds {
  readonly #options: IntervalEndsOptions;
  /** Whether each hold stood at the last look; absent: not looked yet (treated as standing). */
  readonly #stood = new Map<string, boolean>();
  #cancel: (() => void) | null = null;
  #running: Promise<void> = Promise.resolve();

  constructor(options: IntervalEndsOptions) {
    this.#options = options;
  }

  start(): void {
    if (this.#options.holds.length === 0) return;
    const next = (): void => {
      const now = this.#options.clock.now();
      this.#cancel = this.#options.clock.after(MINUTE - (now % MINUTE), () => {
        this.#running = this.#running.then(() => this.look()).catch((error: unknown) => this.#options.logger.warn({ err: error }, 'could not release what a time interval held'));
        next();
      });
    };
    this.#running = this.look().catch((error: unknown) => this.#options.logger.warn({ err: error }, 'could not release what a time interval held'));
    next();
  }

  /** Stops looking; resolves once a look under way is done. */
  async stop(): Promise<void> {
    this.#cancel?.();
    this.#cancel = null;
    await this.#running;
  }

  /** Releases what each hold that no longer stands held (and had not been released yet). */
  async look(): Promise<void> {
    const { holds, store, clock, notify, logger } = this.#options;
    const now = clock.now();
    for (const hold of holds) {
      const stands = hold.holds(now);
      const stood = this.#stood.get(hold.marker) ?? true;
      this.#stood.set(hold.marker, stands);
      if (stands || !stood) continue;
      await releaseHold(hold.marker, { store, notify, logger, now });
    }
  }
}

/**
 * What a hold that ended held: each incident that still fires told its current state once
 * (notify/interval-ends.ts decides which deliveries), the rest left muted, the marker cleared.
 * Releasing twice (two replicas, a restart) finds nothing the second time.
 */
export async function releaseHold(
  marker: string,
  options: Pick<IntervalEndsOptions, 'store' | 'notify' | 'logger'> & { readonly now: number },
): Promise<void> {
  const { store, notify, logger, now } = options;
  const held = await store.view('held', marker);
  if (held.length === 0) return;
  const ids = toRenotify(held);
  const destinations = await store.holds('release', { marker, ids, note: RELEASED_NOTE, now });
  logger.info({ hold: marker, held: held.length, renotified: ids }, `${marker} ended: ${ids.length} incident(s) it held still fire and are told now`);
  if (destinations.length > 0) notify(destinations);
}
