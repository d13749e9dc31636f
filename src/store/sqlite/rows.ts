import type { DatabaseSync, SQLInputValue, SQLOutputValue, StatementResultingChanges, StatementSync } from 'node:sqlite';
import type { RelayEvent, Severity, EventStatus } from '../../events/event.ts';
import { lazyJsonValue } from '../../events/json-text.ts';
import type {
  AttemptOutcome,
  AttemptRecord,
  DeliveryRecord,
  DeliveryStatus,
  DestinationState,
  EventSummary,
  IncidentMessage,
  StoredMute,
  NotificationEntry,
  RequestOutcome,
  RequestRecord,
} from '../store.ts';
import { ACCEPTED_OUTCOMES } from '../store.ts';
import type { CircuitState } from '../../notify/breaker.ts';
import type { DigestRow, LeadFacts } from '../../notify/claim-members.ts';
import type { ClaimedDelivery } from '../../notify/facts.ts';
import { isUnordered } from '../../notify/incident-order.ts';
import { isoTime } from '../../util/iso-time.ts';

type Row = Record<string, unknown>;

/** A prepared statement; `get` and `all` give each row as an ordinary object. */
export interface Statement {
  run(...params: SQLInputValue[]): StatementResultingChanges;
  get(...params: SQLInputValue[]): Record<string, SQLOutputValue> | undefined;
  all(...params: SQLInputValue[]): Record<string, SQLOutputValue>[];
}

/**
 * node:sqlite builds each row as an object in V8's dictionary mode (a hash table of properties,
 * with no prototype), and every read of a column from it is a lookup in that table: in the
 * drain's claim about a quarter of the writer's instructions went to those lookups and to the
 * inline caches that miss on them. Rows here come from node as arrays and become object literals
 * of the statement's columns, made by a function written once per statement from those names
 * (each name a JSON string literal): V8 gives every row of a statement one fast shape, its
 * properties inside the object. A 35-column row read 24 times: 2.2 µs against 5.0 from node's
 * objects, and 2.8 copying a shape object and setting each column (which V8 does property by
 * property). Same own properties in the same order; a later column of the same name wins, as in
 * node's objects.
 */
class FastRows implements Statement {
  readonly #statement: StatementSync;
  #width = 0;
  #row: (values: readonly SQLOutputValue[]) => Record<string, SQLOutputValue> = () => ({});

  private constructor(statement: StatementSync, names: readonly string[]) {
    this.#statement = statement;
    this.#rowsOf(names);
    statement.setReturnArrays(true);
  }

  #rowsOf(names: readonly string[]): void {
    this.#width = names.length;
    // A later column of a name wins: only its last position is written.
    const last = new Map(names.map((name, at) => [name, at]));
    const fields = [...last].map(([name, at]) => `${JSON.stringify(name)}: values[${at}]`);
    // Code from text: the names are the statement's own columns (this module's SQL), each quoted by JSON.stringify.
    this.#row = new Function('values', `return { ${fields.join(', ')} };`) as (values: readonly SQLOutputValue[]) => Record<string, SQLOutputValue>;
  }

  /** The statement itself where its rows cannot be made this way (none, or a column named __proto__, which a literal would take as the prototype). */
  static of(statement: StatementSync): Statement {
    const names = statement.columns().map((column) => column.name);
    return names.length === 0 || names.includes('__proto__') ? statement : new FastRows(statement, names);
  }

  run(...params: SQLInputValue[]): StatementResultingChanges {
    return this.#statement.run(...params);
  }

  get(...params: SQLInputValue[]): Record<string, SQLOutputValue> | undefined {
    const values = this.#statement.get(...params) as unknown as SQLOutputValue[] | undefined;
    return values === undefined ? undefined : this.#fields(values);
  }

  all(...params: SQLInputValue[]): Record<string, SQLOutputValue>[] {
    return (this.#statement.all(...params) as unknown as SQLOutputValue[][]).map((values) => this.#fields(values));
  }

  #fields(values: readonly SQLOutputValue[]): Record<string, SQLOutputValue> {
    // SQLite prepares a statement again when the schema changed under it (another connection
    // migrated the file): `SELECT *` may then bring other columns.
    if (values.length !== this.#width) this.#rowsOf(this.#statement.columns().map((column) => column.name));
    return this.#row(values);
  }
}

