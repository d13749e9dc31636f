import type { Logger } from 'pino';
import type { Destination } from '../destinations/destination.ts';
import { isIncidentMessenger } from '../destinations/index.ts';
import type { Dispatcher } from '../dispatch/dispatcher.ts';
import { testSend } from '../dispatch/test-send.ts';
import type { TestSendResult } from '../dispatch/test-send.ts';
import { HookrelayError } from '../errors.ts';
import type { MuteRegistry } from '../mutes/mute-registry.ts';
import { literalGlob } from '../routing/glob.ts';
import { COMMAND_ROUTE_PREFIX } from '../store/store.ts';
import type { DeliveryRecord, DestinationState, Mute, Store } from '../store/store.ts';
import { idKind, newId } from '../util/ids.ts';

export interface OperationsOptions {
  readonly store: Store;
  readonly mutes: MuteRegistry;
  readonly dispatcher: Dispatcher;
  readonly destinations: readonly Destination[];
  readonly version: string;
  readonly logger: Logger;
}

export interface Acknowledgement {
  readonly dedup_key: string;
  /** PagerDuty destinations sent an `acknowledge`. */
  readonly pagerduty: readonly string[];
}

export interface StatusReport {
  readonly destinations: ReadonlyArray<DestinationState & { readonly type: string }>;
  readonly mutes: number;
}

/**
 * What people do from Slack (commands and buttons): mute, unmute, replay, acknowledge, test,
 * status. Each is a store change plus a nudge to the dispatcher; Slack wording lives elsewhere.
 */
export class Operations {
  readonly #options: OperationsOptions;
  readonly #destinations: ReadonlyMap<string, Destination>;

  constructor(options: OperationsOptions) {
    this.#options = options;
    this.#destinations = new Map(options.destinations.map((destination) => [destination.name, destination]));
  }

