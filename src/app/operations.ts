import type { Logger } from 'pino';
import type { Destination } from '../destinations/destination.ts';
import { testSend } from '../dispatch/test-send.ts';
import type { TestSendResult } from '../dispatch/test-send.ts';
import { HookrelayError } from '../errors.ts';
import type { MuteRegistry } from '../mutes/mute-registry.ts';
import { literalGlob } from '../routing/glob.ts';
import type {
  AttemptRecord,
  DeliveryQuery,
  DeliveryRecord,
  DestinationState,
  EventQuery,
  EventSummary,
  Mute,
  RequestQuery,
  RequestRecord,
  IncidentStateStore,
  IngestStore,
  StoreViews,
  StoredEvent,
  StoredMute,
} from '../store/store.ts';
import { acknowledgeIncident } from './acknowledge.ts';
import type { Acknowledgement } from './acknowledge.ts';
import { failedSince, replayAll, replayOriginals } from './replay.ts';
import { generateSecret } from './secrets.ts';
import { redactHeaders } from './redact-headers.ts';

export type { Acknowledgement } from './acknowledge.ts';

/** The dispatcher, as operations see it: told when work is queued or a destination comes back. */
export interface WorkScheduler {
  notify(destinations: Iterable<string>): void;
  enabled(destination: string): void;
}

export interface OperationsOptions {
  /** Views, replays, the circuit closed by hand, mutes listed, acknowledgements: no queue or lifecycle. */
  readonly store: StoreViews & IngestStore & IncidentStateStore;
  readonly mutes: MuteRegistry;
  readonly dispatcher: WorkScheduler;
  readonly destinations: readonly Destination[];
  readonly version: string;
  readonly logger: Logger;
  /** The server's clock: mutes, replays, enables, acknowledgements, test sends. */
  readonly now: () => number;
}

/** A configured destination and how it stands. */
export interface DestinationStatus extends DestinationState {
  readonly type: string;
  /** When disabled, probes and resumes by itself (the default) instead of waiting for a person to enable it. */
  readonly auto_enable: boolean;
  /** Where its work goes while its circuit is open (notify/fallback.ts); absent without one. */
  readonly fallback?: string;
}

export interface StatusReport {
  readonly destinations: readonly DestinationStatus[];
  readonly mutes: number;
}

/** An event with every delivery's attempts (`GET /api/v1/events/:id`, `/admin/events/:id`). */
export interface EventTrail extends Omit<StoredEvent, 'deliveries'> {
  readonly deliveries: ReadonlyArray<DeliveryRecord & { readonly attempt_log: readonly AttemptRecord[] }>;
}

export interface BulkReplay {
  readonly destination: string;
  /** ISO time the failed deliveries were created at or after. */
  readonly since: string;
  readonly replays: readonly DeliveryRecord[];
}

export interface NewMuteRequest {
  readonly matchers: Record<string, string>;
  readonly duration_ms: number;
  readonly reason: string;
  /** Who: a Slack user, `admin-api`, an admin page. */
  readonly by: string;
}

/**
 * What operators do, whichever front end they use (admin API, Slack app, admin pages): replay,
 * bulk replay, mute, unmute, acknowledge, enable, test send, secrets, and the views those need.
 * Each is a store change plus a nudge to the dispatcher; wording and HTTP live in the front ends.
 * Failures are HookrelayErrors with stable codes (not_found, conflict, invalid_request).
 */
export class Operations {
  readonly #options: OperationsOptions;
  readonly #destinations: ReadonlyMap<string, Destination>;
  readonly #now: () => number;

  constructor(options: OperationsOptions) {
    this.#options = options;
    this.#now = options.now;
    this.#destinations = new Map(options.destinations.map((destination) => [destination.name, destination]));
  }

