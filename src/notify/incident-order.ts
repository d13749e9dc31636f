/**
 * Per-incident order and the holds of the notification stage, as the stores apply them when
 * work is stored, claimed and held: at most one delivery of an incident in flight at a
 * destination, later ones waiting behind it; a person's explicit ask (a replay, a command)
 * goes whatever the order; an inhibited delivery stays held only while its inhibitor fires.
 */

/** Routes of deliveries that carry a person's command (`command:acknowledge`), not an event's state. */
export const COMMAND_ROUTE_PREFIX = 'command:';

/** A replay or a command: sent whatever the incident's order, and never judged by a route's noise rules. */
export function isUnordered(row: { readonly replay_of?: unknown; readonly route?: unknown }): boolean {
  return (row.replay_of !== null && row.replay_of !== undefined) || String(row.route ?? '').startsWith(COMMAND_ROUTE_PREFIX);
}

/** What the store knows when a delivery asks for a lease at ingest. */
export interface LeaseFacts {
  /** An unfinished delivery of its incident is already queued for this destination. */
  readonly behind: boolean;
  /** The destination's circuit is closed (enabled): an open one takes no new leases. */
  readonly enabled: boolean;
}

/**
 * Fresh work leased at once to a dispatcher with room for it, unless it must wait: behind an
 * earlier event of its incident (its turn comes), or for a destination whose circuit opened
 * meanwhile (its work waits in the store). `waits` says the asked-for lease was not given.
 */
export function leaseAtIngest<L>(lease: L | null | undefined, facts: LeaseFacts): { lease: L | null; waits: boolean } {
  if (lease === null || lease === undefined) return { lease: null, waits: false };
  if (facts.behind || !facts.enabled) return { lease: null, waits: true };
  return { lease, waits: false };
}

/** When fresh work is due: at its lease's end when leased, else with its group, else at once; never for muted or skipped. */
export function dueAtIngest(status: string, leaseUntil: number | null, groupDue: number | null, receivedAt: number): number | null {
  if (status !== 'pending') return null;
  return leaseUntil ?? groupDue ?? receivedAt;
}

/** `[source, dedup_key]` of a hold's `held_by`, or null when it names no incident. */
export function inhibitorOf(heldBy: string): { source: string; dedup_key: string } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(heldBy);
  } catch {
    return null;
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) return null;
  return { source: String(parsed[0]), dedup_key: String(parsed[1]) };
}

/**
 * A hold by an inhibiting incident stands while that incident fires. If it resolved after the
 * stage read it, its resolve released nothing of these yet: they are given back, due now, to
 * be judged afresh. Not tracked at all (inhibit rules added meanwhile): the stage saw it
 * firing; hold as asked.
 */
export function inhibitionStands(inhibitorStatus: string | null): boolean {
  return inhibitorStatus === null || inhibitorStatus === 'firing';
}

/** A delivery an incident's resolve released is judged afresh only if its own incident still fires. */
export function releasedByResolve(ownIncidentStatus: string | null): boolean {
  return ownIncidentStatus === 'firing';
}