/**
 * A bound `LIMIT ?` or `OFFSET ?` written as an expression (`LIMIT (? + 0)`). SQLite (3.53, as
 * Node 24 bundles it) plans with the value bound to a bare LIMIT or OFFSET parameter and marks the
 * statement expired whenever that parameter is bound again, so each run compiled the statement
 * anew (about 150,000 instructions for a claim's query, under callgrind). An expression is
 * evaluated when the statement runs, with the same result.
 */
function limitsAtRunTime(sql: string): string {
  return sql.replace(/\b(LIMIT|OFFSET) (\?\d*)(?=\s|\)|,|;|$)/g, '$1 ($2 + 0)');
}

/** Prepared statements, compiled once per connection; LIMIT and OFFSET parameters as `limitsAtRunTime` writes them. */
export class Statements {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, Statement>();
  constructor(db: DatabaseSync) {
    this.#db = db;
  }
  get(sql: string): Statement {
    let statement = this.#cache.get(sql);
    if (!statement) {
      statement = FastRows.of(this.#db.prepare(limitsAtRunTime(sql)));
      this.#cache.set(sql, statement);
    }
    return statement;
  }
}

/** What the reader runs: queries with positional parameters. */
export interface ReadStatement {
  get(...params: SQLInputValue[]): Record<string, SQLOutputValue> | undefined;
  all(...params: SQLInputValue[]): Record<string, SQLOutputValue>[];
}

/**
 * The reader's statements: an error SQLite raises while reading (a damaged page) is told to
 * `onError` before it reaches the caller, so the store learns of damage on any read.
 */
export class ReadStatements {
  readonly #statements: Statements;
  readonly #guarded = new Map<string, ReadStatement>();
  readonly #onError: (error: unknown) => void;
  constructor(db: DatabaseSync, onError: (error: unknown) => void) {
    this.#statements = new Statements(db);
    this.#onError = onError;
  }
  get(sql: string): ReadStatement {
    let guarded = this.#guarded.get(sql);
    if (!guarded) {
      const statement = this.#statements.get(sql);
      const onError = this.#onError;
      guarded = {
        get(...params) {
          try {
            return statement.get(...params);
          } catch (error) {
            onError(error);
            throw error;
          }
        },
        all(...params) {
          try {
            return statement.all(...params);
          } catch (error) {
            onError(error);
            throw error;
          }
        },
      };
      this.#guarded.set(sql, guarded);
    }
    return guarded;
  }
}

/** A stored time (ms) as ISO 8601: isoTime's arithmetic, not Date's formatter (about 8,000 instructions a call). */
export const iso = (ms: number): string => isoTime(ms);
const isoOrNull = (ms: unknown): string | null => (typeof ms === 'number' ? iso(ms) : null);
const str = (value: unknown): string => String(value);
const strOrNull = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const numOrNull = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));

/** `data` is '' when it is the receipt's body, stored once there (NewEvent.data_is_body). */
export const EVENT_COLUMNS =
  "e.id, e.source, e.external_id, e.type, e.severity, e.status, e.title, e.summary, e.dedup_key, e.occurred_at, e.received_at, CASE WHEN e.data = '' THEN (SELECT body FROM receipts WHERE id = e.receipt_id) ELSE e.data END AS data";

export function eventFromRow(row: Row): RelayEvent {
  return eventWith(row, JSON.parse(str(row.data)) as unknown);
}

/** A row of EVENT_COLUMNS as an event, with `data` as given. */
function eventWith(row: Row, data: unknown): RelayEvent {
  return Object.assign(eventFieldsFromRow(row), { data });
}

/** An event's fields but its data, from a row of EVENT_COLUMNS or EVENT_SUMMARY_COLUMNS. */
function eventFieldsFromRow(row: Row): Omit<RelayEvent, 'data'> {
  return {
    id: str(row.id),
    source: str(row.source),
    external_id: strOrNull(row.external_id),
    type: str(row.type),
    severity: str(row.severity) as Severity,
    status: str(row.status) as EventStatus,
    title: str(row.title),
    summary: str(row.summary),
    dedup_key: str(row.dedup_key),
    occurred_at: str(row.occurred_at),
    received_at: iso(Number(row.received_at)),
  };
}

