/**
 * What a lease counts when it takes a delivery over from a worker that stopped (the row is still
 * in flight, its lease expired or recovered at start): one more interruption, and one more
 * interrupted attempt when that worker had marked its attempt under way (`leases('started', …)`).
 * Every new lease starts unmarked. Standard SQL, the same text in both stores, evaluated on the
 * row as it was (`status` before the update). The stores count; the crash-loop guard
 * (src/dispatch/crash-guard.ts) decides.
 */
export const TAKE_OVER_SQL = `interrupted = interrupted + CASE WHEN status = 'in_flight' THEN 1 ELSE 0 END,
  interrupted_attempts = interrupted_attempts + CASE WHEN status = 'in_flight' THEN attempt_started ELSE 0 END,
  attempt_started = 0`;
