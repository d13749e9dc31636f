/**
 * What an attempt's outcome makes of its deliveries, the notification log and the group: the
 * stores commit what these say, a batch of attempts at a time.
 */
import { digestNote } from './storm.ts';

export type AttemptOutcomeKind = 'succeeded' | 'retry' | 'failed' | 'superseded';

export interface OutcomeFacts {
  readonly delivery_id: string;
  readonly member_ids: readonly string[];
  readonly outcome: AttemptOutcomeKind;
  readonly next_attempt_at: number | null;
  readonly error: string | null;
  readonly digest?: boolean | undefined;
}

/** The delivery after its attempt: its status, when it is due again, its error and note. */
export interface DeliveryAfter {
  readonly status: 'pending' | 'succeeded' | 'failed' | 'skipped';
  readonly next_attempt_at: number | null;
  readonly last_error: string | null;
  /** Null: the note stays as it was. */
  readonly note: string | null;
}

/**
 * A retry waits for its next attempt; superseded (an older row's outcome) is skipped with its
 * reason as the note, not as an error; a digest's events note the digest they went out in.
 */
export function deliveryAfter(result: OutcomeFacts): DeliveryAfter {
  if (result.outcome === 'retry') return { status: 'pending', next_attempt_at: result.next_attempt_at, last_error: result.error, note: digestNote(result) };
  if (result.outcome === 'superseded') return { status: 'skipped', next_attempt_at: null, last_error: null, note: result.error };
  return { status: result.outcome, next_attempt_at: null, last_error: result.error, note: digestNote(result) };
}

export interface Told {
  readonly destination: string;
  readonly dedup_key: string;
  readonly sent_at: number;
}

/** One line per incident and destination: of several told in one commit, the latest sent is what it was last told. */
export function latestTold<T extends Told>(entries: Iterable<T>): T[] {
  const latest = new Map<string, T>();
  for (const entry of entries) {
    const key = `${entry.destination}\u001f${entry.dedup_key}`;
    const before = latest.get(key);
    if (!before || entry.sent_at >= before.sent_at) latest.set(key, entry);
  }
  return [...latest.values()];
}

/**
 * A slack-bot message updated by an attempt changed meanwhile (an acknowledgement) if its
 * version after the update is not one past the version the request was drawn from: redraw it.
 */
export function incidentMessageStale(versionAfterUpdate: number, drawnFromVersion: number): boolean {
  return versionAfterUpdate - 1 !== drawnFromVersion;
}
