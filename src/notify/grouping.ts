/**
 * Grouped routes (Alertmanager's group_wait / group_interval): when a grouped delivery goes
 * out, and what a batch is. The stores load the group's facts and store what these decide.
 */

/** At most this many events in one grouped notification; the rest form the next batch. */
export const MAX_BATCH = 1_000;

export interface GroupTiming {
  readonly wait_ms: number;
  readonly interval_ms: number;
}

/** What the store knows of a group at a destination when a new delivery joins it. */
export interface GroupFacts {
  /** When the batch still waiting to form is due, or null when none waits. */
  readonly waiting_due: number | null;
  /** A batch of the group is formed and not finished (being sent, or waiting for its retry). */
  readonly in_progress: boolean;
  /** When the group's last notification went out, or null. */
  readonly last_sent_at: number | null;
}

/**
 * With the batch of its group that is still waiting; else one `interval` after the group's last
 * notification (or its batch in progress); else, for a new or long-quiet group, after `wait`
 * for others to join.
 */
export function groupDueAt(group: GroupTiming, facts: GroupFacts, now: number): number {
  if (facts.waiting_due !== null) return facts.waiting_due;
  if (facts.in_progress) return now + group.interval_ms;
  const next = facts.last_sent_at === null ? 0 : facts.last_sent_at + group.interval_ms;
  return next > now ? next : now + group.wait_ms;
}

/** A resolve whose firing this destination was told of goes out promptly, not a group interval later. */
export function joinsGroup(eventStatus: string, toldStatus: string | null): boolean {
  return !(eventStatus === 'resolved' && toldStatus === 'firing');
}

/** The group remembers when it last notified: any finished attempt, not one to be retried. */
export function groupNotified(outcome: string): boolean {
  return outcome !== 'retry';
}
