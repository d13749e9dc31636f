import type { DatabaseSync } from 'node:sqlite';

/**
 * Versioned schema. Each entry runs once, in order, inside a transaction; the
 * version reached is kept in `PRAGMA user_version`. Never edit a shipped entry: append.
 * Times are integer milliseconds since the epoch.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE receipts (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body TEXT NOT NULL
  );

  CREATE TABLE events (
    id TEXT PRIMARY KEY,
    receipt_id TEXT NOT NULL REFERENCES receipts(id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    external_id TEXT,
    type TEXT NOT NULL,
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    summary TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    data TEXT NOT NULL
  );
  -- A sender id seen again is a duplicate (retries from the sender).
  CREATE UNIQUE INDEX events_by_external_id ON events(source, external_id) WHERE external_id IS NOT NULL;
  -- No index on received_at or receipt_id: ids are time-ordered ULIDs, so pruning by age is a
  -- primary-key range, and every index costs each ingest a page write.

  CREATE TABLE deliveries (
    id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    destination TEXT,
    route TEXT,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- pending: when it is due; in_flight: when its lease expires (then it is due again).
    next_attempt_at INTEGER,
    lease_owner TEXT,
    request_body TEXT,
    response_code INTEGER,
    response_body TEXT,
    latency_ms INTEGER,
    last_error TEXT,
    note TEXT,
    replay_of TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  CREATE INDEX deliveries_due ON deliveries(destination, next_attempt_at) WHERE status IN ('pending', 'in_flight');
  CREATE INDEX deliveries_by_destination ON deliveries(destination, id);
  CREATE INDEX deliveries_by_event ON deliveries(event_id);

  CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
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
    disabled_at INTEGER,
    disabled_reason TEXT,
    last_error TEXT,
    last_success_at INTEGER
  );
  `,
  `
  -- Grouped routes: deliveries of one group wait together and go out as one batch.
  ALTER TABLE deliveries ADD COLUMN group_key TEXT;
  -- Set when a batch is first claimed: its members are claimed, retried and recorded together.
  ALTER TABLE deliveries ADD COLUMN batch_id TEXT;
  CREATE INDEX deliveries_by_group ON deliveries(destination, group_key) WHERE status IN ('pending', 'in_flight');
  CREATE INDEX deliveries_by_batch ON deliveries(batch_id) WHERE batch_id IS NOT NULL;
  CREATE TABLE delivery_groups (
    destination TEXT NOT NULL,
    group_key TEXT NOT NULL,
    last_sent_at INTEGER NOT NULL,
    PRIMARY KEY (destination, group_key)
  );
  `,
  `
  -- Silences set from Slack or the admin API; matchers are {field: glob}.
  CREATE TABLE mutes (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    deleted_at INTEGER
  );
  CREATE INDEX mutes_active ON mutes(expires_at) WHERE deleted_at IS NULL;

  -- One Slack message per incident (slack-bot destinations): where it is and how the incident stands.
  CREATE TABLE incident_messages (
    destination TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    channel TEXT NOT NULL,
    ts TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    resolved_at INTEGER,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    last_event_id TEXT NOT NULL,
    updates INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (destination, dedup_key)
  );
  `,
  `
  -- Only grouped deliveries need the group index; every other insert skips it.
  DROP INDEX deliveries_by_group;
  CREATE INDEX deliveries_by_group ON deliveries(destination, group_key, status, batch_id) WHERE group_key IS NOT NULL;
  `,
  `
  -- Destinations holding incident state (PagerDuty, slack-bot): the newest event of each incident
  -- they received, so a late retry of an older one (a trigger after its resolve) is not sent.
  CREATE TABLE incident_progress (
    destination TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    last_event_id TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (destination, dedup_key)
  );
  `,
  `
  -- Incident order: a delivery waits behind an earlier unfinished one of its incident at its
  -- destination (NULL: unordered — replays, commands, \`ordered: false\`). Priority: severity rank.
  ALTER TABLE deliveries ADD COLUMN incident_key TEXT;
  ALTER TABLE deliveries ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX deliveries_by_incident ON deliveries(destination, incident_key, id)
    WHERE incident_key IS NOT NULL AND status IN ('pending', 'in_flight');
  DROP INDEX deliveries_due;
  CREATE INDEX deliveries_due ON deliveries(destination, priority, next_attempt_at) WHERE status IN ('pending', 'in_flight');

  -- The notification log: what each destination was last told of each incident, and when
  -- (repeat suppression; a sender's late retry of an older event is not sent).
  CREATE TABLE notification_log (
    destination TEXT NOT NULL,
    dedup_key TEXT NOT NULL,
    status TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    delivery_id TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (destination, dedup_key)
  );
  INSERT INTO notification_log (destination, dedup_key, status, occurred_at, delivery_id, sent_at)
    SELECT p.destination, p.dedup_key, e.status, e.occurred_at, '', p.updated_at
    FROM incident_progress p JOIN events e ON e.id = p.last_event_id;
  DROP TABLE incident_progress;

  -- Circuit breaker: while a destination is disabled with automatic recovery, when its next
  -- probe goes and how many probes failed in a row (the backoff grows with them).
  ALTER TABLE destination_state ADD COLUMN probe_at INTEGER;
  ALTER TABLE destination_state ADD COLUMN failed_probes INTEGER NOT NULL DEFAULT 0;

  ALTER TABLE incident_messages ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- The requests log: every request to /hooks/*, refused ones included, with a short excerpt of
  -- refused bodies only. Bounded by count and age (pruneRequests); ids are time-ordered, so both
  -- are primary-key ranges. No further index: each would cost every ingest a page write, and a
  -- filter by source scans at most the few thousand lines kept.
  CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    received_at INTEGER NOT NULL,
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
  -- Thresholds count a route's deliveries per key within a window; inhibited deliveries remember
  -- the incident whose resolve releases them.
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
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (source, dedup_key)
  );
  CREATE INDEX incidents_firing ON incidents(updated_at) WHERE status = 'firing';
  `,
  `
  -- Duplicate detection keeps the sender's ids for its window, not whole events: an event (and
  -- its body) can go with its delivery log while its id still stops a sender's retry.
  CREATE TABLE sender_ids (
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    PRIMARY KEY (source, external_id)
  ) WITHOUT ROWID;
  INSERT INTO sender_ids (source, external_id, event_id, received_at)
    SELECT source, external_id, id, received_at FROM events WHERE external_id IS NOT NULL;
  DROP INDEX events_by_external_id;
  `,
  `
  -- The crash-loop guard (src/dispatch/crash-guard.ts decides): how many times a delivery was
  -- found in flight after its worker stopped (recovered at open, or its lease expired and taken
  -- over), how many of those times its own attempt was under way, and whether one is under way
  -- now (marked before the attempt of a delivery interrupted before; every new lease clears it).
  ALTER TABLE deliveries ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE deliveries ADD COLUMN interrupted_attempts INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE deliveries ADD COLUMN attempt_started INTEGER NOT NULL DEFAULT 0;
  `,
  `
  -- Who resolved an incident outside its own events ("Dana in PagerDuty": PagerDuty's webhooks
  -- bring its acknowledgements and resolutions back to the incident's Slack message).
  ALTER TABLE incident_messages ADD COLUMN resolved_by TEXT;
  `,
  `
  -- The event explorer: a requests log line links to the event its request brought (the first of
  -- them; for a duplicate, the one stored first), set in the ingest that writes the line.
  ALTER TABLE requests ADD COLUMN event_id TEXT;
  `,
  `
  -- Fallback destinations (src/notify/fallback.ts): a delivery handed to its destination's
  -- fallback while the circuit was open names where it went (fallback_to, fallback_delivery);
  -- the fallback's copy names what it stands in for (fallback_for, fallback_of).
  ALTER TABLE deliveries ADD COLUMN fallback_to TEXT;
  ALTER TABLE deliveries ADD COLUMN fallback_delivery TEXT;
  ALTER TABLE deliveries ADD COLUMN fallback_for TEXT;
  ALTER TABLE deliveries ADD COLUMN fallback_of TEXT;
  `,
  `
  -- PagerDuty's reports on incidents hookrelay paged (src/app/pagerduty-echo.ts): recorded with
  -- their event at ingest, removed in the transaction that applies them (the incident's state and
  -- the cards' deliveries), so one whose process stopped first is applied at the next start.
  CREATE TABLE pending_echoes (
    event_id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    created_at INTEGER NOT NULL
  );
  `,
];

export function migrate(db: DatabaseSync): number {
  const row = db.prepare('PRAGMA user_version').get() as { user_version: number };
  let version = row.user_version;
  if (version > MIGRATIONS.length) {
    throw new Error(
      `database schema version ${version} is newer than this hookrelay (${MIGRATIONS.length}); upgrade hookrelay`,
    );
  }
  while (version < MIGRATIONS.length) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[version] as string);
      version += 1;
      db.exec(`PRAGMA user_version = ${version}`);
      db.exec('COMMIT');
    } catch (error) {
      db.exec('ROLLBACK');
      throw error;
    }
  }
  return version;
}
