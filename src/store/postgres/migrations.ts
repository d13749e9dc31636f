import type { Pool } from 'pg';
import { systemClock } from '../../util/clock.ts';

/**
 * Versioned schema of the PostgreSQL store. Each entry runs once, in order; the versions applied
 * are rows of `schema_migrations`. Never edit a shipped entry: append. Times are integer
 * milliseconds since the epoch (BIGINT), as in the SQLite store, so both read back alike.
 *
 * Version 1 is the SQLite store's schema as of its migration 7, in one step; later versions
 * follow the SQLite store's migrations one for one (2 is its 8, 3 its 9).
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE receipts (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL
  );

  CREATE TABLE events (
    id TEXT PRIMARY KEY,
    -- Deferred: the receipt is written only once one event of the request turns out not to be a duplicate.
    receipt_id TEXT NOT NULL REFERENCES receipts(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    source TEXT NOT NULL,
    external_id TEXT,
    type TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    data TEXT NOT NULL
  );
  -- A sender id seen again is a duplicate: ingest inserts ON CONFLICT against this index.
  CREATE UNIQUE INDEX events_by_external_id ON events(source, external_id) WHERE external_id IS NOT NULL;

  CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    destination TEXT,
    route TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- pending: when it is due; in_flight: when its lease expires (then it is due again).
    next_attempt_at BIGINT,
    lease_owner TEXT,
    request_body TEXT,
    response_code INTEGER,
    response_body TEXT,
    latency_ms INTEGER,
    last_error TEXT,
    note TEXT,
    replay_of TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    group_key TEXT,
    batch_id TEXT,
    incident_key TEXT,
    priority INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX deliveries_due ON deliveries(destination, priority, next_attempt_at) WHERE status IN ('pending', 'in_flight');
  CREATE INDEX deliveries_by_destination ON deliveries(destination, id);
  CREATE INDEX deliveries_by_event ON deliveries(event_id);
  CREATE INDEX deliveries_by_group ON deliveries(destination, group_key, status, batch_id) WHERE group_key IS NOT NULL;
  CREATE INDEX deliveries_by_batch ON deliveries(batch_id) WHERE batch_id IS NOT NULL;
  CREATE INDEX deliveries_by_incident ON deliveries(destination, incident_key, id)
    WHERE incident_key IS NOT NULL AND status IN ('pending', 'in_flight');

  CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    response_code INTEGER,
    response_body TEXT,
    latency_ms INTEGER,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
  );

  CREATE TABLE destination_state (
    name TEXT PRIMARY KEY,
    enabled INTEGER NOT NULL DEFAULT 1,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    disabled_at BIGINT,
    disabled_reason TEXT,
    last_error TEXT,
    last_success_at BIGINT,
    probe_at BIGINT,
    failed_probes INTEGER NOT NULL DEFAULT 0
  );

  CREATE TABLE delivery_groups (
    destination TEXT NOT NULL,
    group_key TEXT NOT NULL,
    last_sent_at BIGINT NOT NULL,
    PRIMARY KEY (destination, group_key)
  );

  CREATE TABLE mutes (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    deleted_at BIGINT
  );
  CREATE INDEX mutes_active ON mutes(expires_at) WHERE deleted_at IS NULL;

  CREATE TABLE incident_messages (
    destination TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    status TEXT NOT NULL,
    resolved_at BIGINT,
    acknowledged_by TEXT,
    acknowledged_at BIGINT,
    last_event_id TEXT NOT NULL,
    updates INTEGER NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (destination, dedup_key)
  );

  CREATE TABLE notification_log (
    destination TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    sent_at BIGINT NOT NULL,
    PRIMARY KEY (destination, dedup_key)
  );

  CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    source TEXT NOT NULL,
    address TEXT,
    status INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    body_bytes INTEGER NOT NULL,
    excerpt TEXT
  );
  `,
  `
  -- The SQLite store's migration 8. Thresholds count a route's deliveries per key within a
  -- window; inhibited deliveries remember the incident whose resolve releases them.
  ALTER TABLE deliveries ADD COLUMN rule_key TEXT;
  ALTER TABLE deliveries ADD COLUMN held_by TEXT;
  CREATE INDEX deliveries_by_rule ON deliveries(destination, route, rule_key, id) WHERE rule_key IS NOT NULL;
  CREATE INDEX deliveries_held_by ON deliveries(held_by) WHERE held_by IS NOT NULL;

  -- How each incident stands (kept only while inhibit rules are configured): its latest event.
  CREATE TABLE incidents (
    source TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    event_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (source, dedup_key)
  );
  CREATE INDEX incidents_firing ON incidents(updated_at) WHERE status = 'firing';
  `,
  `
  -- The SQLite store's migration 9. Duplicate detection keeps the sender's ids for its window,
  -- not whole events: an event (and its body) can go with its delivery log while its id still
  -- stops a sender's retry. Ingest inserts ON CONFLICT against the primary key.
  CREATE TABLE sender_ids (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source, external_id)
  );
  INSERT INTO sender_ids (source, external_id, event_id, received_at)
    SELECT source, external_id, id, received_at FROM events WHERE external_id IS NOT NULL;
  CREATE INDEX sender_ids_by_age ON sender_ids(received_at);
  DROP INDEX events_by_external_id;
  `,
  `
  -- What must be seen once across replicas within a window (Slack request signatures: a replay
  -- to another replica is refused too), kept until it expires and pruned after.
  CREATE TABLE seen_once (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (scope, key)
  );
  CREATE INDEX seen_once_by_expiry ON seen_once(expires_at);
  `,
  `
  -- The SQLite store's migration 10. The crash-loop guard (src/dispatch/crash-guard.ts decides):
  -- how many times a delivery was found in flight after its worker stopped (its lease expired and
  -- taken over), how many of those times its own attempt was under way, and whether one is under
  -- way now (marked before the attempt of a delivery interrupted before; every new lease clears it).
  ALTER TABLE deliveries ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE deliveries ADD COLUMN interrupted_attempts INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE deliveries ADD COLUMN attempt_started INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- The SQLite store's migration 11. Who resolved an incident outside its own events ("Dana in
  -- PagerDuty": PagerDuty's webhooks bring its acknowledgements and resolutions back to Slack).
  ALTER TABLE incident_messages ADD COLUMN resolved_by TEXT;
  `,
  `
  -- The SQLite store's migration 12. The event explorer: a requests log line links to the event its request brought (the first of
  -- them; for a duplicate, the one stored first), set in the ingest that writes the line.
  ALTER TABLE requests ADD COLUMN event_id TEXT;
  `,
  `
  -- The SQLite store's migration 13. Fallback destinations: a delivery handed to its
  -- destination's fallback names where it went; the fallback's copy names what it stands in for.
  ALTER TABLE deliveries ADD COLUMN fallback_to TEXT;
  ALTER TABLE deliveries ADD COLUMN fallback_delivery TEXT;
  ALTER TABLE deliveries ADD COLUMN fallback_for TEXT;
  ALTER TABLE deliveries ADD COLUMN fallback_of TEXT;
  `,
  `
  -- The SQLite store's migration 14. PagerDuty's reports on incidents hookrelay paged: recorded
  -- with their event at ingest, removed in the transaction that applies them, so one whose
  -- process stopped first is applied at the next start (of any replica).
  CREATE TABLE pending_echoes (
    event_id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    created_at BIGINT NOT NULL
  );
  `,
];

/** Any fixed number: the advisory lock two replicas starting together take to migrate one at a time. */
const MIGRATION_LOCK = 0x686f6f6b; // "hook"