  get destinationNames(): string[] {
    return [...this.#destinations.keys()];
  }

  /** The configured destination, or not_found. */
  destination(name: string): Destination {
    const destination = this.#destinations.get(name);
    if (!destination) throw new HookrelayError('not_found', `no destination is named "${name}"`);
    return destination;
  }

  /** Every configured destination with its state, by name. */
  async destinationStates(): Promise<DestinationStatus[]> {
    const states = await this.#options.store.view('destinations');
    return states.flatMap((state) => {
      const destination = this.#destinations.get(state.name);
      return destination ? [{ ...state, ...statusOf(destination) }] : [];
    });
  }

  async status(): Promise<StatusReport> {
    return { destinations: await this.destinationStates(), mutes: this.#options.mutes.active(this.#now()).length };
  }

  mute(request: NewMuteRequest): Promise<StoredMute> {
    const { matchers, duration_ms, reason, by } = request;
    return this.#options.mutes.create({ matchers, duration_ms, reason, created_by: by }, this.#now());
  }

  /** Ends a mute now; null when there is no active mute with this id. */
  unmute(id: string): Promise<Mute | null> {
    return this.#options.mutes.delete(id, this.#now());
  }

  activeMutes(): Mute[] {
    return this.#options.mutes.active(this.#now());
  }

  /** Every mute: the config's, then the run-time ones, ended ones included (newest first). */
  async allMutes(): Promise<Mute[]> {
    return [...this.#options.mutes.configured(), ...(await this.#options.store.view('mutes', { now: this.#now(), all: true }))];
  }

  /** The Mute button: silence this delivery's incident (source and dedup key, exactly). */
  async muteIncident(deliveryId: string, by: string, durationMs = 3_600_000): Promise<StoredMute> {
    const { store } = this.#options;
    const delivery = await store.view('delivery', deliveryId);
    if (!delivery) throw new HookrelayError('not_found', `no delivery ${deliveryId} (it may have been pruned)`);
    const stored = await store.view('event', delivery.event_id);
    if (!stored) throw new HookrelayError('not_found', `no event ${delivery.event_id}`);
    // Dedup keys repeat across senders (`record:100`): the source narrows it to this incident.
    return this.mute({
      matchers: { source: literalGlob(stored.event.source), dedup_key: literalGlob(stored.event.dedup_key) },
      duration_ms: durationMs,
      reason: 'muted from Slack',
      by,
    });
  }

  /**
   * Sends again as new deliveries: a delivery id that delivery, an event id its newest delivery
   * to each destination. An unknown id is not_found before anything is queued.
   */
  async replay(id: string): Promise<DeliveryRecord[]> {
    const { store, dispatcher } = this.#options;
    const originals = await replayOriginals(store, id, (name) => this.#destinations.has(name));
    const replays = await replayAll(store, originals, this.#now());
    dispatcher.notify(new Set(replays.flatMap((replay) => (replay.destination ? [replay.destination] : []))));
    return replays;
  }

  /** Replays every failed delivery of a destination created since `since` (ms) and not replayed yet. */
  async replayFailedSince(destination: string, since: number): Promise<BulkReplay> {
    this.destination(destination);
    const now = this.#now();
    if (!Number.isFinite(since) || since > now) throw new HookrelayError('invalid_request', 'since must be a time in the past');
    const { store, dispatcher, logger } = this.#options;
    const replays = await replayAll(store, await failedSince(store, destination, since), now);
    if (replays.length > 0) dispatcher.notify([destination]);
    logger.info({ destination, since: new Date(since).toISOString(), replays: replays.length }, 'failed deliveries replayed');
    return { destination, since: new Date(since).toISOString(), replays };
  }

  /** Re-enables an (auto-)disabled destination; its waiting work goes out again. */
  async enable(name: string): Promise<DestinationStatus> {
    const destination = this.destination(name);
    const state = await this.#options.store.change('enable_destination', name, this.#now());
    if (!state) throw new HookrelayError('not_found', `no destination is named "${name}"`);
    this.#options.dispatcher.enabled(name);
    this.#options.logger.info({ destination: name }, 'destination enabled');
    return { ...state, ...statusOf(destination) };
  }

  /** A dry run: a sample event rendered and sent now, outside the queue and the delivery log. */
  test(name: string): Promise<TestSendResult> {
    return testSend(this.destination(name), this.#options.version, this.#now());
  }

  /**
   * Acknowledges an incident — named by its dedup key, an event id or a delivery id — at every
   * destination that can (PagerDuty) and on its slack-bot messages.
   */
  acknowledge(incident: string, by: string): Promise<Acknowledgement> {
    const { store, dispatcher, logger } = this.#options;
    return acknowledgeIncident(
      { store, destinations: this.#options.destinations, notify: (names) => dispatcher.notify(names), logger, now: this.#now },
      incident,
      by,
    );
  }

  /** A new `whsec_` secret, for a sender or an http destination. */
  generateSecret(): string {
    return generateSecret();
  }

  /** The delivery log, newest first. */
  deliveries(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    if (query.destination !== undefined) this.destination(query.destination);
    return this.#options.store.view('deliveries', query);
  }

  /** One delivery with each attempt, or not_found. */
  async delivery(id: string): Promise<DeliveryRecord & { readonly attempt_log: readonly AttemptRecord[] }> {
    const delivery = await this.#options.store.view('delivery', id);
    if (!delivery) throw new HookrelayError('not_found', `no delivery ${id}`);
    return delivery;
  }

  /** One stored event, normalized and raw (secret headers redacted), with its deliveries, or not_found. */
  async event(id: string): Promise<StoredEvent> {
    const stored = await this.#options.store.view('event', id);
    if (!stored) throw new HookrelayError('not_found', `no event ${id}`);
    return { ...stored, raw: { ...stored.raw, headers: redactHeaders(stored.raw.headers) } };
  }

  /** An event's whole trail: the request as received (redacted), the event, every delivery with its attempts. */
  async eventTrail(id: string): Promise<EventTrail> {
    const stored = await this.event(id);
    const deliveries = await Promise.all(
      stored.deliveries.map(async (delivery) => (await this.#options.store.view('delivery', delivery.id)) ?? { ...delivery, attempt_log: [] }),
    );
    return { ...stored, deliveries };
  }

  /** The event explorer's search, newest first. */
  searchEvents(query: EventQuery): Promise<EventSummary[]> {
    return this.#options.store.view('events', query);
  }

  /** The requests log (every request to `/hooks/*`, refused ones included), newest first. */
  requests(query: RequestQuery): Promise<RequestRecord[]> {
    return this.#options.store.view('requests', query);
  }
}

/** What a destination's status says of its configuration. */
function statusOf(destination: { readonly type: string; readonly auto_enable?: boolean; readonly fallback?: string }): Pick<DestinationStatus, 'type' | 'auto_enable' | 'fallback'> {
  return { type: destination.type, auto_enable: destination.auto_enable !== false, ...(destination.fallback === undefined ? {} : { fallback: destination.fallback }) };
}
