/**
 * Ingest in one round trip: a webhook's writes (its event, receipt, sender id, deliveries,
 * request log line and NOTIFY) as one call of `hookrelay_ingest` (PostgreSQL migration 10), which
 * is its own transaction; several webhooks waiting at once go in one call (a group commit). The rules stay
 * here: each delivery that asks for a lease brings what src/notify/incident-order.ts decides for
 * every combination of the facts it reads, and the function reads the facts and stores the row
 * they name. What needs facts no table can carry (a group's due time, an incident's state for
 * inhibition) takes the statements of writes.ts `ingest` in a transaction instead.
 */
import type { IngestBatch, IngestedEvent, NewDelivery } from '../store.ts';
import { dueAtIngest, leaseAtIngest } from '../../notify/incident-order.ts';
import type { LeaseFacts } from '../../notify/incident-order.ts';
import { DUPLICATE_ANSWER, lockKey, WORK_CHANNEL } from './writes.ts';

/** The facts a lease at ingest reads, at their index in a delivery's table: 2 × behind + enabled. */
const LEASE_FACTS: readonly LeaseFacts[] = [
  { behind: false, enabled: false },
  { behind: false, enabled: true },
  { behind: true, enabled: false },
  { behind: true, enabled: true },
];

/** Whether the batch goes in one call: none of its events needs a group's facts or tracks its incident. */
export function ingestsInOneCall(batch: IngestBatch): boolean {
  return batch.events.every((each) => each.track_incident !== true && each.deliveries.every((delivery) => delivery.group === null || delivery.group === undefined));
}

/** One call's statement and arguments for these batches (each one webhook). */
export interface IngestCall {
  readonly sql: string;
  readonly params: readonly unknown[];
  /** Where each batch's events begin in the call's answers (their `nth`), and one past the last batch's. */
  readonly starts: readonly number[];
}

export const INGEST_SQL =
  'SELECT answer_nth, answer_id, answer_duplicate, answer_waiting FROM hookrelay_ingest_set($1::jsonb, $2::jsonb, $3::jsonb, $4::text[], $5::jsonb, $6::text[], $7::text[], $8, $9::jsonb)';

/** One row of the call's answer: an event, by its place in the call. */
export interface IngestAnswerRow {
  readonly answer_nth: number;
  readonly answer_id: string;
  readonly answer_duplicate: boolean;
  readonly answer_waiting: readonly string[];
}

function deliveryArgument(delivery: NewDelivery, event: number, index: number, receivedAt: number): Record<string, unknown> {
  const pending = delivery.status === 'pending';
  const incidentKey = pending ? (delivery.incident_key ?? null) : null;
  const asked = pending && delivery.destination !== null ? (delivery.lease ?? null) : null;
  let leasedWhen = 0;
  let waitsWhen = 0;
  if (asked) {
    LEASE_FACTS.forEach((facts, index) => {
      const decided = leaseAtIngest(asked, facts);
      if (decided.lease) leasedWhen |= 1 << index;
      if (decided.waits) waitsWhen |= 1 << index;
    });
  }
  return {
    // Its event's place in the call, and its place in the event: what waits is answered in this order.
    event,
    n: index,
    id: delivery.id,
    destination: delivery.destination,
    route: delivery.route,
    status: delivery.status,
    note: delivery.note ?? null,
    incident_key: incidentKey,
    priority: delivery.priority ?? 0,
    rule_key: delivery.rule_key ?? null,
    held_by: delivery.status === 'muted' ? (delivery.held_by ?? null) : null,
    asked: asked !== null,
    owner: asked?.owner ?? null,
    due_leased: asked ? dueAtIngest(delivery.status, asked.until, null, receivedAt) : null,
    due: dueAtIngest(delivery.status, null, null, receivedAt),
    leased_when: leasedWhen,
    waits_when: waitsWhen,
  };
}

/**
 * PostgreSQL text cannot hold U+0000 (nor can jsonb): it is stored as U+FFFD, as connection.ts
 * does for parameters. JSON escapes it as `\u0000`, so the rare text that has one is encoded again.
 */
function storableJson(value: unknown): string {
  const text = JSON.stringify(value);
  if (!text.includes('\\u0000')) return text;
  return JSON.stringify(value, (_key, each: unknown) => (typeof each === 'string' ? each.replaceAll('\u0000', '\uFFFD') : each));
}

/**
 * The call for these batches: their events, deliveries, receipts and request log lines as flat
 * lists, each event numbered by its place in the call (`nth`) and each delivery, receipt and
 * line by its event's or webhook's, so the function stores each kind in one statement.
 */
export function ingestCall(batches: readonly IngestBatch[]): IngestCall {
  const locks = new Set<string>();
  const leasing = new Set<string>();
  const events: Array<Record<string, unknown>> = [];
  const deliveries: Array<Record<string, unknown>> = [];
  const receipts: Array<Record<string, unknown>> = [];
  const requests: Array<Record<string, unknown>> = [];
  const starts: number[] = [];
  batches.forEach(({ receipt, events: batchEvents, request }, b) => {
    starts.push(events.length);
    receipts.push({ b, id: receipt.id, source: receipt.source, received_at: receipt.received_at, headers: JSON.stringify(receipt.headers) });
    if (request) requests.push({ b, ...request });
    for (const { event, deliveries: eventDeliveries, data_is_body: dataIsBody, echo } of batchEvents) {
      const nth = events.length;
      events.push({
        nth,
        b,
        id: event.id,
        source: event.source,
        external_id: event.external_id,
        type: event.type,
        severity: event.severity,
        status: event.status,
        title: event.title,
        summary: event.summary,
        dedup_key: event.dedup_key,
        occurred_at: event.occurred_at,
        received_at: receipt.received_at,
        data: dataIsBody ? '' : JSON.stringify(event.data ?? null),
        echo: echo?.dedup_key ?? null,
      });
      eventDeliveries.forEach((delivery, index) => {
        deliveries.push(deliveryArgument(delivery, nth, index, receipt.received_at));
        if (delivery.status !== 'pending' || delivery.destination === null || !delivery.lease) return;
        leasing.add(delivery.destination);
        if (delivery.incident_key) locks.add(lockKey('incident', delivery.destination, delivery.incident_key));
      });
    }
  });
  starts.push(events.length);
  return {
    sql: INGEST_SQL,
    params: [
      storableJson(events),
      storableJson(deliveries),
      storableJson(receipts),
      batches.map((batch) => batch.receipt.body),
      storableJson(requests),
      [...locks].sort(),
      [...leasing],
      WORK_CHANNEL,
      JSON.stringify(DUPLICATE_ANSWER),
    ],
    starts,
  };
}

/** Each batch's events as stored, from the call's answer rows (one per event, in `nth` order). */
export function ingestAnswers(call: IngestCall, rows: readonly IngestAnswerRow[]): IngestedEvent[][] {
  const answers = rows.map((row): IngestedEvent => {
    if (row.answer_duplicate) return { id: row.answer_id, duplicate: true };
    return row.answer_waiting.length > 0 ? { id: row.answer_id, duplicate: false, waiting: row.answer_waiting } : { id: row.answer_id, duplicate: false };
  });
  return call.starts.slice(0, -1).map((start, b) => answers.slice(start, call.starts[b + 1]));
}