/** What a claimed event carries instead of `data` from the writer thread: the stored text (see reviveClaimed). */
export type ClaimedEvent = RelayEvent & { data_text?: string };

/**
 * A claimed row's event as the writer thread sends it: its data still the stored text, made a
 * value on the event loop (reviveClaimed). Structured clone copies a parsed payload node by
 * node, on both threads, where a string is one copy (issue 20).
 */
function claimedEventFromRow(row: Row): ClaimedEvent {
  const event: ClaimedEvent = eventWith(row, null);
  event.data_text = str(row.data);
  return event;
}

/**
 * Makes the data of claimed events (claimedFromRows) values where they arrive, for the
 * PostgreSQL store (the SQLite store's claims cross from its writer thread packed, and
 * claim-codec.ts makes them so): parsed when first looked into, its text kept for templates
 * (lazyJsonValue). Each event becomes a new object without `data_text` (`event` stays `events[0]`):
 * deleting the property would leave V8 a slow dictionary-mode object, and every delivery reads
 * its event's fields and copies them into its template context (about 5 µs per copy, against
 * 0.4 µs from an ordinary object).
 */
export function reviveClaimed<T extends { readonly deliveries: readonly ClaimedDelivery[] }>(batch: T): T {
  for (const delivery of batch.deliveries) {
    const events = delivery.events as readonly ClaimedEvent[];
    if (!events.some((event) => event.data_text !== undefined)) continue;
    const revived = events.map(reviveEvent);
    const lead = events.indexOf(delivery.event);
    Object.assign(delivery, { events: revived, event: lead >= 0 ? revived[lead] : reviveEvent(delivery.event) });
  }
  return batch;
}

function reviveEvent(event: ClaimedEvent): RelayEvent {
  if (event.data_text === undefined) return event;
  const { data_text: text, ...revived } = event;
  revived.data = lazyJsonValue(text);
  return revived;
}

/** The data of the deliveries commits leased for incidents' next updates (RecordedAttempt.next), as reviveClaimed. */
export function reviveChained<T extends { readonly next?: ClaimedDelivery | null; readonly after?: readonly ClaimedDelivery[] }>(recorded: T[]): T[] {
  for (const each of recorded) if (each.next) reviveClaimed({ deliveries: [each.next, ...(each.after ?? [])] });
  return recorded;
}

/** A row of EVENT_SUMMARY_COLUMNS (src/store/event-search.ts). */
export function eventSummaryFromRow(row: Row): Omit<EventSummary, 'deliveries'> {
  return eventFieldsFromRow(row);
}

export const DELIVERY_COLUMNS =
  'id, event_id, destination, route, status, attempts, response_code, response_body, latency_ms, request_body, last_error, note, next_attempt_at, replay_of, created_at, updated_at, fallback_to, fallback_delivery, fallback_for, fallback_of';

/** Both ends of a fallback link, or null (src/notify/fallback.ts). */
function fallbackLink(destination: unknown, deliveryId: unknown): { destination: string; delivery_id: string } | null {
  return destination === null || destination === undefined || deliveryId === null || deliveryId === undefined ? null : { destination: str(destination), delivery_id: str(deliveryId) };
}

export function deliveryFromRow(row: Row): DeliveryRecord {
  const status = str(row.status) as DeliveryStatus;
  return {
    id: str(row.id),
    event_id: str(row.event_id),
    destination: strOrNull(row.destination),
    route: strOrNull(row.route),
    status,
    attempts: Number(row.attempts),
    response_code: numOrNull(row.response_code),
    response_body: strOrNull(row.response_body),
    latency_ms: numOrNull(row.latency_ms),
    request_body: strOrNull(row.request_body),
    last_error: strOrNull(row.last_error),
    note: strOrNull(row.note),
    next_attempt_at: status === 'pending' ? isoOrNull(row.next_attempt_at) : null,
    replay_of: strOrNull(row.replay_of),
    created_at: iso(Number(row.created_at)),
    updated_at: iso(Number(row.updated_at)),
    sent_via: fallbackLink(row.fallback_to, row.fallback_delivery),
    fallback_for: fallbackLink(row.fallback_for, row.fallback_of),
  };
}

