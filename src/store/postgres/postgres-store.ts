import type pg from 'pg';
import { HookrelayError } from '../../errors.ts';
import type { IntervalHeldDelivery } from '../../notify/interval-ends.ts';
import type { RelayEvent } from '../../events/event.ts';
import type {
  AppendKinds,
  ChangeKinds,
  ClaimRequest,
  HoldKinds,
  LeaseKinds,
  PruneKinds,
  ViewKinds,
  AttemptRecord,
  AttemptResult,
  ClaimBatch,
  ClaimOptions,
  FallbackHandOff,
  DeliveryQuery,
  EventQuery,
  EventSummary,
  DeliveryRecord,
  DestinationState,
  EchoApplication,
  EchoApplied,
  HoldRequest,
  IncidentMessage,
  IngestBatch,
  IngestedEvent,
  StoredMute,
  NotificationEntry,
  PendingEcho,
  PreparedDelivery,
  PruneOptions,
  QueueStat,
  RecordedAttempt,
  RequestLogEntry,
  RequestQuery,
  RequestRecord,
  Store,
  StoredEvent,
  ThresholdQuery,
  ThresholdState,
} from '../store.ts';
import { ACCEPTED_OUTCOMES, callKind } from '../store.ts';
import { deliveryCounts, EVENT_SUMMARY_COLUMNS, eventSearchSql } from '../event-search.ts';
import { redact } from './url.ts';
import { systemClock } from '../../util/clock.ts';
import type { Clock } from '../../util/clock.ts';
import {
  DELIVERY_COLUMNS,
  DESTINATION_STATE_SQL,
  EVENT_COLUMNS,
  attemptFromRow,
  deliveryFromRow,
  destinationStateFromRow,
  eventFromRow,
  eventSummaryFromRow,
  incidentMessageFromRow,
  muteFromRow,
  notificationFromRow,
  requestFromRow,
  reviveChained,
  reviveClaimed,
} from '../sqlite/rows.ts';
import { createPool, query, statement, transaction } from './connection.ts';
import { ingestAnswers, ingestCall, ingestsInOneCall } from './ingest.ts';
import type { IngestAnswerRow } from './ingest.ts';
import type { PoolSettings, Tx } from './connection.ts';
import { MIGRATIONS, migrate, schemaVersion } from './migrations.ts';
import { WorkListener } from './work-listener.ts';
import { plainSuccess, writes } from './writes.ts';

/**
 * Successes are recorded in group commits: at most this many transactions of them at once (the
 * rest of the pool serves claims and ingest), each of at most this many attempts.
 */
const MAX_SUCCESS_BATCHES = 2;
const MAX_SUCCESS_BATCH = 500;
/**
 * Webhooks are ingested in group commits too: at most this many calls at once, each of at most
 * this many webhooks (those that arrive while a call is under way go in the next). With the
 * statements of a call stored set by set (migration 11), a call's own cost is most of what a small
 * one costs: one call at a time made bigger ones (22 webhooks each, not 12, at 50 concurrent
 * senders) and cost PostgreSQL about a fifth less CPU per webhook than two, for as many webhooks
 * a second (docs/performance.md, PostgreSQL ingest).
 */
export const MAX_INGEST_CALLS = 1;
const MAX_INGEST_BATCH = 100;

interface WaitingIngest {
  readonly batch: IngestBatch;
  readonly resolve: (stored: IngestedEvent[]) => void;
  readonly reject: (error: unknown) => void;
}

export interface PostgresStoreOptions extends PoolSettings {
  /** Bring the schema up to date at open (default); false: it must be done already (`hookrelay migrate`). */
  readonly migrate?: boolean;
  /**
   * Writes waiting for a connection beyond this are refused at once with `store_unavailable`
   * (503, Retry-After) instead of queueing without bound while the database is slow or away.
   */
  readonly maxWaiting?: number;
  /** Listen for peers' new work (LISTEN/NOTIFY); default true. */
  readonly listen?: boolean;
  /** The server's clock: the times of writes that take none from their caller (default: the system clock). */
  readonly clock?: Clock;
}

