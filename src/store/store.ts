/**
 * The store port. Layout (what lives where):
 * - src/notify/ decides: grouping windows and batches (grouping.ts), storm digests (storm.ts,
 *   digest.ts), who joins a claimed delivery's batch or digest (claim-members.ts), the breaker's
 *   state machine (breaker.ts), fallbacks (fallback.ts), incident order, leases at ingest and
 *   inhibition holds (incident-order.ts), what an attempt's outcome makes of its delivery
 *   (outcome.ts), and the notification stage's rules (rules.ts, pipeline.ts).
 * - src/store/ persists: append an event with its deliveries, claim due work under the right
 *   locks, commit a batch of outcomes with the state they change, read views. Each store loads
 *   the facts a rule needs, calls the rule, and saves what it decided. A claim's members are read
 *   by the queries claim-members.ts names (a formed batch's unfinished members, a group's waiting
 *   deliveries, a digest's due candidates with their incident-order facts); the store translates
 *   each into its SQL and locks what it reads, and claim-members.ts says who joins.
 *   Two conditions stay in each store's SQL because they must hold inside the statement that
 *   takes the row, where a rule in TypeScript would act on a read another writer has already
 *   made stale: per-incident order in the claim queries (sqlite CLAIMABLE, postgres
 *   claimable(), which adds what several replicas need, and which SKIP LOCKED must see in its
 *   WHERE to skip the right rows), and an incident's state kept at its latest by the sender's
 *   time (the `incidents` upsert's WHERE: two replicas ingesting events of one incident at once
 *   each see the other's row only inside ON CONFLICT). retention.ts holds what a prune keeps,
 *   for both.
 *   sqlite/ (one process, a writer thread with group commit) and postgres/ (several replicas,
 *   row and advisory locks) implement the interfaces below; rows.ts reads both's rows.
 * - The types the rules judge and read (ClaimedDelivery, NotificationEntry, Mute, thresholds)
 *   are declared in src/notify/facts.ts and re-exported here: notify never imports the store.
 */
import type { ErrorCode } from '../errors.ts';
import type { EventStatus, RelayEvent, Severity } from '../events/event.ts';
import type { BreakerPolicy } from '../notify/breaker.ts';
import type { ClaimedDelivery, IncidentMessage, IncidentState, NotificationEntry, RuleFacts, StoredMute } from '../notify/facts.ts';
import type { IntervalHeldDelivery } from '../notify/interval-ends.ts';
import type { StormPolicy } from '../notify/storm.ts';

export type { ClaimedDelivery, IncidentMessage, IncidentState, Mute, NotificationEntry, StoredMute, RuleFacts, ThresholdQuery, ThresholdState } from '../notify/facts.ts';

export const DELIVERY_STATUSES = ['pending', 'in_flight', 'succeeded', 'failed', 'muted', 'skipped'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];
/** Statuses the delivery log may prune (pending work is never pruned). */
export const FINISHED_STATUSES: readonly DeliveryStatus[] = ['succeeded', 'failed', 'muted', 'skipped'];

