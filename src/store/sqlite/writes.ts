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
  IngestBatch,
  IncidentMessage,
  IngestedEvent,
  Mute,
  NewDelivery,
  PreparedDelivery,
  PruneOptions,
  RecordedAttempt,
} from '../store.ts';
import { COMMAND_ROUTE_PREFIX, FINISHED_STATUSES } from '../store.ts';
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
          `SELECT d.id AS delivery_id, ${EVENT_COLUMNS} FROM deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.batch_id = ? AND d.id != ? AND d.status IN ('pending', 'in_flight') ORDER BY d.id LIMIT ${MAX_BATCH}`,
        )
        .all(row.batch_id as string, row.delivery_id as string);
    }
    const members = sql
      .get(
        `SELECT d.id AS delivery_id, ${EVENT_COLUMNS} FROM deliveries d INDEXED BY deliveries_by_group JOIN events e ON e.id = d.event_id
         WHERE d.destination = ? AND d.group_key = ? AND d.status = 'pending' AND d.batch_id IS NULL AND d.id != ?
         ORDER BY d.id LIMIT ${MAX_BATCH}`,
      )
      .all(destination, row.group_key as string, row.delivery_id as string);
    const form = sql.get('UPDATE deliveries SET batch_id = ? WHERE id = ?');
    for (const member of [row, ...members]) form.run(row.delivery_id as string, member.delivery_id as string);
    return members;
  }

  return {
    syncDestinations(names: readonly string[]): null {
      const insert = sql.get('INSERT INTO destination_state (name) VALUES (?) ON CONFLICT (name) DO NOTHING');
      for (const name of names) insert.run(name);
      return null;
    },

    ingest(batch: IngestBatch): IngestedEvent[] {
      const { receipt } = batch;
      const findDuplicate = sql.get('SELECT id FROM events WHERE source = ? AND external_id = ?');
      const insertEvent = sql.get(
        `INSERT INTO events (id, receipt_id, source, external_id, type, severity, status, title, summary, dedup_key, occurred_at, received_at, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const insertDelivery = sql.get(
        `INSERT INTO deliveries (id, event_id, destination, route, status, note, group_key, lease_owner, next_attempt_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const results: IngestedEvent[] = [];
      let receiptStored = false;
      for (const { event, deliveries, data_is_body: dataIsBody } of batch.events) {
        if (event.external_id !== null) {
          const existing = findDuplicate.get(event.source, event.external_id);
          if (existing) {
            results.push({ id: String(existing.id), duplicate: true });
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
        for (const delivery of deliveries) {
          const leased = delivery.status === 'pending' && delivery.lease ? delivery.lease : null;
          const due =
            delivery.status !== 'pending'
              ? null
              : leased
                ? leased.until
                : delivery.group && delivery.destination !== null
                  ? groupDueAt(delivery.destination, delivery.group, receipt.received_at)
                  : receipt.received_at;
          insertDelivery.run(
            delivery.id,
            event.id,
            delivery.destination,
            delivery.route,
            leased ? 'in_flight' : delivery.status,
            delivery.note ?? null,
            delivery.group?.key ?? null,
            leased?.owner ?? null,
            due,
            receipt.received_at,
            receipt.received_at,
          );
        }
        results.push({ id: event.id, duplicate: false });
      }
      return results;
    },

    claimDue(args: { destination: string } & ClaimOptions): ClaimBatch {
      const { destination, limit, now, lease_ms, owner } = args;
      const state = sql.get('SELECT enabled FROM destination_state WHERE name = ?').get(destination);
      if (!state || Number(state.enabled) !== 1) return { deliveries: [], next_due_at: null };
      const rows = sql
        .get(
          `SELECT d.id AS delivery_id, d.attempts, d.request_body, d.group_key, d.batch_id, d.replay_of, d.route, ${EVENT_COLUMNS}
           FROM deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.destination = ? AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= ?
           ORDER BY d.next_attempt_at, d.id
           LIMIT ?`,
        )
        .all(destination, now, limit);
      const lease = sql.get(
        `UPDATE deliveries SET status = 'in_flight', next_attempt_at = ?, lease_owner = ?, updated_at = ? WHERE id = ?`,
      );
      const claimed = new Set<string>();
      const deliveries: ClaimedDelivery[] = [];
      for (const row of rows) {
        const id = String(row.delivery_id);
        if (claimed.has(id)) continue;
        const members = batchMembers(row, destination);
        for (const each of [row, ...members]) {
          lease.run(now + lease_ms, owner, now, each.delivery_id as string);
          claimed.add(String(each.delivery_id));
        }
        const event = eventFromRow(row);
        deliveries.push({
          id,
          destination,
          event,
          member_ids: members.map((member) => String(member.delivery_id)),
          events: [event, ...members.map(eventFromRow)],
          attempts: Number(row.attempts),
          request_body: row.request_body === null ? null : String(row.request_body),
          unordered: row.replay_of !== null || String(row.route ?? '').startsWith(COMMAND_ROUTE_PREFIX),
        });
      }
      const next = sql
        // In-flight rows count too (their lease expiry): an early wake-up costs nothing, a second index would cost every insert.
        .get(`SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE destination = ? AND status IN ('pending', 'in_flight')`)
        .get(destination);
      return { deliveries, next_due_at: next?.due === null || next?.due === undefined ? null : Number(next.due) };
    },

    recordAttempt(result: AttemptResult): RecordedAttempt {
      const current = sql
        .get('SELECT status, lease_owner, group_key FROM deliveries WHERE id = ?')
        .get(result.delivery_id);
      if (!current || current.status !== 'in_flight' || current.lease_owner !== result.lease_owner) {
        return { recorded: false, destination: destinationHealth(result.destination, false), disabled_now: false };
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
          superseded ? result.error : null,
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
      if (result.incident && result.outcome === 'succeeded') {
        sql
          .get(
            `INSERT INTO incident_progress (destination, dedup_key, last_event_id, updated_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (destination, dedup_key) DO UPDATE SET
               last_event_id = MAX(last_event_id, excluded.last_event_id), updated_at = excluded.updated_at`,
          )
          .run(result.destination, result.incident.dedup_key, result.incident.event_id, result.finished_at);
      }
      if (current.group_key !== null && result.outcome !== 'retry') {
        sql
          .get(
            `INSERT INTO delivery_groups (destination, group_key, last_sent_at) VALUES (?, ?, ?)
             ON CONFLICT (destination, group_key) DO UPDATE SET last_sent_at = excluded.last_sent_at`,
          )
          .run(result.destination, current.group_key as string, result.finished_at);
      }

      let disabledNow = false;
      if (result.health === 'success') {
        sql
          .get('UPDATE destination_state SET consecutive_failures = 0, last_success_at = ? WHERE name = ?')
          .run(result.finished_at, result.destination);
      } else if (result.health === 'failure') {
        const row = sql
          .get(
            `UPDATE destination_state SET consecutive_failures = consecutive_failures + 1, last_error = ?
             WHERE name = ? RETURNING consecutive_failures, enabled`,
          )
          .get(result.error, result.destination);
        if (row && Number(row.enabled) === 1 && Number(row.consecutive_failures) >= result.disable_after) {
          sql
            .get('UPDATE destination_state SET enabled = 0, disabled_at = ?, disabled_reason = ? WHERE name = ?')
            .run(
              result.finished_at,
              `${String(row.consecutive_failures)} consecutive failed attempts; last: ${result.error ?? 'unknown error'}`,
              result.destination,
            );
          disabledNow = true;
        }
      }
      return { recorded: true, destination: destinationHealth(result.destination, disabledNow), disabled_now: disabledNow };
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

    /** One process owns a SQLite file, so at start-up every lease is from a process that died. */
    recoverLeases(now: number): number {
      const { changes } = sql
        .get(
          `UPDATE deliveries SET status = 'pending', next_attempt_at = ?, lease_owner = NULL, updated_at = ? WHERE status = 'in_flight'`,
        )
        .run(now, now);
      return Number(changes);
    },

    enableDestination(args: { name: string; now: number }): DestinationState | null {
      const { changes } = sql
        .get(
          `UPDATE destination_state SET enabled = 1, consecutive_failures = 0, disabled_at = NULL, disabled_reason = NULL
           WHERE name = ?`,
        )
        .run(args.name);
      if (Number(changes) === 0) return null;
      // Resuming means now, not at the end of a backoff that ran while the destination was off.
      sql
        .get(
          `UPDATE deliveries SET next_attempt_at = ? WHERE destination = ? AND status = 'pending' AND next_attempt_at > ?`,
        )
        .run(args.now, args.name, args.now);
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

    saveIncidentMessage(message: IncidentMessage): null {
      sql
        .get(
          `INSERT INTO incident_messages
             (destination, dedup_key, channel, ts, started_at, status, resolved_at, acknowledged_by, acknowledged_at, last_event_id, updates, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (destination, dedup_key) DO UPDATE SET
             channel = excluded.channel, ts = excluded.ts, started_at = excluded.started_at, status = excluded.status,
             resolved_at = excluded.resolved_at, acknowledged_by = excluded.acknowledged_by,
             acknowledged_at = excluded.acknowledged_at, last_event_id = excluded.last_event_id,
             updates = excluded.updates, updated_at = excluded.updated_at`,
        )
        .run(
          message.destination,
          message.dedup_key,
          message.channel,
          message.ts,
          Date.parse(message.started_at),
          message.status,
          message.resolved_at === null ? null : Date.parse(message.resolved_at),
          message.acknowledged_by,
          message.acknowledged_at === null ? null : Date.parse(message.acknowledged_at),
          message.last_event_id,
          message.updates,
          Date.now(),
        );
      return null;
    },

    acknowledgeIncident(args: { destination: string; dedupKey: string; by: string; now: number }): IncidentMessage | null {
      const row = sql
        .get(
          `UPDATE incident_messages SET acknowledged_by = ?, acknowledged_at = ?, updated_at = ?
           WHERE destination = ? AND dedup_key = ? RETURNING *`,
        )
        .get(args.by, args.now, args.now, args.destination, args.dedupKey);
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
      sql
        .get(`DELETE FROM events WHERE id < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`)
        .run(idAt('evt', horizon));
      sql.get('DELETE FROM incident_progress WHERE updated_at < ?').run(horizon);
      // A receipt is made just after its events; old events still kept (for their delivery log) are few.
      sql
        .get(`DELETE FROM receipts WHERE id < ? AND id NOT IN (SELECT receipt_id FROM events WHERE id < ?)`)
        .run(idAt('rcp', horizon), idAt('evt', horizon + 60_000));
      return removed;
    },
  };
}

export type WriteOps = ReturnType<typeof createWriteOps>;
export type WriteOpName = keyof WriteOps;
