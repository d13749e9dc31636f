import type { Logger } from 'pino';
import { SEVERITY_RANK } from '../events/event.ts';
import type { IncomingEvent, RelayEvent } from '../events/event.ts';
import { HookrelayError } from '../errors.ts';
import { factLogger, loggedTitle } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import { RefusalLog } from '../observability/refusal-log.ts';
import { requestLogEntry } from '../observability/request-log.ts';
import type { RequestRecorder } from '../observability/request-log.ts';
import type { Router } from '../routing/routes.ts';
import { muteHold } from '../notify/rules.ts';
import type { InboundRequest, Source } from '../sources/source.ts';
import { parseJsonBody } from './json-body.ts';
import type { ClaimedDelivery, IngestStore, IngestedEvent, Mute, NewDelivery, NewEvent } from '../store/store.ts';
import { realTime } from '../util/clock.ts';
import { newId } from '../util/ids.ts';
import { isoTime } from '../util/iso-time.ts';

export interface IngestReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** The dispatcher, as ingest sees it. */
export interface DeliveryScheduler {
  /** Whether the destination keeps per-incident order. */
  ordered(destination: string): boolean;
  reserve(destination: string): { readonly owner: string; readonly until: number } | null;
  adopt(deliveries: readonly ClaimedDelivery[]): void;
  /** `waitsBehind`: the delivery was stored waiting behind an earlier update of this incident. */
  release(destination: string, waitsBehind?: string | null): void;
  notify(destinations: Iterable<string>): void;
}

/**
 * An event that reports on an incident hookrelay itself sent somewhere (PagerDuty's webhooks about
 * an incident it paged): stored but not routed, so nothing is sent back (no loop), recorded as a
 * pending echo in the same transaction, and applied to the incident once committed.
 */
export interface IncidentEcho {
  /** Why it is not routed, as its delivery log says. */
  readonly note: string;
  /** The incident it reports on (stored with the pending echo). */
  readonly dedup_key: string;
  /**
   * After the commit: the incident's state and messages change, in one transaction that also
   * ends the pending echo. Failures are logged; the echo stays pending and the next start applies it.
   */
  apply(): Promise<void>;
}

export interface IncidentEchoes {
  /** Cheap: whether events of this source may be echoes at all (ingest asks nothing more of the others). */
  watches(source: Source): boolean;
  /** The echo this event is, or null for an ordinary event. */
  match(source: Source, event: RelayEvent): Promise<IncidentEcho | null>;
}

export interface IngestorOptions {
  readonly sources: readonly Source[];
  readonly router: Router;
  /** Active mutes: a matching event's deliveries are logged as `muted`, not sent. */
  readonly mutes: { match(event: RelayEvent): Mute | null };
  readonly store: Pick<IngestStore, 'ingest'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Where committed work goes: fresh deliveries are leased to it at once when it has room. */
  readonly scheduler: DeliveryScheduler;
  /** The requests log for lines outside an ingest transaction (refusals, handshakes); none when absent. */
  readonly requestLog?: RequestRecorder;
  /** Rate-limited warnings about refused webhooks (default: one per source and reason per 10 s). */
  readonly refusals?: RefusalLog;
  /** The server's clock: each request's receive time (events, receipts, the requests log). */
  readonly now: () => number;
  /** Inhibit rules are configured: keep each incident's state and release what its resolve uninhibits. */
  readonly trackIncidents?: boolean;
  /** Events that report on incidents hookrelay sent (PagerDuty's own webhooks): applied, not routed. */
  readonly echoes?: IncidentEchoes;
}

/** Where a request came from, as the HTTP edge saw it. */
export interface RequestOrigin {
  readonly address: string | null;
}

/** The source label of requests to a source that is not configured (labels stay bounded). */
const UNKNOWN_SOURCE = '(unknown)';

interface IngestLabels {
  readonly source: { readonly source: string };
  readonly accepted: { readonly source: string; readonly outcome: 'accepted' };
  readonly duplicate: { readonly source: string; readonly outcome: 'duplicate' };
  readonly answered: { readonly source: string; readonly outcome: 'answered' };
}

function ingestLabels(source: string): IngestLabels {
  return {
    source: { source },
    accepted: { source, outcome: 'accepted' },
    duplicate: { source, outcome: 'duplicate' },
    answered: { source, outcome: 'answered' },
  };
}

