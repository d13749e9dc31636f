import type { RelayEvent } from '../events/event.ts';
import type { ClaimedDelivery, Mute, NotificationEntry, Store } from '../store/store.ts';
import type { Clock } from '../util/clock.ts';
import { firstHold } from './rules.ts';
import type { Hold, Rule } from './rules.ts';

/** A route's noise rules, looked up by name when its delivery is about to go out (config changes apply to waiting work). */
export interface RouteRules {
  /** `repeat_interval` (ms) as configured, or undefined for the default. */
  readonly repeat_ms?: number | undefined;
}

export interface NotificationStageOptions {
  readonly store: Pick<Store, 'notificationLog'>;
  readonly mutes: { match(event: RelayEvent, now: number): Mute | null };
  readonly routes: (name: string) => RouteRules | undefined;
  /** Sources whose sender re-sends an alert's whole state (Alertmanager): repeats are suppressed by default. */
  readonly resendsState: (source: string) => boolean;
  readonly clock: Clock;
  readonly rules?: readonly Rule[];
}

/** Alertmanager's default `repeat_interval`. */
export const DEFAULT_REPEAT_MS = 4 * 3_600_000;

export interface HeldEvents {
  readonly ids: readonly string[];
  readonly hold: Hold;
}

export interface StageVerdict {
  /** What still goes out (a batch may shrink to the events not held), or null when nothing does. */
  readonly send: ClaimedDelivery | null;
  readonly held: readonly HeldEvents[];
}

/**
 * The notification stage: run when a delivery is about to be sent, per event of its request,
 * as pure rules over the event, the notification log and the clock (src/notify/rules.ts).
 * Replays and commands are a person's explicit ask and pass untouched.
 */
export class NotificationStage {
  readonly #options: NotificationStageOptions;

  constructor(options: NotificationStageOptions) {
    this.#options = options;
  }

  async decide(delivery: ClaimedDelivery, destination: { readonly name: string; readonly stateful?: boolean | undefined }): Promise<StageVerdict> {
    if (delivery.unordered) return { send: delivery, held: [] };
    const { store, mutes, clock } = this.#options;
    const now = clock.now();
    const ids = [delivery.id, ...delivery.member_ids];
    const log = await store.notificationLog(destination.name, delivery.events.map((event) => event.dedup_key));
    const told = new Map<string, NotificationEntry>(log.map((entry) => [entry.dedup_key, entry]));
    const route = delivery.route === null ? undefined : this.#options.routes(delivery.route);

    const held = new Map<string, { ids: string[]; hold: Hold }>();
    const sendable: number[] = [];
    delivery.events.forEach((event, index) => {
      const resendsState = this.#options.resendsState(event.source);
      const hold = firstHold(
        {
          event,
          now,
          told: told.get(event.dedup_key) ?? null,
          mute: mutes.match(event, now),
          repeat_ms: route?.repeat_ms ?? (resendsState ? DEFAULT_REPEAT_MS : null),
          resends_state: resendsState,
          stateful: destination.stateful === true,
        },
        this.#options.rules,
      );
      if (!hold) {
        sendable.push(index);
        return;
      }
      const group = held.get(hold.note) ?? { ids: [], hold };
      group.ids.push(ids[index]!);
      held.set(hold.note, group);
    });

    if (sendable.length === ids.length) return { send: delivery, held: [] };
    const heldGroups = [...held.values()];
    if (sendable.length === 0) return { send: null, held: heldGroups };
    // The batch shrinks to what may go out; its request is drawn again for those events only.
    const [lead, ...rest] = sendable;
    return {
      send: {
        ...delivery,
        id: ids[lead!]!,
        event: delivery.events[lead!]!,
        member_ids: rest.map((index) => ids[index]!),
        events: sendable.map((index) => delivery.events[index]!),
        request_body: null,
      },
      held: heldGroups,
    };
  }
}