  get destinationNames(): string[] {
    return [...this.#destinations.keys()];
  }

  mute(matchers: Record<string, string>, durationMs: number, reason: string, by: string): Promise<Mute> {
    return this.#options.mutes.create({ matchers, duration_ms: durationMs, reason, created_by: by });
  }

  unmute(id: string): Promise<Mute | null> {
    return this.#options.mutes.delete(id);
  }

  activeMutes(): Mute[] {
    return this.#options.mutes.active();
  }

  /** A delivery id replays that delivery; an event id replays its newest delivery to each destination. */
  async replay(id: string): Promise<DeliveryRecord[]> {
    const { store, dispatcher } = this.#options;
    let originals: DeliveryRecord[];
    if (idKind(id) === 'evt') {
      const stored = await store.getEvent(id);
      if (!stored) throw new HookrelayError('not_found', `no event ${id}`);
      const newest = new Map<string, DeliveryRecord>();
      for (const delivery of stored.deliveries) {
        // Commands (an acknowledge) are not the event's deliveries: replaying the event skips them.
        if (delivery.destination !== null && delivery.route?.startsWith(COMMAND_ROUTE_PREFIX) !== true) newest.set(delivery.destination, delivery);
      }
      originals = [...newest.values()];
      if (originals.length === 0) throw new HookrelayError('conflict', `event ${id} was not routed anywhere: nothing to replay`);
    } else {
      const delivery = await store.getDelivery(id);
      if (!delivery) throw new HookrelayError('not_found', `no delivery ${id}`);
      originals = [delivery];
    }
    // Checked for all before any is replayed: all or nothing.
    const gone = originals.find((original) => original.destination !== null && !this.#destinations.has(original.destination));
    if (gone) throw new HookrelayError('conflict', `destination "${gone.destination}" is no longer configured`);
    const replays: DeliveryRecord[] = [];
    for (const original of originals) {
      const replay = await store.replayDelivery(original.id, newId('dlv'), Date.now());
      if (replay) replays.push(replay);
    }
    dispatcher.notify(replays.flatMap((replay) => (replay.destination ? [replay.destination] : [])));
    return replays;
  }

  async status(): Promise<StatusReport> {
    const states = await this.#options.store.destinationStates();
    return {
      destinations: states.flatMap((state) => {
        const destination = this.#destinations.get(state.name);
        return destination ? [{ ...state, type: destination.type }] : [];
      }),
      mutes: this.#options.mutes.active().length,
    };
  }

  async test(name: string): Promise<TestSendResult> {
    const destination = this.#destinations.get(name);
    if (!destination) throw new HookrelayError('not_found', `no destination is named "${name}"`);
    return testSend(destination, this.#options.version);
  }

  /** The incident a button sits on: its delivery, event and dedup key. */
  async #incidentOf(deliveryId: string) {
    const { store } = this.#options;
    const delivery = await store.getDelivery(deliveryId);
    if (!delivery) throw new HookrelayError('not_found', `no delivery ${deliveryId} (it may have been pruned)`);
    const stored = await store.getEvent(delivery.event_id);
    if (!stored) throw new HookrelayError('not_found', `no event ${delivery.event_id}`);
    return { delivery, stored };
  }

  /** The Mute 1h button: silence this incident (its dedup key, exactly) for an hour. */
  async muteIncident(deliveryId: string, by: string, durationMs = 3_600_000): Promise<Mute> {
    const { stored } = await this.#incidentOf(deliveryId);
    // Dedup keys repeat across senders (`record:100`): the source narrows it to this incident.
    return this.mute(
      { source: literalGlob(stored.event.source), dedup_key: literalGlob(stored.event.dedup_key) },
      durationMs,
      'muted from Slack',
      by,
    );
  }

  /**
   * The Acknowledge button: a PagerDuty `acknowledge` (same dedup key as the trigger) to every
   * PagerDuty destination the event went to, as deliveries (durable, retried, logged), and the
   * incident's Slack message redrawn to show who acknowledged.
   */
  async acknowledge(deliveryId: string, by: string): Promise<Acknowledgement> {
    const { store, dispatcher, logger } = this.#options;
    const { delivery, stored } = await this.#incidentOf(deliveryId);
    const { event } = stored;
    const pagerduty = new Map<string, string>();
    for (const candidate of stored.deliveries) {
      const destination = candidate.destination === null ? undefined : this.#destinations.get(candidate.destination);
      if (destination?.type !== 'pagerduty' || pagerduty.has(destination.name)) continue;
      // The dedup key PagerDuty knows is the one the trigger carried (templates may shape it).
      let dedupKey = event.dedup_key;
      if (candidate.request_body) {
        const sent = JSON.parse(candidate.request_body) as { dedup_key?: unknown };
        if (typeof sent.dedup_key === 'string') dedupKey = sent.dedup_key;
      }
      pagerduty.set(destination.name, dedupKey);
    }
    if (pagerduty.size > 0) {
      await store.enqueuePrepared(
        event.id,
        [...pagerduty].map(([destination, dedupKey]) => ({
          id: newId('dlv'),
          destination,
          route: `${COMMAND_ROUTE_PREFIX}acknowledge`,
          request_body: JSON.stringify({ event_action: 'acknowledge', dedup_key: dedupKey }),
        })),
        Date.now(),
      );
    }
    if (pagerduty.size > 0) dispatcher.notify(pagerduty.keys());
    if (delivery.destination !== null) {
      await store.acknowledgeIncident(delivery.destination, event.dedup_key, by, Date.now());
      const messenger = this.#destinations.get(delivery.destination);
      if (messenger && isIncidentMessenger(messenger)) {
        await messenger.refreshIncident(event.dedup_key).catch((error: unknown) => {
          logger.warn({ err: error, destination: messenger.name }, 'could not redraw the incident message after an acknowledgement');
        });
      }
    }
    logger.info({ event_id: event.id, dedup_key: event.dedup_key, by, pagerduty: [...pagerduty.keys()] }, 'incident acknowledged from Slack');
    return { dedup_key: event.dedup_key, pagerduty: [...pagerduty.keys()] };
  }
}
