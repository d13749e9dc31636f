/**
 * An ingest and its answer as they cross to and from the writer thread: one flat array of
 * strings and numbers, not an object graph (see attempt-codec.ts for why). Every webhook is one
 * ingest, so this is the hand-off on the ingest path: a receipt, its request log line, its events
 * and their deliveries, about forty values in all. Structured clone writes every property name of
 * every object and rebuilds each object on the other side; measured for one Tapemetric webhook
 * (1 KB body, one event, one delivery): 5.7 µs to serialise and 10.5 µs to deserialise as objects,
 * 2.9 µs and 4.4 µs packed. Optional fields travel as `undefined` when absent, so what arrives is
 * what was sent, field for field — but for the receipt's headers, which arrive as the JSON text the
 * writer stores: made here, one string to clone instead of a name and a value per header, and no
 * object rebuilt on the other side only to be stringified there (callgrind, `hookrelay serve` under
 * the bench's load: see the commit that made it).
 */
import type { IngestBatch, IngestedEvent, NewDelivery, NewEvent, RequestLogEntry, RequestOutcome } from '../store.ts';
import { EVENT_FIELDS, eventFromFields, pushEventFields } from './protocol.ts';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** An ingest as the writer gets it: the receipt's headers as their JSON text. */
export interface UnpackedIngest extends Omit<IngestBatch, 'receipt'> {
  readonly receipt: Omit<IngestBatch['receipt'], 'headers'> & { readonly headers: string };
}

/** An ingest's values (below); the writer knows them by their operation's name, so no wrapper object crosses with them. */
export type PackedIngest = unknown[];

/**
 * The batch as values, in this order: the receipt (id, source, received_at, its headers' JSON text,
 * body); the request log line (a 1 then its nine fields, or a 0);
 * the event count; per event its fields, its flags, its delivery count and per delivery its fields.
 * An event whose data is the body travels without it (the body goes along anyway).
 */
export function packIngest(batch: IngestBatch): PackedIngest {
  const { receipt, request } = batch;
  const values: unknown[] = [receipt.id, receipt.source, receipt.received_at, JSON.stringify(receipt.headers), receipt.body];
  if (request) {
    values.push(1, request.id, request.received_at, request.source, request.address, request.status, request.outcome, request.reason, request.body_bytes, request.excerpt);
  } else {
    values.push(0);
  }
  values.push(batch.events.length);
  for (const item of batch.events) {
    const { event } = item;
    pushEventFields(values, event);
    values.push(
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
  return values;
}

export function unpackIngest(values: PackedIngest): UnpackedIngest {
  let at = 0;
  const take = (): unknown => values[at++];
  const receipt = { id: take() as string, source: take() as string, received_at: take() as number, headers: take() as string, body: take() as string };
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
    const event = eventFromFields(values, at, values[at + EVENT_FIELDS]);
    at += EVENT_FIELDS + 1;
    const item: Mutable<NewEvent> = { event, deliveries: [] };
    const dataIsBody = take() as boolean | undefined;
    if (dataIsBody !== undefined) item.data_is_body = dataIsBody;
    const trackIncident = take() as boolean | undefined;
    if (trackIncident !== undefined) item.track_incident = trackIncident;
    const echo = take() as string | null | undefined;
    if (echo !== undefined) item.echo = echo === null ? null : { dedup_key: echo };
    const deliveryCount = take() as number;
    const deliveries: NewDelivery[] = [];
    for (let each = 0; each < deliveryCount; each += 1) {
      // Field by field, not through an object literal walked with for…in (a keyed store each).
      const delivery: Mutable<NewDelivery> = { id: take() as string, destination: take() as string | null, route: take() as string | null, status: take() as NewDelivery['status'] };
      const note = take() as NewDelivery['note'];
      if (note !== undefined) delivery.note = note;
      const group = take() as NewDelivery['group'];
      if (group !== undefined) delivery.group = group;
      const lease = take() as NewDelivery['lease'];
      if (lease !== undefined) delivery.lease = lease;
      const incidentKey = take() as NewDelivery['incident_key'];
      if (incidentKey !== undefined) delivery.incident_key = incidentKey;
      const priority = take() as NewDelivery['priority'];
      if (priority !== undefined) delivery.priority = priority;
      const ruleKey = take() as NewDelivery['rule_key'];
      if (ruleKey !== undefined) delivery.rule_key = ruleKey;
      const heldBy = take() as NewDelivery['held_by'];
      if (heldBy !== undefined) delivery.held_by = heldBy;
      deliveries.push(delivery);
    }
    item.deliveries = deliveries;
    events.push(item);
  }
  return request === undefined ? { receipt, events } : { receipt, events, request };
}

/** Fields per answer in PackedIngested. */
const INGESTED_FIELDS = 4;

/** The answers' values, four per event (an array alone: the store knows what it asked for). */
export type PackedIngested = unknown[];

export function packIngested(results: readonly IngestedEvent[]): PackedIngested {
  const values: unknown[] = [];
  for (const result of results) {
    if (result.duplicate) values.push(result.id, true, undefined, undefined);
    else values.push(result.id, false, result.waiting, result.released);
  }
  return values;
}

export function unpackIngested(values: PackedIngested): IngestedEvent[] {
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
