/**
 * An ingest and its answer as they cross to and from the writer thread: one flat array of
 * strings and numbers, not an object graph (see attempt-codec.ts for why). Every webhook is one
 * ingest, so this is the hand-off on the ingest path: a receipt, its request log line, its events
 * and their deliveries, about forty values in all. Structured clone writes every property name of
 * every object and rebuilds each object on the other side; measured for one Tapemetric webhook
 * (1 KB body, one event, one delivery): 5.7 µs to serialise and 10.5 µs to deserialise as objects,
 * 2.9 µs and 4.4 µs packed. Optional fields travel as `undefined` when absent, so what arrives is
 * what was sent, field for field.
 */
import type { EventStatus, RelayEvent, Severity } from '../../events/event.ts';
import type { IngestBatch, IngestedEvent, NewDelivery, NewEvent, RequestLogEntry, RequestOutcome } from '../store.ts';

export interface PackedIngest {
  readonly packed: 'ingest';
  readonly values: unknown[];
}

/**
 * The batch as values, in this order: the receipt (id, source, received_at, header count, then
 * name and value of each header, body); the request log line (a 1 then its nine fields, or a 0);
 * the event count; per event its fields, its flags, its delivery count and per delivery its fields.
 * An event whose data is the body travels without it (the body goes along anyway).
 */
export function packIngest(batch: IngestBatch): PackedIngest {
  const { receipt, request } = batch;
  const values: unknown[] = [receipt.id, receipt.source, receipt.received_at, 0];
  let headers = 0;
  for (const name in receipt.headers) {
    values.push(name, receipt.headers[name]);
    headers += 1;
  }
  values[3] = headers;
  values.push(receipt.body);
  if (request) {
    values.push(1, request.id, request.received_at, request.source, request.address, request.status, request.outcome, request.reason, request.body_bytes, request.excerpt);
  } else {
    values.push(0);
  }
  values.push(batch.events.length);
  for (const item of batch.events) {
    const { event } = item;
    values.push(
      event.id,
      event.source,
      event.external_id,
      event.type,
      event.severity,
      event.status,
      event.title,
      event.summary,
      event.dedup_key,
      event.occurred_at,
      event.received_at,
      item.data_is_body ? null : event.data,
      item.data_is_body,
      item.track_incident,
      item.echo === undefined ? undefined : (item.echo?.dedup_key ?? null),
      item.deliveries.length,
    );
    for (const delivery of item.deliveries) {
      values.push(
        delivery.id,
        delivery.destination,
        delivery.route,
        delivery.status,
        delivery.note,
        delivery.group,
        delivery.lease,
        delivery.incident_key,
        delivery.priority,
        delivery.rule_key,
        delivery.held_by,
      );
    }
  }
  return { packed: 'ingest', values };
}

export function isPackedIngest(args: unknown): args is PackedIngest {
  return (args as Partial<PackedIngest> | null)?.packed === 'ingest';
}

/** Copies the fields that are not `undefined` (absent when sent) onto `target`. */
function withDefined<T extends object>(target: T, fields: Record<string, unknown>): T {
  for (const name in fields) if (fields[name] !== undefined) (target as Record<string, unknown>)[name] = fields[name];
  return target;
}

export function unpackIngest(packed: PackedIngest): IngestBatch {
  const { values } = packed;
  let at = 0;
  const take = (): unknown => values[at++];
  const receiptId = take() as string;
  const source = take() as string;
  const receivedAt = take() as number;
  const headerCount = take() as number;
  const headers: Record<string, string> = {};
  for (let header = 0; header < headerCount; header += 1) {
    const name = take() as string;
    headers[name] = take() as string;
  }
  const receipt = { id: receiptId, source, received_at: receivedAt, headers, body: take() as string };
  let request: RequestLogEntry | undefined;
  if (take() === 1) {
    request = {
      id: take() as string,
      received_at: take() as number,
      source: take() as string,
      address: take() as string | null,
      status: take() as number,
      outcome: take() as RequestOutcome,
      reason: take() as string | null,
      body_bytes: take() as number,
      excerpt: take() as string | null,
    };
  }
  const eventCount = take() as number;
  const events: NewEvent[] = [];
  for (let index = 0; index < eventCount; index += 1) {
    const event: RelayEvent = {
      id: take() as string,
      source: take() as string,
      external_id: take() as string | null,
      type: take() as string,
      severity: take() as Severity,
      status: take() as EventStatus,
      title: take() as string,
      summary: take() as string,
      dedup_key: take() as string,
      occurred_at: take() as string,
      received_at: take() as string,
      data: take(),
    };
    const dataIsBody = take() as boolean | undefined;
    const trackIncident = take() as boolean | undefined;
    const echo = take() as string | null | undefined;
    const deliveryCount = take() as number;
    const deliveries: NewDelivery[] = [];
    for (let each = 0; each < deliveryCount; each += 1) {
      const delivery = { id: take() as string, destination: take() as string | null, route: take() as string | null, status: take() as NewDelivery['status'] };
      deliveries.push(
        withDefined(delivery, {
          note: take(),
          group: take(),
          lease: take(),
          incident_key: take(),
          priority: take(),
          rule_key: take(),
          held_by: take(),
        }),
      );
    }
    events.push(
      withDefined({ event, deliveries } as NewEvent, {
        data_is_body: dataIsBody,
        track_incident: trackIncident,
        echo: echo === undefined ? undefined : echo === null ? null : { dedup_key: echo },
      }),
    );
  }
  return request === undefined ? { receipt, events } : { receipt, events, request };
}

/** Fields per answer in PackedIngested.values. */
const INGESTED_FIELDS = 4;

export interface PackedIngested {
  readonly packed: 'ingested';
  readonly values: unknown[];
}

export function packIngested(results: readonly IngestedEvent[]): PackedIngested {
  const values: unknown[] = [];
  for (const result of results) {
    if (result.duplicate) values.push(result.id, true, undefined, undefined);
    else values.push(result.id, false, result.waiting, result.released);
  }
  return { packed: 'ingested', values };
}

export function unpackIngested(packed: PackedIngested): IngestedEvent[] {
  const { values } = packed;
  const results: IngestedEvent[] = [];
  for (let at = 0; at < values.length; at += INGESTED_FIELDS) {
    const id = values[at] as string;
    if (values[at + 1] === true) {
      results.push({ id, duplicate: true });
      continue;
    }
    const waiting = values[at + 2] as readonly string[] | undefined;
    const released = values[at + 3] as readonly string[] | undefined;
    results.push(
      waiting === undefined && released === undefined
        ? { id, duplicate: false }
        : { id, duplicate: false, ...(waiting === undefined ? {} : { waiting }), ...(released === undefined ? {} : { released }) },
    );
  }
  return results;
}
