import { HookrelayError } from '../../errors.ts';
import type {
  AttemptResult,
  ChainRequest,
  ClaimBatch,
  ClaimOptions,
  ClaimedDelivery,
  DeliveryRecord,
  DestinationState,
  EchoApplication,
  EchoApplied,
  FallbackHandOff,
  HoldRequest,
  IncidentMessage,
  IncidentMessageEffect,
  IngestBatch,
  IngestedEvent,
  StoredMute,
  NewDelivery,
  PreparedDelivery,
  PruneOptions,
  RecordedAttempt,
  RequestLogEntry,
  StormPolicy,
} from '../store.ts';
import { FINISHED_STATUSES } from '../store.ts';
import { breakerFold, closedByHand, probeHeld, probeLeased, probeTurn, stampOnly } from '../../notify/breaker.ts';
import type { BreakerStep, CircuitState, HealthReport } from '../../notify/breaker.ts';
import { groupDueAt, groupNotified, joinsGroup } from '../../notify/grouping.ts';
import { chainsNext, dueAtIngest, inhibitionStands, inhibitorOf, leaseAtIngest, releasedByResolve } from '../../notify/incident-order.ts';
import { deliveryAfter, incidentMessageStale, latestTold } from '../../notify/outcome.ts';
import { attemptColumns, incidentStateColumns } from '../columns.ts';
import { digestBatchId, stormCountLimit, stormRaging } from '../../notify/storm.ts';
import { memberQueries, membersOf } from '../../notify/claim-members.ts';
import type { MemberQuery } from '../../notify/claim-members.ts';
import { MAX_PRIORITY, pruneBounds } from '../retention.ts';
import { TAKE_OVER_SQL } from '../take-over.ts';
import { HAND_OFF_LATER_SQL, handOffDue } from '../fallback-sql.ts';
import { chainableRow } from '../chain-sql.ts';
import { alsoWaitsNote, fallbackGroupKey, fallbackIncidentKey, handedOverNote, standsInNote } from '../../notify/fallback.ts';
// The row shapes are the same in both stores (same columns, times in ms): one set of readers.
import {
  CIRCUIT_COLUMNS,
  DELIVERY_COLUMNS,
  DESTINATION_STATE_SQL,
  EVENT_COLUMNS,
  circuitFromRow,
  circuitValues,
  deliveryFromRow,
  destinationStateFromRow,
  claimedFromRows,
  incidentMessageFromRow,
  leadFromRow,
  memberFromRow,
  muteFromRow,
} from '../sqlite/rows.ts';
import { idAt } from '../../util/ids.ts';
import type { Tx } from './connection.ts';

type Row = Record<string, unknown>;

const FINISHED = FINISHED_STATUSES.map((status) => `'${status}'`).join(', ');
/**
 * Writes that only move leases (claims, renewals) need not wait for the WAL flush: if the
 * database crashes right after, the lease is lost as if it had expired, and the delivery is due
 * again (at-least-once, as with any expired lease). Ingests and attempts stay fully durable.
 */
async function leaseOnlyCommit(tx: Tx): Promise<void> {
  await tx.run('SET LOCAL synchronous_commit = off');
}
/**
 * An attempt `commitAttempts` records with the others of its batch in a few statements for the
 * whole batch: a success of one event with nothing else to change (no batch, digest, slack-bot
 * message, and not a circuit's probe). The store gathers these from concurrent callers.
 */
export function plainSuccess(result: AttemptResult): boolean {
  return (
    result.outcome === 'succeeded' &&
    result.health === 'success' &&
    result.member_ids.length === 0 &&
    result.digest !== true &&
    result.probe !== true &&
    (result.effects === null || result.effects === undefined || result.effects.incident_message === undefined)
  );
}

/** How a webhook's request log line is stored when every one of its events was seen before. */
export const DUPLICATE_ANSWER = { outcome: 'duplicate', status: 200 } as const;

/** The channel a committed write announces new work on (payload: JSON array of destinations). */
export const WORK_CHANNEL = 'hookrelay_work';

/**
 * Incident order across replicas: `d` (the candidate) is claimable when no earlier unfinished
 * delivery of its incident waits at its destination, and no other one of it is in flight under a
 * live lease, whatever its id. The second half matters with several replicas only: ids are made
 * before the commit, so a later-committed delivery can carry a smaller id than one already in
 * flight. An in-flight one whose lease ran out does not block (it is itself claimable again, and
 * would otherwise block its elders for ever). `$now` is the parameter number of the claim time.
 */
function claimable(now: string): string {
  return `(d.incident_key IS NULL OR NOT EXISTS (
    SELECT 1 FROM deliveries p
    WHERE p.destination = d.destination AND p.incident_key = d.incident_key AND p.id <> d.id
      AND p.status IN ('pending', 'in_flight')
      AND (p.id < d.id OR (p.status = 'in_flight' AND p.next_attempt_at > ${now}))))`;
}

/**
 * Transaction-level advisory locks (released at commit) name what several replicas must not
 * change at once: an incident at a destination (who leases its next delivery) and a group (who
 * forms its next batch). Ingest waits for them; claims only try them and skip what another
 * replica is busy with, in the spirit of SKIP LOCKED, and check the row again once they hold
 * the lock (READ COMMITTED: that next statement sees everything committed before). A lock is
 * chosen over SERIALIZABLE claims because those would abort and retry every claim that merely
 * read a row another replica leased, which is the common case under load.
 */
export const lockKey = (kind: 'incident' | 'group', destination: string, key: string): string => `${kind}\u001f${destination}\u001f${key}`;

async function lockAll(tx: Tx, keys: Iterable<string>): Promise<void> {
  // Always in one order, so two ingests never wait for each other in a cycle.
  const sorted = [...new Set(keys)].sort();
  if (sorted.length === 0) return;
  await tx.run('SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest($1::text[]) AS k ORDER BY k', [sorted]);
}

/**
 * Tries every key's lock in one round trip (a try never waits, so their order does not matter);
 * returns the keys another transaction holds. Those taken stay held until commit.
 */
async function tryLocks(tx: Tx, keys: readonly string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const refused = await tx.rows<{ key: string }>(
    'SELECT key FROM unnest($1::text[]) AS key WHERE NOT pg_try_advisory_xact_lock(hashtextextended(key, 0))',
    [[...new Set(keys)]],
  );
  return new Set(refused.map((row) => row.key));
}

/** The advisory locks a claimed row needs: its incident's and its group's, at this destination. */
function claimLocks(row: Row, destination: string): string[] {
  return [
    ...(row.incident_key !== null ? [lockKey('incident', destination, String(row.incident_key))] : []),
    ...(row.group_key !== null ? [lockKey('group', destination, String(row.group_key))] : []),
  ];
}

/**
 * Of rows a claim found, those it may take: a row of no incident or group as it is; one of an
 * incident or group only when its advisory locks were taken (tried all at once) and it is still
 * due (`due`, SQL over `d` with the time as `$2`) and claimable under them, judged again in one
 * statement: three round trips for the whole lot, not two per row.
 */
async function underTheirLocks(tx: Tx, found: Row[], destination: string, due: string, now: number): Promise<Row[]> {
  const locking = found.filter((row) => row.incident_key !== null || row.group_key !== null);
  const refused = await tryLocks(tx, locking.flatMap((row) => claimLocks(row, destination)));
  const held = locking.filter((row) => claimLocks(row, destination).every((key) => !refused.has(key)));
  const still =
    held.length === 0
      ? new Set<string>()
      : new Set(
          (
            await tx.rows(
              `SELECT d.id FROM deliveries d
               WHERE d.id = ANY($1::text[]) AND d.status IN ('pending', 'in_flight') AND ${due} AND ${claimable('$2')}`,
              [held.map((row) => String(row.delivery_id)), now],
            )
          ).map((row) => String(row.id)),
        );
  return found.filter((row) => (row.incident_key === null && row.group_key === null) || still.has(String(row.delivery_id)));
}