/** A claimed row of a fallback's copy: what it stands in for (ClaimedDelivery.fallback_for). */
export function fallbackOf(row: Row): { fallback_for?: { destination: string; delivery_id: string }; sent_via_fallback?: boolean } {
  const link = fallbackLink(row.fallback_for, row.fallback_of);
  const sent = row.fallback_delivery !== null && row.fallback_delivery !== undefined;
  return { ...(link ? { fallback_for: link } : {}), ...(sent ? { sent_via_fallback: true } : {}) };
}

export function attemptFromRow(row: Row): AttemptRecord {
  return {
    attempt: Number(row.attempt),
    started_at: iso(Number(row.started_at)),
    outcome: str(row.outcome) as AttemptOutcome,
    response_code: numOrNull(row.response_code),
    response_body: strOrNull(row.response_body),
    latency_ms: numOrNull(row.latency_ms),
    error: strOrNull(row.error),
  };
}

export const DESTINATION_STATE_SQL = `
  SELECT s.name, s.enabled, s.consecutive_failures, s.disabled_at, s.disabled_reason, s.last_error, s.last_success_at, s.probe_at,
         (SELECT COUNT(*) FROM deliveries d WHERE d.destination = s.name AND d.status IN ('pending', 'in_flight')) AS pending
  FROM destination_state s`;

export function destinationStateFromRow(row: Row): DestinationState {
  return {
    name: str(row.name),
    enabled: Number(row.enabled) === 1,
    consecutive_failures: Number(row.consecutive_failures),
    disabled_at: isoOrNull(row.disabled_at),
    disabled_reason: strOrNull(row.disabled_reason),
    last_error: strOrNull(row.last_error),
    last_success_at: isoOrNull(row.last_success_at),
    probe_at: isoOrNull(row.probe_at),
    pending: Number(row.pending ?? 0),
  };
}

export function notificationFromRow(row: Row): NotificationEntry {
  return {
    destination: str(row.destination),
    dedup_key: str(row.dedup_key),
    status: str(row.status) === 'resolved' ? 'resolved' : 'firing',
    occurred_at: str(row.occurred_at),
    delivery_id: str(row.delivery_id),
    sent_at: Number(row.sent_at),
  };
}

export function muteFromRow(row: Row): StoredMute {
  return {
    id: str(row.id),
    matchers: JSON.parse(str(row.matchers)) as Record<string, string>,
    reason: str(row.reason),
    created_by: str(row.created_by),
    created_at: iso(Number(row.created_at)),
    expires_at: iso(Number(row.expires_at)),
    deleted_at: isoOrNull(row.deleted_at),
  };
}

export function incidentMessageFromRow(row: Row): IncidentMessage {
  return {
    destination: str(row.destination),
    dedup_key: str(row.dedup_key),
    channel: str(row.channel),
    ts: str(row.ts),
    started_at: iso(Number(row.started_at)),
    status: str(row.status) === 'resolved' ? 'resolved' : 'firing',
    resolved_at: isoOrNull(row.resolved_at),
    acknowledged_by: strOrNull(row.acknowledged_by),
    acknowledged_at: isoOrNull(row.acknowledged_at),
    resolved_by: strOrNull(row.resolved_by ?? null),
    last_event_id: str(row.last_event_id),
    updates: Number(row.updates),
    version: Number(row.version ?? 0),
  };
}

export function requestFromRow(row: Row): RequestRecord {
  const outcome = str(row.outcome) as RequestOutcome;
  return {
    id: str(row.id),
    received_at: iso(Number(row.received_at)),
    source: str(row.source),
    address: strOrNull(row.address),
    status: Number(row.status),
    outcome,
    refused: !ACCEPTED_OUTCOMES.includes(outcome),
    reason: strOrNull(row.reason),
    body_bytes: Number(row.body_bytes),
    excerpt: strOrNull(row.excerpt),
    event_id: strOrNull(row.event_id ?? null),
  };
}