/**
 * The shared store: several replicas on one PostgreSQL database. Every write is one
 * transaction on a pooled connection; claims are leases taken with FOR UPDATE SKIP LOCKED
 * (see writes.ts for how incident order and groups hold across replicas); committed work is
 * announced with NOTIFY so peers' dispatchers wake at once.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #maxWaiting: number;
  readonly #listener: WorkListener | null;
  readonly #clock: Clock;
  #active = 0;
  #closed: Promise<void> | null = null;
  /** Successes waiting for the next group commit, and how many such commits are under way. */
  readonly #successes: Array<{ result: AttemptResult; resolve: (recorded: RecordedAttempt) => void; reject: (error: Error) => void }> = [];
  #recording = 0;
  /** Webhooks waiting for the next ingest call, and how many calls are under way. */
  readonly #ingests: WaitingIngest[] = [];
  #ingesting = 0;

  private constructor(pool: pg.Pool, url: string, options: PostgresStoreOptions) {
    this.#pool = pool;
    this.#maxWaiting = options.maxWaiting ?? 1_000;
    this.#clock = options.clock ?? systemClock;
    this.#listener = options.listen === false ? null : new WorkListener(url);
  }

  static async open(url: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const pool = createPool(url, options);
    try {
      if (options.migrate !== false) await migrate(pool, (options.clock ?? systemClock).now());
      else {
        const version = await schemaVersion(pool);
        if (version < MIGRATIONS.length) {
          throw new Error(`its schema is at version ${version} and this hookrelay needs ${MIGRATIONS.length}: run "hookrelay migrate" (or start without --no-migrate)`);
        }
      }
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw new Error(`could not open the PostgreSQL store ${redact(url)}: ${(error as Error).message}`, { cause: error });
    }
    const store = new PostgresStore(pool, url, options);
    store.#listener?.start();
    return store;
  }

  async #write<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    return this.#bounded(() => transaction(this.#pool, work));
  }

  async #bounded<T>(write: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new HookrelayError('store_unavailable', 'the store is closed');
    // Back-pressure: a database that is slow or away must not grow a queue in memory.
    if (this.#active >= this.#maxWaiting) {
      throw new HookrelayError('store_unavailable', `the store is busy (${this.#active} writes waiting); try again shortly`);
    }
    this.#active += 1;
    try {
      return await write();
    } finally {
      this.#active -= 1;
    }
  }

  async #read<R extends Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    if (this.#closed) throw new HookrelayError('store_unavailable', 'the store is closed');
    return query<R>(this.#pool, sql, params);
  }

  onWork(listener: (destinations: readonly string[]) => void): void {
    this.#listener?.onWork(listener);
  }

  syncDestinations(names: readonly string[]): Promise<void> {
    this.#listener?.know(names);
    return this.#write((tx) => writes.syncDestinations(tx, names));
  }

  /** One round trip per webhook, or less (see ingest.ts); statement by statement only where a group's or an incident's facts are needed. */
  ingest(batch: IngestBatch): Promise<IngestedEvent[]> {
    if (!ingestsInOneCall(batch)) return this.#write((tx) => writes.ingest(tx, batch));
    return this.#bounded(
      () =>
        new Promise<IngestedEvent[]>((resolve, reject) => {
          this.#ingests.push({ batch, resolve, reject });
          this.#flushIngests();
        }),
    );
  }

  #flushIngests(): void {
    while (this.#ingests.length > 0 && this.#ingesting < MAX_INGEST_CALLS) {
      const group = this.#ingests.splice(0, MAX_INGEST_BATCH);
      this.#ingesting += 1;
      void this.#ingestGroup(group).finally(() => {
        this.#ingesting -= 1;
        this.#flushIngests();
      });
    }
  }

  async #ingestGroup(group: readonly WaitingIngest[]): Promise<void> {
    try {
      const answers = await this.#callIngest(group.map((waiting) => waiting.batch));
      group.forEach((waiting, index) => waiting.resolve(answers[index]!));
    } catch (error) {
      // One webhook's failure is its own: each is tried alone (an unreachable database fails them all).
      if (group.length === 1 || (error instanceof HookrelayError && error.code === 'store_unavailable')) {
        for (const waiting of group) waiting.reject(error);
        return;
      }
      await Promise.all(group.map((waiting) => this.#callIngest([waiting.batch]).then((answers) => waiting.resolve(answers[0]!), waiting.reject)));
    }
  }

  async #callIngest(batches: readonly IngestBatch[]): Promise<IngestedEvent[][]> {
    const call = ingestCall(batches);
    return ingestAnswers(call, await statement<IngestAnswerRow>(this.#pool, call.sql, call.params));
  }

  #claimDue(destination: string, options: ClaimOptions): Promise<ClaimBatch> {
    return this.#write((tx) => writes.claimDue(tx, destination, options)).then(reviveClaimed);
  }

  #handToFallback(handOff: FallbackHandOff): Promise<number> {
    return this.#write((tx) => writes.handToFallback(tx, handOff));
  }

  #claimProbe(destination: string, options: Omit<ClaimOptions, 'limit'>): Promise<ClaimBatch> {
    return this.#write((tx) => writes.claimProbe(tx, destination, options)).then(reviveClaimed);
  }

  async #heldBy(marker: string): Promise<IntervalHeldDelivery[]> {
    const rows = await this.#read(
      `SELECT d.id, d.destination, e.source, e.dedup_key, e.status, e.occurred_at FROM deliveries d
       JOIN events e ON e.id = d.event_id WHERE d.held_by = $1 AND d.status = 'muted'`,
      [marker],
    );
    return rows.map((row) => ({
      id: String(row.id),
      destination: String(row.destination),
      source: String(row.source),
      dedup_key: String(row.dedup_key),
      status: String(row.status),
      occurred_at: String(row.occurred_at),
    }));
  }

  #releaseHeld(args: { readonly marker: string; readonly ids: readonly string[]; readonly note: string; readonly now: number }): Promise<string[]> {
    return this.#write((tx) => writes.releaseHeld(tx, args));
  }

  #holdDeliveries(hold: HoldRequest): Promise<void> {
    if (hold.ids.length === 0) return Promise.resolve();
    return this.#write((tx) => writes.holdDeliveries(tx, hold));
  }

  async notificationLog(destination: string, dedupKeys: readonly string[]): Promise<NotificationEntry[]> {
    if (dedupKeys.length === 0) return [];
    const rows = await this.#read('SELECT * FROM notification_log WHERE destination = $1 AND dedup_key = ANY($2::text[])', [
      destination,
      [...new Set(dedupKeys)],
    ]);
    return rows.map(notificationFromRow);
  }

  async thresholdState(q: ThresholdQuery): Promise<ThresholdState> {
    const [counted] = await this.#read(
      `SELECT COUNT(*) AS n FROM deliveries
       WHERE destination = $1 AND route = $2 AND rule_key = $3 AND id <= $4 AND created_at >= $5`,
      [q.destination, q.route, q.rule_key, q.up_to_id, q.since],
    );
    const [fired] = await this.#read(
      `SELECT id FROM deliveries
       WHERE destination = $1 AND route = $2 AND rule_key = $3 AND created_at >= $4 AND status = 'succeeded'
       ORDER BY id DESC LIMIT 1`,
      [q.destination, q.route, q.rule_key, q.since],
    );
    return { count: Number(counted?.n ?? 0), fired: fired ? String(fired.id) : null };
  }

  async firingIncidents(limit: number): Promise<RelayEvent[]> {
    const rows = await this.#read(
      `SELECT ${EVENT_COLUMNS} FROM incidents i JOIN events e ON e.id = i.event_id
       WHERE i.status = 'firing' ORDER BY i.updated_at DESC LIMIT $1`,
      [limit],
    );
    return rows.map(eventFromRow);
  }

  /**
   * Plain successes (see `plainSuccess`) from concurrent callers share group commits; a batch
   * with anything else commits as one transaction of its own. Both through writes.commitAttempts.
   */
  commitAttempts(results: readonly AttemptResult[]): Promise<RecordedAttempt[]> {
    if (results.length === 0) return Promise.resolve([]);
    if (!results.every(plainSuccess)) return this.#write((tx) => writes.commitAttempts(tx, results)).then(reviveChained);
    return Promise.all(
      results.map(
        (result) =>
          new Promise<RecordedAttempt>((resolve, reject) => {
            this.#successes.push({ result, resolve, reject });
            this.#flushSuccesses();
          }),
      ),
    );
  }

  #flushSuccesses(): void {
    while (this.#successes.length > 0 && this.#recording < MAX_SUCCESS_BATCHES) {
      const batch = this.#successes.splice(0, MAX_SUCCESS_BATCH);
      this.#recording += 1;
      this.#write((tx) => writes.commitAttempts(tx, batch.map((waiting) => waiting.result)))
        .then(reviveChained)
        .then(
          (recorded) => batch.forEach((waiting, index) => waiting.resolve(recorded[index]!)),
          (error: unknown) => batch.forEach((waiting) => waiting.reject(error as Error)),
        )
        .finally(() => {
          this.#recording -= 1;
          this.#flushSuccesses();
        });
    }
  }

  admitOnce(scope: string, key: string, expires_at: number, now: number): Promise<boolean> {
    return this.#write((tx) => writes.admitOnce(tx, { scope, key, expires_at, now }));
  }

  #extendLeases(ids: readonly string[], owner: string, until: number): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#write((tx) => writes.extendLeases(tx, { ids, owner, until }));
  }

  #releaseClaims(ids: readonly string[], owner: string): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#write((tx) => writes.releaseClaims(tx, { ids, owner, now: this.#clock.now() }));
  }

  #markAttemptStarted(ids: readonly string[], owner: string): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#write((tx) => writes.markAttemptStarted(tx, { ids, owner }));
  }

  #enableDestination(name: string, now: number): Promise<DestinationState | null> {
    return this.#write((tx) => writes.enableDestination(tx, { name, now }));
  }

  #replayDelivery(id: string, newId: string, now: number): Promise<DeliveryRecord | null> {
    return this.#write((tx) => writes.replayDelivery(tx, { id, newId, now }));
  }

  async #destinationStates(): Promise<DestinationState[]> {
    return (await this.#read(`${DESTINATION_STATE_SQL} ORDER BY s.name`)).map(destinationStateFromRow);
  }

  async #listDeliveries(q: DeliveryQuery): Promise<DeliveryRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, value: unknown): void => {
      params.push(value);
      where.push(clause.replace('?', `$${params.length}`));
    };
    if (q.destination !== undefined) add('destination = ?', q.destination);
    if (q.status !== undefined) add('status = ?', q.status);
    if (q.event_id !== undefined) add('event_id = ?', q.event_id);
    if (q.before !== undefined) add('id < ?', q.before);
    params.push(q.limit);
    const rows = await this.#read(
      `SELECT ${DELIVERY_COLUMNS} FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(deliveryFromRow);
  }

  async #getDelivery(id: string): Promise<(DeliveryRecord & { attempt_log: AttemptRecord[] }) | null> {
    const [row] = await this.#read(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = $1`, [id]);
    if (!row) return null;
    const attempts = await this.#read('SELECT * FROM delivery_attempts WHERE delivery_id = $1 ORDER BY attempt', [id]);
    return { ...deliveryFromRow(row), attempt_log: attempts.map(attemptFromRow) };
  }

  async #getEvent(id: string): Promise<StoredEvent | null> {
    const [row] = await this.#read(
      `SELECT ${EVENT_COLUMNS}, r.headers AS raw_headers, r.body AS raw_body FROM events e JOIN receipts r ON r.id = e.receipt_id WHERE e.id = $1`,
      [id],
    );
    if (!row) return null;
    const deliveries = await this.#read(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE event_id = $1 ORDER BY id`, [id]);
    return {
      event: eventFromRow(row),
      raw: { headers: JSON.parse(String(row.raw_headers)) as Record<string, string>, body: String(row.raw_body) },
      deliveries: deliveries.map(deliveryFromRow),
    };
  }

  async #searchEvents(query: EventQuery): Promise<EventSummary[]> {
    const params: Array<string | number> = [];
    const { where, limit } = eventSearchSql(query, (value) => `$${params.push(value)}`, 'postgres');
    params.push(limit);
    const events = (await this.#read(`SELECT ${EVENT_SUMMARY_COLUMNS} FROM events e ${where} ORDER BY e.id DESC LIMIT $${params.length}`, params)).map(eventSummaryFromRow);
    if (events.length === 0) return [];
    const counts = deliveryCounts(
      await this.#read('SELECT event_id, status, COUNT(*) AS count FROM deliveries WHERE event_id = ANY($1::text[]) GROUP BY event_id, status', [
        events.map((event) => event.id),
      ]),
    );
    return events.map((event) => ({ ...event, deliveries: counts.get(event.id) ?? {} }));
  }

  #pruneDeliveries(options: PruneOptions): Promise<number> {
    return this.#write((tx) => writes.prune(tx, options));
  }

  #createMute(mute: StoredMute): Promise<StoredMute> {
    return this.#write((tx) => writes.createMute(tx, mute));
  }

  #deleteMute(id: string, now: number): Promise<StoredMute | null> {
    return this.#write((tx) => writes.deleteMute(tx, { id, now }));
  }

  async #listMutes(options: { now: number; all?: boolean }): Promise<StoredMute[]> {
    const rows = options.all
      ? await this.#read('SELECT * FROM mutes ORDER BY created_at DESC LIMIT 500')
      : await this.#read('SELECT * FROM mutes WHERE deleted_at IS NULL AND expires_at > $1 ORDER BY expires_at', [options.now]);
    return rows.map(muteFromRow);
  }

  #enqueuePrepared(eventId: string, deliveries: readonly PreparedDelivery[], now: number): Promise<DeliveryRecord[]> {
    return this.#write((tx) => writes.enqueuePrepared(tx, { eventId, deliveries, now }));
  }

  async #getIncidentMessage(destination: string, dedupKey: string): Promise<IncidentMessage | null> {
    const [row] = await this.#read('SELECT * FROM incident_messages WHERE destination = $1 AND dedup_key = $2', [destination, dedupKey]);
    return row ? incidentMessageFromRow(row) : null;
  }

  #acknowledgeIncident(destination: string, dedupKey: string, by: string, now: number): Promise<IncidentMessage | null> {
    return this.#write((tx) => writes.acknowledgeIncident(tx, { destination, dedupKey, by, now }));
  }

  #applyEcho(application: EchoApplication): Promise<EchoApplied> {
    return this.#write((tx) => writes.applyEcho(tx, application));
  }

  async #pendingEchoes(limit: number): Promise<PendingEcho[]> {
    const rows = await this.#read('SELECT event_id, dedup_key, created_at FROM pending_echoes ORDER BY created_at, event_id LIMIT $1', [limit]);
    return rows.map((row) => ({ event_id: String(row.event_id), dedup_key: String(row.dedup_key), created_at: Number(row.created_at) }));
  }

  async #queueStats(): Promise<QueueStat[]> {
    const rows = await this.#read(
      `SELECT s.name, s.enabled, COUNT(d.id) AS depth, MIN(d.created_at) AS oldest
       FROM destination_state s LEFT JOIN deliveries d ON d.destination = s.name AND d.status IN ('pending', 'in_flight')
       GROUP BY s.name, s.enabled ORDER BY s.name`,
    );
    return rows.map((row) => ({
      destination: String(row.name),
      enabled: Number(row.enabled) === 1,
      depth: Number(row.depth),
      oldest_pending_at: row.oldest === null ? null : Number(row.oldest),
    }));
  }

  #recordRequests(entries: readonly RequestLogEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.#write((tx) => writes.recordRequests(tx, entries));
  }

  async #listRequests(q: RequestQuery): Promise<RequestRecord[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.source !== undefined) {
      params.push(q.source);
      where.push(`source = $${params.length}`);
    }
    if (q.outcome === 'refused') {
      params.push([...ACCEPTED_OUTCOMES]);
      where.push(`outcome <> ALL($${params.length}::text[])`);
    } else if (q.outcome !== undefined) {
      params.push(q.outcome);
      where.push(`outcome = $${params.length}`);
    }
    if (q.before !== undefined) {
      params.push(q.before);
      where.push(`id < $${params.length}`);
    }
    params.push(q.limit);
    const rows = await this.#read(
      `SELECT * FROM requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map(requestFromRow);
  }

  #pruneRequests(options: { keep: number; before: number }): Promise<number> {
    return this.#write((tx) => writes.pruneRequests(tx, options));
  }


  append<K extends keyof AppendKinds>(kind: K, ...args: AppendKinds[K]['args']): Promise<AppendKinds[K]['answer']> {
    return callKind<AppendKinds, K>(
      {
        prepared: (eventId, deliveries, now) => this.#enqueuePrepared(eventId, deliveries, now),
        replay: (id, newId, now) => this.#replayDelivery(id, newId, now),
        requests: (entries) => this.#recordRequests(entries),
      },
      kind,
      args,
    );
  }

  claim(destination: string, request: ClaimRequest): Promise<ClaimBatch> {
    return request.probe === true ? this.#claimProbe(destination, request) : this.#claimDue(destination, request);
  }

  holds<K extends keyof HoldKinds>(kind: K, ...args: HoldKinds[K]['args']): Promise<HoldKinds[K]['answer']> {
    return callKind<HoldKinds, K>(
      { hold: (hold) => this.#holdDeliveries(hold), release: (release) => this.#releaseHeld(release), fallback: (handOff) => this.#handToFallback(handOff) },
      kind,
      args,
    );
  }

  leases<K extends keyof LeaseKinds>(kind: K, ...args: LeaseKinds[K]['args']): Promise<LeaseKinds[K]['answer']> {
    return callKind<LeaseKinds, K>(
      {
        extend: (ids, owner, until) => this.#extendLeases(ids, owner, until),
        release: (ids, owner) => this.#releaseClaims(ids, owner),
        started: (ids, owner) => this.#markAttemptStarted(ids, owner),
      },
      kind,
      args,
    );
  }

  change<K extends keyof ChangeKinds>(kind: K, ...args: ChangeKinds[K]['args']): Promise<ChangeKinds[K]['answer']> {
    return callKind<ChangeKinds, K>(
      {
        acknowledge: (destination, dedupKey, by, now) => this.#acknowledgeIncident(destination, dedupKey, by, now),
        apply_echo: (application) => this.#applyEcho(application),
        create_mute: (mute) => this.#createMute(mute),
        delete_mute: (id, now) => this.#deleteMute(id, now),
        enable_destination: (name, now) => this.#enableDestination(name, now),
      },
      kind,
      args,
    );
  }

  view<K extends keyof ViewKinds>(kind: K, ...args: ViewKinds[K]['args']): Promise<ViewKinds[K]['answer']> {
    return callKind<ViewKinds, K>(
      {
        destinations: () => this.#destinationStates(),
        queue: () => this.#queueStats(),
        deliveries: (query) => this.#listDeliveries(query),
        delivery: (id) => this.#getDelivery(id),
        event: (id) => this.#getEvent(id),
        events: (query) => this.#searchEvents(query),
        requests: (query) => this.#listRequests(query),
        mutes: (options) => this.#listMutes(options),
        incident_message: (destination, dedupKey) => this.#getIncidentMessage(destination, dedupKey),
        held: (marker) => this.#heldBy(marker),
        echoes: (limit) => this.#pendingEchoes(limit),
      },
      kind,
      args,
    );
  }

  prune<K extends keyof PruneKinds>(kind: K, ...args: PruneKinds[K]['args']): Promise<PruneKinds[K]['answer']> {
    return callKind<PruneKinds, K>({ deliveries: (options) => this.#pruneDeliveries(options), requests: (options) => this.#pruneRequests(options) }, kind, args);
  }

  /** Ready means a connection answers now (a fresh one if the old ones died): `/readyz`. */
  async ping(): Promise<void> {
    await this.#read('SELECT 1');
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#listener?.stop();
      await this.#pool.end();
    })();
    return this.#closed;
  }
}