/** `($1, $2, …), ($n, …)` for a multi-row INSERT of `rows` rows of `width` columns. */
function valuesList(rows: number, width: number): string {
  return Array.from({ length: rows }, (_, row) => `(${Array.from({ length: width }, (_, column) => `$${row * width + column + 1}`).join(', ')})`).join(', ');
}

async function destinationState(tx: Tx, name: string): Promise<DestinationState | null> {
  const row = await tx.one(`${DESTINATION_STATE_SQL} WHERE s.name = $1`, [name]);
  return row ? destinationStateFromRow(row) : null;
}

async function pendingCount(tx: Tx, name: string): Promise<number> {
  return Number((await tx.one(`SELECT COUNT(*) AS n FROM deliveries WHERE destination = $1 AND status IN ('pending', 'in_flight')`, [name]))?.n ?? 0);
}

/** The breaker's columns of a destination, locked for the read-then-write when `lock` (two replicas' failures both count); null when unknown. */
async function findCircuit(tx: Tx, name: string, lock: boolean): Promise<CircuitState | null> {
  const row = await tx.one(`SELECT ${CIRCUIT_COLUMNS} FROM destination_state WHERE name = $1${lock ? ' FOR UPDATE' : ''}`, [name]);
  return row ? circuitFromRow(row) : null;
}

async function loadCircuit(tx: Tx, name: string, lock: boolean): Promise<CircuitState> {
  const state = await findCircuit(tx, name, lock);
  if (!state) throw new HookrelayError('not_found', `unknown destination "${name}"`);
  return state;
}

async function saveCircuit(tx: Tx, name: string, state: CircuitState): Promise<void> {
  const columns = CIRCUIT_COLUMNS.split(', ');
  await tx.run(`UPDATE destination_state SET ${columns.map((column, index) => `${column} = $${index + 2}`).join(', ')} WHERE name = $1`, [name, ...circuitValues(state)]);
}

/**
 * A destination's breaker after a batch of its attempts (src/notify/breaker.ts), saved. Every
 * success of a destination would otherwise update (and lock until commit) its one state row,
 * serializing all replicas' attempts on it: a healthy destination's row is read without a lock
 * and only its success stamp moved (at most once a second); anything else is judged again
 * under the row's lock. The stamp never waits for that lock either: the commits of a drain
 * (several per replica at once) all find the stamp a second old at the same moment, and each
 * would wait for the one before it to commit. When another transaction is writing the row,
 * this stamp is skipped: that one is another success's stamp (of the same second), or a change
 * of the breaker (a failure, a person enabling it), after which the next success finds the
 * destination unhealthy or its stamp stale and writes it.
 */
async function foldHealth(tx: Tx, destination: string, reports: readonly HealthReport[]): Promise<{ state: CircuitState; steps: BreakerStep[] }> {
  if (reports.length === 0) return { state: await loadCircuit(tx, destination, false), steps: [] };
  if (reports.every((report) => report.health !== 'failure')) {
    const before = await loadCircuit(tx, destination, false);
    const fold = breakerFold(before, reports);
    if (!fold.changed) return fold;
    if (stampOnly(before, fold.state)) {
      await tx.run(
        `UPDATE destination_state SET last_success_at = GREATEST(COALESCE(last_success_at, 0), $1::bigint)
         WHERE name = (SELECT name FROM destination_state WHERE name = $2 FOR UPDATE SKIP LOCKED)`,
        [fold.state.last_success_at, destination],
      );
      return fold;
    }
  }
  const fold = breakerFold(await loadCircuit(tx, destination, true), reports);
  if (fold.changed) await saveCircuit(tx, destination, fold.state);
  return fold;
}

/** A grouped delivery's due time, from what the store knows of its group (one round trip; src/notify/grouping.ts decides). */
async function groupDue(tx: Tx, destination: string, group: NonNullable<NewDelivery['group']>, now: number): Promise<number> {
  const facts = await tx.one(
    // The later facts only matter when no batch waits (grouping.ts): CASE leaves them unread then.
    `SELECT w.due AS waiting_due,
       CASE WHEN w.due IS NULL THEN EXISTS (SELECT 1 FROM deliveries
         WHERE destination = $1 AND group_key = $2 AND batch_id IS NOT NULL AND status IN ('pending', 'in_flight')) ELSE false END AS in_progress,
       CASE WHEN w.due IS NULL THEN (SELECT last_sent_at FROM delivery_groups WHERE destination = $1 AND group_key = $2) END AS last_sent_at
     FROM (SELECT MIN(next_attempt_at) AS due FROM deliveries
           WHERE destination = $1 AND group_key = $2 AND status = 'pending' AND batch_id IS NULL) AS w`,
    [destination, group.key],
  );
  return groupDueAt(
    group,
    {
      waiting_due: facts?.waiting_due === null || facts?.waiting_due === undefined ? null : Number(facts.waiting_due),
      in_progress: facts?.in_progress === true,
      last_sent_at: facts?.last_sent_at === null || facts?.last_sent_at === undefined ? null : Number(facts.last_sent_at),
    },
    now,
  );
}

const CLAIM_COLUMNS = `d.id AS delivery_id, d.attempts, d.request_body, d.group_key, d.batch_id, d.replay_of, d.route, d.incident_key, d.rule_key, d.fallback_for, d.fallback_of, d.fallback_delivery, ${EVENT_COLUMNS}`;

/**
 * Leases locked, claimable rows and turns them into claimed deliveries (a grouped row brings its
 * batch; during a storm, a row brings its group's due events as a digest).
 */
async function lease(
  tx: Tx,
  rows: readonly Row[],
  destination: string,
  args: Omit<ClaimOptions, 'limit'>,
  probe: boolean,
  storm: StormPolicy | null = null,
): Promise<ClaimedDelivery[]> {
  const { now, lease_ms, owner } = args;
  const claimed = new Set<string>();
  const leads: Array<{ row: Row; members: Row[]; digest: boolean }> = [];
  // What each lease counted (see TAKE_OVER_SQL), by id.
  const counts = new Map<string, Row>();
  const leaseNow = async (ids: readonly string[]): Promise<void> => {
    const leased = await tx.rows(
      `UPDATE deliveries SET status = 'in_flight', next_attempt_at = $1, lease_owner = $2, updated_at = $3, ${TAKE_OVER_SQL}
       WHERE id = ANY($4::text[]) RETURNING id, interrupted, interrupted_attempts`,
      [now + lease_ms, owner, now, ids],
    );
    for (const row of leased) counts.set(String(row.id), row);
  };
  // Without a storm every row is leased in one statement at the end (the rows are locked by the
  // claim already); a storm's digests look for due rows, so each row is leased before the next.
  const deferred: string[] = [];
  for (const row of rows) {
    const id = String(row.delivery_id);
    if (claimed.has(id)) continue;
    const { members, digest } = await leadMembers(tx, row, destination, now, storm);
    const ids = [id, ...members.map((member) => String(member.delivery_id))];
    for (const each of ids) claimed.add(each);
    if (storm) await leaseNow(ids);
    else deferred.push(...ids);
    leads.push({ row, members, digest });
  }
  if (deferred.length > 0) await leaseNow(deferred);
  return leads.map(({ row, members, digest }) => claimedFromRows(row, members, { destination, probe, digest, counts: counts.get(String(row.delivery_id)) }));
}

/** Requests waiting for this destination, counted up to the storm's limit only (a storm costs no full count); a formed batch is one. */
async function waitingRequests(tx: Tx, destination: string, now: number, storm: StormPolicy): Promise<number> {
  const row = await tx.one(
    `SELECT COUNT(*) AS n FROM (
       SELECT 1 FROM deliveries d
       WHERE d.destination = $1 AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= $2
         AND (d.batch_id IS NULL OR d.batch_id = d.id OR d.batch_id = $4 || d.id)
       LIMIT $3) AS due`,
    [destination, now, stormCountLimit(storm), digestBatchId('')],
  );
  return Number(row?.n ?? 0);
}

