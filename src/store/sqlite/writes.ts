import type { DatabaseSync } from 'node:sqlite';
import { HookrelayError } from '../../errors.ts';
import type {
  AttemptResult,
  ClaimBatch,
  ClaimOptions,
  ClaimedDelivery,
  DeliveryRecord,
  DestinationHealth,
  DestinationState,
  HoldRequest,
  IngestBatch,
  IncidentMessage,
  IncidentState,
  IncidentMessageEffect,
  IngestedEvent,
  Mute,
  NewDelivery,
  PreparedDelivery,
  PruneOptions,
  RecordedAttempt,
  RequestLogEntry,
  StormPolicy,
} from '../store.ts';
import { COMMAND_ROUTE_PREFIX, FINISHED_STATUSES } from '../store.ts';
import { TAKE_OVER_SQL } from '../take-over.ts';
import { idAt } from '../../util/ids.ts';
import {
  DELIVERY_COLUMNS,
  DESTINATION_STATE_SQL,
  EVENT_COLUMNS,
  Statements,
  deliveryFromRow,
  destinationStateFromRow,
  eventFromRow,
  incidentMessageFromRow,
  muteFromRow,
} from './rows.ts';

/** At most this many events in one grouped notification; the rest form the next batch. */
const MAX_BATCH = 1_000;

/** How stale a healthy destination's `last_success_at` may be (saves a row write per success). */
const SUCCESS_STAMP_MS = 1_000;

/** An event none of whose deliveries is kept any more is removed after this long. */
const ORPHAN_EVENTS_MS = 3_600_000;

/** Priorities are severity ranks (info 0 … critical 3). */
const MAX_PRIORITY = 3;

/** Not waiting behind an earlier unfinished delivery of its incident (`d` is the candidate row). */
const CLAIMABLE = `(d.incident_key IS NULL OR NOT EXISTS (
  SELECT 1 FROM deliveries p INDEXED BY deliveries_by_incident
  WHERE p.destination = d.destination AND p.incident_key = d.incident_key
    AND p.status IN ('pending', 'in_flight') AND p.id < d.id))`;

/** At most this many events in one storm digest; the rest form the next one. */
const MAX_DIGEST = 10_000;

/**
 * A storm digest's batch id: its lead's id behind this prefix (a grouped batch's is the bare
 * lead id), so a retried digest is claimed, drawn and recorded as a digest again.
 */
const DIGEST_BATCH = 'digest:';

/** Room a readiness probe asks for: two 8 KB pages, more than a typical webhook's receipt, event and deliveries. */
const PROBE_BYTES = 16_384;

const FINISHED = FINISHED_STATUSES.map((status) => `'${status}'`).join(', ');

/**
 * Every write the SQLite store makes. They run on the writer thread, several per
 * transaction (group commit), so each one must be a plain synchronous function of its arguments.
 */
