import type { DatabaseSync, SQLInputValue } from 'node:sqlite';
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
  IngestBatch,
  IncidentMessage,
  IncidentMessageEffect,
  IngestedEvent,
  StoredMute,
  NewDelivery,
  NotificationEntry,
  PreparedDelivery,
  PruneOptions,
  RecordedAttempt,
  RequestLogEntry,
  StormPolicy,
} from '../store.ts';
import { FINISHED_STATUSES } from '../store.ts';
import { MAX_PRIORITY, pruneBounds } from '../retention.ts';
import { TAKE_OVER_SQL } from '../take-over.ts';
import { HAND_OFF_LATER_SQL, handOffDue } from '../fallback-sql.ts';
import { chainableRow } from '../chain-sql.ts';
import { alsoWaitsNote, fallbackGroupKey, fallbackIncidentKey, handedOverNote, standsInNote } from '../../notify/fallback.ts';
import { idAt } from '../../util/ids.ts';
import { breakerFold, closedByHand, probeHeld, probeLeased, probeTurn } from '../../notify/breaker.ts';
import type { BreakerStep, CircuitState } from '../../notify/breaker.ts';
import { groupDueAt, groupNotified, joinsGroup } from '../../notify/grouping.ts';
import { chainedRun, chainsNext, dueAtIngest, inhibitionStands, inhibitorOf, leaseAtIngest, releasedByResolve } from '../../notify/incident-order.ts';
import { deliveryAfter, incidentMessageStale, latestTold } from '../../notify/outcome.ts';
import { attemptColumns, incidentStateColumns } from '../columns.ts';
import { digestBatchId, stormCountLimit, stormRaging } from '../../notify/storm.ts';
import { memberQueries, membersOf } from '../../notify/claim-members.ts';
import type { MemberQuery } from '../../notify/claim-members.ts';
import {
  CIRCUIT_COLUMNS,
  DELIVERY_COLUMNS,
  DESTINATION_STATE_SQL,
  EVENT_COLUMNS,
  Statements,
  type Statement,
  circuitFromRow,
  circuitValues,
  deliveryFromRow,
  destinationStateFromRow,
  claimedFromRows,
  incidentMessageFromRow,
  leadFromRow,
  memberFromRow,
  muteFromRow,
} from './rows.ts';
import type { UnpackedIngest } from './ingest-codec.ts';

/**
 * Not waiting behind an earlier unfinished delivery of its incident (`d` is the candidate row):
 * the claim's index-backed form of per-incident order (src/notify/incident-order.ts).
 */
const CLAIMABLE = `(d.incident_key IS NULL OR NOT EXISTS (
  SELECT 1 FROM deliveries p INDEXED BY deliveries_by_incident
  WHERE p.destination = d.destination AND p.incident_key = d.incident_key
    AND p.status IN ('pending', 'in_flight') AND p.id < d.id))`;

/**
 * What a claimed row was before its lease (`lease()`): a pending row's interruption counts are
 * what the lease leaves them (TAKE_OVER_SQL adds only to a row taken over in flight), so they
 * need no read after the update.
 */
const LEASE_FACTS = 'd.status AS before_lease, d.interrupted AS before_interrupted, d.interrupted_attempts AS before_interrupted_attempts';

/** Room a readiness probe asks for: two 8 KB pages, more than a typical webhook's receipt, event and deliveries. */
const PROBE_BYTES = 16_384;

const FINISHED = FINISHED_STATUSES.map((status) => `'${status}'`).join(', ');

type Row = Record<string, unknown>;

/**
 * Runs a write whose count is not read. `get` steps a statement exactly as `run` does (an INSERT
 * returns no row, so it answers undefined) without making `run`'s result object
 * (`{ changes, lastInsertRowid }` from a V8 object template: about 2,500 instructions a call under
 * callgrind, 10k of an ingest's 90k with four of them).
 */
function write(statement: Statement, ...params: SQLInputValue[]): void {
  statement.get(...params);
}

/**
 * Every write the SQLite store makes. They run on the writer thread, several per
 * transaction (group commit), so each one must be a plain synchronous function of its arguments.
 * They load facts, ask the rules in src/notify/ and save what those decide; no decision is made here.
 */
