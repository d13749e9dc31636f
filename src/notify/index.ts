/**
 * The notification engine's decisions, one home each, as plain TypeScript over facts the store
 * loads (and saves again); nothing here reads a database or a clock of its own.
 *
 * - rules.ts, pipeline.ts: the notification stage when a delivery is about to go out
 *   (inhibit → time interval → mute → superseded → threshold → repeat; the first hold wins).
 * - time-intervals.ts: the config's named `time_intervals` (whether an instant is in one).
 * - interval-ends.ts: what a muting interval's hold waits for, and which held deliveries are
 *   told once it ends (app/interval-ends.ts looks each minute and applies it).
 * - inhibit.ts: inhibit rules compiled from config (reads routing/, never the reverse).
 * - incident-order.ts: per-incident order (leases at ingest, unordered replays and commands),
 *   whether an inhibition still stands, which held deliveries a resolve releases.
 * - grouping.ts: group_wait / group_interval timing, batches, the prompt resolve.
 * - storm.ts, digest.ts: when waiting work is a storm, what a digest folds, and what it shows.
 * - claim-members.ts: what a claimed delivery brings (its grouped batch, or a storm digest):
 *   the queries a store reads, and who joins from what they found.
 * - breaker.ts: the circuit breaker's state machine over a destination's health row.
 * - fallback.ts: fallback destinations — what an open circuit hands to its fallback, how the
 *   copy is marked, noted and keyed, which resolves still wait for the original, and what
 *   `check` refuses (no chains, no cycles).
 * - outcome.ts: what an attempt makes of its delivery and the notification log.
 * - facts.ts: the types the rules judge and read (a claimed delivery, the notification log,
 *   thresholds, mutes) and RuleFacts, the reads the stage needs.
 *
 * Dependencies point one way: notify imports events/, routing/ and util/ only; the stores
 * (src/store/) import notify, persist, and re-export these types (see the layout note in
 * src/store/store.ts). The event a circuit's change becomes is the app's (app/breaker-notice.ts).
 */
export * from './breaker.ts';
export * from './claim-members.ts';
export * from './grouping.ts';
export * from './incident-order.ts';
export * from './outcome.ts';
export * from './storm.ts';
