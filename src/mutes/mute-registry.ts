import type { Logger } from 'pino';
import type { RelayEvent } from '../events/event.ts';
import { HookrelayError } from '../errors.ts';
import type { IntervalSet } from '../notify/rules.ts';
import type { Mute, Store, StoredMute } from '../store/store.ts';

/** The mutes' part of the incident state. */
type MuteStore = Pick<Store, 'change' | 'view'>;
import { systemClock } from '../util/clock.ts';
import type { Clock } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import { compileMatchers, invalidMatchers } from './matchers.ts';
import type { MuteMatchers } from './matchers.ts';

export interface NewMute {
  readonly matchers: MuteMatchers;
  readonly duration_ms: number;
  readonly reason: string;
  readonly created_by: string;
}

/** Longest mute: a forgotten silence must not hide alerts for ever. */
export const MAX_MUTE_MS = 30 * 86_400_000;

interface ActiveMute {
  readonly mute: StoredMute;
  readonly expires: number;
  readonly matches: (event: RelayEvent) => boolean;
}

/** The config's `mutes:` (see config-mutes.ts) and the `time_intervals` their `during` names. */
export interface ConfiguredMutes {
  readonly mutes: readonly Mute[];
  readonly intervals: IntervalSet;
}

interface ConfiguredMute {
  readonly mute: Mute;
  readonly matches: (event: RelayEvent) => boolean;
}

/**
 * The active mutes, kept in memory so routing an event costs no store read. Changes made
 * here apply at once; the list is also re-read every few seconds (mutes set by another
 * replica) and expired mutes stop matching on the dot.
 */
export class MuteRegistry {
  readonly #store: MuteStore;
  readonly #logger: Logger;
  #active: readonly ActiveMute[] = [];
  /** Run-time mutes in force at the last refresh: one missing from the next has ended. */
  #live = new Set<string>();
  #onEnded: ((ids: readonly string[]) => Promise<void>) | null = null;
  /** Stored mutes refused by today's bounds, warned about once each. */
  readonly #unsafe = new Set<string>();
  readonly #clock: Clock;
  #cancel: (() => void) | null = null;
  #stopped = false;
  readonly #configured: readonly ConfiguredMute[];
  readonly #intervals: IntervalSet;

  constructor(store: MuteStore, logger: Logger, clock: Clock = systemClock, configured: ConfiguredMutes = { mutes: [], intervals: { firstContaining: () => null } }) {
    this.#store = store;
    this.#logger = logger;
    this.#clock = clock;
    // The config's matchers were checked when it was loaded (configMuteSchema).
    this.#configured = configured.mutes.map((mute) => ({ mute, matches: compileMatchers(mute.matchers) }));
    this.#intervals = configured.intervals;
  }

  async start(refreshMs = 5_000): Promise<void> {
    await this.refresh();
    const again = (): void => {
      if (this.#stopped) return;
      this.refresh().catch((error: unknown) => this.#logger.warn({ err: error }, 'could not refresh mutes'));
      this.#cancel = this.#clock.after(refreshMs, again);
    };
    this.#cancel = this.#clock.after(refreshMs, again);
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
  }

  /**
   * Tells `listener` the ids of run-time mutes that have ended: now, every stored one that already
   * has (ended while hookrelay was stopped, or before this was called); then each as this
   * registry sees it go — at the first refresh after it expires or another replica ends it, at
   * once when it is ended here. Telling one twice is harmless: what it held is released once.
   */
  async onEnded(listener: (ids: readonly string[]) => Promise<void>): Promise<void> {
    this.#onEnded = listener;
    const now = this.#clock.now();
    const stored = await this.#store.view('mutes', { now, all: true });
    await this.#tellEnded(stored.filter((mute) => mute.deleted_at !== null || Date.parse(mute.expires_at) <= now).map((mute) => mute.id));
  }

  async refresh(): Promise<void> {
    const now = this.#clock.now();
    const mutes = await this.#store.view('mutes', { now });
    this.#active = mutes.map((mute) => ({ mute, expires: Date.parse(mute.expires_at), matches: this.#compile(mute) }));
    const live = new Set(this.#active.filter((active) => active.expires > now).map((active) => active.mute.id));
    const ended = [...this.#live].filter((id) => !live.has(id));
    this.#live = live;
    await this.#tellEnded(ended);
  }

  async #tellEnded(ids: readonly string[]): Promise<void> {
    if (ids.length === 0 || !this.#onEnded) return;
    try {
      await this.#onEnded(ids);
    } catch (error) {
      this.#logger.warn({ err: error, mute_ids: ids }, 'could not tell what ended mutes held');
    }
  }

  /**
   * A mute stored before globs were bounded (or written to the store by hand) may be too costly
   * to test against every event: it matches nothing, so alerts still go out, and says so.
   */
  #compile(mute: Mute): (event: RelayEvent) => boolean {
    const problem = invalidMatchers(mute.matchers);
    if (!problem) return compileMatchers(mute.matchers);
    if (!this.#unsafe.has(mute.id)) {
      this.#unsafe.add(mute.id);
      this.#logger.warn(
        { mute_id: mute.id, matchers: mute.matchers, problem },
        `mute ${mute.id} is ignored (it matches nothing): ${problem}. End it (DELETE /api/v1/mutes/${mute.id}) and create a narrower one`,
      );
    }
    return () => false;
  }

  /** The first active mute matching this event, or null: the config's (inside their `during`), then run-time ones. */
  match(event: RelayEvent, now = this.#clock.now()): Mute | null {
    for (const { mute, matches } of this.#configured) {
      if (matches(event) && (mute.during === undefined || this.#intervals.firstContaining(mute.during, now) !== null)) return mute;
    }
    for (const active of this.#active) {
      if (active.expires > now && active.matches(event)) return active.mute;
    }
    return null;
  }

  /** The config's mutes (each listed, whether or not inside its `during` now), then the active run-time ones. */
  active(now = this.#clock.now()): Mute[] {
    return [...this.configured(), ...this.#active.filter((active) => active.expires > now).map((active) => active.mute)];
  }

  /** The config's mutes: read-only, listed beside the run-time ones. */
  configured(): Mute[] {
    return this.#configured.map(({ mute }) => mute);
  }

  async create(request: NewMute, now = this.#clock.now()): Promise<StoredMute> {
    const problem = invalidMatchers(request.matchers);
    if (problem) throw new HookrelayError('invalid_request', problem);
    if (!(request.duration_ms > 0) || request.duration_ms > MAX_MUTE_MS) {
      throw new HookrelayError('invalid_request', 'a mute lasts between 1 second and 30 days');
    }
    const mute = await this.#store.change('create_mute', {
      id: newId('mut'),
      matchers: request.matchers,
      reason: request.reason,
      created_by: request.created_by,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + request.duration_ms).toISOString(),
      deleted_at: null,
    });
    await this.refresh();
    this.#logger.info({ mute_id: mute.id, matchers: mute.matchers, expires_at: mute.expires_at, by: mute.created_by }, 'mute created');
    return mute;
  }

  /** Ends a run-time mute; a config mute cannot be ended here (409: it is the config's). */
  async delete(id: string, now = this.#clock.now()): Promise<StoredMute | null> {
    if (this.#configured.some(({ mute }) => mute.id === id)) {
      throw new HookrelayError('conflict', `mute ${id} is from the config (mutes: in the config file) and cannot be expired here: remove it from the config and restart`);
    }
    const mute = await this.#store.change('delete_mute', id, now);
    await this.refresh();
    if (mute) this.#logger.info({ mute_id: id }, 'mute ended');
    return mute;
  }
}
