import type { Mute } from './facts.ts';
import type { IntervalSet } from './rules.ts';
import type { RouteSchedule } from '../routing/routes.ts';

/**
 * When a mute or a muting interval ends, an incident it held that still fires is told its
 * current state once (Alertmanager #3367). A hold that can end names what must end for it to
 * lift, in the delivery's `held_by` (never JSON: that names an inhibiting incident):
 *
 * - `interval:nights` — a route's `muted_during` (lifts when the time leaves nights);
 * - `outside:office_hours,lunch` — a route's `active_during` (lifts when it enters one of them);
 * - `mute:batch-jobs` — a config mute with `during` (lifts when it leaves all of its intervals);
 * - `until:mut_…` — a mute made at run time (lifts when it expires or someone ends it).
 *
 * A config mute without `during` holds for as long as the config has it: its holds name nothing.
 */

export const mutedDuringMarker = (name: string): string => `interval:${name}`;
export const outsideMarker = (names: readonly string[]): string => `outside:${names.join(',')}`;
export const configMuteMarker = (name: string): string => `mute:${name}`;
export const runTimeMuteMarker = (id: string): string => `until:${id}`;

/** Added to a released delivery's note: the log keeps what held it, and says it went out when that ended. */
export const RELEASED_NOTE = '; told when it ended';

/** What a hold's marker waits for; the markers a config can make, each with whether it still holds at an instant. */
export interface IntervalHold {
  readonly marker: string;
  holds(at: number): boolean;
}

/** Every marker the config's routes and mutes can leave on held deliveries (none: nothing to watch). */
export function intervalHolds(routes: readonly RouteSchedule[], mutes: readonly Mute[], intervals: IntervalSet): IntervalHold[] {
  const holds = new Map<string, IntervalHold>();
  const inAny = (names: readonly string[], at: number): boolean => intervals.firstContaining(names, at) !== null;
  for (const route of routes) {
    for (const name of route.muted_during) holds.set(mutedDuringMarker(name), { marker: mutedDuringMarker(name), holds: (at) => inAny([name], at) });
    if (route.active_during.length > 0) {
      const marker = outsideMarker(route.active_during);
      holds.set(marker, { marker, holds: (at) => !inAny(route.active_during, at) });
    }
  }
  for (const mute of mutes) {
    const during = mute.during;
    if (during) holds.set(configMuteMarker(mute.id), { marker: configMuteMarker(mute.id), holds: (at) => inAny(during, at) });
  }
  return [...holds.values()];
}

/** A delivery an interval held, with its event's incident and state. */
export interface IntervalHeldDelivery {
  readonly id: string;
  readonly destination: string;
  readonly source: string;
  readonly dedup_key: string;
  readonly status: string;
  readonly occurred_at: string;
}

/**
 * Which held deliveries to send now that their interval ended: per destination and incident,
 * the newest (the sender's time, then the id) — only if it fires. An incident that resolved
 * meanwhile, and older states, stay muted (logged, replayable): its current state is told once.
 */
export function toRenotify(held: readonly IntervalHeldDelivery[]): string[] {
  const newest = new Map<string, IntervalHeldDelivery>();
  for (const delivery of held) {
    const key = JSON.stringify([delivery.destination, delivery.source, delivery.dedup_key]);
    const seen = newest.get(key);
    if (!seen || delivery.occurred_at > seen.occurred_at || (delivery.occurred_at === seen.occurred_at && delivery.id > seen.id)) newest.set(key, delivery);
  }
  return [...newest.values()].filter((delivery) => delivery.status === 'firing').map((delivery) => delivery.id);
}