export function createWriteOps(db: DatabaseSync) {
  const sql = new Statements(db);

  function destinationState(name: string): DestinationState | null {
    const row = sql.get(`${DESTINATION_STATE_SQL} WHERE s.name = ?`).get(name);
    return row ? destinationStateFromRow(row) : null;
  }

  /** After every attempt, so no counting unless asked. */
  function destinationHealth(name: string, countPending: boolean): DestinationHealth {
    const row = sql.get('SELECT enabled, consecutive_failures FROM destination_state WHERE name = ?').get(name);
    if (!row) throw new HookrelayError('not_found', `unknown destination "${name}"`);
    const pending = countPending
      ? Number(
          sql.get(`SELECT COUNT(*) AS n FROM deliveries WHERE destination = ? AND status IN ('pending', 'in_flight')`).get(name)?.n ?? 0,
        )
      : null;
    return { name, enabled: Number(row.enabled) === 1, consecutive_failures: Number(row.consecutive_failures), pending };
  }

  /**
   * When a grouped delivery goes out (Alertmanager's semantics): with the batch of its group
   * that is still waiting; else one `interval` after the group's last notification (or its
   * batch in progress); else, for a new or long-quiet group, after `wait` for others to join.
   */
  function groupDueAt(destination: string, group: NonNullable<NewDelivery['group']>, now: number): number {
    const waiting = sql
      .get(
        `SELECT MIN(next_attempt_at) AS due FROM deliveries INDEXED BY deliveries_by_group
         WHERE destination = ? AND group_key = ? AND status = 'pending' AND batch_id IS NULL`,
      )
      .get(destination, group.key);
    if (waiting && waiting.due !== null) return Number(waiting.due);
    const inProgress = sql
      .get(
        `SELECT 1 AS yes FROM deliveries INDEXED BY deliveries_by_group
         WHERE destination = ? AND group_key = ? AND batch_id IS NOT NULL AND status IN ('pending', 'in_flight') LIMIT 1`,
      )
      .get(destination, group.key);
    if (inProgress) return now + group.interval_ms;
    const last = sql.get('SELECT last_sent_at FROM delivery_groups WHERE destination = ? AND group_key = ?').get(destination, group.key);
    const next = last ? Number(last.last_sent_at) + group.interval_ms : 0;
    return next > now ? next : now + group.wait_ms;
  }

  /** The rest of a grouped batch: those still waiting to form one, or the members of one already formed. */
  function batchMembers(row: Record<string, unknown>, destination: string): Record<string, unknown>[] {
    if (row.group_key === null) return [];
    if (row.batch_id !== null) {
      return sql
        .get(
          `SELECT d.id AS delivery_id, d.rule_key, ${EVENT_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.batch_id = ? AND d.id != ? AND d.status IN ('pending', 'in_flight') ORDER BY d.id LIMIT ${MAX_BATCH}`,
        )
        .all(row.batch_id as string, row.delivery_id as string);
    }
    const members = sql
      .get(
        `SELECT d.id AS delivery_id, d.rule_key, ${EVENT_COLUMNS} FROM deliveries d INDEXED BY deliveries_by_group JOIN events e ON e.id = d.event_id
         WHERE d.destination = ? AND d.group_key = ? AND d.status = 'pending' AND d.batch_id IS NULL AND d.id != ?
         ORDER BY d.id LIMIT ${MAX_BATCH}`,
      )
      .all(destination, row.group_key as string, row.delivery_id as string);
    const form = sql.get('UPDATE deliveries SET batch_id = ? WHERE id = ?');
    for (const member of [row, ...members]) form.run(row.delivery_id as string, member.delivery_id as string);
    return members;
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

  function toldFiring(destination: string, dedupKey: string): boolean {
    const row = sql.get('SELECT status FROM notification_log WHERE destination = ? AND dedup_key = ?').get(destination, dedupKey);
    return row?.status === 'firing';
  }

  /** Leases claimable rows and turns them into claimed deliveries (a grouped row brings its batch). */
  function lease(
    rows: readonly Record<string, unknown>[],
    destination: string,
    args: ClaimOptions | Omit<ClaimOptions, 'limit'>,
    probe: boolean,
    storm: StormPolicy | null = null,
  ): ClaimedDelivery[] {
    const { now, lease_ms, owner } = args;
    const update = sql.get(
      `UPDATE deliveries SET status = 'in_flight', next_attempt_at = ?, lease_owner = ?, updated_at = ?, ${TAKE_OVER_SQL}
       WHERE id = ? RETURNING interrupted, interrupted_attempts`,
    );
    const claimed = new Set<string>();
    const deliveries: ClaimedDelivery[] = [];
    for (const row of rows) {
      const id = String(row.delivery_id);
      if (claimed.has(id)) continue;
      const digest = (storm ? formDigest(row, destination, now, storm) : null) ?? digestBatchMembers(row);
      const members = digest ?? batchMembers(row, destination);
      let counts: Record<string, unknown> | undefined;
      for (const each of [row, ...members]) {
        const leased = update.get(now + lease_ms, owner, now, each.delivery_id as string);
        counts ??= leased;
        claimed.add(String(each.delivery_id));
      }
      const event = eventFromRow(row);
      const route = row.route === null ? null : String(row.route);
      deliveries.push({
        id,
        destination,
        event,
        member_ids: members.map((member) => String(member.delivery_id)),
        events: [event, ...members.map(eventFromRow)],
        attempts: Number(row.attempts),
        request_body: row.request_body === null ? null : String(row.request_body),
        unordered: row.replay_of !== null || (route ?? '').startsWith(COMMAND_ROUTE_PREFIX),
        route: row.replay_of !== null || (route ?? '').startsWith(COMMAND_ROUTE_PREFIX) ? null : route,
        probe,
        rule_keys: [row, ...members].map((each) => (each.rule_key === null || each.rule_key === undefined ? null : String(each.rule_key))),
        interrupted: Number(counts?.interrupted ?? 0),
        interrupted_attempts: Number(counts?.interrupted_attempts ?? 0),
        ...(digest ? { digest: true } : {}),
      });
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
    const rows = sql
      .get(
        `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, held_by = NULL, updated_at = ?
         WHERE held_by = ? AND status = 'muted' AND EXISTS (
           SELECT 1 FROM events te JOIN incidents t ON t.source = te.source AND t.dedup_key = te.dedup_key
           WHERE te.id = deliveries.event_id AND t.status = 'firing')
         RETURNING destination`,
      )
      .all(now, now, JSON.stringify([event.source, event.dedup_key]));
    return [...new Set(rows.map((row) => String(row.destination)))];
  }

  /**
   * Storm: more requests wait for this destination than it can send within the horizon at its
   * rate limit (`capacity`). Counted up to capacity + 1 only, so a storm costs no full count.
   * A batch waiting for its retry is one request.
   */
  function stormRaging(destination: string, now: number, storm: StormPolicy): boolean {
    const row = sql
      .get(
        `SELECT COUNT(*) AS n FROM (
           SELECT 1 FROM deliveries d INDEXED BY deliveries_due
           WHERE d.destination = ? AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= ?
             AND (d.batch_id IS NULL OR d.batch_id = d.id OR d.batch_id = '${DIGEST_BATCH}' || d.id)
           LIMIT ?)`,
      )
      .get(destination, now, storm.capacity + 1);
    return Number(row?.n ?? 0) > storm.capacity;
  }

  /** Fresh work a digest may fold: never a retry (its request is made), a replay, a command or a formed batch. */
  function foldable(row: Record<string, unknown>): boolean {
    return (
      row.batch_id === null &&
      Number(row.attempts) === 0 &&
      row.request_body === null &&
      row.replay_of === null &&
      !String(row.route ?? '').startsWith(COMMAND_ROUTE_PREFIX)
    );
  }

  /** The incident has its own open message here (slack-bot): its events update that message instead. */
  function hasOpenMessage(destination: string, dedupKey: string): boolean {
    return (
      sql
        .get(`SELECT 1 AS yes FROM incident_messages WHERE destination = ? AND dedup_key = ? AND status = 'firing'`)
        .get(destination, dedupKey) !== undefined
    );
  }

  /**
   * During a storm, a claimed row brings every due event of its group — the route and group
   * key when grouped, else the route and event type — as one digest, formed like a grouped
   * batch. Incident order holds: an event joins only if every earlier unfinished delivery of
   * its incident is in this digest too (a resolve never goes before its own firing; both in
   * one digest show the latest state). Null when the row is not foldable or is alone.
   */
  function formDigest(row: Record<string, unknown>, destination: string, now: number, storm: StormPolicy): Record<string, unknown>[] | null {
    if (!foldable(row)) return null;
    const keep = storm.keep_incident_messages === true;
    if (keep && hasOpenMessage(destination, String(row.dedup_key))) return null;
    const grouped = row.group_key !== null;
    const candidates = sql
      .get(
        `SELECT d.id AS delivery_id, d.incident_key,
           (SELECT COUNT(*) FROM deliveries p INDEXED BY deliveries_by_incident
            WHERE p.destination = d.destination AND p.incident_key = d.incident_key
              AND p.status IN ('pending', 'in_flight') AND p.id < d.id) AS ahead,
           ${EVENT_COLUMNS}
         FROM deliveries d INDEXED BY deliveries_due JOIN events e ON e.id = d.event_id
         WHERE d.destination = ? AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= ?
           AND d.batch_id IS NULL AND d.attempts = 0 AND d.request_body IS NULL AND d.replay_of IS NULL
           AND d.route IS ? AND ${grouped ? 'd.group_key = ?' : 'd.group_key IS NULL AND e.type = ?'}
           ${keep ? `AND NOT EXISTS (SELECT 1 FROM incident_messages m WHERE m.destination = d.destination AND m.dedup_key = e.dedup_key AND m.status = 'firing')` : ''}
         ORDER BY d.id LIMIT ${MAX_DIGEST}`,
      )
      .all(destination, now, row.route as string | null, (grouped ? row.group_key : row.type) as string);
    const lead = String(row.delivery_id);
    const taken = new Map<string, number>();
    const members: Record<string, unknown>[] = [];
    for (const candidate of candidates) {
      const key = candidate.incident_key === null ? null : String(candidate.incident_key);
      if (key !== null) {
        // Every unfinished delivery of the incident ahead of this one must already be in the digest.
        const before = taken.get(key) ?? 0;
        if (before < 0 || Number(candidate.ahead) !== before) {
          taken.set(key, -1);
          continue;
        }
        taken.set(key, before + 1);
      }
      if (String(candidate.delivery_id) !== lead) members.push(candidate);
    }
    if (members.length === 0) return null;
    const form = sql.get('UPDATE deliveries SET batch_id = ? WHERE id = ?');
    for (const member of [row, ...members]) form.run(`${DIGEST_BATCH}${lead}`, member.delivery_id as string);
    return members;
  }

  /** How the delivery log names the digest each folded event went out in. */
  function digestNote(result: AttemptResult): string | null {
    if (result.digest !== true) return null;
    const events = 1 + result.member_ids.length;
    return `in digest ${result.delivery_id} (${events.toLocaleString('en-US')} events)`;
  }

  /** A digest formed before (now due for its retry, or its lease expired): the same members again. */
  function digestBatchMembers(row: Record<string, unknown>): Record<string, unknown>[] | null {
    if (typeof row.batch_id !== 'string' || !row.batch_id.startsWith(DIGEST_BATCH)) return null;
    return sql
      .get(
        `SELECT d.id AS delivery_id, ${EVENT_COLUMNS} FROM deliveries d INDEXED BY deliveries_by_batch JOIN events e ON e.id = d.event_id
         WHERE d.batch_id = ? AND d.id != ? AND d.status IN ('pending', 'in_flight') ORDER BY d.id`,
      )
      .all(row.batch_id, row.delivery_id as string);
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
    return row !== undefined && Number(row.version) - 1 !== effect.drawn_from_version;
  }

  /**
   * The destination's health after an attempt, as a circuit breaker: `disable_after` consecutive
   * failures open it (disabled); with automatic recovery a probe goes after a backoff that grows
   * with each failed probe; any success closes it and its waiting work is due at once.
   */
  function recordHealth(result: AttemptResult): { disabled_now: boolean; enabled_now: boolean } {
    const { destination, finished_at: now, breaker } = result;
    if (result.health === 'success') {
      const before = sql.get('SELECT enabled, consecutive_failures, last_success_at FROM destination_state WHERE name = ?').get(destination);
      // A healthy destination's row is rewritten at most once a second (last_success_at), not per success.
      const healthy = before !== undefined && Number(before.enabled) === 1 && Number(before.consecutive_failures) === 0;
      if (!healthy || before.last_success_at === null || Number(before.last_success_at) < now - SUCCESS_STAMP_MS) {
        sql
          .get(
            `UPDATE destination_state SET consecutive_failures = 0, last_success_at = ?, failed_probes = 0, probe_at = NULL,
               enabled = 1, disabled_at = NULL, disabled_reason = NULL
             WHERE name = ?`,
          )
          .run(now, destination);
      }
      const closed = before !== undefined && Number(before.enabled) === 0;
      if (closed) dueNow(destination, now);
      return { disabled_now: false, enabled_now: closed };
    }
    if (result.health !== 'failure') return { disabled_now: false, enabled_now: false };
    const row = sql
      .get(
        `UPDATE destination_state SET consecutive_failures = consecutive_failures + 1, last_error = ?
         WHERE name = ? RETURNING consecutive_failures, enabled, failed_probes`,
      )
      .get(result.error, destination);
    if (!row) return { disabled_now: false, enabled_now: false };
    const backoff = breaker.probe_backoff_ms;
    const probeAt = (failedProbes: number): number | null =>
      backoff && backoff.length > 0 ? now + (backoff[Math.min(failedProbes, backoff.length - 1)] ?? 0) : null;
    if (Number(row.enabled) === 0) {
      // Open already: a failed probe backs off further; an attempt that was already running when
      // the circuit opened tells nothing new and must not push the first probe back.
      if (result.probe !== true || (result.outcome !== 'retry' && result.outcome !== 'failed')) return { disabled_now: false, enabled_now: false };
      const failedProbes = Number(row.failed_probes) + 1;
      sql
        .get('UPDATE destination_state SET failed_probes = ?, probe_at = ? WHERE name = ?')
        .run(failedProbes, probeAt(failedProbes), destination);
      return { disabled_now: false, enabled_now: false };
    }
    if (Number(row.consecutive_failures) < breaker.disable_after) return { disabled_now: false, enabled_now: false };
    sql
      .get('UPDATE destination_state SET enabled = 0, disabled_at = ?, disabled_reason = ?, failed_probes = 0, probe_at = ? WHERE name = ?')
      .run(
        now,
        `${String(row.consecutive_failures)} consecutive failed attempts; last: ${result.error ?? 'unknown error'}`,
        probeAt(0),
        destination,
      );
    return { disabled_now: true, enabled_now: false };
  }

  /** Resuming means now, not at the end of a backoff that ran while the destination was off. */
  function dueNow(destination: string, now: number): void {
    sql
      .get(`UPDATE deliveries SET next_attempt_at = ? WHERE destination = ? AND status = 'pending' AND next_attempt_at > ?`)
      .run(now, destination, now);
  }

  function insertRequest(entry: RequestLogEntry, outcome = entry.outcome, status = entry.status): void {
    sql
      .get(
        `INSERT INTO requests (id, received_at, source, address, status, outcome, reason, body_bytes, excerpt)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
      )
      .run(entry.id, entry.received_at, entry.source, entry.address, status, outcome, entry.reason, entry.body_bytes, entry.excerpt);
  }

  return {
    syncDestinations(names: readonly string[]): null {
      const insert = sql.get('INSERT INTO destination_state (name) VALUES (?) ON CONFLICT (name) DO NOTHING');
      for (const name of names) insert.run(name);
      return null;
    },

    ingest(batch: IngestBatch): IngestedEvent[] {
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
        `INSERT INTO deliveries (id, event_id, destination, route, status, note, group_key, lease_owner, next_attempt_at, created_at, updated_at, incident_key, priority, rule_key)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const results: IngestedEvent[] = [];
      let receiptStored = false;
      for (const { event, deliveries, data_is_body: dataIsBody, track_incident: trackIncident } of batch.events) {
        if (event.external_id !== null) {
          if (Number(claimSenderId.run(event.source, event.external_id, event.id, receipt.received_at).changes) === 0) {
            results.push({ id: String(firstSeen.get(event.source, event.external_id)?.event_id ?? ''), duplicate: true });
            continue;
          }
        }
        if (!receiptStored) {
          sql
            .get('INSERT INTO receipts (id, source, received_at, headers, body) VALUES (?, ?, ?, ?, ?)')
            .run(receipt.id, receipt.source, receipt.received_at, JSON.stringify(receipt.headers), receipt.body);
          receiptStored = true;
        }
        insertEvent.run(
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
          const behind = incidentKey !== null && delivery.destination !== null && waitsBehind(delivery.destination, incidentKey);
          let leased = delivery.status === 'pending' && delivery.lease ? delivery.lease : null;
          if (leased && behind) {
            // Incident order: an earlier event of this incident is still on its way; this one waits its turn.
            leased = null;
            waiting.push(delivery.id);
          }
          // A resolve whose firing this destination was told of goes out promptly, not a group interval later.
          const group = delivery.group && !(event.status === 'resolved' && delivery.destination !== null && toldFiring(delivery.destination, event.dedup_key))
            ? delivery.group
            : null;
          const due =
            delivery.status !== 'pending'
              ? null
              : leased
                ? leased.until
                : group && delivery.destination !== null
                  ? groupDueAt(delivery.destination, group, receipt.received_at)
                  : receipt.received_at;
          insertDelivery.run(
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
          );
        }
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
        insertRequest(batch.request, duplicate ? 'duplicate' : batch.request.outcome, duplicate ? 200 : batch.request.status);
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
      if (!state || Number(state.enabled) !== 1) return { deliveries: [], next_due_at: null };
      // Highest priority first, one index range per level; a delivery behind an earlier unfinished
      // one of its incident is not claimable (at most one per incident in flight, in order).
      const due = sql.get(
        `SELECT d.id AS delivery_id, d.attempts, d.request_body, d.group_key, d.batch_id, d.replay_of, d.route, d.rule_key, ${EVENT_COLUMNS}
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
      const storm = args.storm && stormRaging(destination, now, args.storm) ? args.storm : null;
      return { deliveries: lease(rows, destination, args, false, storm), next_due_at: nextDueAt(destination) };
    },

    claimProbe(args: { destination: string } & Omit<ClaimOptions, 'limit'>): ClaimBatch {
      const { destination, now, lease_ms } = args;
      const state = sql
        .get('SELECT probe_at FROM destination_state WHERE name = ? AND enabled = 0 AND probe_at IS NOT NULL')
        .get(destination);
      if (!state) return { deliveries: [], next_due_at: null };
      if (Number(state.probe_at) > now) return { deliveries: [], next_due_at: Number(state.probe_at) };
      // The oldest pending delivery that heads its incident: an earlier one may still be in flight
      // (another dispatcher's attempt that started before the circuit opened), and order holds.
      const row = sql
        .get(
          `SELECT d.id AS delivery_id, d.attempts, d.request_body, d.group_key, d.batch_id, d.replay_of, d.route, d.rule_key, ${EVENT_COLUMNS}
           FROM deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.destination = ? AND (d.status = 'pending' OR (d.status = 'in_flight' AND d.next_attempt_at <= ?))
             AND ${CLAIMABLE}
           ORDER BY d.id LIMIT 1`,
        )
        .get(destination, now);
      if (!row) return { deliveries: [], next_due_at: null };
      // Until this probe is recorded no other goes; if its worker dies, another may probe after the lease.
      sql.get('UPDATE destination_state SET probe_at = ? WHERE name = ?').run(now + lease_ms, destination);
      return { deliveries: lease([row], destination, args, true), next_due_at: now + lease_ms };
    },

    holdDeliveries(hold: HoldRequest): null {
      const update = sql.get(
        `UPDATE deliveries SET status = ?, note = ?, next_attempt_at = NULL, lease_owner = NULL, updated_at = ?
         WHERE id = ? AND status = 'in_flight' AND lease_owner = ?`,
      );
      for (const id of hold.ids) update.run(hold.status, hold.note, hold.now, id, hold.lease_owner);
      if (hold.held_by) {
        const mark = sql.get(`UPDATE deliveries SET held_by = ? WHERE id = ? AND status = 'muted'`);
        for (const id of hold.ids) mark.run(hold.held_by, id);
      }
      // A held probe told nothing about the destination: the next one may go at once.
      if (hold.probe_of) {
        sql.get('UPDATE destination_state SET probe_at = ? WHERE name = ? AND enabled = 0 AND probe_at IS NOT NULL').run(hold.now, hold.probe_of);
      }
      return null;
    },

    recordAttempt(result: AttemptResult): RecordedAttempt {
      const current = sql
        .get('SELECT status, lease_owner, group_key FROM deliveries WHERE id = ?')
        .get(result.delivery_id);
      if (!current || current.status !== 'in_flight' || current.lease_owner !== result.lease_owner) {
        return { recorded: false, destination: destinationHealth(result.destination, false), disabled_now: false, enabled_now: false, incident_stale: false };
      }
      const insertAttempt = sql.get(
        `INSERT INTO delivery_attempts (delivery_id, attempt, started_at, outcome, response_code, response_body, latency_ms, error)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const update = sql.get(
        `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_attempt_at = ?, lease_owner = NULL,
           request_body = COALESCE(?, request_body), response_code = ?, response_body = ?, latency_ms = ?,
           last_error = ?, note = COALESCE(?, note), updated_at = ?
         WHERE id = ? AND status = 'in_flight' AND lease_owner = ?
         RETURNING attempts`,
      );
      // A grouped batch is one request: every member gets the same attempt.
      for (const id of [result.delivery_id, ...result.member_ids]) {
        const superseded = result.outcome === 'superseded';
        const updated = update.get(
          result.outcome === 'retry' ? 'pending' : superseded ? 'skipped' : result.outcome,
          result.outcome === 'retry' ? result.next_attempt_at : null,
          result.request_body,
          result.response_code,
          result.response_body,
          result.latency_ms,
          superseded ? null : result.error,
          superseded ? result.error : digestNote(result),
          result.finished_at,
          id,
          result.lease_owner,
        );
        if (!updated) continue;
        insertAttempt.run(
          id,
          Number(updated.attempts),
          result.started_at,
          result.outcome,
          result.response_code,
          result.response_body,
          result.latency_ms,
          result.error,
        );
      }
      let incidentStale = false;
      if (result.outcome === 'succeeded') {
        const log = sql.get(
          `INSERT INTO notification_log (destination, dedup_key, status, occurred_at, delivery_id, sent_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (destination, dedup_key) DO UPDATE SET
             status = excluded.status, occurred_at = excluded.occurred_at, delivery_id = excluded.delivery_id, sent_at = excluded.sent_at`,
        );
        for (const entry of result.notified) {
          log.run(entry.destination, entry.dedup_key, entry.status, entry.occurred_at, entry.delivery_id, entry.sent_at);
        }
        const message = result.effects?.incident_message;
        if (message) incidentStale = applyIncidentMessage(result.destination, message, result.finished_at);
      }
      if (current.group_key !== null && result.outcome !== 'retry') {
        sql
          .get(
            `INSERT INTO delivery_groups (destination, group_key, last_sent_at) VALUES (?, ?, ?)
             ON CONFLICT (destination, group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at`,
          )
          .run(result.destination, current.group_key as string, result.finished_at);
      }

      const breaker = recordHealth(result);
      return {
        recorded: true,
        destination: destinationHealth(result.destination, breaker.disabled_now),
        ...breaker,
        incident_stale: incidentStale,
      };
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
      const { changes } = sql
        .get(
          `UPDATE destination_state SET enabled = 1, consecutive_failures = 0, disabled_at = NULL, disabled_reason = NULL,
             probe_at = NULL, failed_probes = 0
           WHERE name = ?`,
        )
        .run(args.name);
      if (Number(changes) === 0) return null;
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

    createMute(mute: Mute): Mute {
      sql
        .get('INSERT INTO mutes (id, matchers, reason, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(mute.id, JSON.stringify(mute.matchers), mute.reason, mute.created_by, Date.parse(mute.created_at), Date.parse(mute.expires_at));
      return muteFromRow(sql.get('SELECT * FROM mutes WHERE id = ?').get(mute.id)!);
    },

    deleteMute(args: { id: string; now: number }): Mute | null {
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

    setIncidentState(args: { destination: string; dedupKey: string; version: number; state: IncidentState; now: number }): IncidentMessage | null {
      const { state } = args;
      const row = sql
        .get(
          `UPDATE incident_messages SET acknowledged_by = ?, acknowledged_at = ?, status = ?, resolved_at = ?, resolved_by = ?, updated_at = ?, version = version + 1
           WHERE destination = ? AND dedup_key = ? AND version = ? RETURNING *`,
        )
        .get(
          state.acknowledged_by,
          state.acknowledged_at === null ? null : Date.parse(state.acknowledged_at),
          state.status,
          state.resolved_at === null ? null : Date.parse(state.resolved_at),
          state.resolved_by,
          args.now,
          args.destination,
          args.dedupKey,
          args.version,
        );
      return row ? incidentMessageFromRow(row) : null;
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
      // Ids are time-ordered, so "received before the horizon" is an id range.
      const horizon = options.now - options.keep_events_ms;
      // Events whose delivery log is gone go soon (their sender ids stay for the duplicate window).
      const orphans = options.now - Math.min(options.keep_events_ms, ORPHAN_EVENTS_MS);
      sql
        .get(`DELETE FROM events WHERE id < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`)
        .run(idAt('evt', orphans));
      sql.get('DELETE FROM sender_ids WHERE received_at < ?').run(horizon);
      // What was told long ago decides nothing any more (repeat intervals and late retries are shorter).
      sql.get('DELETE FROM notification_log WHERE sent_at < ?').run(horizon);
      sql.get('DELETE FROM delivery_groups WHERE last_sent_at < ?').run(horizon);
      sql.get(`DELETE FROM incident_messages WHERE status = 'resolved' AND updated_at < ?`).run(horizon);
      sql.get(`DELETE FROM incidents WHERE status = 'resolved' AND updated_at < ?`).run(horizon);
      sql.get('DELETE FROM mutes WHERE expires_at < ? OR deleted_at < ?').run(horizon, horizon);
      // A receipt is made just after its events; old events still kept (for their delivery log) are few.
      sql
        .get(`DELETE FROM receipts WHERE id < ? AND id NOT IN (SELECT receipt_id FROM events WHERE id < ?)`)
        .run(idAt('rcp', orphans), idAt('evt', orphans + 60_000));
      return removed;
    },
  };
}

export type WriteOps = ReturnType<typeof createWriteOps>;
export type WriteOpName = keyof WriteOps;
