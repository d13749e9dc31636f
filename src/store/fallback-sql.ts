import { COMMAND_ROUTE_PREFIX } from '../notify/incident-order.ts';

/**
 * The rows an open circuit hands to its fallback (src/notify/fallback.ts), as both stores' claims
 * write it (`d` is the candidate row, `now` the placeholder of the claim time): not a replay or a
 * command (a person's ask of this very destination waits for it), nor one copied there already
 * that waits for its own destination too.
 */
export const HANDS_OFF_SQL = `d.replay_of IS NULL AND (d.route IS NULL OR d.route NOT LIKE '${COMMAND_ROUTE_PREFIX}%') AND d.fallback_delivery IS NULL`;

/** Due for the fallback: due as for any claim, or a retry (due at once: it waits for a destination that is down). */
export function handOffDue(now: string): string {
  return `(d.next_attempt_at <= ${now} OR (d.status = 'pending' AND d.attempts > 0)) AND ${HANDS_OFF_SQL}`;
}

/** What falls due for the fallback later (a group's wait, another worker's lease): retries are due already. */
export const HAND_OFF_LATER_SQL = `NOT (d.status = 'pending' AND d.attempts > 0) AND ${HANDS_OFF_SQL}`;
