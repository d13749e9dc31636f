import type { DatabaseSync } from 'node:sqlite';
import { HookrelayError } from '../../errors.ts';
import type {
  AttemptResult,
  ClaimBatch,
  ClaimOptions,
  ClaimedDelivery,
  DeliveryRecord,
  DestinationState,
  IngestBatch,
  IngestedEvent,
  PruneOptions,
  RecordedAttempt,
} from '../store.ts';
import { FINISHED_STATUSES } from '../store.ts';
import {
  DELIVERY_COLUMNS,
  DESTINATION_STATE_SQL,
  EVENT_COLUMNS,
  Statements,
  deliveryFromRow,
  destinationStateFromRow,
  eventFromRow,
} from './rows.ts';

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
        `INSERT INTO deliveries (id, event_id, destination, route, status, note, next_attempt_at, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      const results: IngestedEvent[] = [];
      let receiptStored = false;
      for (const { event, deliveries } of batch.events) {
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
          JSON.stringify(event.data ?? null),
        );
        for (const delivery of deliveries) {
          insertDelivery.run(
            delivery.id,
            event.id,
            delivery.destination,
            delivery.route,
            delivery.status,
            delivery.note ?? null,
            delivery.status === 'pending' ? receipt.received_at : null,
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
      const state = destinationState(destination);
      if (!state?.enabled) return { deliveries: [], next_due_at: null };
      const rows = sql
        .get(
          `SELECT d.id AS delivery_id, d.attempts, d.request_body, ${EVENT_COLUMNS}
           FROM deliveries d JOIN events e ON e.id = d.event_id
           WHERE d.destination = ? AND d.status IN ('pending', 'in_flight') AND d.next_attempt_at <= ?
           ORDER BY d.next_attempt_at, d.id
           LIMIT ?`,
        )
        .all(destination, now, limit);
      const lease = sql.get(
        `UPDATE deliveries SET status = 'in_flight', next_attempt_at = ?, lease_owner = ?, updated_at = ? WHERE id = ?`,
      );
      const deliveries: ClaimedDelivery[] = rows.map((row) => {
        lease.run(now + lease_ms, owner, now, row.delivery_id as string);
        return {
          id: String(row.delivery_id),
          destination,
          event: eventFromRow(row),
          attempts: Number(row.attempts),
          request_body: row.request_body === null ? null : String(row.request_body),
        };
      });
      const next = sql
        .get(`SELECT MIN(next_attempt_at) AS due FROM deliveries WHERE destination = ? AND status = 'pending'`)
        .get(destination);
      return { deliveries, next_due_at: next?.due === null || next?.due === undefined ? null : Number(next.due) };
    },

    recordAttempt(result: AttemptResult): RecordedAttempt {
      const current = sql
        .get('SELECT status, lease_owner, attempts FROM deliveries WHERE id = ?')
        .get(result.delivery_id);
      if (!current || current.status !== 'in_flight' || current.lease_owner !== result.lease_owner) {
        const state = destinationState(result.destination);
        if (!state) throw new HookrelayError('not_found', `unknown destination "${result.destination}"`);
        return { recorded: false, destination: state, disabled_now: false };
      }
      const attempt = Number(current.attempts) + 1;
      sql
        .get(
          `INSERT INTO delivery_attempts (delivery_id, attempt, started_at, outcome, response_code, response_body, latency_ms, error)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          result.delivery_id,
          attempt,
          result.started_at,
          result.outcome,
          result.response_code,
          result.response_body,
          result.latency_ms,
          result.error,
        );
      sql
        .get(
          `UPDATE deliveries SET status = ?, attempts = ?, next_attempt_at = ?, lease_owner = NULL,
             request_body = COALESCE(?, request_body), response_code = ?, response_body = ?, latency_ms = ?,
             last_error = ?, updated_at = ?
           WHERE id = ?`,
        )
        .run(
          result.outcome === 'retry' ? 'pending' : result.outcome,
          attempt,
          result.outcome === 'retry' ? result.next_attempt_at : null,
          result.request_body,
          result.response_code,
          result.response_body,
          result.latency_ms,
          result.error,
          result.finished_at,
          result.delivery_id,
        );

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
      const state = destinationState(result.destination);
      if (!state) throw new HookrelayError('not_found', `unknown destination "${result.destination}"`);
      return { recorded: true, destination: state, disabled_now: disabledNow };
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
      const horizon = options.now - options.keep_events_ms;
      sql
        .get(
          `DELETE FROM events WHERE received_at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)`,
        )
        .run(horizon);
      sql
        .get(
          `DELETE FROM receipts WHERE received_at < ? AND NOT EXISTS (SELECT 1 FROM events e WHERE e.receipt_id = receipts.id)`,
        )
        .run(horizon);
      return removed;
    },
  };
}

export type WriteOps = ReturnType<typeof createWriteOps>;
export type WriteOpName = keyof WriteOps;