/**
 * The deliveries a member query of src/notify/claim-members.ts names, oldest first, locked. A
 * formed batch's members and a group's waiting ones are taken FOR UPDATE (the group's advisory
 * lock is held by the claim). A digest's candidates are what several replicas add: they are
 * locked FOR UPDATE SKIP LOCKED (what another replica is leasing stays out, and with it the rest
 * of that incident), each incident's advisory lock is tried (`busy` when another replica holds
 * it), and then they are read again under those locks (READ COMMITTED: that statement sees every
 * commit before it) with what is unfinished ahead of each and whether its incident is in flight
 * under a live lease (`blocked`).
 */
async function readMembers(tx: Tx, destination: string, query: MemberQuery): Promise<{ rows: Row[]; busy: ReadonlySet<string> }> {
  const none = new Set<string>();
  switch (query.kind) {
    case 'batch':
      return {
        rows: await tx.rows(
          `SELECT d.id AS delivery_id, d.rule_key, ${EVENT_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.batch_id = $1 AND d.status IN ('pending', 'in_flight') ORDER BY d.id LIMIT $2 FOR UPDATE OF d`,
          [query.batch_id, query.limit],
        ),
        busy: none,
      };
    case 'group':
      return {
        rows: await tx.rows(
          `SELECT d.id AS delivery_id, d.rule_key, ${EVENT_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.destination = $1 AND d.group_key = $2 AND d.status = 'pending' AND d.batch_id IS NULL
           ORDER BY d.id LIMIT $3 FOR UPDATE OF d`,
          [destination, query.group_key, query.limit],
        ),
        busy: none,
      };
    case 'digest': {
      const grouped = query.group_key !== null;
      const locked = await tx.rows(
        `SELECT d.id AS delivery_id, d.incident_key
         FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.destination = $1 AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= $2
           AND d.route IS NOT DISTINCT FROM $3 AND ${grouped ? 'd.group_key = $4' : 'd.group_key IS NULL AND e.type = $4'}
         ORDER BY d.id LIMIT $5
         FOR UPDATE OF d SKIP LOCKED`,
        [destination, query.due_by, query.route, query.group_key ?? query.type, query.limit],
      );
      // One round trip for every incident's lock: a try never waits, so their order does not matter.
      const keys = [...new Set(locked.flatMap((candidate) => (candidate.incident_key === null ? [] : [String(candidate.incident_key)])))];
      const refused = await tx.rows<{ key: string }>(
        `SELECT key FROM unnest($1::text[]) AS key WHERE NOT pg_try_advisory_xact_lock(hashtextextended($2 || key, 0))`,
        [keys, lockKey('incident', destination, '')],
      );
      const rows = await tx.rows(
        `SELECT d.id AS delivery_id, d.incident_key, d.rule_key, d.batch_id, d.attempts, d.request_body, d.replay_of, d.fallback_of, d.route,
           (SELECT COUNT(*) FROM deliveries p
            WHERE p.destination = d.destination AND p.incident_key = d.incident_key
              AND p.status IN ('pending', 'in_flight') AND p.id < d.id) AS ahead,
           EXISTS (SELECT 1 FROM deliveries p
            WHERE p.destination = d.destination AND p.incident_key = d.incident_key AND p.id <> d.id
              AND p.status = 'in_flight' AND p.next_attempt_at > $2) AS blocked,
           ${query.open_messages ? `EXISTS (SELECT 1 FROM incident_messages m WHERE m.destination = d.destination AND m.dedup_key = e.dedup_key AND m.status = 'firing')` : 'false'} AS open_message,
           ${EVENT_COLUMNS}
         FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.id = ANY($1::text[])
         ORDER BY d.id`,
        [locked.map((candidate) => candidate.delivery_id), query.due_by],
      );
      return { rows, busy: new Set(refused.map((each) => each.key)) };
    }
  }
}

/**
 * What a claimed row brings (src/notify/claim-members.ts decides): each query it names read in
 * turn until one gives members; a batch formed now gets its id written on the lead and them.
 */
async function leadMembers(tx: Tx, row: Row, destination: string, now: number, storm: StormPolicy | null): Promise<{ members: Row[]; digest: boolean }> {
  const open =
    storm?.keep_incident_messages === true &&
    (await tx.one(`SELECT 1 AS yes FROM incident_messages WHERE destination = $1 AND dedup_key = $2 AND status = 'firing'`, [destination, row.dedup_key])) !== undefined;
  const lead = leadFromRow(row, open);
  for (const query of memberQueries(lead, storm, now)) {
    const { rows, busy } = await readMembers(tx, destination, query);
    const chosen = membersOf(
      lead,
      query,
      rows.map((each) => memberFromRow(each, each.incident_key !== null && each.incident_key !== undefined && busy.has(String(each.incident_key)))),
    );
    if (chosen === null) continue;
    if (chosen.form !== null) await tx.run('UPDATE deliveries SET batch_id = $1 WHERE id = ANY($2::text[])', [chosen.form, [lead.id, ...chosen.ids]]);
    const byId = new Map(rows.map((each) => [String(each.delivery_id), each]));
    return { members: chosen.ids.map((id) => byId.get(id)!), digest: chosen.digest };
  }
  return { members: [], digest: false };
}

/** A commit's attempt that may lease its incident's next delivery (src/notify/incident-order.ts `chainsNext` said so). */
interface ChainAsk {
  readonly result: AttemptResult;
  readonly incident_key: string;
  readonly chain: ChainRequest;
}

/**
 * Each asking attempt's incident's next delivery, leased to the owner of the attempt that just
 * finished the one ahead of it, if it may go now as a claim would lease it on its own (null
 * otherwise), for the whole commit at once: every incident's advisory lock tried in one round
 * trip (held by an ingest of the incident or another replica's claim: the claims take it from
 * there), then the first row of every incident whose lock was taken read under it, judged as a
 * claim judges, in one more; a row found is leased as a claim leases it. The locks are released
 * at this commit, with the leases. Two attempts of one incident in a commit: the first asks.
 */
async function leaseNexts(tx: Tx, asks: ReadonlyMap<number, ChainAsk>): Promise<Map<number, ClaimedDelivery | null>> {
  const next = new Map<number, ClaimedDelivery | null>([...asks.keys()].map((index) => [index, null]));
  const first = new Map<string, number>();
  for (const [index, ask] of asks) {
    const key = lockKey('incident', ask.result.destination, ask.incident_key);
    if (!first.has(key)) first.set(key, index);
  }
  if (first.size === 0) return next;
  const refused = await tryLocks(tx, [...first.keys()]);
  const held = [...first].flatMap(([key, index]) => (refused.has(key) ? [] : [asks.get(index)!]));
  if (held.length === 0) return next;
  const rows = await tx.rows(
    `SELECT w.ask, ${CLAIM_COLUMNS}
     FROM unnest($1::int[], $2::text[], $3::text[], $4::bigint[]) AS w(ask, destination, incident_key, now)
     CROSS JOIN LATERAL (
       SELECT d.* FROM deliveries d
       WHERE d.destination = w.destination AND d.incident_key = w.incident_key AND d.status IN ('pending', 'in_flight')
         AND ${chainableRow('w.now')} AND ${claimable('w.now')}
       ORDER BY d.id
       LIMIT 1
       FOR UPDATE OF d SKIP LOCKED) AS d
     JOIN events e ON e.id = d.event_id`,
    [
      held.map((ask) => first.get(lockKey('incident', ask.result.destination, ask.incident_key))!),
      held.map((ask) => ask.result.destination),
      held.map((ask) => ask.incident_key),
      held.map((ask) => ask.result.finished_at),
    ],
  );
  for (const row of rows) {
    const index = Number(row.ask);
    const { result, chain } = asks.get(index)!;
    const { destination, finished_at: now } = result;
    if (chain.storm && stormRaging(await waitingRequests(tx, destination, now, chain.storm), chain.storm)) continue;
    const [leased] = await lease(tx, [row], destination, { now, lease_ms: chain.lease_ms, owner: result.lease_owner }, false);
    next.set(index, leased ?? null);
  }
  return next;
}

