import { HookrelayError } from '../errors.ts';
import { COMMAND_ROUTE_PREFIX } from '../store/store.ts';
import type { DeliveryRecord, IngestStore, StoreViews } from '../store/store.ts';

/** Replays read deliveries and append new ones. */
type ReplayStore = Pick<StoreViews, 'view'> & Pick<IngestStore, 'append'>;
import { idKind, newId } from '../util/ids.ts';

/** Pages read while looking for failed deliveries to replay. */
const PAGE = 500;
/** Bulk replay looks at most this many deliveries back (the log keeps far fewer per destination). */
const MAX_SCANNED = 20_000;

/**
 * What `replay <id>` sends again: a delivery id is that delivery; an event id is its newest
 * delivery to each destination. Commands (an acknowledge) are not the event's deliveries and are
 * skipped. Throws not_found / conflict before anything is replayed: all or nothing.
 */
export async function replayOriginals(store: ReplayStore, id: string, configured: (name: string) => boolean): Promise<DeliveryRecord[]> {
  let originals: DeliveryRecord[];
  if (idKind(id) === 'evt') {
    const stored = await store.view('event', id);
    if (!stored) throw new HookrelayError('not_found', `no event ${id}`);
    const newest = new Map<string, DeliveryRecord>();
    for (const delivery of stored.deliveries) {
      if (delivery.destination !== null && delivery.route?.startsWith(COMMAND_ROUTE_PREFIX) !== true) newest.set(delivery.destination, delivery);
    }
    originals = [...newest.values()];
    if (originals.length === 0) throw new HookrelayError('conflict', `event ${id} was not routed anywhere: nothing to replay`);
  } else {
    const delivery = await store.view('delivery', id);
    if (!delivery) throw new HookrelayError('not_found', `no delivery or event ${id}`);
    if (delivery.destination === null) {
      throw new HookrelayError('conflict', `delivery ${id} was skipped (no route matched): there is nothing to replay it to`);
    }
    originals = [delivery];
  }
  const gone = originals.find((original) => original.destination !== null && !configured(original.destination));
  if (gone) throw new HookrelayError('conflict', `destination "${gone.destination}" is no longer configured`);
  return originals;
}

/**
 * The failed deliveries of a destination created at or after `since`, oldest first, leaving out
 * those already replayed (so asking twice does not send twice). Ids are time-ordered, so the
 * delivery log is read newest first, page by page, until a delivery older than `since`.
 */
export async function failedSince(store: ReplayStore, destination: string, since: number): Promise<DeliveryRecord[]> {
  const failed: DeliveryRecord[] = [];
  const replayed = new Set<string>();
  let before: string | undefined;
  for (let scanned = 0; scanned < MAX_SCANNED; ) {
    const page = await store.view('deliveries', { destination, limit: PAGE, ...(before === undefined ? {} : { before }) });
    scanned += page.length;
    let older = false;
    for (const delivery of page) {
      if (Date.parse(delivery.created_at) < since) {
        older = true;
        break;
      }
      if (delivery.replay_of !== null) replayed.add(delivery.replay_of);
      if (delivery.status === 'failed') failed.push(delivery);
    }
    if (older || page.length < PAGE) break;
    before = page.at(-1)!.id;
  }
  return failed.filter((delivery) => !replayed.has(delivery.id)).reverse();
}

/** New pending deliveries sending the same requests again, in order. */
export async function replayAll(store: ReplayStore, originals: readonly DeliveryRecord[], now: number): Promise<DeliveryRecord[]> {
  const replays: DeliveryRecord[] = [];
  for (const original of originals) {
    const replay = await store.append('replay', original.id, newId('dlv'), now);
    if (replay) replays.push(replay);
  }
  return replays;
}
