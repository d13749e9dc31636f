import { SEVERITY_RANK } from '../events/event.ts';
import type { RelayEvent, Severity } from '../events/event.ts';

/** `storm:` of a destination: how long its waiting work may take before it collapses, and what a digest shows. */
export interface StormConfig {
  /** Pending work that would take longer than this to send at the rate limit is a storm (ms). */
  readonly horizon_ms: number;
  /** Incidents a digest shows by name (the worst, then "+K more"). */
  readonly worst: number;
}

/** `storm: { horizon: 5m, worst: 5 }`, the default of the Slack destinations. */
export const DEFAULT_STORM: StormConfig = { horizon_ms: 5 * 60_000, worst: 5 };

/** What a template sees as `digest` when a notification is a storm digest. */
export interface DigestView {
  /** Events folded into this notification. */
  readonly count: number;
  /** Distinct incidents (dedup keys) among them. */
  readonly incidents: number;
  /** Incidents whose latest state here is firing, and resolved. */
  readonly firing: number;
  readonly resolved: number;
  /** Firing incidents by severity. */
  readonly severities: Readonly<Record<Severity, number>>;
  /** The latest event of the worst incidents: firing before resolved, then by severity, then newest. */
  readonly worst: readonly RelayEvent[];
  /** Incidents not named in `worst` ("+K more"). */
  readonly more: number;
  /** The group: the event type when they share one, else the route. */
  readonly label: string;
  /** When the oldest and newest folded event occurred (ISO 8601). */
  readonly first_at: string;
  readonly last_at: string;
}

/**
 * The summary of a storm digest, a pure function of its events (oldest first, as claimed) and
 * how many to name. An incident with several events in one digest (a firing and its resolve)
 * counts once, at its latest state — what the reader needs to know now.
 */
export function digestView(events: readonly RelayEvent[], worst: number, route: string | null): DigestView {
  const latest = new Map<string, RelayEvent>();
  for (const event of events) latest.set(event.dedup_key, event);
  const incidents = [...latest.values()];
  const severities: Record<Severity, number> = { critical: 0, error: 0, warning: 0, info: 0 };
  let firing = 0;
  for (const event of incidents) {
    if (event.status !== 'firing') continue;
    severities[event.severity] += 1;
    firing += 1;
  }
  const ranked = [...incidents].sort(
    (a, b) =>
      Number(b.status === 'firing') - Number(a.status === 'firing') ||
      SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
      Date.parse(b.occurred_at) - Date.parse(a.occurred_at) ||
      (b.id < a.id ? -1 : b.id > a.id ? 1 : 0),
  );
  const shown = ranked.slice(0, Math.max(0, worst));
  const types = new Set(events.map((event) => event.type));
  const times = events.map((event) => Date.parse(event.occurred_at)).filter((time) => Number.isFinite(time));
  const first = events[0]?.occurred_at ?? '';
  return {
    count: events.length,
    incidents: incidents.length,
    firing,
    resolved: incidents.length - firing,
    severities,
    worst: shown,
    more: incidents.length - shown.length,
    label: types.size === 1 ? [...types][0]! : `route ${route ?? '(none)'}`,
    first_at: times.length > 0 ? new Date(Math.min(...times)).toISOString() : first,
    last_at: times.length > 0 ? new Date(Math.max(...times)).toISOString() : first,
  };
}

/**
 * Requests a destination can send within the horizon at its rate limit: more waiting is a
 * storm. Null without a rate limit — nothing to measure the horizon against, so it never
 * collapses (config refuses `storm` there).
 */
export function stormCapacity(storm: StormConfig | null | undefined, rate: { readonly max: number; readonly per_ms: number } | null): number | null {
  if (!storm || !rate) return null;
  return Math.max(1, Math.floor((storm.horizon_ms / rate.per_ms) * rate.max));
}