/** The breaker's columns of a destination's state row (src/notify/breaker.ts decides on them). */
export const CIRCUIT_COLUMNS = 'enabled, consecutive_failures, failed_probes, probe_at, last_success_at, last_error, disabled_at, disabled_reason';

export function circuitFromRow(row: Row): CircuitState {
  const ms = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
  return {
    enabled: Number(row.enabled) === 1,
    consecutive_failures: Number(row.consecutive_failures),
    failed_probes: Number(row.failed_probes ?? 0),
    probe_at: ms(row.probe_at),
    last_success_at: ms(row.last_success_at),
    last_error: strOrNull(row.last_error),
    disabled_at: ms(row.disabled_at),
    disabled_reason: strOrNull(row.disabled_reason),
  };
}

/** The row's values in CIRCUIT_COLUMNS order, for the UPDATE that saves a breaker state. */
export function circuitValues(state: CircuitState): Array<number | string | null> {
  return [
    state.enabled ? 1 : 0,
    state.consecutive_failures,
    state.failed_probes,
    state.probe_at,
    state.last_success_at,
    state.last_error,
    state.disabled_at,
    state.disabled_reason,
  ];
}

/** A claimed row as src/notify/claim-members.ts judges it (the lead of a batch or digest). */
export function leadFromRow(row: Row, openMessage: boolean): LeadFacts {
  return {
    id: String(row.delivery_id),
    group_key: row.group_key === null || row.group_key === undefined ? null : String(row.group_key),
    batch_id: row.batch_id === null || row.batch_id === undefined ? null : String(row.batch_id),
    route: row.route === null || row.route === undefined ? null : String(row.route),
    type: String(row.type),
    attempts: row.attempts,
    request_body: row.request_body,
    replay_of: row.replay_of,
    fallback_of: row.fallback_of,
    open_message: openMessage,
  };
}

/**
 * A row a member query found (src/notify/claim-members.ts). Flags come as 0/1 from SQLite and
 * as booleans from PostgreSQL; `busy`: its incident is being leased by another replica.
 */
export function memberFromRow(row: Row, busy = false): DigestRow {
  const key = row.incident_key === null || row.incident_key === undefined ? null : String(row.incident_key);
  return {
    id: String(row.delivery_id),
    incident_key: key,
    ahead: Number(row.ahead ?? 0),
    blocked: row.blocked === true || Number(row.blocked ?? 0) === 1,
    busy,
    open_message: row.open_message === true || Number(row.open_message ?? 0) === 1,
    batch_id: row.batch_id,
    attempts: row.attempts,
    request_body: row.request_body,
    replay_of: row.replay_of,
    fallback_of: row.fallback_of,
    route: row.route,
  };
}

/**
 * A claimed row (and the members it brings) as the dispatcher gets it; `counts` is what the
 * lease counted of a take-over (TAKE_OVER_SQL), read from the lead's row.
 */
export function claimedFromRows(
  row: Row,
  members: readonly Row[],
  claim: { readonly destination: string; readonly probe: boolean; readonly digest: boolean; readonly counts: Row | undefined },
): ClaimedDelivery {
  // One object for `event` and `events[0]`: structured clone keeps it one.
  const event = claimedEventFromRow(row);
  const unordered = isUnordered(row);
  return {
    id: String(row.delivery_id),
    destination: claim.destination,
    event,
    member_ids: members.map((member) => String(member.delivery_id)),
    events: [event, ...members.map(claimedEventFromRow)],
    attempts: Number(row.attempts),
    request_body: row.request_body === null ? null : String(row.request_body),
    unordered,
    route: unordered || row.route === null ? null : String(row.route),
    probe: claim.probe,
    rule_keys: [row, ...members].map((each) => (each.rule_key === null || each.rule_key === undefined ? null : String(each.rule_key))),
    interrupted: Number(claim.counts?.interrupted ?? 0),
    interrupted_attempts: Number(claim.counts?.interrupted_attempts ?? 0),
    ...(claim.digest ? { digest: true } : {}),
    ...fallbackOf(row),
  };
}