export function createWriteOps(db: DatabaseSync) {
  const sql = new Statements(db);

  function destinationState(name: string): DestinationState | null {
    const row = sql.get(`${DESTINATION_STATE_SQL} WHERE s.name = ?`).get(name);
    return row ? destinationStateFromRow(row) : null;
  }

  function pendingCount(name: string): number {
    return Number(sql.get(`SELECT COUNT(*) AS n FROM deliveries WHERE destination = ? AND status IN ('pending', 'in_flight')`).get(name)?.n ?? 0);
  }

  function findCircuit(name: string): CircuitState | null {
    const row = sql.get(`SELECT ${CIRCUIT_COLUMNS} FROM destination_state WHERE name = ?`).get(name);
    return row ? circuitFromRow(row) : null;
  }

  function loadCircuit(name: string): CircuitState {
    const state = findCircuit(name);
    if (!state) throw new HookrelayError('not_found', `unknown destination "${name}"`);
    return state;
  }

  function saveCircuit(name: string, state: CircuitState): void {
    const columns = CIRCUIT_COLUMNS.split(', ');
    sql.get(`UPDATE destination_state SET ${columns.map((column) => `${column} = ?`).join(', ')} WHERE name = ?`).run(...circuitValues(state), name);
  }

  /** A grouped delivery's due time, from what the store knows of its group (src/notify/grouping.ts). */
  function groupDue(destination: string, group: NonNullable<NewDelivery['group']>, now: number): number {
    const facts = sql
      .get(
        // The later facts only matter when no batch waits (grouping.ts): CASE leaves them unread then.
        `SELECT w.due AS waiting_due,
           CASE WHEN w.due IS NULL THEN EXISTS (SELECT 1 FROM deliveries INDEXED BY deliveries_by_group
             WHERE destination = ?1 AND group_key = ?2 AND batch_id IS NOT NULL AND status IN ('pending', 'in_flight')) ELSE 0 END AS in_progress,
           CASE WHEN w.due IS NULL THEN (SELECT last_sent_at FROM delivery_groups WHERE destination = ?1 AND group_key = ?2) END AS last_sent_at
         FROM (SELECT MIN(next_attempt_at) AS due FROM deliveries INDEXED BY deliveries_by_group
               WHERE destination = ?1 AND group_key = ?2 AND status = 'pending' AND batch_id IS NULL) AS w`,
      )
      .get(destination, group.key);
    return groupDueAt(
      group,
      {
        waiting_due: facts?.waiting_due === null || facts?.waiting_due === undefined ? null : Number(facts.waiting_due),
        in_progress: Number(facts?.in_progress ?? 0) === 1,
        last_sent_at: facts?.last_sent_at === null || facts?.last_sent_at === undefined ? null : Number(facts.last_sent_at),
      },
      now,
    );
  }

  /** An unfinished delivery of this incident is already queued for this destination. */
  function waitsBehind(destination: string, incidentKey: string): boolean {
    return (
      sql
        .get(
          `SELECT 1 AS yes FROM deliveries INDEXED BY deliveries_by_incident
           WHERE destination = ? AND incident_key = ? AND status IN ('pending', 'in_flight') LIMIT 1`,
        )
        .get(destination, incidentKey) !== undefined
    );
  }

  function toldStatus(destination: string, dedupKey: string): string | null {
    const row = sql.get('SELECT status FROM notification_log WHERE destination = ? AND dedup_key = ?').get(destination, dedupKey);
    return row ? String(row.status) : null;
  }

  function enabled(destination: string): boolean {
    return Number(sql.get('SELECT enabled FROM destination_state WHERE name = ?').get(destination)?.enabled ?? 0) === 1;
  }

  /** Leases claimable rows and turns them into claimed deliveries (a grouped row brings its batch). */
  function lease(rows: readonly Row[], destination: string, args: ClaimOptions | Omit<ClaimOptions, 'limit'>, probe: boolean, storm: StormPolicy | null = null): ClaimedDelivery[] {
    const { now, lease_ms, owner } = args;
    // No RETURNING: it would make SQLite keep a statement journal (a copy of every page the
    // update touches) for a statement that changes one row. The lead's counts are its own when
    // it was pending (LEASE_FACTS), read after the update when it was taken over.
    const update = sql.get(
      `UPDATE deliveries SET status = 'in_flight', next_attempt_at = ?, lease_owner = ?, updated_at = ?, ${TAKE_OVER_SQL}
       WHERE id = ?`,
    );
    const leasedCounts = sql.get('SELECT interrupted, interrupted_attempts FROM deliveries WHERE id = ?');
    const claimed = new Set<string>();
    const deliveries: ClaimedDelivery[] = [];
    for (const row of rows) {
      const id = String(row.delivery_id);
      if (claimed.has(id)) continue;
      const { members, digest } = leadMembers(row, destination, now, storm);
      for (const each of [row, ...members]) {
        write(update, now + lease_ms, owner, now, each.delivery_id as string);
        claimed.add(String(each.delivery_id));
      }
      const counts =
        row.before_lease === 'pending'
          ? { interrupted: row.before_interrupted, interrupted_attempts: row.before_interrupted_attempts }
          : leasedCounts.get(id);
      deliveries.push(claimedFromRows(row, members, { destination, probe, digest, counts }));
    }
    return deliveries;
  }

  /**
   * Inhibition's memory: the incident's latest state (by the sender's time). When it resolves,
   * the deliveries it inhibited whose own incident still fires are due again (the stage judges
   * them afresh); returns their destinations.
   */
  function trackIncidentState(event: { source: string; dedup_key: string; status: string; id: string; occurred_at: string }, now: number): string[] {
    sql
      .get(
        `INSERT INTO incidents (source, dedup_key, status, event_id, occurred_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (source, dedup_key) DO UPDATE SET
           status = excluded.status, event_id = excluded.event_id, occurred_at = excluded.occurred_at, updated_at = excluded.updated_at
         WHERE excluded.occurred_at >= incidents.occurred_at`,
      )
      .run(event.source, event.dedup_key, event.status, event.id, event.occurred_at, now);
    if (event.status !== 'resolved') return [];
    const held = sql
      .get(
        `SELECT d.id, d.destination, (SELECT t.status FROM incidents t WHERE t.source = te.source AND t.dedup_key = te.dedup_key) AS own
         FROM deliveries d JOIN events te ON te.id = d.event_id WHERE d.held_by = ? AND d.status = 'muted'`,
      )
      .all(JSON.stringify([event.source, event.dedup_key]));
    const release = sql.get(`UPDATE deliveries SET status = 'pending', next_attempt_at = ?, held_by = NULL, updated_at = ? WHERE id = ?`);
    const destinations = new Set<string>();
    for (const row of held) {
      if (!releasedByResolve(row.own === null ? null : String(row.own))) continue;
      release.run(now, now, String(row.id));
      destinations.add(String(row.destination));
    }
    return [...destinations];
  }

  /** The incident has its own open message here (slack-bot). */
  function hasOpenMessage(destination: string, dedupKey: string): boolean {
    return (
      sql
        .get(`SELECT 1 AS yes FROM incident_messages WHERE destination = ? AND dedup_key = ? AND status = 'firing'`)
        .get(destination, dedupKey) !== undefined
    );
  }

  /** Requests waiting for this destination, counted up to the storm's limit only (a storm costs no full count); a formed batch is one. */
  function waitingRequests(destination: string, now: number, storm: StormPolicy): number {
    const row = sql
      .get(
        `SELECT COUNT(*) AS n FROM (
           SELECT 1 FROM deliveries d INDEXED BY deliveries_due
           WHERE d.destination = ? AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= ?
             AND (d.batch_id IS NULL OR d.batch_id = d.id OR d.batch_id = ? || d.id)
           LIMIT ?)`,
      )
      .get(destination, now, digestBatchId(''), stormCountLimit(storm));
    return Number(row?.n ?? 0);
  }

  /** The deliveries a member query of src/notify/claim-members.ts names, oldest first. */
  function readMembers(destination: string, query: MemberQuery): Row[] {
    switch (query.kind) {
      case 'batch':
        return sql
          .get(
            `SELECT d.id AS delivery_id, d.rule_key, ${EVENT_COLUMNS} FROM deliveries d INDEXED BY deliveries_by_batch JOIN events e ON e.id = d.event_id
             WHERE d.batch_id = ? AND d.status IN ('pending', 'in_flight') ORDER BY d.id LIMIT ?`,
          )
          .all(query.batch_id, query.limit ?? -1);
      case 'group':
        return sql
          .get(
            `SELECT d.id AS delivery_id, d.rule_key, ${EVENT_COLUMNS} FROM deliveries d INDEXED BY deliveries_by_group JOIN events e ON e.id = d.event_id
             WHERE d.destination = ? AND d.group_key = ? AND d.status = 'pending' AND d.batch_id IS NULL
             ORDER BY d.id LIMIT ?`,
          )
          .all(destination, query.group_key, query.limit);
      case 'digest':
        return sql
          .get(
            `SELECT d.id AS delivery_id, d.incident_key, d.batch_id, d.attempts, d.request_body, d.replay_of, d.fallback_of, d.route, d.rule_key,
               (SELECT COUNT(*) FROM deliveries p INDEXED BY deliveries_by_incident
                WHERE p.destination = d.destination AND p.incident_key = d.incident_key
                  AND p.status IN ('pending', 'in_flight') AND p.id < d.id) AS ahead,
               ${query.open_messages ? `EXISTS (SELECT 1 FROM incident_messages m WHERE m.destination = d.destination AND m.dedup_key = e.dedup_key AND m.status = 'firing')` : '0'} AS open_message,
               ${EVENT_COLUMNS}
             FROM deliveries d INDEXED BY deliveries_due JOIN events e ON e.id = d.event_id
             WHERE d.destination = ? AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= ?
               AND d.route IS ? AND ${query.group_key !== null ? 'd.group_key = ?' : 'd.group_key IS NULL AND e.type = ?'}
             ORDER BY d.id LIMIT ?`,
          )
          .all(destination, query.due_by, query.route, query.group_key ?? query.type, query.limit);
    }
  }

  /**
   * What a claimed row brings (src/notify/claim-members.ts decides): each query it names read in
   * turn until one gives members; a batch formed now gets its id written on the lead and them.
   */
  function leadMembers(row: Row, destination: string, now: number, storm: StormPolicy | null): { members: Row[]; digest: boolean } {
    const lead = leadFromRow(row, storm?.keep_incident_messages === true && hasOpenMessage(destination, String(row.dedup_key)));
    for (const query of memberQueries(lead, storm, now)) {
      const found = readMembers(destination, query);
      const chosen = membersOf(lead, query, found.map((each) => memberFromRow(each)));
      if (chosen === null) continue;
      if (chosen.form !== null) {
        const form = sql.get('UPDATE deliveries SET batch_id = ? WHERE id = ?');
        for (const id of [lead.id, ...chosen.ids]) form.run(chosen.form, id);
      }
      const byId = new Map(found.map((each) => [String(each.delivery_id), each]));
      return { members: chosen.ids.map((id) => byId.get(id)!), digest: chosen.digest };
    }
    return { members: [], digest: false };
  }

  /**
   * Which of these incidents (by `waitingKey`) have a delivery still to finish at their
   * destination: one statement for a whole batch of records, where asking `leaseNext` of each
   * would search the index once per record, and in a drain of many incidents find nothing for
   * nearly all of them. Nothing a batch's records do after this adds such a delivery.
   */
  function incidentsWaiting(asked: ReadonlyArray<{ destination: string; incident: string }>): Set<string> {
    if (asked.length === 0) return new Set();
    const rows = sql
      .get(
        `SELECT k.value ->> '$[0]' AS destination, k.value ->> '$[1]' AS incident_key FROM json_each(?) AS k
         WHERE EXISTS (SELECT 1 FROM deliveries p INDEXED BY deliveries_by_incident
                       WHERE p.destination = k.value ->> '$[0]' AND p.incident_key = k.value ->> '$[1]' AND p.status IN ('pending', 'in_flight'))`,
      )
      .all(JSON.stringify(asked.map((each) => [each.destination, each.incident])));
    return new Set(rows.map((row) => waitingKey(String(row.destination), String(row.incident_key))));
  }

  /**
   * The incident's next delivery — or a run of them, as many as the chain asks for
   * (src/notify/incident-order.ts `chainedRun`) — leased to the owner of the attempt that just
   * finished the one ahead (`chainsNext`), if they may go now as a claim would lease them on their
   * own; during a storm the claim folds them into a digest instead.
   */
  function leaseNext(result: AttemptResult, incidentKey: string | null, chain: ChainRequest): ClaimedDelivery[] {
    const { destination, finished_at: now } = result;
    if (incidentKey === null) return [];
    // The incident's first unfinished ids, then their rows: one index search each.
    const ids = sql
      .get(
        `SELECT p.id FROM deliveries p INDEXED BY deliveries_by_incident
         WHERE p.destination = ? AND p.incident_key = ? AND p.status IN ('pending', 'in_flight') ORDER BY p.id LIMIT ?`,
      )
      .all(destination, incidentKey, Math.max(1, chain.run ?? 1));
    if (ids.length === 0) return [];
    const read = sql.get(
      `SELECT d.id AS delivery_id, d.attempts, d.request_body, d.group_key, d.batch_id, d.replay_of, d.route, d.rule_key, d.fallback_for, d.fallback_of, d.fallback_delivery,
              (${chainableRow('?2')}) AS chainable, ${LEASE_FACTS}, ${EVENT_COLUMNS}
       FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?1`,
    );
    const rows = ids.map((each) => read.get(each.id as string, now)!);
    const run = chainedRun(rows, (row) => Number(row.chainable) === 1);
    if (run.length === 0) return [];
    if (chain.storm && stormRaging(waitingRequests(destination, now, chain.storm), chain.storm)) return [];
    return lease(run, destination, { now, lease_ms: chain.lease_ms, owner: result.lease_owner }, false);
  }

  /**
   * When the next claimable delivery falls due: in-flight rows count too (their lease expiry; an
   * early wake-up costs nothing), rows waiting behind their incident do not (they are not due
   * until the one ahead finishes, and counting them would wake the lane in a loop).
   */
  function nextDueAt(destination: string): number | null {
    const first = sql.get(
      `SELECT d.next_attempt_at AS due FROM deliveries d INDEXED BY deliveries_due
       WHERE d.destination = ? AND d.priority = ? AND d.status IN ('pending', 'in_flight') AND ${CLAIMABLE}
       ORDER BY d.next_attempt_at LIMIT 1`,
    );
    let due: number | null = null;
    for (let priority = MAX_PRIORITY; priority >= 0; priority--) {
      const row = first.get(destination, priority);
      if (row && row.due !== null && (due === null || Number(row.due) < due)) due = Number(row.due);
    }
    return due;
  }

  /**
   * A slack-bot message posted or updated by an attempt, written with it. Targeted: an update
   * touches what the event changed, never who acknowledged. True when the message changed since
   * the request was drawn (an acknowledgement landed meanwhile): the card needs a redraw.
   */
  function applyIncidentMessage(destination: string, effect: IncidentMessageEffect, now: number): boolean {
    const resolvedAt = effect.resolved_at === null ? null : Date.parse(effect.resolved_at);
    if (effect.kind === 'posted') {
      sql
        .get(
          `INSERT INTO incident_messages
             (destination, dedup_key, channel, ts, started_at, status, resolved_at, acknowledged_by, acknowledged_at, last_event_id, updates, updated_at, version)
           VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, 0, ?, 1)
           ON CONFLICT (destination, dedup_key) DO UPDATE SET
             channel = excluded.channel, ts = excluded.ts, started_at = excluded.started_at, status = excluded.status,
             resolved_at = excluded.resolved_at, acknowledged_by = NULL, acknowledged_at = NULL, resolved_by = NULL,
             last_event_id = excluded.last_event_id, updates = 0, updated_at = excluded.updated_at, version = version + 1`,
        )
        .run(destination, effect.dedup_key, effect.channel, effect.ts, Date.parse(effect.started_at), effect.status, resolvedAt, effect.last_event_id, now);
      return false;
    }
    const row = sql
      .get(
        `UPDATE incident_messages SET status = ?, resolved_at = ?, last_event_id = ?, updates = updates + 1, updated_at = ?, version = version + 1
         WHERE destination = ? AND dedup_key = ? RETURNING version`,
      )
      .get(effect.status, resolvedAt, effect.last_event_id, now, destination, effect.dedup_key);
    return row !== undefined && incidentMessageStale(Number(row.version), effect.drawn_from_version);
  }

  /** Resuming means now, not at the end of a backoff that ran while the destination was off. */
  function dueNow(destination: string, now: number): void {
    sql
      .get(`UPDATE deliveries SET next_attempt_at = ? WHERE destination = ? AND status = 'pending' AND next_attempt_at > ?`)
      .run(now, destination, now);
  }

  /**
   * An open circuit's work for its fallback (src/notify/fallback.ts): due rows and retries, in
   * incident order, highest priority first; nothing once the circuit is closed.
   */
  function claimForFallback(args: { destination: string } & ClaimOptions, isEnabled: boolean | null): ClaimBatch {
    const { destination, limit, now } = args;
    if (isEnabled === null) return { deliveries: [], next_due_at: null };
    if (isEnabled) return { deliveries: [], next_due_at: null, enabled: true };
    const rows = sql
      .get(
        `SELECT d.id AS delivery_id, d.attempts, d.request_body, d.group_key, d.batch_id, d.replay_of, d.route, d.rule_key, d.fallback_for, d.fallback_of, d.fallback_delivery, ${LEASE_FACTS}, ${EVENT_COLUMNS}
         FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.destination = ?1 AND d.status IN ('pending', 'in_flight') AND ${handOffDue('?2')} AND ${CLAIMABLE}
         ORDER BY d.priority DESC, d.id
         LIMIT ?3`,
      )
      .all(destination, now, limit);
    const later = sql
      .get(
        `SELECT MIN(d.next_attempt_at) AS due FROM deliveries d
         WHERE d.destination = ? AND d.status IN ('pending', 'in_flight') AND ${HAND_OFF_LATER_SQL} AND ${CLAIMABLE}`,
      )
      .get(destination);
    const deliveries = lease(rows, destination, args, false);
    return { deliveries, next_due_at: later?.due === null || later?.due === undefined ? null : Number(later.due), enabled: false };
  }

  function insertRequest(entry: RequestLogEntry, outcome = entry.outcome, status = entry.status, eventId: string | null = null): void {
    write(
      sql.get(
        `INSERT INTO requests (id, received_at, source, address, status, outcome, reason, body_bytes, excerpt, event_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      ),
      entry.id, entry.received_at, entry.source, entry.address, status, outcome, entry.reason, entry.body_bytes, entry.excerpt, eventId,
    );
  }

  return {
    syncDestinations(names: readonly string[]): null {
      const insert = sql.get('INSERT INTO destination_state (name) VALUES (?) ON CONFLICT (name) DO NOTHING');
      for (const name of names) insert.run(name);
      return null;
    },

    /** `batch.receipt.headers`: as the codec brings them from the event loop, their JSON text already. */
    ingest(batch: IngestBatch | UnpackedIngest): IngestedEvent[] {
      const { receipt } = batch;
      // One insert decides (never check-then-insert): a sender id already there is a duplicate.
      const claimSenderId = sql.get(
        'INSERT INTO sender_ids (source, external_id, event_id, received_at) VALUES (?, ?, ?, ?) ON CONFLICT (source, external_id) DO NOTHING',
      );
      const firstSeen = sql.get('SELECT event_id FROM sender_ids WHERE source = ? AND external_id = ?');
      const insertEvent = sql.get(
        `INSERT INTO events (id, receipt_id, source, external_id, type, severity, status, title, summary, dedup_key, occurred_at, received_at, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insertDelivery = sql.get(
        `INSERT INTO deliveries (id, event_id, destination, route, status, note, group_key, lease_owner, next_attempt_at, created_at, updated_at, incident_key, priority, rule_key, held_by)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      // A delivery with nothing to schedule (skipped, muted; no group, lease, incident, rule or
      // hold): 8 values bound instead of 15, the rest the columns' defaults (NULL, priority 0) —
      // the same row. Every webhook no route takes stores one (issue 20: each value bound costs).
      const insertPlainDelivery = sql.get(
        `INSERT INTO deliveries (id, event_id, destination, route, status, note, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const results: IngestedEvent[] = [];
      let receiptStored = false;
      // Whether each destination asked a lease of is enabled, read once per ingest.
      const circuits = new Map<string, boolean>();
      const enabledNow = (destination: string): boolean => {
        let known = circuits.get(destination);
        if (known === undefined) circuits.set(destination, (known = enabled(destination)));
        return known;
      };
      for (const { event, deliveries, data_is_body: dataIsBody, track_incident: trackIncident, echo } of batch.events) {
        if (event.external_id !== null) {
          if (Number(claimSenderId.run(event.source, event.external_id, event.id, receipt.received_at).changes) === 0) {
            results.push({ id: String(firstSeen.get(event.source, event.external_id)?.event_id ?? ''), duplicate: true });
            continue;
          }
        }
        if (!receiptStored) {
          write(
            sql.get('INSERT INTO receipts (id, source, received_at, headers, body) VALUES (?, ?, ?, ?, ?)'),
            receipt.id, receipt.source, receipt.received_at, typeof receipt.headers === 'string' ? receipt.headers : JSON.stringify(receipt.headers), receipt.body,
          );
          receiptStored = true;
        }
        write(
          insertEvent,
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
        );
        const waiting: string[] = [];
        for (const delivery of deliveries) {
          const incidentKey = delivery.status === 'pending' ? (delivery.incident_key ?? null) : null;
          const asked = delivery.status === 'pending' && delivery.destination !== null ? delivery.lease : null;
          const { lease: leased, waits } = leaseAtIngest(
            asked,
            asked && delivery.destination !== null
              ? { behind: incidentKey !== null && waitsBehind(delivery.destination, incidentKey), enabled: enabledNow(delivery.destination) }
              : { behind: false, enabled: true },
          );
          if (waits) waiting.push(delivery.id);
          const group =
            delivery.group && delivery.destination !== null && joinsGroup(event.status, event.status === 'resolved' ? toldStatus(delivery.destination, event.dedup_key) : null)
              ? delivery.group
              : null;
          const due = dueAtIngest(
            delivery.status,
            leased?.until ?? null,
            group && delivery.destination !== null && delivery.status === 'pending' && !leased ? groupDue(delivery.destination, group, receipt.received_at) : null,
            receipt.received_at,
          );
          const status = leased ? 'in_flight' : delivery.status;
          const priority = delivery.priority ?? 0;
          const ruleKey = delivery.rule_key ?? null;
          const heldBy = delivery.status === 'muted' ? (delivery.held_by ?? null) : null;
          if (group === null && !leased && due === null && incidentKey === null && priority === 0 && ruleKey === null && heldBy === null) {
            write(insertPlainDelivery, delivery.id, event.id, delivery.destination, delivery.route, status, delivery.note ?? null, receipt.received_at, receipt.received_at);
            continue;
          }
          write(
            insertDelivery,
            delivery.id,
            event.id,
            delivery.destination,
            delivery.route,
            status,
            delivery.note ?? null,
            group?.key ?? null,
            leased?.owner ?? null,
            due,
            receipt.received_at,
            receipt.received_at,
            incidentKey,
            priority,
            ruleKey,
            heldBy,
          );
        }
        // Applied after the commit (change 'apply_echo'); pending until then, so a stop in between loses nothing.
        if (echo) write(sql.get('INSERT INTO pending_echoes (event_id, dedup_key, created_at) VALUES (?, ?, ?)'), event.id, echo.dedup_key, receipt.received_at);
        const released = trackIncident ? trackIncidentState(event, receipt.received_at) : [];
        results.push({
          id: event.id,
          duplicate: false,
          ...(waiting.length > 0 ? { waiting } : {}),
          ...(released.length > 0 ? { released } : {}),
        });
      }
      if (batch.request) {
        const duplicate = results.length > 0 && results.every((result) => result.duplicate);
        insertRequest(batch.request, duplicate ? 'duplicate' : batch.request.outcome, duplicate ? 200 : batch.request.status, results[0]?.id || null);
      }
      return results;
    },

    recordRequests(entries: readonly RequestLogEntry[]): null {
      for (const entry of entries) insertRequest(entry);
      return null;
    },

    pruneRequests(args: { keep: number; before: number }): number {
      let removed = Number(sql.get('DELETE FROM requests WHERE id < ?').run(idAt('req', args.before)).changes);
      const cutoff = sql.get('SELECT id FROM requests ORDER BY id DESC LIMIT 1 OFFSET ?').get(Math.max(0, args.keep - 1));
      if (cutoff) removed += Number(sql.get('DELETE FROM requests WHERE id < ?').run(cutoff.id as string).changes);
      return removed;
    },

    claimDue(args: { destination: string } & ClaimOptions): ClaimBatch {
      const { destination, limit, now } = args;
      const state = sql.get('SELECT enabled FROM destination_state WHERE name = ?').get(destination);
      if (args.for_fallback) return claimForFallback(args, state === undefined ? null : Number(state.enabled) === 1);
      if (!state || Number(state.enabled) !== 1) return { deliveries: [], next_due_at: null };
      // Highest priority first, one index range per level; a delivery behind an earlier unfinished
      // one of its incident is not claimable (at most one per incident in flight, in order). Rows
      // due at the same moment come in rowid order, the order they were inserted in, which is their
      // ids' (PostgreSQL has no such order and sorts them by id: its deliveries_due holds the id).
      const due = sql.get(
        `SELECT d.id AS delivery_id, d.attempts, d.request_body, d.group_key, d.batch_id, d.replay_of, d.route, d.rule_key, d.fallback_for, d.fallback_of, d.fallback_delivery, ${LEASE_FACTS}, ${EVENT_COLUMNS}
         FROM deliveries d INDEXED BY deliveries_due JOIN events e ON e.id = d.event_id
         WHERE d.destination = ? AND d.priority = ? AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= ?
           AND ${CLAIMABLE}
         ORDER BY d.next_attempt_at
         LIMIT ?`,
      );
      const rows: Record<string, unknown>[] = [];
      for (let priority = MAX_PRIORITY; priority >= 0 && rows.length < limit; priority--) {
        rows.push(...due.all(destination, priority, now, limit - rows.length));
      }
      const storm = args.storm && stormRaging(waitingRequests(destination, now, args.storm), args.storm) ? args.storm : null;
      return { deliveries: lease(rows, destination, args, false, storm), next_due_at: nextDueAt(destination) };
    },

    claimProbe(args: { destination: string } & Omit<ClaimOptions, 'limit'>): ClaimBatch {
      const { destination, now, lease_ms } = args;
      const state = findCircuit(destination);
      const turn = state ? probeTurn(state, now) : null;
      if (!state || !turn || turn.kind === 'closed' || turn.kind === 'manual') return { deliveries: [], next_due_at: null };
      if (turn.kind === 'wait') return { deliveries: [], next_due_at: turn.until };
      // The oldest pending delivery that heads its incident: an earlier one may still be in flight
      // (another dispatcher's attempt that started before the circuit opened), and order holds.
      const row = sql
        .get(
          `SELECT d.id AS delivery_id, d.attempts, d.request_body, d.group_key, d.batch_id, d.replay_of, d.route, d.rule_key, d.fallback_for, d.fallback_of, d.fallback_delivery, ${LEASE_FACTS}, ${EVENT_COLUMNS}
           FROM deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.destination = ? AND (d.status = 'pending' OR (d.status = 'in_flight' AND d.next_attempt_at <= ?))
             AND ${CLAIMABLE}
           ORDER BY d.id LIMIT 1`,
        )
        .get(destination, now);
      if (!row) return { deliveries: [], next_due_at: null };
      saveCircuit(destination, probeLeased(state, now, lease_ms));
      return { deliveries: lease([row], destination, args, true), next_due_at: now + lease_ms };
    },

    /** Originals finished as handed over, their copies added at the fallback, due now (src/notify/fallback.ts). */
    handToFallback(args: FallbackHandOff): number {
      const take = sql.get(
        `UPDATE deliveries SET status = 'skipped', note = ?, next_attempt_at = NULL, lease_owner = NULL, updated_at = ?, fallback_to = ?, fallback_delivery = ?
         WHERE id = ? AND status = 'in_flight' AND lease_owner = ? RETURNING event_id, route, priority`,
      );
      const dedupKey = sql.get('SELECT dedup_key FROM events WHERE id = ?');
      const insert = sql.get(
        `INSERT INTO deliveries (id, event_id, destination, route, status, note, group_key, next_attempt_at, created_at, updated_at, incident_key, priority, fallback_for, fallback_of)
         VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      // Kept for its own destination too: pending again, due now (only a probe or a closed circuit takes it).
      const keep = sql.get(
        `UPDATE deliveries SET status = 'pending', note = ?, next_attempt_at = ?, lease_owner = NULL, updated_at = ?, fallback_to = ?, fallback_delivery = ?
         WHERE id = ? AND status = 'in_flight' AND lease_owner = ? RETURNING event_id, route, priority`,
      );
      const kept = new Set(args.keep ?? []);
      const group = fallbackGroupKey(args.ids[0] ?? '', args.ids.length);
      let handed = 0;
      args.ids.forEach((id, index) => {
        const copy = args.fallback_ids[index];
        if (copy === undefined) return;
        const row = kept.has(id)
          ? keep.get(alsoWaitsNote(args.fallback, copy), args.now, args.now, args.fallback, copy, id, args.lease_owner)
          : take.get(handedOverNote(args.fallback, copy), args.now, args.fallback, copy, id, args.lease_owner);
        if (!row) return;
        const key = fallbackIncidentKey(args.fallback_ordered, String(dedupKey.get(row.event_id as string)?.dedup_key ?? ''));
        insert.run(copy, row.event_id as string, args.fallback, row.route as string | null, standsInNote(args.destination, id), group, args.now, args.now, args.now, key, Number(row.priority), args.destination, id);
        handed += 1;
      });
      return handed;
    },

    holdDeliveries(hold: HoldRequest): null {
      const inhibitor = hold.status === 'muted' && hold.held_by ? inhibitorOf(hold.held_by) : null;
      if (inhibitor) {
        const row = sql.get('SELECT status FROM incidents WHERE source = ? AND dedup_key = ?').get(inhibitor.source, inhibitor.dedup_key);
        if (!inhibitionStands(row ? String(row.status) : null)) {
          // Given back, due now, to be judged afresh (its inhibitor's resolve released nothing of it).
          const release = sql.get(
            `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, lease_owner = NULL, updated_at = ?
             WHERE id = ? AND status = 'in_flight' AND lease_owner = ?`,
          );
          for (const id of hold.ids) release.run(hold.now, hold.now, id, hold.lease_owner);
          return null;
        }
      }
      const update = sql.get(
        `UPDATE deliveries SET status = ?, note = ?, next_attempt_at = NULL, lease_owner = NULL, updated_at = ?, held_by = ?
         WHERE id = ? AND status = 'in_flight' AND lease_owner = ?`,
      );
      const heldBy = hold.status === 'muted' ? (hold.held_by ?? null) : null;
      for (const id of hold.ids) update.run(hold.status, hold.note, hold.now, heldBy, id, hold.lease_owner);
      const circuit = hold.probe_of ? findCircuit(hold.probe_of) : null;
      const next = circuit ? probeHeld(circuit, hold.now) : null;
      if (hold.probe_of && next) saveCircuit(hold.probe_of, next);
      return null;
    },

    releaseHeld(args: { marker: string; ids: readonly string[]; note: string; now: number }): string[] {
      const release = sql.get(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, held_by = NULL, note = COALESCE(note, '') || ?, updated_at = ?
         WHERE id = ? AND status = 'muted' AND held_by = ? RETURNING destination`,
      );
      const destinations = new Set<string>();
      for (const id of args.ids) {
        const row = release.get(args.now, args.note, args.now, id, args.marker);
        if (row) destinations.add(String(row.destination));
      }
      sql.get(`UPDATE deliveries SET held_by = NULL WHERE held_by = ? AND status = 'muted'`).run(args.marker);
      return [...destinations];
    },

    /**
     * A batch of attempts in one transaction: each delivery (and the rest of its batch) gets its
     * attempt; the notification log, groups and incident messages what they changed; each
     * destination's breaker folds the batch's health reports in order (src/notify/breaker.ts).
     * A delivery whose lease was lost meanwhile records nothing (`recorded: false`).
     */
    commitAttempts(results: readonly AttemptResult[]): RecordedAttempt[] {
      const current = sql.get('SELECT status, lease_owner, group_key, incident_key, attempts FROM deliveries WHERE id = ?');
      const insertAttempt = sql.get(
        `INSERT INTO delivery_attempts (delivery_id, attempt, started_at, outcome, response_code, response_body, latency_ms, error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const attemptSet = `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, lease_owner = NULL,
           request_body = COALESCE(?, request_body), response_code = ?, response_body = ?, latency_ms = ?,
           last_error = ?, note = COALESCE(?, note), updated_at = ?
         WHERE id = ? AND status = 'in_flight' AND lease_owner = ?`;
      // The lead, checked just above: no RETURNING, which would make SQLite keep a statement
      // journal (a copy of every page the update touches) for a statement that changes one row.
      const updateLead = sql.get(attemptSet);
      const updateMember = sql.get(`${attemptSet} RETURNING attempts`);
      const recorded: boolean[] = [];
      const stale: boolean[] = [];
      const incidents: Array<string | null> = [];
      const told: NotificationEntry[] = [];
      const groups = new Map<string, { destination: string; group_key: string; sent_at: number }>();
      for (const result of results) {
        const row = current.get(result.delivery_id);
        if (!row || row.status !== 'in_flight' || row.lease_owner !== result.lease_owner) {
          recorded.push(false);
          stale.push(false);
          incidents.push(null);
          continue;
        }
        incidents.push(row.incident_key === null ? null : String(row.incident_key));
        const after = deliveryAfter(result);
        // A grouped batch is one request: every member gets the same attempt.
        const columns = attemptColumns(after, result);
        write(updateLead, ...columns, result.delivery_id, result.lease_owner);
        write(insertAttempt, result.delivery_id, Number(row.attempts) + 1, result.started_at, result.outcome, result.response_code, result.response_body, result.latency_ms, result.error);
        for (const id of result.member_ids) {
          const updated = updateMember.get(...columns, id, result.lease_owner);
          if (!updated) continue;
          write(insertAttempt, id, Number(updated.attempts), result.started_at, result.outcome, result.response_code, result.response_body, result.latency_ms, result.error);
        }
        let incidentStale = false;
        if (result.outcome === 'succeeded') {
          told.push(...result.notified);
          const message = result.effects?.incident_message;
          if (message) incidentStale = applyIncidentMessage(result.destination, message, result.finished_at);
        }
        if (row.group_key !== null && groupNotified(result.outcome)) {
          const key = `${result.destination}\u001f${String(row.group_key)}`;
          if ((groups.get(key)?.sent_at ?? -1) <= result.finished_at) groups.set(key, { destination: result.destination, group_key: String(row.group_key), sent_at: result.finished_at });
        }
        recorded.push(true);
        stale.push(incidentStale);
      }
      const log = sql.get(
        `INSERT INTO notification_log (destination, dedup_key, status, occurred_at, delivery_id, sent_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (destination, dedup_key) DO UPDATE SET
           status = excluded.status, occurred_at = excluded.occurred_at, delivery_id = excluded.delivery_id, sent_at = excluded.sent_at`,
      );
      for (const entry of latestTold(told)) log.run(entry.destination, entry.dedup_key, entry.status, entry.occurred_at, entry.delivery_id, entry.sent_at);
      const sent = sql.get(
        `INSERT INTO delivery_groups (destination, group_key, last_sent_at) VALUES (?, ?, ?)
         ON CONFLICT (destination, group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at`,
      );
      for (const group of groups.values()) sent.run(group.destination, group.group_key, group.sent_at);

      // Each destination's breaker once: loaded, folded over its recorded attempts in order, saved.
      const steps = new Map<number, BreakerStep>();
      const final = new Map<string, CircuitState>();
      for (const destination of new Set(results.map((result) => result.destination))) {
        const indexes = results.flatMap((result, index) => (result.destination === destination && recorded[index] ? [index] : []));
        const fold = breakerFold(loadCircuit(destination), indexes.map((index) => results[index]!));
        fold.steps.forEach((step, at) => steps.set(indexes[at]!, step));
        if (fold.changed) saveCircuit(destination, fold.state);
        for (const [at, step] of fold.steps.entries()) if (step.enabled_now) dueNow(destination, results[indexes[at]!]!.finished_at);
        final.set(destination, fold.state);
      }
      const waiting = incidentsWaiting(
        results.flatMap((result, index) => {
          const incident = incidents[index];
          // Any key but none: an empty one is an incident too (chainsNext asks only for a key).
          return result.chain && incident !== null && incident !== undefined ? [{ destination: result.destination, incident }] : [];
        }),
      );
      return results.map((result, index) => {
        const step = steps.get(index);
        const state = step?.state ?? final.get(result.destination)!;
        const incident = incidents[index]!;
        const chained = chainsNext({
          asked: result.chain !== undefined,
          recorded: recorded[index]!,
          finished: result.outcome !== 'retry',
          probe: result.probe === true,
          incident_key: incident,
          enabled: state.enabled && !(step?.disabled_now ?? false),
        });
        return {
          recorded: recorded[index]!,
          destination: {
            name: result.destination,
            enabled: state.enabled,
            consecutive_failures: state.consecutive_failures,
            pending: step?.disabled_now ? pendingCount(result.destination) : null,
          },
          disabled_now: step?.disabled_now ?? false,
          enabled_now: step?.enabled_now ?? false,
          incident_stale: stale[index]!,
          ...(result.chain ? chainAnswer(chained && waiting.has(waitingKey(result.destination, incident)) ? leaseNext(result, incident, result.chain) : []) : {}),
        };
      });
    },

    extendLeases(args: { ids: readonly string[]; owner: string; until: number }): null {
      const extend = sql.get(
        `UPDATE deliveries SET next_attempt_at = ? WHERE id = ? AND status = 'in_flight' AND lease_owner = ?`,
      );
      for (const id of args.ids) extend.run(args.until, id, args.owner);
      return null;
    },

    releaseClaims(args: { ids: readonly string[]; owner: string; now: number }): null {
      const release = sql.get(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, lease_owner = NULL, updated_at = ?
         WHERE id = ? AND status = 'in_flight' AND lease_owner = ?`,
      );
      for (const id of args.ids) release.run(args.now, args.now, id, args.owner);
      return null;
    },

    /** One process owns a SQLite file, so at start-up every lease is from a process that died (and counted as such). */
    recoverLeases(now: number): number {
      const { changes } = sql
        .get(
          `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, lease_owner = NULL, updated_at = ?, ${TAKE_OVER_SQL}
           WHERE status = 'in_flight'`,
        )
        .run(now, now);
      return Number(changes);
    },

    /** Marks attempts under way (of deliveries interrupted before), so a stop during one is counted for it. */
    markAttemptStarted(args: { ids: readonly string[]; owner: string }): null {
      const mark = sql.get(`UPDATE deliveries SET attempt_started = 1 WHERE id = ? AND status = 'in_flight' AND lease_owner = ?`);
      for (const id of args.ids) mark.run(id, args.owner);
      return null;
    },

    enableDestination(args: { name: string; now: number }): DestinationState | null {
      const state = findCircuit(args.name);
      if (!state) return null;
      saveCircuit(args.name, closedByHand(state));
      dueNow(args.name, args.now);
      return destinationState(args.name);
    },

    replayDelivery(args: { id: string; newId: string; now: number }): DeliveryRecord | null {
      const original = sql.get(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ?`).get(args.id);
      if (!original) return null;
      if (original.destination === null) {
        throw new HookrelayError('conflict', `delivery ${args.id} was skipped (no route matched): there is nothing to replay it to`);
      }
      sql
        .get(
          `INSERT INTO deliveries (id, event_id, destination, route, status, request_body, replay_of, next_attempt_at, created_at, updated_at)
           VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?)`,
        )
        .run(
          args.newId,
          original.event_id as string,
          original.destination as string,
          original.route as string | null,
          original.request_body as string | null,
          args.id,
          args.now,
          args.now,
          args.now,
        );
      const row = sql.get(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ?`).get(args.newId);
      return row ? deliveryFromRow(row) : null;
    },

    createMute(mute: StoredMute): StoredMute {
      sql
        .get('INSERT INTO mutes (id, matchers, reason, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(mute.id, JSON.stringify(mute.matchers), mute.reason, mute.created_by, Date.parse(mute.created_at), Date.parse(mute.expires_at));
      return muteFromRow(sql.get('SELECT * FROM mutes WHERE id = ?').get(mute.id)!);
    },

    deleteMute(args: { id: string; now: number }): StoredMute | null {
      const row = sql
        .get('UPDATE mutes SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL RETURNING *')
        .get(args.now, args.id);
      return row ? muteFromRow(row) : null;
    },

    enqueuePrepared(args: { eventId: string; deliveries: readonly PreparedDelivery[]; now: number }): DeliveryRecord[] {
      const insert = sql.get(
        `INSERT INTO deliveries (id, event_id, destination, route, status, request_body, next_attempt_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
      );
      return args.deliveries.map((delivery) => {
        insert.run(delivery.id, args.eventId, delivery.destination, delivery.route, delivery.request_body, args.now, args.now, args.now);
        return deliveryFromRow(sql.get(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ?`).get(delivery.id)!);
      });
    },

    acknowledgeIncident(args: { destination: string; dedupKey: string; by: string; now: number }): IncidentMessage | null {
      const row = sql
        .get(
          `UPDATE incident_messages SET acknowledged_by = ?, acknowledged_at = ?, updated_at = ?, version = version + 1
           WHERE destination = ? AND dedup_key = ? RETURNING *`,
        )
        .get(args.by, args.now, args.now, args.destination, args.dedupKey);
      return row ? incidentMessageFromRow(row) : null;
    },

    /** All of a pending echo's change or none of it (the writer thread is the only writer: check, then write). */
    applyEcho(args: EchoApplication): EchoApplied {
      if (!sql.get('SELECT 1 FROM pending_echoes WHERE event_id = ?').get(args.event_id)) return 'done';
      const version = sql.get('SELECT version FROM incident_messages WHERE destination = ? AND dedup_key = ?');
      for (const change of args.states) {
        if (Number(version.get(change.destination, change.dedup_key)?.version ?? -1) !== change.version) return 'stale';
      }
      for (const change of args.states) {
        sql
          .get(
            `UPDATE incident_messages SET acknowledged_by = ?, acknowledged_at = ?, status = ?, resolved_at = ?, resolved_by = ?, updated_at = ?, version = version + 1
             WHERE destination = ? AND dedup_key = ?`,
          )
          .run(...incidentStateColumns(change.state, args.now), change.destination, change.dedup_key);
      }
      const insert = sql.get(
        `INSERT INTO deliveries (id, event_id, destination, route, status, request_body, next_attempt_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, 'pending', ?, ?, ?, ?)`,
      );
      for (const delivery of args.deliveries) insert.run(delivery.id, args.event_id, delivery.destination, delivery.route, delivery.request_body, args.now, args.now, args.now);
      sql.get('DELETE FROM pending_echoes WHERE event_id = ?').run(args.event_id);
      return 'applied';
    },

    /**
     * Readiness after a commit failed for lack of space: takes fresh pages as an ingest would
     * (a receipt of PROBE_BYTES) and gives them back in the same transaction, so it commits
     * only when an ordinary ingest could, and leaves nothing behind.
     */
    probeSpace(): null {
      sql.get(`INSERT INTO receipts (id, source, received_at, headers, body) VALUES ('probe', '', 0, '{}', ?)`).run('x'.repeat(PROBE_BYTES));
      sql.get(`DELETE FROM receipts WHERE id = 'probe'`).run();
      return null;
    },

    prune(options: PruneOptions): number {
      let removed = 0;
      const groups = sql.get('SELECT DISTINCT destination FROM deliveries').all();
      for (const { destination } of groups) {
        const cutoff = sql
          .get(
            `SELECT id FROM deliveries WHERE destination IS ? AND status IN (${FINISHED})
             ORDER BY id DESC LIMIT 1 OFFSET ?`,
          )
          .get(destination as string | null, options.keep_per_destination - 1);
        if (!cutoff) continue;
        const { changes } = sql
          .get(`DELETE FROM deliveries WHERE destination IS ? AND status IN (${FINISHED}) AND id < ?`)
          .run(destination as string | null, cutoff.id as string);
        removed += Number(changes);
      }
      const bounds = pruneBounds(options);
      const { horizon } = bounds;
      sql.get(`DELETE FROM events WHERE id < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`).run(bounds.orphan_events_before);
      sql.get('DELETE FROM sender_ids WHERE received_at < ?').run(horizon);
      sql.get('DELETE FROM notification_log WHERE sent_at < ?').run(horizon);
      sql.get('DELETE FROM delivery_groups WHERE last_sent_at < ?').run(horizon);
      sql.get(`DELETE FROM incident_messages WHERE status = 'resolved' AND updated_at < ?`).run(horizon);
      sql.get(`DELETE FROM incidents WHERE status = 'resolved' AND updated_at < ?`).run(horizon);
      sql.get('DELETE FROM mutes WHERE expires_at < ? OR deleted_at < ?').run(horizon, horizon);
      sql
        .get(`DELETE FROM receipts WHERE id < ? AND id NOT IN (SELECT receipt_id FROM events WHERE id < ?)`)
        .run(bounds.orphan_receipts_before, bounds.receipt_events_before);
      return removed;
    },
  };
}

export type WriteOps = ReturnType<typeof createWriteOps>;
export type WriteOpName = keyof WriteOps;

/** An incident at a destination, as `incidentsWaiting` answers it (destination names have no control characters). */
function waitingKey(destination: string, incident: string): string {
  return `${destination}\u001f${incident}`;
}

/** A chained lease's answer: the next delivery (null: none), and the rest of its run after it. */
function chainAnswer(run: readonly ClaimedDelivery[]): Pick<RecordedAttempt, 'next' | 'after'> {
  const [next, ...after] = run;
  return after.length > 0 ? { next: next ?? null, after } : { next: next ?? null };
}
