/**
 * Claimed deliveries as they cross from the writer thread to the event loop: flat arrays of
 * values, not objects, as attempts do the other way (attempt-codec.ts). Structured clone writes
 * every property name of every object it copies, and the other side looks each name up and
 * finds the object's shape again for every property: about 25k instructions per delivery on the
 * event loop and 18k on the writer in a drain (issue 20). An array of values carries none of
 * that, and the event loop builds each delivery and event as one object literal.
 *
 * An event's data crosses as its stored text and arrives as a lazily parsed value
 * (lazyJsonValue): as reviveClaimed does for the PostgreSQL store, which has no thread to cross.
 */
import { lazyJsonValue } from '../../events/json-text.ts';
import type { RelayEvent } from '../../events/event.ts';
import type { ClaimBatch, ClaimedDelivery } from '../store.ts';
import { EVENT_FIELDS, eventFromFields, pushEventFields } from './protocol.ts';
import type { ClaimedEvent } from './rows.ts';

/** What a delivery carries beyond the common fields, in one slot (null when none). */
type Rare = Pick<ClaimedDelivery, 'digest' | 'fallback_for' | 'sent_via_fallback'>;

/** Values per delivery before its member ids, rule keys and events. */
const DELIVERY_FIELDS = 11;

export interface PackedClaimBatch {
  readonly packed: 'claims';
  readonly next_due_at: number | null;
  /** ClaimBatch.enabled; undefined when the batch does not tell. */
  readonly enabled: boolean | undefined;
  readonly values: unknown[];
}

/**
 * Each delivery as: id, destination, attempts, request_body, unordered, route, probe, rare,
 * interrupted, interrupted_attempts, the number of events n, then its n - 1 member ids, its n
 * rule keys and its n events (`events`, whose first is `event`, as claimedFromRows makes them).
 */
export function packClaimed(deliveries: readonly ClaimedDelivery[]): unknown[] {
  const values: unknown[] = [];
  for (const delivery of deliveries) {
    const { events } = delivery;
    if (events[0] !== delivery.event || delivery.member_ids.length !== events.length - 1 || delivery.rule_keys.length !== events.length) {
      throw new Error(`claim-codec: delivery ${delivery.id} is not as claimedFromRows makes it`);
    }
    const rare = delivery.digest === undefined && delivery.fallback_for === undefined && delivery.sent_via_fallback === undefined ? null : rareOf(delivery);
    values.push(
      delivery.id,
      delivery.destination,
      delivery.attempts,
      delivery.request_body,
      delivery.unordered,
      delivery.route,
      delivery.probe,
      rare,
      delivery.interrupted,
      delivery.interrupted_attempts,
      events.length,
    );
    for (const id of delivery.member_ids) values.push(id);
    for (const key of delivery.rule_keys) values.push(key);
    for (const event of events) packEvent(values, event as ClaimedEvent);
  }
  return values;
}

function rareOf(delivery: ClaimedDelivery): Rare {
  return {
    ...(delivery.digest === undefined ? {} : { digest: delivery.digest }),
    ...(delivery.fallback_for === undefined ? {} : { fallback_for: delivery.fallback_for }),
    ...(delivery.sent_via_fallback === undefined ? {} : { sent_via_fallback: delivery.sent_via_fallback }),
  };
}

function packEvent(values: unknown[], event: ClaimedEvent): void {
  if (event.data_text === undefined) throw new Error(`claim-codec: event ${event.id} has no stored data text`);
  pushEventFields(values, event);
  values.push(event.data_text);
}

/** The deliveries packClaimed packed, their events' data lazily parsed values of its text. */
export function unpackClaimed(values: readonly unknown[]): ClaimedDelivery[] {
  const deliveries: ClaimedDelivery[] = [];
  let at = 0;
  while (at < values.length) {
    const count = values[at + 10] as number;
    const rare = values[at + 7] as Rare | null;
    const members = at + DELIVERY_FIELDS;
    const keys = members + count - 1;
    const first = keys + count;
    const events: RelayEvent[] = [];
    for (let index = 0; index < count; index += 1) {
      const fields = first + index * (EVENT_FIELDS + 1);
      events.push(eventFromFields(values, fields, lazyJsonValue(values[fields + EVENT_FIELDS] as string)));
    }
    const delivery: ClaimedDelivery = {
      id: values[at] as string,
      destination: values[at + 1] as string,
      event: events[0]!,
      member_ids: values.slice(members, keys) as string[],
      events,
      attempts: values[at + 2] as number,
      request_body: values[at + 3] as string | null,
      unordered: values[at + 4] as boolean,
      route: values[at + 5] as string | null,
      probe: values[at + 6] as boolean,
      rule_keys: values.slice(keys, first) as (string | null)[],
      interrupted: values[at + 8] as number,
      interrupted_attempts: values[at + 9] as number,
    };
    deliveries.push(rare === null ? delivery : Object.assign(delivery, rare));
    at = first + count * (EVENT_FIELDS + 1);
  }
  return deliveries;
}

export function packClaimBatch(batch: ClaimBatch): PackedClaimBatch {
  return { packed: 'claims', next_due_at: batch.next_due_at, enabled: batch.enabled, values: packClaimed(batch.deliveries) };
}

export function unpackClaimBatch(packed: PackedClaimBatch): ClaimBatch {
  const deliveries = unpackClaimed(packed.values);
  return packed.enabled === undefined ? { deliveries, next_due_at: packed.next_due_at } : { deliveries, next_due_at: packed.next_due_at, enabled: packed.enabled };
}
