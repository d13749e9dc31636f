/**
 * Storm digests at claim time: when more requests wait for a destination than it can send
 * within its horizon, a claimed delivery brings every due event of its group as one digest.
 * The stores count, find and lock the candidates; these rules decide.
 */

/**
 * When a destination's waiting work is a storm. The dispatcher turns `storm.horizon` into
 * requests at the destination's rate limit; the store counts its backlog for stormRaging.
 */
export interface StormPolicy {
  /** Requests the destination can send within the horizon at its rate limit; more waiting is a storm. */
  readonly capacity: number;
  /**
   * Destinations keeping one message per incident (slack-bot): an event of an incident whose
   * message is open is not folded into a digest, so that message still changes with it.
   */
  readonly keep_incident_messages?: boolean;
}

/** At most this many events in one storm digest; the rest form the next one. */
export const MAX_DIGEST = 10_000;

/**
 * A storm digest's batch id: its lead's id behind this prefix (a grouped batch's is the bare
 * lead id), so a retried digest is claimed, drawn and recorded as a digest again.
 */
export const DIGEST_BATCH = 'digest:';

export const digestBatchId = (lead: string): string => `${DIGEST_BATCH}${lead}`;

export const isDigestBatch = (batchId: unknown): batchId is string => typeof batchId === 'string' && batchId.startsWith(DIGEST_BATCH);

/** How many waiting requests the store counts at most: one more than the capacity tells a storm. */
export const stormCountLimit = (policy: { readonly capacity: number }): number => policy.capacity + 1;

/**
 * Storm: more requests wait for this destination than it can send within the horizon at its
 * rate limit (`capacity`). A batch waiting for its retry counts as one request.
 */
export function stormRaging(waiting: number, policy: { readonly capacity: number }): boolean {
  return waiting > policy.capacity;
}

/** What a row must show to be folded into a digest. */
export interface FoldFacts {
  readonly batch_id?: unknown;
  readonly attempts?: unknown;
  readonly request_body?: unknown;
  readonly replay_of?: unknown;
  readonly route?: unknown;
  /** Set on a fallback's copy (notify/fallback.ts). */
  readonly fallback_of?: unknown;
}

/**
 * Fresh work a digest may fold: never a retry (its request is made), a replay, a command, a
 * formed batch, or a fallback's copy (its message carries the fallback's marker of its own).
 */
export function foldable(row: FoldFacts, commandPrefix: string): boolean {
  return (
    (row.batch_id === null || row.batch_id === undefined) &&
    (row.fallback_of === null || row.fallback_of === undefined) &&
    Number(row.attempts) === 0 &&
    row.request_body === null &&
    row.replay_of === null &&
    !String(row.route ?? '').startsWith(commandPrefix)
  );
}

/** A due delivery of the lead's group, as the store found it. */
export interface DigestCandidate {
  readonly id: string;
  readonly incident_key: string | null;
  /** Unfinished deliveries of its incident at this destination with smaller ids. */
  readonly ahead: number;
  /** Another delivery of its incident is in flight under a live lease (shared stores). */
  readonly blocked?: boolean;
  /** Its incident is being leased by another process right now (shared stores). */
  readonly busy?: boolean;
}

/**
 * The members of the lead's digest, in order (the lead excluded), or null when it would be
 * alone. Incident order holds: an event joins only if every earlier unfinished delivery of its
 * incident is in this digest too (a resolve never goes before its own firing; both in one
 * digest show the latest state), and none of its incident is in flight or busy elsewhere.
 */
export function digestMembers(lead: string, candidates: readonly DigestCandidate[]): string[] | null {
  const taken = new Map<string, number>();
  const members: string[] = [];
  for (const candidate of candidates) {
    const key = candidate.incident_key;
    if (key !== null) {
      const before = taken.get(key) ?? 0;
      if (candidate.busy === true || candidate.blocked === true || before < 0 || candidate.ahead !== before) {
        taken.set(key, -1);
        continue;
      }
      taken.set(key, before + 1);
    }
    if (candidate.id !== lead) members.push(candidate.id);
  }
  return members.length === 0 ? null : members;
}

/** How the delivery log names the digest each folded event went out in. */
export function digestNote(result: { readonly digest?: boolean | undefined; readonly delivery_id: string; readonly member_ids: readonly string[] }): string | null {
  if (result.digest !== true) return null;
  const events = 1 + result.member_ids.length;
  return `in digest ${result.delivery_id} (${events.toLocaleString('en-US')} events)`;
}
