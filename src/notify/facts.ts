/**
 * What the notification rules judge and read: a claimed delivery, what a destination was last
 * told, thresholds, mutes. Declared here, with the rules; the store (src/store/store.ts)
 * persists and returns them and re-exports these types, so notify never imports the store.
 */
import type { RelayEvent } from '../events/event.ts';
import type { FallbackOf } from './fallback.ts';

/** A delivery handed to the dispatcher under a lease. */
export interface ClaimedDelivery {
  readonly id: string;
  readonly destination: string;
  readonly event: RelayEvent;
  /**
   * Grouped routes send one notification for a batch: the other deliveries of the batch,
   * leased together with this one and recorded with it. Empty when not grouped.
   */
  readonly member_ids: readonly string[];
  /** Every event of the notification, this one first: `[event]` when not grouped. */
  readonly events: readonly RelayEvent[];
  /** Attempts already made (0 for a fresh delivery). */
  readonly attempts: number;
  /** Set when the request was rendered before (a retry) or copied (a replay): send it as is. */
  readonly request_body: string | null;
  /**
   * Asked for by a person — a replay, or a command such as a PagerDuty acknowledge — rather than
   * a state of the incident: sent whatever the incident's order (never superseded).
   */
  readonly unordered: boolean;
  /** The route that made it (noise rules are the route's), or null for replays and commands. */
  readonly route: string | null;
  /** The single delivery sent to test a destination whose circuit is open. */
  readonly probe: boolean;
  /** Threshold keys, one per event of the request (`[id, ...member_ids]`); null where the route has no threshold. */
  readonly rule_keys: readonly (string | null)[];
  /**
   * A storm digest: `events` are a whole group's waiting events folded into one notification
   * (count, the worst few, "+K more"), recorded with one attempt like a grouped batch.
   */
  readonly digest?: boolean;
  /**
   * A copy on a fallback destination, standing in for a delivery of a destination whose circuit
   * was open (src/notify/fallback.ts): judged there already, drawn with this destination's
   * template and marked.
   */
  readonly fallback_for?: FallbackOf;
  /** Already sent through the fallback, and waiting for this destination too (notify/fallback.ts `waitsForOriginal`): never handed over again. */
  readonly sent_via_fallback?: boolean;
  /**
   * Times it was found in flight after its worker stopped (recovered at start, or its lease
   * expired and taken over), and of those, times its own attempt was under way (marked with
   * `leases('started', …)`). The crash-loop guard (src/dispatch/crash-guard.ts) decides on them.
   */
  readonly interrupted?: number;
  readonly interrupted_attempts?: number;
}

/** One line of the notification log: what a destination was last told about an incident, and when. */
export interface NotificationEntry {
  readonly destination: string;
  readonly dedup_key: string;
  readonly status: 'firing' | 'resolved';
  /** The sender's time of the event told (ISO 8601). */
  readonly occurred_at: string;
  readonly delivery_id: string;
  readonly sent_at: number;
}

export interface ThresholdState {
  readonly count: number;
  /** The delivery that went out for this key within the window (the threshold already fired), or null. */
  readonly fired: string | null;
}

/** How many deliveries a route's threshold has counted for one key, up to one delivery. */
export interface ThresholdQuery {
  readonly destination: string;
  readonly route: string;
  readonly rule_key: string;
  /** Counted from this time (ms) … */
  readonly since: number;
  /** … up to and including this delivery (arrivals after it do not count for it). */
  readonly up_to_id: string;
}

/** A silence: events whose fields match every glob are logged as `muted`, not sent, until it expires. */
export interface Mute {
  readonly id: string;
  /** Field path → glob, e.g. `{ "type": "qos.*", "data.region": "Maharashtra" }`. */
  readonly matchers: Readonly<Record<string, string>>;
  readonly reason: string;
  /** Who set it: a Slack user (`<@U…>`) or `admin-api`. */
  readonly created_by: string;
  readonly created_at: string;
  /** When it ends; null for a mute from the config (it ends when the config no longer has it). */
  readonly expires_at: string | null;
  readonly deleted_at: string | null;
  /** From the config's `mutes:` (read-only: its `id` is its name); absent for mutes made at run time. */
  readonly from_config?: true;
  /** A config mute's `during`: it holds only while the time is in one of these `time_intervals`. */
  readonly during?: readonly string[];
}

/** A mute made at run time, as the store keeps it: it always has an end. */
export type StoredMute = Mute & { readonly expires_at: string };

/** The facts the notification stage reads from the store when a delivery is about to go out. */
export interface RuleFacts {
  /** What this destination was last told about each of these incidents. */
  notificationLog(destination: string, dedupKeys: readonly string[]): Promise<NotificationEntry[]>;
  /** A route's threshold for one key within its window: deliveries counted, and the one that fired it (if any). */
  thresholdState(query: ThresholdQuery): Promise<ThresholdState>;
  /** The latest event of each incident still firing (inhibit rules' sources), newest first, at most `limit`. */
  firingIncidents(limit: number): Promise<RelayEvent[]>;
}

/** The one Slack message a slack-bot destination keeps per incident (dedup key). */
export interface IncidentMessage {
  readonly destination: string;
  readonly dedup_key: string;
  readonly channel: string;
  readonly ts: string;
  readonly started_at: string;
  readonly status: 'firing' | 'resolved';
  readonly resolved_at: string | null;
  readonly acknowledged_by: string | null;
  readonly acknowledged_at: string | null;
  /** Who resolved it outside its own events ("Dana in PagerDuty"); null while firing or when an event resolved it. */
  readonly resolved_by: string | null;
  readonly last_event_id: string;
  /** Events after the first (thread replies). */
  readonly updates: number;
  /** Bumped by every change (an event delivered, an acknowledgement). */
  readonly version: number;
}

/** How an incident stands on its message, as decided outside its events (PagerDuty's own webhooks). */
export interface IncidentState {
  readonly acknowledged_by: string | null;
  readonly acknowledged_at: string | null;
  readonly status: 'firing' | 'resolved';
  readonly resolved_at: string | null;
  readonly resolved_by: string | null;
}