/** The request as it arrived, kept for `GET /api/v1/events/:id`. */
export interface Receipt {
  readonly id: string;
  readonly source: string;
  readonly received_at: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

export interface NewDelivery {
  readonly id: string;
  /** null for a `skipped` event that no route matched. */
  readonly destination: string | null;
  readonly route: string | null;
  readonly status: 'pending' | 'muted' | 'skipped';
  /** Why a delivery is `muted` (the mute id) or `skipped`. */
  readonly note?: string | null;
  /** Grouped routes: the group this delivery joins and its timing (Alertmanager's group_wait / group_interval). */
  readonly group?: { readonly key: string; readonly wait_ms: number; readonly interval_ms: number } | null;
  /**
   * Leased at once to a dispatcher with room for it (stored `in_flight`), so fresh work needs no
   * separate claim; it becomes due again if that lease runs out.
   */
  readonly lease?: { readonly owner: string; readonly until: number } | null;
  /**
   * Incident order: the dedup key when this destination keeps per-incident order (at most one
   * delivery of an incident in flight, later ones wait behind it); null when unordered.
   */
  readonly incident_key?: string | null;
  /** Within a destination, higher goes first (the severity's rank). */
  readonly priority?: number;
  /** Routes with a threshold: what the threshold counts by (group key, else dedup key). */
  readonly rule_key?: string | null;
  /** A `muted` one held by a config mute's intervals: the hold's marker (notify/interval-ends.ts). */
  readonly held_by?: string | null;
}

export interface NewEvent {
  readonly event: RelayEvent;
  readonly deliveries: readonly NewDelivery[];
  /** The event's data is the request body itself (most senders): it is stored once, with the receipt. */
  readonly data_is_body?: boolean;
  /**
   * Keep the incident's state (firing / resolved, latest event) for inhibition, and when it
   * resolves, release the deliveries it inhibited. Only when inhibit rules are configured.
   */
  readonly track_incident?: boolean;
  /**
   * The event is a report on an incident hookrelay sent (PagerDuty's webhook about an incident it
   * paged): what it changes is recorded as pending with the event, in the same transaction, and
   * applied later in one transaction of its own (`change('apply_echo', …)`), so a 202 is never
   * lost to a process that stops in between (src/app/pagerduty-echo.ts).
   */
  readonly echo?: { readonly dedup_key: string } | null;
}

export interface IngestBatch {
  readonly receipt: Receipt;
  readonly events: readonly NewEvent[];
  /**
   * The request's line in the requests log, written in the same transaction; stored as
   * `duplicate` (200) when every event turns out to be one.
   */
  readonly request?: RequestLogEntry;
}

/** How a request to `/hooks/*` ended: accepted, a duplicate, answered without an event (a handshake), or the refusal's error code. */
export type RequestOutcome = 'accepted' | 'duplicate' | 'answered' | ErrorCode;

/** One request that reached `/hooks/*`, refused ones included (the admin Requests page). */
export interface RequestLogEntry {
  /** `req_…`, time-ordered. */
  readonly id: string;
  readonly received_at: number;
  /** The source named in the path, known or not (bounded to 100 characters). */
  readonly source: string;
  /** The sender's address as the socket saw it. */
  readonly address: string | null;
  readonly status: number;
  readonly outcome: RequestOutcome;
  /** What was wrong, for refused ones (the message the sender got). */
  readonly reason: string | null;
  readonly body_bytes: number;
  /** Refused ones only: the start of the body (REQUEST_EXCERPT_BYTES), never the whole of it. */
  readonly excerpt: string | null;
}

export interface RequestRecord extends Omit<RequestLogEntry, 'received_at'> {
  readonly received_at: string;
  readonly refused: boolean;
  /**
   * The request's first event (the one stored first for a duplicate), set by the store at
   * ingest; null for refusals, handshakes and lines older than the event explorer.
   */
  readonly event_id: string | null;
}

export interface RequestQuery {
  readonly source?: string;
  /** `refused` is every refusal; otherwise one outcome or refusal code. */
  readonly outcome?: RequestOutcome | 'refused';
  readonly limit: number;
  /** Pagination: requests older than this id. */
  readonly before?: string;
}

/** Outcomes that are not refusals. */
export const ACCEPTED_OUTCOMES: readonly RequestOutcome[] = ['accepted', 'duplicate', 'answered'];

export type IngestedEvent =
  /** `waiting`: leased deliveries stored as pending instead, behind an earlier one of their incident. */
  | {
      readonly id: string;
      readonly duplicate: false;
      readonly waiting?: readonly string[];
      /** Destinations of deliveries this (resolving) event released from inhibition: due now. */
      readonly released?: readonly string[];
    }
  /** `id` is the event stored the first time this sender id was seen. */
  | { readonly id: string; readonly duplicate: true };

export interface DeliveryRecord {
  readonly id: string;
  readonly event_id: string;
  readonly destination: string | null;
  readonly route: string | null;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  readonly response_code: number | null;
  readonly response_body: string | null;
  readonly latency_ms: number | null;
  readonly request_body: string | null;
  readonly last_error: string | null;
  readonly note: string | null;
  readonly next_attempt_at: string | null;
  readonly replay_of: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  /** Handed to its destination's fallback while the circuit was open: the destination that received it instead, and its delivery there. */
  readonly sent_via: FallbackLink | null;
  /** A fallback's copy: the destination whose circuit was open, and the delivery this stands in for. */
  readonly fallback_for: FallbackLink | null;
}

/** The other side of a delivery handed to a fallback (src/notify/fallback.ts). */
export interface FallbackLink {
  readonly destination: string;
  readonly delivery_id: string;
}

export interface AttemptRecord {
  readonly attempt: number;
  readonly started_at: string;
  readonly outcome: AttemptOutcome;
  readonly response_code: number | null;
  readonly response_body: string | null;
  readonly latency_ms: number | null;
  readonly error: string | null;
}

/** `superseded` (older rows only): now a hold, see `HoldRequest`. */
export type AttemptOutcome = 'succeeded' | 'retry' | 'failed' | 'superseded';


export interface ClaimBatch {
  readonly deliveries: readonly ClaimedDelivery[];
  /** When the next delivery of this destination becomes due (ms), or null when none waits. */
  readonly next_due_at: number | null;
  /**
   * Whether the destination is enabled, as the store has it now. Stores shared by several
   * processes tell it, so a dispatcher learns at its next claim that a peer opened or closed
   * the circuit (or a person enabled the destination); absent when not known.
   */
  readonly enabled?: boolean;
}

export interface AttemptResult {
  readonly delivery_id: string;
  /** The rest of a grouped batch (ClaimedDelivery.member_ids): recorded with the same outcome. */
  readonly member_ids: readonly string[];
  readonly destination: string;
  readonly lease_owner: string;
  readonly started_at: number;
  readonly finished_at: number;
  readonly outcome: AttemptOutcome;
  /** For `retry`: when to try again (ms). */
  readonly next_attempt_at: number | null;
  readonly request_body: string | null;
  readonly response_code: number | null;
  readonly response_body: string | null;
  readonly latency_ms: number | null;
  readonly error: string | null;
  /** How the attempt reflects on the destination's health; `neutral` for rate limits and our own errors. */
  readonly health: 'success' | 'failure' | 'neutral';
  readonly breaker: BreakerPolicy;
  /**
   * This attempt was the probe of an open circuit: only a failed probe backs the next one off
   * further (attempts already running when the circuit opened say nothing new).
   */
  readonly probe?: boolean;
  /** On success: what the destination was told (the notification log), one entry per event of the request. */
  readonly notified: readonly NotificationEntry[];
  /** What the send changed besides the attempt (a slack-bot message), committed with it. */
  readonly effects?: DeliveryEffects | null;
  /** The request was a storm digest: each event's delivery notes the digest it went out in. */
  readonly digest?: boolean;
  /**
   * The lane has room for the incident's next delivery: when this attempt finishes the delivery
   * and its circuit stays closed, the same transaction leases the next waiting delivery of its
   * incident to `lease_owner` and answers it (`RecordedAttempt.next`), so it goes without
   * waiting for a claim (src/notify/incident-order.ts `chainsNext`). Absent: nothing is leased.
   */
  readonly chain?: ChainRequest;
}

/** What a lane asks of the commit of an attempt to lease the incident's next delivery (AttemptResult.chain). */
export interface ChainRequest {
  readonly lease_ms: number;
  /** The lane's storm policy: while a storm rages, claims fold work into digests, so nothing is chained. */
  readonly storm: StormPolicy | null;
  /**
   * The lane knows of a later update of this incident waiting behind this one: it sends that one
   * only once this commit is done, so the store commits it at once instead of holding it to share
   * the commit with others (SQLite's group commit). Latency, not meaning: the same rows either way.
   */
  readonly urgent?: boolean;
  /**
   * At most this many of the incident's waiting deliveries may be leased, in order (`next` and
   * `after`): the lane sends each as soon as the one ahead is answered. A store may lease fewer
   * (PostgreSQL leases one). Absent: one.
   */
  readonly run?: number;
}

export type { BreakerPolicy } from '../notify/breaker.ts';


/** A slack-bot message posted for an incident, or updated for a later event of it. */
export type IncidentMessageEffect =
  | {
      readonly kind: 'posted';
      readonly dedup_key: string;
      readonly channel: string;
      readonly ts: string;
      readonly started_at: string;
      readonly status: 'firing' | 'resolved';
      readonly resolved_at: string | null;
      readonly last_event_id: string;
    }
  | {
      readonly kind: 'updated';
      readonly dedup_key: string;
      readonly status: 'firing' | 'resolved';
      readonly resolved_at: string | null;
      readonly last_event_id: string;
      /** The message's version the request was drawn from: a newer one (an acknowledgement) means redraw. */
      readonly drawn_from_version: number;
    };

export interface DeliveryEffects {
  readonly incident_message?: IncidentMessageEffect;
}

/** A delivery the notification stage holds back: logged with its reason, never sent (replayable). */
export interface HoldRequest {
  readonly ids: readonly string[];
  readonly lease_owner: string;
  readonly status: 'muted' | 'skipped';
  /** The rule and its reason, as the delivery log shows it: `muted by mut_…`, `repeat within 4h of dlv_…`. */
  readonly note: string;
  readonly now: number;
  /** The held delivery was the probe of this destination's open circuit: the next may go at once. */
  readonly probe_of?: string | null;
  /** Inhibited: the incident (`[source, dedup_key]` as JSON) whose resolve releases them. */
  readonly held_by?: string | null;
}



export interface DestinationState {
  readonly name: string;
  readonly enabled: boolean;
  readonly consecutive_failures: number;
  readonly disabled_at: string | null;
  readonly disabled_reason: string | null;
  readonly last_error: string | null;
  readonly last_success_at: string | null;
  /** Circuit open with automatic recovery: when the next probe goes (null when closed or manual). */
  readonly probe_at: string | null;
  readonly pending: number;
}

/** A destination's queue, for the metrics gauges. */
export interface QueueStat {
  readonly destination: string;
  readonly enabled: boolean;
  /** Deliveries pending or in flight. */
  readonly depth: number;
  /** When the oldest of them was created (ms), or null when none waits. */
  readonly oldest_pending_at: number | null;
}

/** A destination's health after an attempt (cheap: no counting of its pending work). */
export interface DestinationHealth {
  readonly name: string;
  readonly enabled: boolean;
  readonly consecutive_failures: number;
  /** Counted only when this attempt disabled the destination (for the log); null otherwise. */
  readonly pending: number | null;
}

export interface RecordedAttempt {
  /** False when the lease was lost meanwhile (another worker owns the delivery now); nothing was written. */
  readonly recorded: boolean;
  readonly destination: DestinationHealth;
  /** True when this attempt crossed `disable_after` (the circuit opened). */
  readonly disabled_now: boolean;
  /** True when this attempt (a probe, or any success while open) closed the circuit. */
  readonly enabled_now: boolean;
  /** The incident message changed (an acknowledgement) after the request was drawn: redraw it. */
  readonly incident_stale: boolean;
  /** Asked for with `chain`: the incident's next delivery, leased to the same owner by this commit; else null or absent. */
  readonly next?: ClaimedDelivery | null;
  /**
   * With `next`, when the chain asked for a run (ChainRequest.run): the incident's deliveries
   * after it, in order, leased with it (src/notify/incident-order.ts `chainedRun`); absent when none.
   */
  readonly after?: readonly ClaimedDelivery[];
}

export interface DeliveryQuery {
  readonly destination?: string;
  readonly status?: DeliveryStatus;
  readonly event_id?: string;
  readonly limit: number;
  /** Pagination: deliveries older than this id. */
  readonly before?: string;
}

/** The event explorer's search (`GET /api/v1/events`, `/admin/events`, `hookrelay events`). */
export interface EventQuery {
  /** Text the title contains, taken literally, ignoring the case of ASCII letters. */
  readonly q?: string;
  readonly source?: string;
  /** A glob as routes write it (`qos.*`; `\` makes `*` and `?` literal), case-sensitive, whole value. */
  readonly type?: string;
  readonly severity?: Severity;
  readonly status?: EventStatus;
  /** Received at or after this time (ms). */
  readonly since?: number;
  /** Received before this time (ms). */
  readonly until?: number;
  /** At most this many, newest first (bounded by MAX_EVENT_PAGE). */
  readonly limit: number;
  /** Pagination: events older than this id. */
  readonly before?: string;
}

/** The most events one search returns. */
export const MAX_EVENT_PAGE = 200;

/** An event as a search lists it: no payload, and how its deliveries stand (count by status, those with any). */
export type EventSummary = Omit<RelayEvent, 'data'> & { readonly deliveries: Partial<Record<DeliveryStatus, number>> };

export interface StoredEvent {
  readonly event: RelayEvent;
  readonly raw: { readonly headers: Record<string, string>; readonly body: string };
  readonly deliveries: readonly DeliveryRecord[];
}


export { COMMAND_ROUTE_PREFIX } from '../notify/incident-order.ts';


/** A request prepared elsewhere (e.g. a PagerDuty acknowledge from a Slack button), sent as a delivery of an event. */
export interface PreparedDelivery {
  readonly id: string;
  readonly destination: string;
  readonly route: string;
  readonly request_body: string;
}

/** An accepted report on an incident hookrelay sent whose change is not applied yet (`NewEvent.echo`). */
export interface PendingEcho {
  readonly event_id: string;
  readonly dedup_key: string;
  /** When its event was received (ms). */
  readonly created_at: number;
}

/** An incident's state written only if its message is still at `version`. */
export interface EchoStateChange {
  readonly destination: string;
  readonly dedup_key: string;
  readonly version: number;
  readonly state: IncidentState;
}

/** What a pending echo changes (decided in src/notify/pagerduty-echo.ts), applied in one transaction. */
export interface EchoApplication {
  readonly event_id: string;
  readonly states: readonly EchoStateChange[];
  /** The cards' redraws and thread lines (route PAGERDUTY_ECHO_ROUTE), new pending deliveries of the event. */
  readonly deliveries: readonly PreparedDelivery[];
  readonly now: number;
}

/**
 * `applied`: the states written, the deliveries added and the echo no longer pending, together;
 * `stale`: a message is no longer at the version decided on, nothing written (decide again);
 * `done`: the echo is not pending (applied already, by this process before it stopped or by
 * another replica), nothing written — so a retried apply never adds its thread lines twice.
 */
export type EchoApplied = 'applied' | 'stale' | 'done';

export interface ClaimOptions {
  readonly limit: number;
  readonly now: number;
  readonly lease_ms: number;
  readonly owner: string;
  /** Storm digests for this destination, or absent/null when it never collapses (PagerDuty). */
  readonly storm?: StormPolicy | null;
  /**
   * The circuit is open and the destination has a fallback: lease the work it would send, to
   * hand it over (src/notify/fallback.ts) — due work, retries at once, never a replay or a
   * command. Nothing when the circuit is closed.
   */
  readonly for_fallback?: boolean;
}

/** Deliveries of an open circuit handed to its fallback (src/notify/fallback.ts), in one transaction. */
export interface FallbackHandOff {
  /** The claimed delivery and the rest of its batch, leased by `lease_owner`. */
  readonly ids: readonly string[];
  /** The copies' ids at the fallback, one per id of `ids`, in order. */
  readonly fallback_ids: readonly string[];
  readonly lease_owner: string;
  readonly destination: string;
  readonly fallback: string;
  /** The fallback keeps per-incident order. */
  readonly fallback_ordered: boolean;
  /** Ids of `ids` whose originals stay pending for their own destination once copied (notify/fallback.ts `waitsForOriginal`). */
  readonly keep?: readonly string[];
  readonly now: number;
}

/**
 * What a claim asks for: due work of an enabled destination, or (`for_fallback: true`) of an open
 * one with a fallback, to hand over, or (`probe: true`) the one probe of an open circuit when its
 * turn has come.
 */
export type ClaimRequest = (ClaimOptions & { readonly probe?: false }) | (Omit<ClaimOptions, 'limit' | 'storm' | 'for_fallback'> & { readonly probe: true });

export type { StormPolicy } from '../notify/storm.ts';

export interface PruneOptions {
  /** Finished deliveries kept per destination (newest first). */
  readonly keep_per_destination: number;
  /** Events (and their sender ids, for duplicate detection) are kept at least this long. */
  readonly keep_events_ms: number;
  readonly now: number;
}

/**
 * The methods that take several kinds of request: for each kind, its arguments (after the kind)
 * and its answer. A store implements each kind once; callers name the kind they need.
 */
export type KindMap<M> = Record<keyof M, { readonly args: readonly unknown[]; readonly answer: unknown }>;

/** A store's handlers of one such method, one per kind. */
export type KindHandlers<M extends KindMap<M>> = { readonly [K in keyof M]: (...args: M[K]['args']) => Promise<M[K]['answer']> };

/** Calls the handler of `kind` (the one place the kinds' correlation needs telling the compiler). */
export function callKind<M extends KindMap<M>, K extends keyof M>(handlers: KindHandlers<M>, kind: K, args: M[K]['args']): Promise<M[K]['answer']> {
  return (handlers[kind] as (...all: M[K]['args']) => Promise<M[K]['answer']>)(...args);
}

/** What `IngestStore.append` adds besides a request's events. */
export interface AppendKinds {
  /** New pending deliveries of an event whose requests are already made (a PagerDuty acknowledge from a Slack button). */
  prepared: { args: [eventId: string, deliveries: readonly PreparedDelivery[], now: number]; answer: DeliveryRecord[] };
  /** A new pending delivery sending the same request again; null when the delivery does not exist. */
  replay: { args: [id: string, newId: string, now: number]; answer: DeliveryRecord | null };
  /** Lines of the requests log (refused requests, written in batches). */
  requests: { args: [entries: readonly RequestLogEntry[]]; answer: void };
}

/**
 * New work, appended: the events of a request with their deliveries (and its line in the
 * requests log) in one transaction, and deliveries a person asks for (replays, commands).
 */
export interface IngestStore {
  /** The events of one request and all their deliveries, in one transaction. Resolves after a durable commit. */
  ingest(batch: IngestBatch): Promise<IngestedEvent[]>;
  append<K extends keyof AppendKinds>(kind: K, ...args: AppendKinds[K]['args']): Promise<AppendKinds[K]['answer']>;
}

/** What `QueueStore.leases` does to leased deliveries of `owner` (others' are never touched). */
export interface LeaseKinds {
  /** Keeps leases alive for deliveries still held (waiting in a paused queue, or a slow attempt). */
  extend: { args: [ids: readonly string[], owner: string, until: number]; answer: void };
  /** Gives leased deliveries back (graceful shutdown), due at once. */
  release: { args: [ids: readonly string[], owner: string]; answer: void };
  /**
   * Durably notes that the attempt of these leased deliveries is under way: if the process stops
   * before it is recorded, the next lease counts it in `interrupted_attempts`. Only deliveries
   * interrupted before are marked (one write each), so ordinary work costs nothing.
   */
  started: { args: [ids: readonly string[], owner: string]; answer: void };
}

/**
 * What `QueueStore.holds` does: hold deliveries back (here, or by handing them to a fallback), or
 * give back what a time interval held.
 */
export interface HoldKinds {
  /** The notification stage held these deliveries back: logged, not sent (given back if their inhibitor no longer fires). */
  hold: { args: [hold: HoldRequest]; answer: void };
  /**
   * The interval ended: `ids` (held by `marker`) are due now, to be judged afresh, `note` added
   * to theirs; the others it held are no longer its (they stay muted). Answers the destinations given work.
   */
  release: { args: [release: { readonly marker: string; readonly ids: readonly string[]; readonly note: string; readonly now: number }]; answer: string[] };
  /**
   * An open circuit's leased work goes to its fallback (src/notify/fallback.ts), in one
   * transaction: the originals are finished (`skipped`, naming where they went; those in `keep`
   * stay pending for their own destination too) and their copies added at the fallback, due now.
   * Originals whose lease was lost are left alone. Answers how many were handed over.
   */
  fallback: { args: [handOff: FallbackHandOff]; answer: number };
}

/** The delivery queue: due work claimed under leases, and outcomes committed with the state they change. */
export interface QueueStore {
  /**
   * Due work: leases due deliveries of an enabled destination (pending and due, or in flight with
   * an expired lease), highest priority first, never one waiting behind an earlier delivery of
   * its incident. A probe (`probe: true`), when the circuit is open and its probe due: leases
   * the oldest pending delivery as the probe (one claimer wins). For the fallback
   * (`for_fallback: true`), when the circuit is open: leases what it would hand over (due work,
   * retries at once, never a replay or a command), in incident order; nothing once it is closed.
   */
  claim(destination: string, request: ClaimRequest): Promise<ClaimBatch>;
  /**
   * Commits a batch of attempts in one transaction: each delivery's attempt, the notification
   * log, groups and incident messages they changed, and each destination's health (the breaker
   * folds the batch in order). One answer per attempt, in order. An attempt that asks to `chain`
   * and finishes its delivery also leases its incident's next waiting delivery, when that one
   * may go now as a claim would lease it (see `chainsNext`), and answers it as `next`.
   */
  commitAttempts(results: readonly AttemptResult[]): Promise<RecordedAttempt[]>;
  holds<K extends keyof HoldKinds>(kind: K, ...args: HoldKinds[K]['args']): Promise<HoldKinds[K]['answer']>;
  leases<K extends keyof LeaseKinds>(kind: K, ...args: LeaseKinds[K]['args']): Promise<LeaseKinds[K]['answer']>;
}

/** What people change: acknowledgements, incident state decided elsewhere, mutes, a circuit closed by hand. */
export interface ChangeKinds {
  /** Records who acknowledged an incident (a targeted update); null when no message exists for it. */
  acknowledge: { args: [destination: string, dedupKey: string, by: string, now: number]; answer: IncidentMessage | null };
  /**
   * Applies a pending echo (`NewEvent.echo`) in one transaction: every state change only if its
   * message is still at its version, the deliveries added, the echo no longer pending — or
   * nothing at all. With no states and no deliveries it only ends the echo (nothing to change).
   */
  apply_echo: { args: [application: EchoApplication]; answer: EchoApplied };
  create_mute: { args: [mute: StoredMute]; answer: StoredMute };
  /** Ends a mute now; null when there is no such mute. */
  delete_mute: { args: [id: string, now: number]; answer: StoredMute | null };
  /** A person closes the circuit: enabled, failures forgotten, its waiting work due now. */
  enable_destination: { args: [name: string, now: number]; answer: DestinationState | null };
}

/** The state the notification rules read (what was told, thresholds, firing incidents) and the state people change. */
export interface IncidentStateStore extends RuleFacts {
  change<K extends keyof ChangeKinds>(kind: K, ...args: ChangeKinds[K]['args']): Promise<ChangeKinds[K]['answer']>;
}

/** What the admin API, the CLI, the metrics and the Slack app read. */
export interface ViewKinds {
  destinations: { args: []; answer: DestinationState[] };
  /** Each destination's queue depth and oldest waiting delivery (metrics, read every few seconds at most). */
  queue: { args: []; answer: QueueStat[] };
  deliveries: { args: [query: DeliveryQuery]; answer: DeliveryRecord[] };
  delivery: { args: [id: string]; answer: (DeliveryRecord & { readonly attempt_log: readonly AttemptRecord[] }) | null };
  event: { args: [id: string]; answer: StoredEvent | null };
  /** Events matching every filter given, newest first (the event explorer). */
  events: { args: [query: EventQuery]; answer: EventSummary[] };
  /** The requests log, newest first. */
  requests: { args: [query: RequestQuery]; answer: RequestRecord[] };
  /** Mutes not deleted and not expired at `now`, soonest to expire first; `all` includes ended ones. */
  mutes: { args: [options: { readonly now: number; readonly all?: boolean }]; answer: StoredMute[] };
  /** The one Slack message a slack-bot destination keeps for an incident, or null. */
  incident_message: { args: [destination: string, dedupKey: string]; answer: IncidentMessage | null };
  /** The muted deliveries a time interval holds (`held_by` is its marker), with their events' incidents. */
  held: { args: [marker: string]; answer: IntervalHeldDelivery[] };
  /** Echoes accepted but not applied yet (their process stopped first), oldest first, at most `limit`. */
  echoes: { args: [limit: number]; answer: PendingEcho[] };
}

/** Read-only views: one method, a kind per view. */
export interface StoreViews {
  view<K extends keyof ViewKinds>(kind: K, ...args: ViewKinds[K]['args']): Promise<ViewKinds[K]['answer']>;
}

/** What `StoreLifecycle.prune` bounds. */
export interface PruneKinds {
  /** The delivery log; never removes pending or in-flight work. Answers deliveries removed. */
  deliveries: { args: [options: PruneOptions]; answer: number };
  /** The requests log: at most `keep` lines, none received before `before` (ms). Answers lines removed. */
  requests: { args: [options: { readonly keep: number; readonly before: number }]; answer: number };
}

/** Opening, bounding and closing a store. */
export interface StoreLifecycle {
  readonly kind: string;
  /** Single-owner stores: deliveries found in flight at open (their process died), due again. */
  readonly recoveredLeases?: number;
  /** Makes sure every configured destination has a state row. */
  syncDestinations(names: readonly string[]): Promise<void>;
  prune<K extends keyof PruneKinds>(kind: K, ...args: PruneKinds[K]['args']): Promise<PruneKinds[K]['answer']>;
  /** Throws when the store cannot be reached or cannot commit, e.g. its disk is full (`/readyz`; a full store probes with a write). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What only a store shared by several processes (or one committing in groups) offers. */
export interface SharedStore {
  /**
   * `listener` hears, with their commit, of work other processes stored for these destinations
   * (`'*'`: possibly any), so dispatchers wake at once.
   */
  onWork?(listener: (destinations: readonly string[]) => void): void;
  /**
   * Remembers `key` of `scope` until `expires_at` (ms) and answers true the first time, false
   * while it is remembered (one `INSERT … ON CONFLICT`, so two replicas asked at once never both
   * get true). Slack's replay protection uses it, so a signed request replayed to another replica
   * is refused too. Pruned with the delivery log.
   */
  admitOnce?(scope: string, key: string, expires_at: number, now: number): Promise<boolean>;
  /** Stores that commit several writes at once tell how many each commit carried (metrics). */
  observeCommits?(listener: (operations: number) => void): void;
}

/**
 * The durable store. Two implementations: SQLite (embedded, one process) and PostgreSQL
 * (several replicas); one contract suite (test/store/contract.ts, a section per interface, then
 * the rule stories) runs against both. Fifteen methods in five interfaces — ingest and append;
 * claim, commitAttempts, holds and leases; the three rule facts and change; view; and
 * syncDestinations, prune, ping, close — plus what only a shared store offers. A method that
 * takes a kind (`view('delivery', id)`) is one method: one switch in each store, one section of
 * the contract. Callers take the narrowest of these interfaces they need. Fallback destinations
 * add no method: their claim is `claim` with `for_fallback`, and the hand-over is
 * `holds('fallback', …)`, since like a hold it is the notification stage's verdict on leased work
 * (not sent here: finished with a note, under the same lease check) and writes no attempt;
 * commitAttempts takes outcomes of sends, and append adds work without finishing any. PagerDuty
 * echoes add none either: pending from `ingest` (`NewEvent.echo`), applied by
 * `change('apply_echo', …)` (state, deliveries and the end of pending in one transaction, since
 * it changes an incident's state as the other changes do), listed by `view('echoes', …)`.
 */
export type Store = IngestStore & QueueStore & IncidentStateStore & StoreViews & StoreLifecycle & SharedStore;