/** When the next claimable delivery of this destination falls due (see the SQLite store's `nextDueAt`). */
async function nextDueAt(tx: Tx, destination: string, now: number): Promise<number | null> {
  const row = await tx.one(
    `SELECT MIN(due) AS due FROM (
       SELECT (SELECT d.next_attempt_at FROM deliveries d
               WHERE d.destination = $1 AND d.priority = level AND d.status IN ('pending', 'in_flight') AND ${claimable('$2')}
               ORDER BY d.next_attempt_at LIMIT 1) AS due
       FROM generate_series(0, ${MAX_PRIORITY}) AS level) AS firsts`,
    [destination, now],
  );
  return row && row.due !== null ? Number(row.due) : null;
}

/** A slack-bot message posted or updated by an attempt (targeted: never touches who acknowledged). True when it must be redrawn. */
/**
 * An open circuit's work for its fallback (src/notify/fallback.ts): due rows and retries, locked
 * and in incident order as `claimDue` takes them; nothing once the circuit is closed.
 */
async function claimForFallback(tx: Tx, destination: string, options: ClaimOptions): Promise<ClaimBatch> {
  const { limit, now } = options;
  const found = await tx.rows(
    `SELECT ${CLAIM_COLUMNS}
     FROM deliveries d JOIN events e ON e.id = d.event_id
     WHERE d.destination = $1 AND d.status IN ('pending', 'in_flight') AND ${handOffDue('$2')} AND ${claimable('$2')}
     ORDER BY d.priority DESC, d.id
     LIMIT $3
     FOR UPDATE OF d SKIP LOCKED`,
    [destination, now, limit],
  );
  // As in claimDue: rows of an incident or group only under its advisory lock, judged again under it.
  const rows = await underTheirLocks(tx, found, destination, handOffDue('$2'), now);
  const deliveries = await lease(tx, rows, destination, options, false);
  const later = await tx.one(
    `SELECT MIN(d.next_attempt_at) AS due FROM deliveries d
     WHERE d.destination = $1 AND d.status IN ('pending', 'in_flight') AND ${HAND_OFF_LATER_SQL} AND ${claimable('$2')}`,
    [destination, now],
  );
  return { deliveries, next_due_at: later && later.due !== null ? Number(later.due) : null, enabled: false };
}

async function applyIncidentMessage(tx: Tx, destination: string, effect: IncidentMessageEffect, now: number): Promise<boolean> {
  const resolvedAt = effect.resolved_at === null ? null : Date.parse(effect.resolved_at);
  if (effect.kind === 'posted') {
    await tx.run(
      `INSERT INTO incident_messages
         (destination, dedup_key, channel, ts, started_at, status, resolved_at, acknowledged_by, acknowledged_at, last_event_id, updates, updated_at, version)
       VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, NULL, $8, 0, $9, 1)
       ON CONFLICT (destination, dedup_key) DO UPDATE SET
         channel = excluded.channel, ts = excluded.ts, started_at = excluded.started_at, status = excluded.status,
         resolved_at = excluded.resolved_at, acknowledged_by = NULL, acknowledged_at = NULL, resolved_by = NULL,
         last_event_id = excluded.last_event_id, updates = 0, updated_at = excluded.updated_at,
         version = incident_messages.version + 1`,
      [destination, effect.dedup_key, effect.channel, effect.ts, Date.parse(effect.started_at), effect.status, resolvedAt, effect.last_event_id, now],
    );
    return false;
  }
  const row = await tx.one(
    `UPDATE incident_messages SET status = $1, resolved_at = $2, last_event_id = $3, updates = updates + 1, updated_at = $4, version = version + 1
     WHERE destination = $5 AND dedup_key = $6 RETURNING version`,
    [effect.status, resolvedAt, effect.last_event_id, now, destination, effect.dedup_key],
  );
  return row !== undefined && incidentMessageStale(Number(row.version), effect.drawn_from_version);
}

/**
 * Inhibition's memory: the incident's latest state (by the sender's time), upserted under the
 * incident row's lock so replicas ingesting events of one incident at once keep the latest.
 * When it resolves, the deliveries it inhibited whose own incident still fires are due again
 * (the stage judges them afresh); returns their destinations. A hold racing with this resolve
 * takes the same row's lock first (see holdDeliveries), so none is left held by a resolved incident.
 */
async function trackIncidentState(tx: Tx, event: { source: string; dedup_key: string; status: string; id: string; occurred_at: string }, now: number): Promise<string[]> {
  await tx.run(
    `INSERT INTO incidents (source, dedup_key, status, event_id, occurred_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (source, dedup_key) DO UPDATE SET
       status = excluded.status, event_id = excluded.event_id, occurred_at = excluded.occurred_at, updated_at = excluded.updated_at
     WHERE excluded.occurred_at >= incidents.occurred_at`,
    [event.source, event.dedup_key, event.status, event.id, event.occurred_at, now],
  );
  if (event.status !== 'resolved') return [];
  const held = await tx.rows(
    `SELECT d.id, d.destination, (SELECT t.status FROM incidents t WHERE t.source = te.source AND t.dedup_key = te.dedup_key) AS own
     FROM deliveries d JOIN events te ON te.id = d.event_id WHERE d.held_by = $1 AND d.status = 'muted'`,
    [JSON.stringify([event.source, event.dedup_key])],
  );
  const released = held.filter((row) => releasedByResolve(row.own === null ? null : String(row.own)));
  if (released.length === 0) return [];
  await tx.run(`UPDATE deliveries SET status = 'pending', next_attempt_at = $1, held_by = NULL, updated_at = $1 WHERE id = ANY($2::text[])`, [
    now,
    released.map((row) => String(row.id)),
  ]);
  return [...new Set(released.map((row) => String(row.destination)))];
}

async function dueNow(tx: Tx, destination: string, now: number): Promise<void> {
  await tx.run(`UPDATE deliveries SET next_attempt_at = $1 WHERE destination = $2 AND status = 'pending' AND next_attempt_at > $1`, [now, destination]);
}

async function insertRequests(
  tx: Tx,
  entries: readonly RequestLogEntry[],
  override?: { outcome: RequestLogEntry['outcome']; status: number },
  eventId: string | null = null,
): Promise<void> {
  if (entries.length === 0) return;
  const params = entries.flatMap((entry) => [
    entry.id,
    entry.received_at,
    entry.source,
    entry.address,
    override?.status ?? entry.status,
    override?.outcome ?? entry.outcome,
    entry.reason,
    entry.body_bytes,
    entry.excerpt,
    eventId,
  ]);
  await tx.run(
    `INSERT INTO requests (id, received_at, source, address, status, outcome, reason, body_bytes, excerpt, event_id)
     VALUES ${valuesList(entries.length, 10)} ON CONFLICT (id) DO NOTHING`,
    params,
  );
}

/** Announces, with the commit, that these destinations have new work (peers' dispatchers wake at once). */
async function announce(tx: Tx, destinations: Iterable<string>): Promise<void> {
  const names = [...new Set(destinations)];
  if (names.length === 0) return;
  const payload = JSON.stringify(names);
  // NOTIFY payloads are limited to 8000 bytes: a longer list wakes every lane.
  await tx.run('SELECT pg_notify($1, $2)', [WORK_CHANNEL, payload.length < 7_900 ? payload : '"*"']);
}

/**
 * The status of the incident named by a hold's `held_by`, read under a share lock on its row: a
 * resolve of it being ingested meanwhile (which takes the row for update) is waited for, and one
 * ingested after waits for this hold to commit. Null when it is not tracked.
 */
async function inhibitorStatus(tx: Tx, heldBy: string): Promise<string | null> {
  const incident = inhibitorOf(heldBy);
  if (!incident) return null;
  const row = await tx.one('SELECT status FROM incidents WHERE source = $1 AND dedup_key = $2 FOR SHARE', [incident.source, incident.dedup_key]);
  return row ? String(row.status) : null;
}

