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

/** What the store knows, as an attempt commits, about leasing its incident's next delivery in the same transaction. */
export interface ChainFacts {
  /** The lane asked for it (it has room, is not stopping, and its rate is not paused). */
  readonly asked: boolean;
  /** The attempt was recorded (its lease was still ours). */
  readonly recorded: boolean;
  /** The attempt finished its delivery: a retry keeps it at the head of its incident. */
  readonly finished: boolean;
  /** A probe's success closes the circuit, which makes all waiting work due: the claim takes it from there. */
  readonly probe: boolean;
  readonly incident_key: string | null;
  /** The circuit after this attempt was folded in: an open one leases nothing new. */
  readonly enabled: boolean;
}

/**
 * The next update of an incident goes as soon as the previous one is recorded, not at the lane's
 * next claim: the commit that finishes an ordered delivery leases the next waiting delivery of
 * its incident to the same owner. Only what a claim would lease on its own goes this way (see
 * src/store/chain-sql.ts): a grouped delivery waits for its group, and during a storm the claim folds
 * work into digests.
 */
export function chainsNext(facts: ChainFacts): boolean {
  return facts.asked && facts.recorded && facts.finished && !facts.probe && facts.incident_key !== null && facts.enabled;
}

/**
 * A chained lease may take a run of the incident's waiting deliveries, not only the next one: the
 * lane then sends each as soon as the one ahead is answered, without waiting for that one's record
 * to commit. The run is the incident's first unfinished deliveries, in order, up to the first one
 * a claim would not lease on its own (src/store/chain-sql.ts): nothing after it may overtake it.
 */
export function chainedRun<T>(firstUnfinished: readonly T[], chainable: (row: T) => boolean): T[] {
  const run: T[] = [];
  for (const row of firstUnfinished) {
    if (!chainable(row)) break;
    run.push(row);
  }
  return run;
}