export interface MigrationResult {
  readonly from: number;
  readonly to: number;
}

/**
 * Brings the schema to the newest version, in one transaction under an advisory lock: replicas
 * starting together wait for the first, then find nothing left to do; a migration that fails
 * leaves the schema as it was. `now`: when (recorded with each version applied).
 */
export async function migrate(pool: Pool, now: number = systemClock.now()): Promise<MigrationResult> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)',
      );
      const { rows } = await client.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
      const from = Number(rows[0]?.version ?? 0);
      if (from > MIGRATIONS.length) {
        throw new Error(`database schema version ${from} is newer than this hookrelay (${MIGRATIONS.length}); upgrade hookrelay`);
      }
      for (let version = from; version < MIGRATIONS.length; version++) {
        await client.query(MIGRATIONS[version] as string);
        await client.query('INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)', [version + 1, now]);
      }
      await client.query('COMMIT');
      return { from, to: MIGRATIONS.length };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  } finally {
    client.release();
  }
}

/** The schema version the database is at (0 when never migrated). */
export async function schemaVersion(pool: Pool): Promise<number> {
  const exists = await pool.query<{ found: string | null }>(`SELECT to_regclass('schema_migrations')::text AS found`);
  if (exists.rows[0]?.found == null) return 0;
  const { rows } = await pool.query<{ version: number | null }>('SELECT MAX(version) AS version FROM schema_migrations');
  return Number(rows[0]?.version ?? 0);
}