/** Every write the PostgreSQL store makes, each run inside one transaction (see PostgresStore). */
export const writes = {
  async syncDestinations(tx: Tx, names: readonly string[]): Promise<void> {
    await tx.run('INSERT INTO destination_state (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING', [[...names]]);
  },

  async ingest(tx: Tx, batch: IngestBatch): Promise<IngestedEvent[]> {
    const { receipt } = batch;
    // What this ingest may change that another replica may change at the same moment.
    const keys: string[] = [];
    const leasing = new Set<string>();
    for (const { deliveries } of batch.events) {
      for (const delivery of deliveries) {
        if (delivery.status !== 'pending' || delivery.destination === null) continue;
        if (delivery.lease) leasing.add(delivery.destination);
        if (delivery.lease && delivery.incident_key) keys.push(lockKey('incident', delivery.destination, delivery.incident_key));
        if (delivery.group) keys.push(lockKey('group', delivery.destination, delivery.group.key));
      }
    }
    await lockAll(tx, keys);
    // A destination another replica disabled takes no lease here: its work waits in the store.
    const enabled = new Set<string>();
    if (leasing.size > 0) {
      const rows = await tx.rows('SELECT name FROM destination_state WHERE name = ANY($1::text[]) AND enabled = 1', [[...leasing]]);
      for (const row of rows) enabled.add(String(row.name));
    }

    const results: IngestedEvent[] = [];
    const woken = new Set<string>();
    let receiptStored = false;
    for (const { event, deliveries, data_is_body: dataIsBody, track_incident: trackIncident, echo } of batch.events) {
      if (event.external_id !== null) {
        // Duplicate detection is one insert against the sender ids' primary key: a concurrent
        // insert of the same id waits for the other transaction, then does nothing (never
        // check-then-insert). The ids outlive their events (kept for keep_events_ms).
        const claimed = await tx.one(
          `INSERT INTO sender_ids (source, external_id, event_id, received_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (source, external_id) DO NOTHING RETURNING event_id`,
          [event.source, event.external_id, event.id, receipt.received_at],
        );
        if (!claimed) {
          const first = await tx.one('SELECT event_id FROM sender_ids WHERE source = $1 AND external_id = $2', [event.source, event.external_id]);
          // Pruned between the two statements: nothing to point at, so it is stored as new on a retry.
          if (!first) throw Object.assign(new Error('duplicate sender id vanished; retrying'), { code: '40001' });
          results.push({ id: String(first.event_id), duplicate: true });
          continue;
        }
      }
      await tx.run(
        `INSERT INTO events (id, receipt_id, source, external_id, type, severity, status, title, summary, dedup_key, occurred_at, received_at, data)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
        [
          event.id,
          receipt.id,
          event.source,
          event.external_id,
          event.type,
          event.severity,
          event.status,
          event.title,
          event.summary,
          event.dedup_key,
          event.occurred_at,
          receipt.received_at,
          dataIsBody ? '' : JSON.stringify(event.data ?? null),
        ],
      );
      if (!receiptStored) {
        await tx.run('INSERT INTO receipts (id, source, received_at, headers, body) VALUES ($1, $2, $3, $4, $5)', [
          receipt.id,
          receipt.source,
          receipt.received_at,
          JSON.stringify(receipt.headers),
          receipt.body,
        ]);
        receiptStored = true;
      }
      const waiting: string[] = [];
      const params: unknown[] = [];
      for (const delivery of deliveries) {
        const incidentKey = delivery.status === 'pending' ? (delivery.incident_key ?? null) : null;
        const asked = delivery.status === 'pending' && delivery.destination !== null ? delivery.lease : null;
        // Incident order (an earlier event is on its way), or disabled meanwhile: it waits its turn.
        const { lease: leased, waits } = leaseAtIngest(
          asked,
          asked && delivery.destination !== null
            ? {
                behind:
                  incidentKey !== null &&
                  (await tx.one(
                    `SELECT 1 AS yes FROM deliveries WHERE destination = $1 AND incident_key = $2 AND status IN ('pending', 'in_flight') LIMIT 1`,
                    [delivery.destination, incidentKey],
                  )) !== undefined,
                enabled: enabled.has(delivery.destination),
              }
            : { behind: false, enabled: true },
        );
        if (waits) waiting.push(delivery.id);
        const told =
          delivery.group && event.status === 'resolved' && delivery.destination !== null
            ? (await tx.one('SELECT status FROM notification_log WHERE destination = $1 AND dedup_key = $2', [delivery.destination, event.dedup_key]))?.status
            : null;
        const group = delivery.group && joinsGroup(event.status, told === null || told === undefined ? null : String(told)) ? delivery.group : null;
        const due = dueAtIngest(
          delivery.status,
          leased?.until ?? null,
          group && delivery.destination !== null && delivery.status === 'pending' && !leased ? await groupDue(tx, delivery.destination, group, receipt.received_at) : null,
          receipt.received_at,
        );
        if (delivery.status === 'pending' && !leased && delivery.destination !== null) woken.add(delivery.destination);
        params.push(
          delivery.id,
          event.id,
          delivery.destination,
          delivery.route,
          leased ? 'in_flight' : delivery.status,
          delivery.note ?? null,
          group?.key ?? null,
          leased?.owner ?? null,
          due,
          receipt.received_at,
          receipt.received_at,
          incidentKey,
          delivery.priority ?? 0,
          delivery.rule_key ?? null,
          delivery.status === 'muted' ? (delivery.held_by ?? null) : null,
        );
      }
      if (deliveries.length > 0) {
        await tx.run(
          `INSERT INTO deliveries (id, event_id, destination, route, status, note, group_key, lease_owner, next_attempt_at, created_at, updated_at, incident_key, priority, rule_key, held_by)
           VALUES ${valuesList(deliveries.length, 15)}`,
          params,
        );
      }
      // Applied after the commit (change 'apply_echo'); pending until then, so a stop in between loses nothing.
      if (echo) await tx.run('INSERT INTO pending_echoes (event_id, dedup_key, created_at) VALUES ($1, $2, $3)', [event.id, echo.dedup_key, receipt.received_at]);
      const released = trackIncident ? await trackIncidentState(tx, event, receipt.received_at) : [];
      for (const destination of released) woken.add(destination);
      results.push({
        id: event.id,
        duplicate: false,
        ...(waiting.length > 0 ? { waiting } : {}),
        ...(released.length > 0 ? { released } : {}),
      });
    }
    if (batch.request) {
      const duplicate = results.length > 0 && results.every((result) => result.duplicate);
      await insertRequests(tx, [batch.request], duplicate ? DUPLICATE_ANSWER : undefined, results[0]?.id || null);
    }
    await announce(tx, woken);
    return results;
  },

  async recordRequests(tx: Tx, entries: readonly RequestLogEntry[]): Promise<void> {
    // Bounded statements: 10 parameters a line, PostgreSQL takes at most 65,535 per statement.
    for (let start = 0; start < entries.length; start += 1_000) await insertRequests(tx, entries.slice(start, start + 1_000));
  },

  async pruneRequests(tx: Tx, args: { keep: number; before: number }): Promise<number> {
    let removed = await tx.run('DELETE FROM requests WHERE id < $1', [idAt('req', args.before)]);
    const cutoff = await tx.one('SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET $1', [Math.max(0, args.keep - 1)]);
    if (cutoff) removed += await tx.run('DELETE FROM requests WHERE id < $1', [cutoff.id]);
    return removed;
  },

  /**
   * Claims with FOR UPDATE SKIP LOCKED: replicas claiming the same destination at once take
   * different rows. Rows of an incident or a group are leased only under its advisory lock,
   * after checking again that nothing of the incident is in flight (see `claimable`).
   */
  async claimDue(tx: Tx, destination: string, options: ClaimOptions): Promise<ClaimBatch> {
    await leaseOnlyCommit(tx);
    const { limit, now } = options;
    const state = await tx.one('SELECT enabled FROM destination_state WHERE name = $1', [destination]);
    if (!state) return { deliveries: [], next_due_at: null };
    if (options.for_fallback) return Number(state.enabled) === 1 ? { deliveries: [], next_due_at: null, enabled: true } : claimForFallback(tx, destination, options);
    if (Number(state.enabled) !== 1) return { deliveries: [], next_due_at: null, enabled: false };
    const rows: Row[] = [];
    for (let priority = MAX_PRIORITY; priority >= 0 && rows.length < limit; priority--) {
      const found = await tx.rows(
        `SELECT ${CLAIM_COLUMNS}
         FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.destination = $1 AND d.priority = $2 AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= $3
           AND ${claimable('$3')}
         ORDER BY d.next_attempt_at, d.id
         LIMIT $4
         FOR UPDATE OF d SKIP LOCKED`,
        [destination, priority, now, limit - rows.length],
      );
      // Rows of an incident or group: their locks tried at once, then each judged again under
      // them, at once (three round trips for the whole level, not two per row).
      rows.push(...(await underTheirLocks(tx, found, destination, 'd.next_attempt_at <= $2', now)));
    }
    const storm = options.storm && rows.length > 0 && stormRaging(await waitingRequests(tx, destination, now, options.storm), options.storm) ? options.storm : null;
    const deliveries = await lease(tx, rows, destination, options, false, storm);
    return { deliveries, next_due_at: await nextDueAt(tx, destination, now), enabled: true };
  },

  /** The state row is locked: of replicas asking at once, one leases the probe and moves `probe_at` past it. */
  async claimProbe(tx: Tx, destination: string, options: Omit<ClaimOptions, 'limit'>): Promise<ClaimBatch> {
    await leaseOnlyCommit(tx);
    const { now, lease_ms } = options;
    // The state row is locked: of replicas asking at once, one leases the probe.
    const state = await findCircuit(tx, destination, true);
    if (!state) return { deliveries: [], next_due_at: null };
    const turn = probeTurn(state, now);
    // Closed by another replica's probe (or enabled by a person): the lane may take work again.
    if (turn.kind === 'closed') return { deliveries: [], next_due_at: null, enabled: true };
    if (turn.kind === 'manual') return { deliveries: [], next_due_at: null, enabled: false };
    if (turn.kind === 'wait') return { deliveries: [], next_due_at: turn.until, enabled: false };
    // The oldest pending delivery that heads its incident: an earlier one may still be in flight
    // (another replica's attempt that started before the circuit opened), and order holds.
    const row = await tx.one(
      `SELECT ${CLAIM_COLUMNS}
       FROM deliveries d JOIN events e ON e.id = d.event_id
       WHERE d.destination = $1 AND (d.status = 'pending' OR (d.status = 'in_flight' AND d.next_attempt_at <= $2)) AND ${claimable('$2')}
       ORDER BY d.id LIMIT 1
       FOR UPDATE OF d SKIP LOCKED`,
      [destination, now],
    );
    if (!row) return { deliveries: [], next_due_at: null, enabled: false };
    await saveCircuit(tx, destination, probeLeased(state, now, lease_ms));
    return { deliveries: await lease(tx, [row], destination, options, true), next_due_at: now + lease_ms, enabled: false };
  },

  /** Originals finished as handed over, their copies added at the fallback, due now (src/notify/fallback.ts); announced to every replica. */
  async handToFallback(tx: Tx, args: FallbackHandOff): Promise<number> {
    const group = fallbackGroupKey(args.ids[0] ?? '', args.ids.length);
    const kept = new Set(args.keep ?? []);
    let handed = 0;
    for (const [index, id] of args.ids.entries()) {
      const copy = args.fallback_ids[index];
      if (copy === undefined) continue;
      // Kept for its own destination too (notify/fallback.ts `waitsForOriginal`): pending again, due now.
      const keep = kept.has(id);
      const row = await tx.one(
        `UPDATE deliveries d SET status = $7, note = $1, next_attempt_at = $8, lease_owner = NULL, updated_at = $2, fallback_to = $3, fallback_delivery = $4
         WHERE d.id = $5 AND d.status = 'in_flight' AND d.lease_owner = $6
         RETURNING d.event_id, d.route, d.priority, (SELECT e.dedup_key FROM events e WHERE e.id = d.event_id) AS dedup_key`,
        [keep ? alsoWaitsNote(args.fallback, copy) : handedOverNote(args.fallback, copy), args.now, args.fallback, copy, id, args.lease_owner, keep ? 'pending' : 'skipped', keep ? args.now : null],
      );
      if (!row) continue;
      await tx.run(
        `INSERT INTO deliveries (id, event_id, destination, route, status, note, group_key, next_attempt_at, created_at, updated_at, incident_key, priority, fallback_for, fallback_of)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $7, $7, $8, $9, $10, $11)`,
        [
          copy,
          row.event_id,
          args.fallback,
          row.route,
          standsInNote(args.destination, id),
          group,
          args.now,
          fallbackIncidentKey(args.fallback_ordered, String(row.dedup_key ?? '')),
          Number(row.priority),
          args.destination,
          id,
        ],
      );
      handed += 1;
    }
    if (handed > 0) await announce(tx, [args.fallback]);
    return handed;
  },

  async holdDeliveries(tx: Tx, hold: HoldRequest): Promise<void> {
    const heldBy = hold.status === 'muted' ? (hold.held_by ?? null) : null;
    if (heldBy !== null && !inhibitionStands(await inhibitorStatus(tx, heldBy))) {
      // The inhibiting incident resolved (on another replica, say) after the stage read it: its
      // resolve released nothing of these yet, so they are given back, due now, to be judged afresh.
      const released = await tx.rows(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_owner = NULL, updated_at = $1
         WHERE id = ANY($2::text[]) AND status = 'in_flight' AND lease_owner = $3 RETURNING destination`,
        [hold.now, [...hold.ids], hold.lease_owner],
      );
      await announce(tx, released.map((row) => String(row.destination)));
      return;
    }
    await tx.run(
      `UPDATE deliveries SET status = $1, note = $2, next_attempt_at = NULL, lease_owner = NULL, updated_at = $3, held_by = $6
       WHERE id = ANY($4::text[]) AND status = 'in_flight' AND lease_owner = $5`,
      [hold.status, hold.note, hold.now, [...hold.ids], hold.lease_owner, heldBy],
    );
    const circuit = hold.probe_of ? await findCircuit(tx, hold.probe_of, true) : null;
    const next = circuit ? probeHeld(circuit, hold.now) : null;
    if (hold.probe_of && next) await saveCircuit(tx, hold.probe_of, next);
  },

  /**
   * A batch of attempts in one transaction: plain successes (see `plainSuccess`) in a few
   * statements for all of them, the others one by one; then the notification log (one line per
   * incident, the latest told) and groups for the whole batch, and each destination's breaker
   * folded over its attempts in order (src/notify/breaker.ts). A delivery whose lease was lost
   * meanwhile records nothing (`recorded: false`).
   */
  async commitAttempts(tx: Tx, results: readonly AttemptResult[]): Promise<RecordedAttempt[]> {
    const recorded: boolean[] = results.map(() => false);
    const stale: boolean[] = results.map(() => false);
    const groupOf = new Map<number, string | null>();
    const incidentOf = new Map<number, string | null>();
    const plain = results.flatMap((result, index) => (plainSuccess(result) ? [index] : []));
    if (plain.length > 0) {
      // The deliveries and their attempts' log in one statement (one round trip for the lot).
      const updated = await tx.rows<{ id: string; attempts: number; group_key: string | null; incident_key: string | null }>(
        `WITH done AS (
           UPDATE deliveries d SET status = 'succeeded', attempts = d.attempts + 1, next_attempt_at = NULL, lease_owner = NULL,
             request_body = COALESCE(r.request_body, d.request_body), response_code = r.response_code, response_body = r.response_body,
             latency_ms = r.latency_ms, last_error = NULL, updated_at = r.finished_at
           FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::int[], $7::bigint[], $8::bigint[])
             AS r(id, lease_owner, request_body, response_code, response_body, latency_ms, finished_at, started_at)
           WHERE d.id = r.id AND d.status = 'in_flight' AND d.lease_owner = r.lease_owner
           RETURNING d.id, d.attempts, d.group_key, d.incident_key, r.started_at, r.response_code, r.response_body, r.latency_ms
         ), logged AS (
           INSERT INTO delivery_attempts (delivery_id, attempt, started_at, outcome, response_code, response_body, latency_ms, error)
           SELECT id, attempts, started_at, 'succeeded', response_code, response_body, latency_ms, NULL FROM done
         )
         SELECT id, attempts, group_key, incident_key FROM done`,
        [
          plain.map((index) => results[index]!.delivery_id),
          plain.map((index) => results[index]!.lease_owner),
          plain.map((index) => results[index]!.request_body),
          plain.map((index) => results[index]!.response_code),
          plain.map((index) => results[index]!.response_body),
          plain.map((index) => results[index]!.latency_ms),
          plain.map((index) => results[index]!.finished_at),
          plain.map((index) => results[index]!.started_at),
        ],
      );
      const byId = new Map(updated.map((row) => [String(row.id), row]));
      for (const index of plain) {
        const row = byId.get(results[index]!.delivery_id);
        if (!row) continue;
        recorded[index] = true;
        groupOf.set(index, row.group_key);
        incidentOf.set(index, row.incident_key);
      }
    }
    for (const [index, result] of results.entries()) {
      if (plainSuccess(result)) continue;
      const current = await tx.one('SELECT status, lease_owner, group_key, incident_key FROM deliveries WHERE id = $1 FOR UPDATE', [result.delivery_id]);
      if (!current || current.status !== 'in_flight' || current.lease_owner !== result.lease_owner) continue;
      const after = deliveryAfter(result);
      // A grouped batch is one request: every member gets the same attempt.
      const updated = await tx.rows<{ id: string; attempts: number }>(
        `UPDATE deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, lease_owner = NULL,
           request_body = COALESCE($3, request_body), response_code = $4, response_body = $5, latency_ms = $6,
           last_error = $7, note = COALESCE($8, note), updated_at = $9
         WHERE id = ANY($10::text[]) AND status = 'in_flight' AND lease_owner = $11
         RETURNING id, attempts`,
        [...attemptColumns(after, result), [result.delivery_id, ...result.member_ids], result.lease_owner],
      );
      if (updated.length > 0) {
        await tx.run(
          `INSERT INTO delivery_attempts (delivery_id, attempt, started_at, outcome, response_code, response_body, latency_ms, error)
           SELECT id, attempt, $3, $4, $5, $6, $7, $8 FROM unnest($1::text[], $2::int[]) AS a(id, attempt)`,
          [
            updated.map((row) => row.id),
            updated.map((row) => Number(row.attempts)),
            result.started_at,
            result.outcome,
            result.response_code,
            result.response_body,
            result.latency_ms,
            result.error,
          ],
        );
      }
      const message = result.outcome === 'succeeded' ? result.effects?.incident_message : undefined;
      if (message) stale[index] = await applyIncidentMessage(tx, result.destination, message, result.finished_at);
      recorded[index] = true;
      groupOf.set(index, current.group_key === null ? null : String(current.group_key));
      incidentOf.set(index, current.incident_key === null ? null : String(current.incident_key));
    }

    const entries = latestTold(results.flatMap((result, index) => (recorded[index] && result.outcome === 'succeeded' ? result.notified : [])));
    if (entries.length > 0) {
      await tx.run(
        `INSERT INTO notification_log (destination, dedup_key, status, occurred_at, delivery_id, sent_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
         ON CONFLICT (destination, dedup_key) DO UPDATE SET
           status = excluded.status, occurred_at = excluded.occurred_at, delivery_id = excluded.delivery_id, sent_at = excluded.sent_at`,
        [
          entries.map((entry) => entry.destination),
          entries.map((entry) => entry.dedup_key),
          entries.map((entry) => entry.status),
          entries.map((entry) => entry.occurred_at),
          entries.map((entry) => entry.delivery_id),
          entries.map((entry) => entry.sent_at),
        ],
      );
    }
    const groups = new Map<string, { destination: string; group_key: string; sent_at: number }>();
    for (const [index, result] of results.entries()) {
      const group = groupOf.get(index) ?? null;
      if (!recorded[index] || group === null || !groupNotified(result.outcome)) continue;
      const key = `${result.destination}\u001f${group}`;
      if ((groups.get(key)?.sent_at ?? -1) <= result.finished_at) groups.set(key, { destination: result.destination, group_key: group, sent_at: result.finished_at });
    }
    if (groups.size > 0) {
      const rows = [...groups.values()];
      await tx.run(
        `INSERT INTO delivery_groups (destination, group_key, last_sent_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
         ON CONFLICT (destination, group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at`,
        [rows.map((row) => row.destination), rows.map((row) => row.group_key), rows.map((row) => row.sent_at)],
      );
    }

    // Each destination's breaker once: its recorded attempts folded in order, saved. Destinations
    // in name order, so two batches locking the same state rows never wait for each other in a cycle.
    const steps = new Map<number, BreakerStep>();
    const final = new Map<string, CircuitState>();
    for (const destination of [...new Set(results.map((result) => result.destination))].sort()) {
      const indexes = results.flatMap((result, index) => (result.destination === destination && recorded[index] ? [index] : []));
      const fold = await foldHealth(tx, destination, indexes.map((index) => results[index]!));
      fold.steps.forEach((step, at) => steps.set(indexes[at]!, step));
      final.set(destination, fold.state);
      const closedAt = fold.steps.findIndex((step) => step.enabled_now);
      if (closedAt >= 0) {
        await dueNow(tx, destination, results[indexes[closedAt]!]!.finished_at);
        await announce(tx, [destination]);
      }
    }
    const asks = new Map<number, ChainAsk>();
    for (const [index, result] of results.entries()) {
      const step = steps.get(index);
      const state = step?.state ?? final.get(result.destination)!;
      const incidentKey = incidentOf.get(index) ?? null;
      const chained = chainsNext({
        asked: result.chain !== undefined,
        recorded: recorded[index]!,
        finished: result.outcome !== 'retry',
        probe: result.probe === true,
        incident_key: incidentKey,
        enabled: state.enabled && !(step?.disabled_now ?? false),
      });
      if (chained && incidentKey !== null && result.chain) asks.set(index, { result, incident_key: incidentKey, chain: result.chain });
    }
    const chains = await leaseNexts(tx, asks);
    const answers: RecordedAttempt[] = [];
    for (const [index, result] of results.entries()) {
      const step = steps.get(index);
      const state = step?.state ?? final.get(result.destination)!;
      answers.push({
        recorded: recorded[index]!,
        destination: {
          name: result.destination,
          enabled: state.enabled,
          consecutive_failures: state.consecutive_failures,
          pending: step?.disabled_now ? await pendingCount(tx, result.destination) : null,
        },
        disabled_now: step?.disabled_now ?? false,
        enabled_now: step?.enabled_now ?? false,
        incident_stale: stale[index]!,
        ...(result.chain ? { next: chains.get(index) ?? null } : {}),
      });
    }
    return answers;
  },

  async extendLeases(tx: Tx, args: { ids: readonly string[]; owner: string; until: number }): Promise<void> {
    await leaseOnlyCommit(tx);
    await tx.run(`UPDATE deliveries SET next_attempt_at = $1 WHERE id = ANY($2::text[]) AND status = 'in_flight' AND lease_owner = $3`, [
      args.until,
      [...args.ids],
      args.owner,
    ]);
  },

  /** Marks attempts under way (of deliveries interrupted before), so a stop during one is counted for it. Fully durable. */
  async markAttemptStarted(tx: Tx, args: { ids: readonly string[]; owner: string }): Promise<void> {
    await tx.run(`UPDATE deliveries SET attempt_started = 1 WHERE id = ANY($1::text[]) AND status = 'in_flight' AND lease_owner = $2`, [
      [...args.ids],
      args.owner,
    ]);
  },

  async releaseClaims(tx: Tx, args: { ids: readonly string[]; owner: string; now: number }): Promise<void> {
    const released = await tx.rows(
      `UPDATE deliveries SET status = 'pending', next_attempt_at = $1, lease_owner = NULL, updated_at = $1
       WHERE id = ANY($2::text[]) AND status = 'in_flight' AND lease_owner = $3 RETURNING destination`,
      [args.now, [...args.ids], args.owner],
    );
    // Given back (a replica shutting down): the others take it now, not at their next look.
    await announce(tx, released.map((row) => String(row.destination)));
  },

  async releaseHeld(tx: Tx, args: { marker: string; ids: readonly string[]; note: string; now: number }): Promise<string[]> {
    const released = await tx.rows(
      `UPDATE deliveries SET status = 'pending', next_attempt_at = $1, held_by = NULL, note = COALESCE(note, '') || $4, updated_at = $1
       WHERE id = ANY($2::text[]) AND status = 'muted' AND held_by = $3 RETURNING destination`,
      [args.now, [...args.ids], args.marker, args.note],
    );
    await tx.run(`UPDATE deliveries SET held_by = NULL WHERE held_by = $1 AND status = 'muted'`, [args.marker]);
    const destinations = [...new Set(released.map((row) => String(row.destination)))];
    await announce(tx, destinations);
    return destinations;
  },

  async enableDestination(tx: Tx, args: { name: string; now: number }): Promise<DestinationState | null> {
    const state = await findCircuit(tx, args.name, true);
    if (!state) return null;
    await saveCircuit(tx, args.name, closedByHand(state));
    await dueNow(tx, args.name, args.now);
    await announce(tx, [args.name]);
    return destinationState(tx, args.name);
  },

  async replayDelivery(tx: Tx, args: { id: string; newId: string; now: number }): Promise<DeliveryRecord | null> {
    const original = await tx.one(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = $1`, [args.id]);
    if (!original) return null;
    if (original.destination === null) {
      throw new HookrelayError('conflict', `delivery ${args.id} was skipped (no route matched): there is nothing to replay it to`);
    }
    const row = await tx.one(
      `INSERT INTO deliveries (id, event_id, destination, route, status, request_body, replay_of, next_attempt_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, $7, $7, $7) RETURNING ${DELIVERY_COLUMNS}`,
      [args.newId, original.event_id, original.destination, original.route, original.request_body, args.id, args.now],
    );
    await announce(tx, [String(original.destination)]);
    return row ? deliveryFromRow(row) : null;
  },

  async createMute(tx: Tx, mute: StoredMute): Promise<StoredMute> {
    const row = await tx.one(
      'INSERT INTO mutes (id, matchers, reason, created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *',
      [mute.id, JSON.stringify(mute.matchers), mute.reason, mute.created_by, Date.parse(mute.created_at), Date.parse(mute.expires_at)],
    );
    return muteFromRow(row!);
  },

  async deleteMute(tx: Tx, args: { id: string; now: number }): Promise<StoredMute | null> {
    const row = await tx.one('UPDATE mutes SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL RETURNING *', [args.now, args.id]);
    return row ? muteFromRow(row) : null;
  },

  async enqueuePrepared(tx: Tx, args: { eventId: string; deliveries: readonly PreparedDelivery[]; now: number }): Promise<DeliveryRecord[]> {
    const records: DeliveryRecord[] = [];
    for (const delivery of args.deliveries) {
      const row = await tx.one(
        `INSERT INTO deliveries (id, event_id, destination, route, status, request_body, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6, $6) RETURNING ${DELIVERY_COLUMNS}`,
        [delivery.id, args.eventId, delivery.destination, delivery.route, delivery.request_body, args.now],
      );
      records.push(deliveryFromRow(row!));
    }
    await announce(tx, args.deliveries.map((delivery) => delivery.destination));
    return records;
  },

  async acknowledgeIncident(tx: Tx, args: { destination: string; dedupKey: string; by: string; now: number }): Promise<IncidentMessage | null> {
    const row = await tx.one(
      `UPDATE incident_messages SET acknowledged_by = $1, acknowledged_at = $2, updated_at = $2, version = version + 1
       WHERE destination = $3 AND dedup_key = $4 RETURNING *`,
      [args.by, args.now, args.destination, args.dedupKey],
    );
    return row ? incidentMessageFromRow(row) : null;
  },

  /**
   * All of a pending echo's change or none of it. The echo's row is locked first, so of two
   * replicas applying it at once (one at its ingest, one at start-up) the second waits, then finds
   * it gone; the messages are locked before their versions are compared.
   */
  async applyEcho(tx: Tx, args: EchoApplication): Promise<EchoApplied> {
    if (!(await tx.one('SELECT 1 AS yes FROM pending_echoes WHERE event_id = $1 FOR UPDATE', [args.event_id]))) return 'done';
    for (const change of args.states) {
      const row = await tx.one('SELECT version FROM incident_messages WHERE destination = $1 AND dedup_key = $2 FOR UPDATE', [change.destination, change.dedup_key]);
      if (Number(row?.version ?? -1) !== change.version) return 'stale';
    }
    for (const change of args.states) {
      await tx.run(
        `UPDATE incident_messages SET acknowledged_by = $1, acknowledged_at = $2, status = $3, resolved_at = $4, resolved_by = $5, updated_at = $6, version = version + 1
         WHERE destination = $7 AND dedup_key = $8`,
        [...incidentStateColumns(change.state, args.now), change.destination, change.dedup_key],
      );
    }
    for (const delivery of args.deliveries) {
      await tx.run(
        `INSERT INTO deliveries (id, event_id, destination, route, status, request_body, next_attempt_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'pending', $5, $6, $6, $6)`,
        [delivery.id, args.event_id, delivery.destination, delivery.route, delivery.request_body, args.now],
      );
    }
    await tx.run('DELETE FROM pending_echoes WHERE event_id = $1', [args.event_id]);
    await announce(tx, args.deliveries.map((delivery) => delivery.destination));
    return 'applied';
  },

  /** True when inserted, or when what was remembered had expired (taken again); false while remembered. */
  async admitOnce(tx: Tx, args: { scope: string; key: string; expires_at: number; now: number }): Promise<boolean> {
    const admitted = await tx.one(
      `INSERT INTO seen_once (scope, key, expires_at) VALUES ($1, $2, $3)
       ON CONFLICT (scope, key) DO UPDATE SET expires_at = excluded.expires_at WHERE seen_once.expires_at < $4
       RETURNING 1 AS yes`,
      [args.scope, args.key, args.expires_at, args.now],
    );
    return admitted !== undefined;
  },

  async prune(tx: Tx, options: PruneOptions): Promise<number> {
    await tx.run('DELETE FROM seen_once WHERE expires_at < $1', [options.now]);
    let removed = 0;
    const groups = await tx.rows('SELECT DISTINCT destination FROM deliveries');
    for (const { destination } of groups) {
      const cutoff = await tx.one(
        `SELECT id FROM deliveries WHERE destination IS NOT DISTINCT FROM $1 AND status IN (${FINISHED})
         ORDER BY id DESC LIMIT 1 OFFSET $2`,
        [destination, options.keep_per_destination - 1],
      );
      if (!cutoff) continue;
      removed += await tx.run(`DELETE FROM deliveries WHERE destination IS NOT DISTINCT FROM $1 AND status IN (${FINISHED}) AND id < $2`, [
        destination,
        cutoff.id,
      ]);
    }
    const bounds = pruneBounds(options);
    const { horizon } = bounds;
    await tx.run(`DELETE FROM events WHERE id < $1 AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`, [bounds.orphan_events_before]);
    await tx.run('DELETE FROM sender_ids WHERE received_at < $1', [horizon]);
    await tx.run('DELETE FROM notification_log WHERE sent_at < $1', [horizon]);
    await tx.run('DELETE FROM delivery_groups WHERE last_sent_at < $1', [horizon]);
    await tx.run(`DELETE FROM incident_messages WHERE status = 'resolved' AND updated_at < $1`, [horizon]);
    await tx.run(`DELETE FROM incidents WHERE status = 'resolved' AND updated_at < $1`, [horizon]);
    await tx.run('DELETE FROM mutes WHERE expires_at < $1 OR deleted_at < $1', [horizon]);
    await tx.run(`DELETE FROM receipts WHERE id < $1 AND id NOT IN (SELECT receipt_id FROM events WHERE id < $2)`, [
      bounds.orphan_receipts_before,
      bounds.receipt_events_before,
    ]);
    return removed;
  },
};