/** Headers that carry credentials are not kept with the stored request. */
const UNSTORED_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/**
 * `POST /hooks/:source` after the body is buffered: verify the raw bytes, parse, answer
 * protocol handshakes, normalize, route, and commit the events with all their deliveries
 * in one transaction. Only then is the request acknowledged; a refusal stores nothing.
 */
export class Ingestor {
  readonly #sources: ReadonlyMap<string, Source>;
  readonly #options: IngestorOptions;
  readonly #now: () => number;
  readonly #refusals: RefusalLog;
  /** The per-event `event accepted` lines: facts only, so without the redaction's cost. */
  readonly #acceptedLog: Logger;
  /** Metric labels of every request's outcome and duration, made once per source rather than per request. */
  readonly #labels: ReadonlyMap<string, IngestLabels>;

  constructor(options: IngestorOptions) {
    this.#sources = new Map(options.sources.map((source) => [source.name, source]));
    this.#options = options;
    this.#now = options.now;
    this.#refusals = options.refusals ?? new RefusalLog(options.logger, { now: this.#now });
    this.#acceptedLog = factLogger(options.logger);
    this.#labels = new Map([...this.#sources.keys(), UNKNOWN_SOURCE].map((source) => [source, ingestLabels(source)]));
  }

  hasSource(name: string): boolean {
    return this.#sources.has(name);
  }

