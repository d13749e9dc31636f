import type { Logger } from 'pino';
import type { RelayEvent } from '../events/event.ts';
import { HookrelayError } from '../errors.ts';
import type { IncidentStateStore, Mute } from '../store/store.ts';

/** The mutes' part of the incident state. */
type MuteStore = Pick<IncidentStateStore, 'createMute' | 'deleteMute' | 'listMutes'>;
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
  readonly mute: Mute;
  readonly expires: number;
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
  /** Stored mutes refused by today's bounds, warned about once each. */
  readonly #unsafe = new Set<string>();
  readonly #clock: Clock;
  #cancel: (() => void) | null = null;
  #stopped = false;

  constructor(store: MuteStore, logger: Logger, clock: Clock = systemClock) {
    this.#store = store;
    this.#logger = logger;
    this.#clock = clock;
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

  async refresh(): Promise<void> {
    const mutes = await this.#store.listMutes({ now: this.#clock.now() });
    this.#active = mutes.map((mute) => ({ mute, expires: Date.parse(mute.expires_at), matches: this.#compile(mute) }));
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

  /** The first active mute matching this event, or null. */
  match(event: RelayEvent, now = this.#clock.now()): Mute | null {
    for (const active of this.#active) {
      if (active.expires > now && active.matches(event)) return active.mute;
    }
    return null;
  }

  active(now = this.#clock.now()): Mute[] {
    return this.#active.filter((active) => active.expires > now).map((active) => active.mute);
  }

  async create(request: NewMute, now = this.#clock.now()): Promise<Mute> {
    const problem = invalidMatchers(request.matchers);
    if (problem) throw new HookrelayError('invalid_request', problem);
    if (!(request.duration_ms > 0) || request.duration_ms > MAX_MUTE_MS) {
      throw new HookrelayError('invalid_request', 'a mute lasts between 1 second and 30 days');
    }
    const mute = await this.#store.createMute({
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

  async delete(id: string, now = this.#clock.now()): Promise<Mute | null> {
    const mute = await this.#store.deleteMute(id, now);
    await this.refresh();
    if (mute) this.#logger.info({ mute_id: id }, 'mute ended');
    return mute;
  }
}
