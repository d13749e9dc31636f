import { SEVERITY_RANK } from '../events/event.ts';
import { idAt } from '../util/ids.ts';
import type { PruneOptions } from './store.ts';

/** Priorities are severity ranks (info 0 … critical 3): the claims walk them from this one down. */
export const MAX_PRIORITY = Math.max(...Object.values(SEVERITY_RANK));

/** An event none of whose deliveries is kept any more is removed after this long (its sender id stays). */
const ORPHAN_EVENTS_MS = 3_600_000;

/** What a prune removes, as bounds both stores apply (times in ms, id bounds since ids are time-ordered). */
export interface PruneBounds {
  /**
   * Sender ids, notification-log lines, groups' last sends, resolved incidents and their
   * messages, and ended mutes older than this are forgotten: what was told long ago decides
   * nothing any more (repeat intervals and late retries are shorter).
   */
  readonly horizon: number;
  /** Events before this id whose delivery log is gone (their sender ids stay for the duplicate window). */
  readonly orphan_events_before: string;
  /** Receipts before this id not referred to by an event before `receipt_events_before` (a receipt is made just after its events). */
  readonly orphan_receipts_before: string;
  readonly receipt_events_before: string;
}

export function pruneBounds(options: PruneOptions): PruneBounds {
  const orphans = options.now - Math.min(options.keep_events_ms, ORPHAN_EVENTS_MS);
  return {
    horizon: options.now - options.keep_events_ms,
    orphan_events_before: idAt('evt', orphans),
    orphan_receipts_before: idAt('rcp', orphans),
    receipt_events_before: idAt('evt', orphans + 60_000),
  };
}