  async receive(sourceName: string, request: InboundRequest, origin: RequestOrigin = { address: null }): Promise<IngestReply> {
    const { metrics } = this.#options;
    const elapsed = realTime.stopwatch();
    const receivedAt = this.#now();
    const labels = this.#labels.get(sourceName) ?? this.#labels.get(UNKNOWN_SOURCE)!;
    try {
      const reply = await this.#receive(sourceName, request, receivedAt, origin);
      const outcome = reply.status === 202 ? 'accepted' : reply.body.duplicate === true ? 'duplicate' : 'answered';
      metrics.eventsReceived.inc(labels[outcome]);
      if (outcome === 'answered') {
        this.#options.requestLog?.record(
          requestLogEntry({ source: sourceName, address: origin.address, status: reply.status, outcome, body_bytes: request.rawBody.length, received_at: receivedAt }),
        );
      }
      return reply;
    } catch (error) {
      if (error instanceof HookrelayError) this.refused(sourceName, error, { ...origin, body: request.rawBody, received_at: receivedAt });
      throw error;
    } finally {
      metrics.ingestDuration.observe(labels.source, elapsed() / 1_000);
    }
  }

  /**
   * A refused request, wherever it was refused (here, or at the HTTP edge before its body was
   * read: unknown source, too large): counted, logged at `warn` (rate-limited) and added to the
   * requests log with at most a short excerpt of its body.
   */
  refused(
    sourceName: string,
    error: HookrelayError,
    request: RequestOrigin & { readonly body?: Buffer | null; readonly body_bytes?: number; readonly received_at?: number },
  ): void {
    const known = this.#sources.has(sourceName);
    this.#options.metrics.eventsReceived.inc({ source: known ? sourceName : UNKNOWN_SOURCE, outcome: error.code });
    this.#refusals.refused({ source: sourceName, known, reason: error.code, message: error.message, status: error.status, address: request.address });
    this.#options.requestLog?.record(
      requestLogEntry({
        source: sourceName,
        address: request.address,
        status: error.status,
        outcome: error.code,
        reason: error.message,
        body_bytes: request.body_bytes ?? request.body?.length ?? 0,
        body: request.body ?? null,
        received_at: request.received_at ?? this.#now(),
      }),
    );
  }

  async #receive(sourceName: string, request: InboundRequest, receivedAt: number, origin: RequestOrigin): Promise<IngestReply> {
    const source = this.#sources.get(sourceName);
    if (!source) throw new HookrelayError('unknown_source', `no source is named "${sourceName}"`);

    const verdict = source.verify(request, receivedAt);
    if (!verdict.ok) throw verdict.error;

    const { text, payload, bom } = parseJsonBody(request.rawBody);

    // Most sources have no handshake: no await (a turn of the microtask queue) for them.
    const handshake = source.handshake ? await source.handshake(payload, request) : null;
    if (handshake) return handshake;

    const incoming = source.normalize(payload, request);
    if (incoming.length === 0) return { status: 200, body: { received: 0, ids: [] } };

    const receivedIso = isoTime(receivedAt);
    const touched = new Set<string>();
    const relayEvents = incoming.map(
      (item): RelayEvent => ({
        ...item,
        title: titleOf(item, source.name),
        id: newId('evt'),
        source: source.name,
        occurred_at: item.occurred_at ?? receivedIso,
        received_at: receivedIso,
      }),
    );
    const { echoes: watcher } = this.#options;
    const echoes = watcher?.watches(source) ? await Promise.all(relayEvents.map((event) => watcher.match(source, event))) : null;
    const events: NewEvent[] = relayEvents.map((event, index) => {
      const echo = echoes?.[index] ?? null;
      // With a byte order mark the stored text is not parseable as it is: data is stored apart.
      return {
        event,
        deliveries: echo ? [{ id: newId('dlv'), destination: null, route: null, status: 'skipped', note: echo.note }] : this.#deliveriesFor(event, touched),
        data_is_body: incoming[index]!.data === payload && !bom,
        ...(this.#options.trackIncidents ? { track_incident: true } : {}),
        ...(echo ? { echo: { dedup_key: echo.dedup_key } } : {}),
      };
    });

    const { scheduler } = this.#options;
    let results;
    try {
      results = await this.#options.store.ingest({
        receipt: {
          id: newId('rcp'),
          source: source.name,
          received_at: receivedAt,
          headers: storedHeaders(request.headers),
          body: text,
        },
        events,
        // The requests log line commits with the events (turned into `duplicate` there if they all are).
        ...(this.#options.requestLog
          ? {
              request: requestLogEntry({
                source: source.name,
                address: origin.address,
                status: 202,
                outcome: 'accepted',
                body_bytes: request.rawBody.length,
                received_at: receivedAt,
              }),
            }
          : {}),
      });
    } catch (error) {
      for (const { deliveries } of events) for (const delivery of deliveries) if (delivery.lease) scheduler.release(delivery.destination!);
      throw error;
    }
    const adopted: ClaimedDelivery[] = [];
    results.forEach((result, index) => {
      const { event, deliveries } = events[index]!;
      const waiting = result.duplicate ? undefined : result.waiting;
      for (const delivery of deliveries) {
        if (!delivery.lease) continue;
        // A duplicate, or stored waiting behind an earlier event of its incident: the lease is not used.
        if (result.duplicate) scheduler.release(delivery.destination!);
        else if (waiting?.includes(delivery.id)) scheduler.release(delivery.destination!, delivery.incident_key ?? null);
        else {
          adopted.push({
            id: delivery.id,
            destination: delivery.destination!,
            event,
            member_ids: [],
            events: [event],
            attempts: 0,
            request_body: null,
            unordered: false,
            route: delivery.route,
            probe: false,
            rule_keys: [delivery.rule_key ?? null],
          });
        }
      }
    });
    scheduler.adopt(adopted);
    const fresh = results.filter((result) => !result.duplicate);
    // Deliveries released from inhibition by a resolve are due now.
    for (const result of fresh) for (const destination of result.released ?? []) touched.add(destination);
    if (fresh.length > 0) this.#countDecisions(events, results);
    // Built only when someone reads it: ingest is the hot path.
    if (fresh.length > 0 && this.#acceptedLog.isLevelEnabled('info')) this.#logAccepted(events, results);
    if (fresh.length > 0 && touched.size > 0) scheduler.notify(touched);
    if (echoes) await this.#applyEchoes(echoes, events, results);
    if (fresh.length === 0) {
      return { status: 200, body: { duplicate: true, id: results[0]?.id ?? null } };
    }
    return {
      status: 202,
      body: results.length === 1 ? { id: fresh[0]!.id } : { id: fresh[0]!.id, ids: fresh.map((r) => r.id), duplicates: results.length - fresh.length },
    };
  }

  /** Echoes committed for the first time change their incidents; a duplicate (the sender's retry) changes nothing again. */
  async #applyEchoes(echoes: readonly (IncidentEcho | null)[], events: readonly NewEvent[], results: readonly IngestedEvent[]): Promise<void> {
    for (const [index, echo] of echoes.entries()) {
      if (echo === null || results[index]?.duplicate !== false) continue;
      try {
        await echo.apply();
      } catch (error) {
        this.#options.logger.error(
          { err: error, event_id: events[index]!.event.id },
          'could not apply a report on an incident hookrelay sent (the event is stored; it is applied at the next start)',
        );
      }
    }
  }

  /**
   * One `info` line per event accepted: which alert came in (source, type, title, severity, its
   * id) and the routes that sent it somewhere (none: nothing will be sent). Short on purpose:
   * the stored event has the rest.
   */
  #logAccepted(events: readonly NewEvent[], results: readonly IngestedEvent[]): void {
    const logger = this.#acceptedLog;
    events.forEach(({ event, deliveries }, index) => {
      if (results[index]?.duplicate !== false) return;
      const routes: string[] = [];
      let muted: string | null = null;
      for (const delivery of deliveries) {
        if (delivery.route !== null && !routes.includes(delivery.route)) routes.push(delivery.route);
        if (delivery.status === 'muted') muted = delivery.note ?? 'muted';
      }
      logger.info(
        {
          event_id: event.id,
          source: event.source,
          type: event.type,
          title: loggedTitle(event.title),
          severity: event.severity,
          status: event.status,
          routes,
          ...(muted === null ? {} : { muted }),
        },
        routes.length === 0 ? 'event accepted; no route matched' : 'event accepted',
      );
    });
  }

  /** Deliveries decided at ingest (muted, skipped) are finished: counted by outcome, and mutes as rule decisions. */
  #countDecisions(events: readonly NewEvent[], results: readonly IngestedEvent[]): void {
    const { metrics } = this.#options;
    events.forEach(({ deliveries }, index) => {
      if (results[index]?.duplicate !== false) return;
      for (const delivery of deliveries) {
        if (delivery.status === 'pending') continue;
        metrics.deliveries.inc({ destination: delivery.destination ?? '(none)', outcome: delivery.status });
        if (delivery.status === 'muted') metrics.ruleDecisions.inc({ rule: 'mute', decision: 'muted' });
      }
    });
  }

  #deliveriesFor(event: RelayEvent, touched: Set<string>): NewDelivery[] {
    const targets = this.#options.router.targets(event);
    if (targets.length === 0) {
      return [{ id: newId('dlv'), destination: null, route: null, status: 'skipped', note: 'no route matched' }];
    }
    const muted = muteHold(this.#options.mutes.match(event));
    const { scheduler } = this.#options;
    const priority = SEVERITY_RANK[event.severity];
    return targets.map((target) => {
      const ordering = {
        incident_key: scheduler.ordered(target.destination) ? event.dedup_key : null,
        priority,
        ...(target.rule_key ? { rule_key: target.rule_key } : {}),
      };
      if (muted) return { id: newId('dlv'), destination: target.destination, route: target.route, status: 'muted', note: muted.note, held_by: muted.held_by ?? null };
      if (target.group) {
        touched.add(target.destination);
        return { id: newId('dlv'), destination: target.destination, route: target.route, status: 'pending', group: target.group, ...ordering };
      }
      const lease = scheduler.reserve(target.destination);
      // Without a lease the lane is full or the destination disabled: the work waits in the store.
      if (!lease) touched.add(target.destination);
      return { id: newId('dlv'), destination: target.destination, route: target.route, status: 'pending', lease, ...ordering };
    });
  }
}

/** The headers stored with the receipt: all but credentials, copied only when there is one to leave out. */
function storedHeaders(headers: InboundRequest['headers']): Record<string, string> {
  let credentials = false;
  for (const name of UNSTORED_HEADERS) if (headers[name] !== undefined) credentials = true;
  let undefinedValue = false;
  for (const name in headers) if (headers[name] === undefined) undefinedValue = true;
  if (!credentials && !undefinedValue) return headers as Record<string, string>;
  const kept: Record<string, string> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !UNSTORED_HEADERS.has(name)) kept[name] = value;
  }
  return kept;
}

/**
 * Every event has a title: a sender's blank type or name (`{"type": " "}`) would otherwise leave
 * nothing to say in Slack and no summary for PagerDuty, which refuses a trigger without one.
 */
function titleOf(event: IncomingEvent, source: string): string {
  return event.title.trim() || event.type.trim() || `${source} event`;
}
