import type { Logger } from 'pino';
import type { Destination } from '../destinations/destination.ts';
import { isIncidentMessenger } from '../destinations/index.ts';
import { HookrelayError } from '../errors.ts';
import { COMMAND_ROUTE_PREFIX } from '../store/store.ts';
import type { IncidentStateStore, IngestStore, PreparedDelivery, StoreViews, StoredEvent } from '../store/store.ts';

/** An acknowledgement reads the incident, records who acknowledged it, and queues the commands it sends. */
type AcknowledgeStore = Pick<StoreViews, 'view'> & Pick<IncidentStateStore, 'change' | 'notificationLog'> & Pick<IngestStore, 'append'>;
import { idKind, newId } from '../util/ids.ts';

export interface Acknowledgement {
  /** The incident acknowledged. */
  readonly dedup_key: string;
  /** Destinations (PagerDuty) sent an `acknowledge`, as deliveries. */
  readonly pagerduty: readonly string[];
  /** slack-bot destinations whose incident message now shows who acknowledged. */
  readonly messages: readonly string[];
}

export interface AcknowledgeDeps {
  readonly store: AcknowledgeStore;
  readonly destinations: readonly Destination[];
  readonly notify: (destinations: Iterable<string>) => void;
  readonly logger: Logger;
  readonly now: () => number;
}

/** `incident` as a person names it: an event id or delivery id (its event's dedup key), or the dedup key itself. */
async function resolveIncident(store: Pick<StoreViews, 'view'>, incident: string): Promise<{ dedupKey: string; event: StoredEvent | null }> {
  const kind = idKind(incident);
  if (kind === 'evt') {
    const event = await store.view('event', incident);
    if (!event) throw new HookrelayError('not_found', `no event ${incident}`);
    return { dedupKey: event.event.dedup_key, event };
  }
  if (kind === 'dlv') {
    const delivery = await store.view('delivery', incident);
    if (!delivery) throw new HookrelayError('not_found', `no delivery ${incident} (it may have been pruned)`);
    const event = await store.view('event', delivery.event_id);
    if (!event) throw new HookrelayError('not_found', `no event ${delivery.event_id}`);
    return { dedupKey: event.event.dedup_key, event };
  }
  return { dedupKey: incident, event: null };
}

/** The dedup key the destination was sent (templates may shape it), else the event's own. */
function sentDedupKey(stored: StoredEvent, destination: string): string {
  for (const delivery of [...stored.deliveries].reverse()) {
    if (delivery.destination !== destination || delivery.request_body === null || delivery.route?.startsWith(COMMAND_ROUTE_PREFIX)) continue;
    try {
      const sent = JSON.parse(delivery.request_body) as { dedup_key?: unknown };
      if (typeof sent.dedup_key === 'string') return sent.dedup_key;
    } catch {
      // not JSON: the event's key stands
    }
  }
  return stored.event.dedup_key;
}

/**
 * Acknowledges an incident everywhere it was told: each destination with an `acknowledge`
 * capability that received it (the newest event of the incident it was sent, or the named event
 * itself) gets the acknowledge as a delivery of that event; each slack-bot message of the
 * incident records who acknowledged and is redrawn. Nothing found anywhere is not_found.
 */
export async function acknowledgeIncident(deps: AcknowledgeDeps, incident: string, by: string): Promise<Acknowledgement> {
  const { store, logger } = deps;
  const { dedupKey, event } = await resolveIncident(store, incident);
  const byEvent = new Map<string, PreparedDelivery[]>();
  const pagerduty: string[] = [];
  for (const destination of deps.destinations) {
    if (!destination.acknowledge) continue;
    const [told] = await store.notificationLog(destination.name, [dedupKey]);
    const latest = told?.delivery_id ? ((await store.view('delivery', told.delivery_id))?.event_id ?? null) : null;
    const named = event?.deliveries.some((delivery) => delivery.destination === destination.name) ? event : null;
    const stored = latest === null ? named : latest === named?.event.id ? named : await store.view('event', latest);
    if (!stored) continue;
    const list = byEvent.get(stored.event.id) ?? [];
    list.push({
      id: newId('dlv'),
      destination: destination.name,
      route: `${COMMAND_ROUTE_PREFIX}acknowledge`,
      request_body: destination.acknowledge(sentDedupKey(stored, destination.name)),
    });
    byEvent.set(stored.event.id, list);
    pagerduty.push(destination.name);
  }
  for (const [eventId, deliveries] of byEvent) await store.append('prepared', eventId, deliveries, deps.now());
  if (pagerduty.length > 0) deps.notify(pagerduty);

  const messages: string[] = [];
  for (const messenger of deps.destinations) {
    if (!isIncidentMessenger(messenger)) continue;
    const message = await store.change('acknowledge', messenger.name, dedupKey, by, deps.now());
    if (!message) continue;
    messages.push(messenger.name);
    // The redraw is a Slack API call: not awaited, so a Slack command is still answered within
    // Slack's 3 s (the acknowledgement itself is already stored).
    void messenger.refreshIncident(dedupKey).catch((error: unknown) => {
      logger.warn({ err: error, destination: messenger.name }, 'could not redraw the incident message after an acknowledgement');
    });
  }
  if (pagerduty.length === 0 && messages.length === 0) {
    throw new HookrelayError('not_found', `no incident "${incident}" was sent to a destination that can acknowledge it (PagerDuty, a slack-bot message)`);
  }
  logger.info({ dedup_key: dedupKey, by, pagerduty, messages }, 'incident acknowledged');
  return { dedup_key: dedupKey, pagerduty, messages };
}
