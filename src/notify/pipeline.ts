import type { RelayEvent } from '../events/event.ts';
import type { ClaimedDelivery, Mute, NotificationEntry, RuleFacts } from './facts.ts';
import type { Clock } from '../util/clock.ts';
import type { RouteRules } from '../routing/routes.ts';
import type { InhibitRule } from './inhibit.ts';
import { firstHold } from './rules.ts';
import type { Facts, Hold, IntervalSet, Rule } from './rules.ts';


export interface NotificationStageOptions {
  readonly store: RuleFacts;
  /** Top-level inhibit rules, compiled. */
  readonly inhibit?: readonly InhibitRule[];
  readonly mutes: { match(event: RelayEvent, now: number): Mute | null };
  readonly routes: (name: string) => RouteRules | undefined;
  /** Sources whose sender re-sends an alert's whole state (Alertmanager): repeats are suppressed by default. */
  readonly resendsState: (source: string) => boolean;
  readonly clock: Clock;
  readonly rules?: readonly Rule[];
  /** The config's `time_intervals`, for routes' `muted_during` / `active_during`. */
  readonly intervals?: IntervalSet;
}

/** No interval is configured: a route naming one anyway (refused by `check`) is never inside it. */
const NO_INTERVALS: IntervalSet = { firstContaining: () => null };

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
  /** The threshold that let it go: its message says how many arrived within the window. */
  readonly threshold?: { readonly count: number; readonly within_ms: number } | undefined;
}

/** At most this many firing incidents are considered as inhibit sources (newest first). */
const MAX_INHIBIT_SOURCES = 10_000;

/**
 * The notification stage: run when a delivery is about to be sent, per event of its request,
 * as pure rules over the event, the notification log and the clock (src/notify/rules.ts).
 * Replays and commands are a person's explicit ask and pass untouched; so does a fallback's copy.
 */
export class NotificationStage {
  readonly #options: NotificationStageOptions;

  constructor(options: NotificationStageOptions) {
    this.#options = options;
  }

  async decide(delivery: ClaimedDelivery, destination: { readonly name: string; readonly stateful?: boolean | undefined }): Promise<StageVerdict> {
    // A fallback's copy was judged by its own destination's rules when it was handed over (notify/fallback.ts).
    if (delivery.unordered || delivery.fallback_for) return { send: delivery, held: [] };
    const { store, mutes, clock } = this.#options;
    const now = clock.now();
    const ids = [delivery.id, ...delivery.member_ids];
    const route = delivery.route === null ? undefined : this.#options.routes(delivery.route);
    const repeatMs = (event: RelayEvent): number | null => route?.repeat_ms ?? (this.#options.resendsState(event.source) ? DEFAULT_REPEAT_MS : null);
    // The log is read only when a rule looks at it (a custom rule set may look at anything).
    const readsLog =
      this.#options.rules !== undefined || destination.stateful === true || route?.threshold !== undefined || delivery.events.some((event) => repeatMs(event) !== null);
    const log = readsLog ? await store.notificationLog(destination.name, delivery.events.map((event) => event.dedup_key)) : [];
    const told = new Map<string, NotificationEntry>(log.map((entry) => [entry.dedup_key, entry]));
    const schedule = route?.schedule ? { route: route.schedule, intervals: this.#options.intervals ?? NO_INTERVALS } : null;

    const held = new Map<string, { ids: string[]; hold: Hold }>();
    const sendable: number[] = [];
    let firing: Promise<RelayEvent[]> | null = null;
    let fired: StageVerdict['threshold'];
    for (const [index, event] of delivery.events.entries()) {
      const resendsState = this.#options.resendsState(event.source);
      const facts = {
        event,
        now,
        told: told.get(event.dedup_key) ?? null,
        mute: mutes.match(event, now),
        repeat_ms: repeatMs(event),
        resends_state: resendsState,
        stateful: destination.stateful === true,
        inhibitor: await this.#inhibitor(event, () => (firing ??= store.firingIncidents(MAX_INHIBIT_SOURCES))),
        threshold: await this.#threshold(delivery, index, destination.name, route, now),
        schedule,
      };
      const hold = firstHold(facts, this.#options.rules);
      if (!hold) {
        sendable.push(index);
        if (facts.threshold && event.status === 'firing') fired = { count: facts.threshold.seen, within_ms: facts.threshold.within_ms };
        continue;
      }
      const group = held.get(hold.note) ?? { ids: [], hold };
      group.ids.push(ids[index]!);
      held.set(hold.note, group);
    }

    if (sendable.length === ids.length) return { send: delivery, held: [], threshold: fired };
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
        rule_keys: sendable.map((index) => delivery.rule_keys[index] ?? null),
        request_body: null,
      },
      held: heldGroups,
      threshold: fired,
    };
  }

  /** The firing event an inhibit rule says holds this one back (only read when a rule targets it). */
  async #inhibitor(event: RelayEvent, firing: () => Promise<RelayEvent[]>): Promise<RelayEvent | null> {
    const rules = (this.#options.inhibit ?? []).filter((rule) => rule.targets(event));
    if (rules.length === 0) return null;
    const sources = await firing();
    for (const rule of rules) {
      const source = rule.inhibitor(event, sources);
      if (source) return source;
    }
    return null;
  }

  /** Where the route's threshold stands for this event's key: counted up to this delivery, within the window. */
  async #threshold(delivery: ClaimedDelivery, index: number, destination: string, route: RouteRules | undefined, now: number): Promise<Facts['threshold']> {
    const threshold = route?.threshold;
    const ruleKey = delivery.rule_keys[index];
    if (!threshold || !ruleKey || delivery.route === null) return null;
    const ids = [delivery.id, ...delivery.member_ids];
    const state = await this.#options.store.thresholdState({
      destination,
      route: delivery.route,
      rule_key: ruleKey,
      since: now - threshold.within_ms,
      up_to_id: ids[index]!,
    });
    return { count: threshold.count, within_ms: threshold.within_ms, seen: state.count, fired: state.fired };
  }
}
