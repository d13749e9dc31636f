/**
 * What a claimed delivery (the lead) brings with it: the rest of its grouped batch, or during a
 * storm the due events of its group as one digest. Decided here once for both stores: a store
 * asks `memberQueries` which deliveries to read (in that order), reads each as `MemberQuery`
 * describes, and `membersOf` says who joins and which batch id to write on them. The stores
 * only translate a query into their SQL, lock what they read, and write the batch id.
 */
import { MAX_BATCH } from './grouping.ts';
import { COMMAND_ROUTE_PREFIX } from './incident-order.ts';
import { MAX_DIGEST, digestBatchId, digestMembers, foldable, isDigestBatch } from './storm.ts';
import type { DigestCandidate, FoldFacts, StormPolicy } from './storm.ts';

/** The claimed row, as the store read it. */
export interface LeadFacts extends FoldFacts {
  readonly id: string;
  readonly group_key: string | null;
  readonly batch_id: string | null;
  readonly route: string | null;
  /** The event's type: an ungrouped digest folds the events of one route and type. */
  readonly type: string;
  /** Its incident has an open message at this destination (read when the storm keeps incident messages). */
  readonly open_message?: boolean;
}

/** Which deliveries of the lead's destination a store reads for its members, oldest (smallest id) first, at most `limit`. */
export type MemberQuery =
  /** The unfinished (pending or in-flight) deliveries of a batch formed before: a grouped batch, or a storm digest. */
  | { readonly kind: 'batch'; readonly batch_id: string; readonly limit: number | null }
  /** The group's deliveries waiting to form its next batch: pending, in no batch yet. */
  | { readonly kind: 'group'; readonly group_key: string; readonly limit: number }
  /**
   * A storm digest's candidates: unfinished deliveries due by `due_by` of the lead's route and
   * group (`group_key`), or of its route and event type when ungrouped (`group_key` null), each
   * with the facts of `DigestRow`.
   */
  | {
      readonly kind: 'digest';
      readonly route: string | null;
      readonly group_key: string | null;
      readonly type: string;
      readonly due_by: number;
      readonly limit: number;
      /** Read each candidate's `open_message` (slack-bot destinations keep one message per incident). */
      readonly open_messages: boolean;
    };

/** A delivery a member query found. */
export interface MemberRow {
  readonly id: string;
}

/** A digest candidate as the store found it: what may fold (FoldFacts), and incident order's facts. */
export interface DigestRow extends MemberRow, FoldFacts, Omit<DigestCandidate, 'id'> {
  /** Its incident has an open message here (only read when the query asks for `open_messages`). */
  readonly open_message?: boolean;
}

/** Who goes with the lead. */
export interface Members {
  /** The members in order, the lead excluded (empty: the lead goes as its batch alone). */
  readonly ids: readonly string[];
  /** The batch id to write on the lead and every member (a batch formed now); null when formed before. */
  readonly form: string | null;
  /** The notification is a storm digest. */
  readonly digest: boolean;
}

/**
 * What to read for the lead's members, in order; the first query whose answer `membersOf`
 * accepts decides. During a storm a fresh lead (see `foldable`) first tries a digest of its
 * group, unless its incident keeps an open message the event should update instead; else a
 * batch formed before brings its members, and a grouped lead forms its group's next batch.
 */
export function memberQueries(lead: LeadFacts, storm: StormPolicy | null, now: number): MemberQuery[] {
  const queries: MemberQuery[] = [];
  const keep = storm?.keep_incident_messages === true;
  if (storm && foldable(lead, COMMAND_ROUTE_PREFIX) && !(keep && lead.open_message === true)) {
    queries.push({ kind: 'digest', route: lead.route, group_key: lead.group_key, type: lead.type, due_by: now, limit: MAX_DIGEST, open_messages: keep });
  }
  if (lead.batch_id !== null) {
    // A digest's members are bounded when it forms; a grouped batch's by MAX_BATCH (the lead is not among them).
    queries.push({ kind: 'batch', batch_id: lead.batch_id, limit: isDigestBatch(lead.batch_id) ? null : MAX_BATCH + 1 });
  } else if (lead.group_key !== null) {
    queries.push({ kind: 'group', group_key: lead.group_key, limit: MAX_BATCH + 1 });
  }
  return queries;
}

/** The lead's members from what `query` found, or null when this query gives none (try the next). */
export function membersOf(lead: LeadFacts, query: MemberQuery, rows: readonly MemberRow[]): Members | null {
  switch (query.kind) {
    case 'batch': {
      const digest = isDigestBatch(query.batch_id);
      const ids = others(lead, rows);
      return { ids: digest ? ids : ids.slice(0, MAX_BATCH), form: null, digest };
    }
    case 'group':
      return { ids: others(lead, rows).slice(0, MAX_BATCH), form: lead.id, digest: false };
    case 'digest': {
      const candidates = (rows as readonly DigestRow[]).filter((row) => foldable(row, COMMAND_ROUTE_PREFIX) && row.open_message !== true);
      const ids = digestMembers(lead.id, candidates);
      return ids === null ? null : { ids, form: digestBatchId(lead.id), digest: true };
    }
  }
}

function others(lead: LeadFacts, rows: readonly MemberRow[]): string[] {
  return [...rows]
    .map((row) => row.id)
    .filter((id) => id !== lead.id)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
