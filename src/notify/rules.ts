import type { RelayEvent } from '../events/event.ts';
import type { Mute, NotificationEntry } from './facts.ts';
import type { RouteSchedule } from '../routing/routes.ts';
import { configMuteMarker, mutedDuringMarker, outsideMarker, runTimeMuteMarker } from './interval-ends.ts';
import { formatDuration } from '../util/format.ts';

/** Why the notification stage holds an event back: the delivery log shows `note`, metrics count `rule`. */
export interface Hold {
  readonly rule: 'inhibit' | 'interval' | 'mute' | 'superseded' | 'threshold' | 'repeat';
  readonly status: 'muted' | 'skipped';
  readonly note: string;
  /**
   * Inhibited: the incident (`[source, dedup_key]` as JSON) whose resolve releases it; held by a
   * time interval: the interval's marker (notify/interval-ends.ts), released when it ends.
   */
  readonly held_by?: string;
}

/** What the rules know when a delivery is about to go out: the event, the log, the clock. */
export interface Facts {
  readonly event: RelayEvent;
  readonly now: number;
  /** What this destination was last told of the event's incident. */
  readonly told: NotificationEntry | null;
  /** The first active mute matching the event. */
  readonly mute: Mute | null;
  /** The route's `repeat_interval` (ms), or null when repeats are not suppressed. */
  readonly repeat_ms: number | null;
  /**
   * The sender re-sends an alert's whole state (Alertmanager): an unchanged repeat is the same
   * status *and* the same start (`startsAt`); otherwise the same status is enough.
   */
  readonly resends_state: boolean;
  /** The destination holds incident state (PagerDuty, slack-bot): a late, older event would undo it. */
  readonly stateful: boolean;
  /** A firing event an inhibit rule says holds this one back, or null. */
  readonly inhibitor: RelayEvent | null;
  /** The route's threshold and where it stands for this event's key, or null when the route has none. */
  readonly threshold: { readonly count: number; readonly within_ms: number; readonly seen: number; readonly fired: string | null } | null;
  /** The route's `muted_during` / `active_during` and the config's named intervals, or null when it has neither. */
  readonly schedule: { readonly route: RouteSchedule; readonly intervals: IntervalSet } | null;
}

/** The config's named time intervals (notify/time-intervals.ts): which of some names an instant is in. */
export interface IntervalSet {
  firstContaining(names: readonly string[], at: number): string | null;
}

export type Rule = (facts: Facts) => Hold | null;

/**
 * Alertmanager's inhibition: while a source event fires, target events with equal fields are
 * held back; the source's resolve releases them (they are judged again then).
 */
export const inhibitRule: Rule = ({ inhibitor }) =>
  inhibitor
    ? {
        rule: 'inhibit',
        status: 'muted',
        note: `inhibited by ${inhibitor.id} (${inhibitor.title})`,
        held_by: JSON.stringify([inhibitor.source, inhibitor.dedup_key]),
      }
    : null;

/**
 * A route's schedule (Alertmanager's time-based muting, `mute_time_intervals` and
 * `active_time_intervals`): held while `now` is inside one of `muted_during`, or outside all of
 * `active_during`. Decided when the delivery is about to go out, so the note names the interval.
 */
export const intervalRule: Rule = ({ schedule, now }) => {
  if (schedule === null) return null;
  const { route, intervals } = schedule;
  const muted = route.muted_during.length > 0 ? intervals.firstContaining(route.muted_during, now) : null;
  if (muted !== null) return { rule: 'interval', status: 'muted', note: `muted during ${muted} (route ${route.route})`, held_by: mutedDuringMarker(muted) };
  if (route.active_during.length > 0 && intervals.firstContaining(route.active_during, now) === null) {
    return { rule: 'interval', status: 'muted', note: `outside ${route.active_during.join(', ')} (route ${route.route})`, held_by: outsideMarker(route.active_during) };
  }
  return null;
};

/**
 * `threshold: { count, within }`: the route fires once `count` matching events (per key) arrived
 * within the window; until then, and after it fired within the window, events are held. A resolve
 * goes out only if the threshold fired for its incident.
 */
export const thresholdRule: Rule = ({ event, threshold, told }) => {
  if (threshold === null) return null;
  if (event.status === 'resolved') {
    return told?.status === 'firing' ? null : { rule: 'threshold', status: 'skipped', note: 'resolved before the threshold fired' };
  }
  if (threshold.seen < threshold.count) {
    return { rule: 'threshold', status: 'skipped', note: `below threshold ${threshold.seen}/${threshold.count} within ${formatDuration(threshold.within_ms)}` };
  }
  if (threshold.fired !== null) {
    return { rule: 'threshold', status: 'skipped', note: `threshold already fired within ${formatDuration(threshold.within_ms)} (${threshold.fired})` };
  }
  return null;
};

/**
 * Silences set from Slack or the admin API: the hold a matching mute makes. The same decision
 * at ingest (a mute already active: logged muted at once) and at send (one set since).
 */
export function muteHold(mute: Mute | null): Hold | null {
  if (!mute) return null;
  const note = `muted by ${mute.id}${mute.reason ? ` (${mute.reason})` : ''}`;
  // A mute that ends (a config mute's intervals, a run-time mute's expiry or end) names it: what it
  // held is then told (notify/interval-ends.ts). A config mute without intervals never ends.
  if (mute.during) return { rule: 'mute', status: 'muted', note, held_by: configMuteMarker(mute.id) };
  return mute.from_config ? { rule: 'mute', status: 'muted', note } : { rule: 'mute', status: 'muted', note, held_by: runTimeMuteMarker(mute.id) };
}

export const muteRule: Rule = ({ mute }) => muteHold(mute);

/** Alertmanager's dedup stage: an unchanged alert is told again only after `repeat_interval`. */
export const repeatRule: Rule = ({ event, told, now, repeat_ms, resends_state }) => {
  if (repeat_ms === null || told === null || told.status !== event.status) return null;
  if (resends_state && told.occurred_at !== event.occurred_at) return null;
  if (now >= told.sent_at + repeat_ms) return null;
  return { rule: 'repeat', status: 'skipped', note: `repeat within ${formatDuration(repeat_ms)} of ${told.delivery_id || 'an earlier delivery'}` };
};

/**
 * A sender's late retry: the event happened (sender time) before one this destination was
 * already told of. Our own delays never count — incident order keeps those in sequence.
 */
export const supersededRule: Rule = ({ event, told, stateful }) => {
  if (!stateful || told === null) return null;
  if (Date.parse(event.occurred_at) >= Date.parse(told.occurred_at)) return null;
  return {
    rule: 'superseded',
    status: 'skipped',
    note: `superseded: ${told.delivery_id || 'a delivery'} told this destination of a newer event of the incident (${told.occurred_at})`,
  };
};

/**
 * In order, like Alertmanager's pipeline (inhibit → time active → time mute → silence → wait →
 * dedup); the first hold wins.
 */
export const RULES: readonly Rule[] = [inhibitRule, intervalRule, muteRule, supersededRule, thresholdRule, repeatRule];

export function firstHold(facts: Facts, rules: readonly Rule[] = RULES): Hold | null {
  for (const rule of rules) {
    const hold = rule(facts);
    if (hold) return hold;
  }
  return null;
}
