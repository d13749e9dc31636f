import type { Pool } from 'pg';
import { systemClock } from '../../util/clock.ts';

/**
 * Versioned schema of the PostgreSQL store. Each entry runs once, in order; the versions applied
 * are rows of `schema_migrations`. Never edit a shipped entry: append. Times are integer
 * milliseconds since the epoch (BIGINT), as in the SQLite store, so both read back alike.
 *
 * Version 1 is the SQLite store's schema as of its migration 7, in one step; later versions
 * follow the SQLite store's migrations one for one (2 is its 8, 3 its 9), except those marked
 * PostgreSQL only.
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
  `
  -- PostgreSQL only (no SQLite migration of its own). Ingest in one round trip (src/store/postgres/ingest.ts):
  -- a webhook's writes, or several webhooks' at once, in one call that is its own transaction.
  -- It keeps data and decides nothing: each delivery asking for a lease brings a table of what
  -- src/notify/incident-order.ts decided for every combination of the two facts the rule reads
  -- (behind: an unfinished delivery of its incident is queued for its destination; enabled: its
  -- circuit is closed); the function reads the facts, as ingest's statements did before, and
  -- stores the row the table names. Each statement here takes a fresh snapshot (READ COMMITTED,
  -- a volatile function), so the facts are read after the advisory locks are held and see every
  -- ingest of the same incident that committed before, as the statements sent one by one did.
  CREATE FUNCTION hookrelay_ingest(batches jsonb, bodies text[], locks text[], leasing text[], channel text) RETURNS jsonb
  LANGUAGE plpgsql AS $ingest$
  DECLARE
    open_names text[];
    batch jsonb;
    nth integer := 0;
    event jsonb;
    received bigint;
    answers jsonb := '[]';
    results jsonb;
    stored integer;
    duplicates integer;
    first_event text;
    again boolean;
    waiting text[];
    due_names text[];
    woken text[] := '{}';
    payload text;
  BEGIN
    -- Always in one order, so two ingests never wait for each other in a cycle.
    PERFORM pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(locks) AS k ORDER BY k;
    -- A destination another replica disabled takes no lease here: its work waits in the store.
    SELECT coalesce(array_agg(s.name), '{}') INTO open_names FROM destination_state s WHERE s.name = ANY(leasing) AND s.enabled = 1;
    FOR batch IN SELECT value FROM jsonb_array_elements(batches) LOOP
      nth := nth + 1;
      received := (batch->>'received_at')::bigint;
      results := '[]';
      stored := 0;
      duplicates := 0;
      FOR event IN SELECT value FROM jsonb_array_elements(batch->'events') LOOP
        again := false;
        IF event->>'external_id' IS NOT NULL THEN
          -- One insert against the sender ids' primary key: a concurrent insert of the same id
          -- waits for the other transaction, then does nothing (never check-then-insert).
          INSERT INTO sender_ids (source, external_id, event_id, received_at)
            VALUES (event->>'source', event->>'external_id', event->>'id', received)
            ON CONFLICT (source, external_id) DO NOTHING;
          IF NOT FOUND THEN
            SELECT i.event_id INTO first_event FROM sender_ids i WHERE i.source = event->>'source' AND i.external_id = event->>'external_id';
            -- Pruned in between: nothing to point at, so it is stored as new on a retry.
            IF NOT FOUND THEN
              RAISE EXCEPTION 'duplicate sender id vanished; retrying' USING ERRCODE = '40001';
            END IF;
            again := first_event = event->>'id';
            IF NOT again THEN
              results := results || jsonb_build_array(jsonb_build_object('id', first_event, 'duplicate', true));
              duplicates := duplicates + 1;
              CONTINUE;
            END IF;
          END IF;
        END IF;
        IF NOT again THEN
          INSERT INTO events (id, receipt_id, source, external_id, type, severity, status, title, summary, dedup_key, occurred_at, received_at, data)
            VALUES (event->>'id', batch->>'receipt_id', event->>'source', event->>'external_id', event->>'type', event->>'severity', event->>'status',
                    event->>'title', event->>'summary', event->>'dedup_key', event->>'occurred_at', received, event->>'data')
            ON CONFLICT (id) DO NOTHING;
          again := NOT FOUND;
        END IF;
        IF again THEN
          -- This very call, tried again after its connection was lost (src/store/postgres/connection.ts
          -- statement), and the first try had committed: the event is stored once, and what
          -- waits is what asked for a lease and does not hold it.
          SELECT coalesce(array_agg(x.id ORDER BY x.n), '{}') INTO waiting
            FROM jsonb_to_recordset(event->'deliveries') AS x(id text, asked boolean, owner text, n integer)
            WHERE x.asked AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = x.id AND d.lease_owner = x.owner);
        ELSE
          IF stored = 0 THEN
            INSERT INTO receipts (id, source, received_at, headers, body)
              VALUES (batch->>'receipt_id', batch->>'receipt_source', received, batch->>'headers', bodies[nth]);
          END IF;
          stored := stored + 1;
          waiting := '{}';
          IF jsonb_array_length(event->'deliveries') > 0 THEN
            WITH fresh AS (
              SELECT x.*, x.asked AND (x.leased_when >> f.at) & 1 = 1 AS leased, x.asked AND (x.waits_when >> f.at) & 1 = 1 AS waits
              FROM jsonb_to_recordset(event->'deliveries') AS x(
                id text, destination text, route text, status text, note text, incident_key text, priority integer, rule_key text, held_by text,
                asked boolean, owner text, due_leased bigint, due bigint, leased_when integer, waits_when integer, n integer)
              -- The facts' index in the table: 2 × behind + enabled.
              CROSS JOIN LATERAL (SELECT CASE WHEN NOT x.asked THEN 0 ELSE
                  (CASE WHEN x.incident_key IS NOT NULL AND EXISTS (SELECT 1 FROM deliveries p
                     WHERE p.destination = x.destination AND p.incident_key = x.incident_key AND p.status IN ('pending', 'in_flight')) THEN 2 ELSE 0 END)
                  + (CASE WHEN x.destination = ANY(open_names) THEN 1 ELSE 0 END) END AS at) AS f
            ), inserted AS (
              INSERT INTO deliveries (id, event_id, destination, route, status, note, group_key, lease_owner, next_attempt_at, created_at, updated_at, incident_key, priority, rule_key, held_by)
              SELECT fresh.id, event->>'id', fresh.destination, fresh.route, CASE WHEN fresh.leased THEN 'in_flight' ELSE fresh.status END, fresh.note, NULL,
                     CASE WHEN fresh.leased THEN fresh.owner END, CASE WHEN fresh.leased THEN fresh.due_leased ELSE fresh.due END,
                     received, received, fresh.incident_key, fresh.priority, fresh.rule_key, fresh.held_by
              FROM fresh
            )
            SELECT coalesce(array_agg(fresh.id ORDER BY fresh.n) FILTER (WHERE fresh.waits), '{}'),
                   coalesce(array_agg(fresh.destination) FILTER (WHERE fresh.status = 'pending' AND NOT fresh.leased AND fresh.destination IS NOT NULL), '{}')
              INTO waiting, due_names FROM fresh;
            woken := woken || due_names;
          END IF;
          -- Applied after the commit (change 'apply_echo'); pending until then, so a stop in between loses nothing.
          IF event->>'echo' IS NOT NULL THEN
            INSERT INTO pending_echoes (event_id, dedup_key, created_at) VALUES (event->>'id', event->>'echo', received);
          END IF;
        END IF;
        results := results || jsonb_build_array(CASE WHEN cardinality(waiting) > 0
          THEN jsonb_build_object('id', event->>'id', 'duplicate', false, 'waiting', to_jsonb(waiting))
          ELSE jsonb_build_object('id', event->>'id', 'duplicate', false) END);
      END LOOP;
      IF batch ? 'request' THEN
        -- Stored with the batch's duplicate answer (outcome, status) when every event turned out to be one.
        INSERT INTO requests (id, received_at, source, address, status, outcome, reason, body_bytes, excerpt, event_id)
          SELECT q.id, q.received_at, q.source, q.address,
                 CASE WHEN duplicates > 0 AND stored = 0 THEN (batch->'duplicate'->>'status')::integer ELSE q.status END,
                 CASE WHEN duplicates > 0 AND stored = 0 THEN batch->'duplicate'->>'outcome' ELSE q.outcome END,
                 q.reason, q.body_bytes, q.excerpt, results->0->>'id'
          FROM jsonb_to_record(batch->'request') AS q(id text, received_at bigint, source text, address text, status integer, outcome text, reason text, body_bytes integer, excerpt text)
          ON CONFLICT (id) DO NOTHING;
      END IF;
      answers := answers || jsonb_build_array(results);
    END LOOP;
    -- Announced with the commit: peers' dispatchers wake at once. NOTIFY payloads are limited to
    -- 8000 bytes: a longer list wakes every lane.
    IF cardinality(woken) > 0 THEN
      SELECT to_json(array_agg(DISTINCT w))::text INTO payload FROM unnest(woken) AS w;
      PERFORM pg_notify(channel, CASE WHEN length(payload) < 7900 THEN payload ELSE '"*"' END);
    END IF;
    RETURN answers;
  END
  $ingest$;
  `,
  `
  -- PostgreSQL only. Ingest of several webhooks in one call, set by set (src/store/postgres/ingest.ts):
  -- migration 10's function stored each event with statements of its own (six or so, each started
  -- and finished by the executor: most of the server's time per webhook); this one stores each
  -- kind (sender ids, events, receipts, deliveries, echoes, request log lines) for the whole call
  -- in one statement. It keeps data and decides nothing, as migration 10's did: the lease table
  -- each delivery brings is read the same way, and "behind" also counts an earlier event of the
  -- same call (one statement does not see its own rows). hookrelay_ingest stays for replicas of
  -- the version before during a rolling upgrade.
  CREATE FUNCTION hookrelay_ingest_set(events jsonb, deliveries jsonb, receipts jsonb, bodies text[], requests jsonb,
                                       locks text[], leasing text[], channel text, duplicate_answer jsonb)
  RETURNS TABLE (answer_nth integer, answer_id text, answer_duplicate boolean, answer_waiting text[])
  LANGUAGE plpgsql AS $ingest$
  DECLARE
    open_names text[] := '{}';
    stored integer[];
    waits_at integer[];
    waits_id text[];
    woken text[];
    others integer[] := '{}';
    firsts text[] := '{}';
    vanished boolean;
    payload text;
  BEGIN
    -- Always in one order, so two ingests never wait for each other in a cycle.
    IF cardinality(locks) > 0 THEN
      PERFORM pg_advisory_xact_lock(hashtextextended(k, 0)) FROM unnest(locks) AS k ORDER BY k;
    END IF;
    -- A destination another replica disabled takes no lease here: its work waits in the store.
    IF cardinality(leasing) > 0 THEN
      SELECT coalesce(array_agg(s.name), '{}') INTO open_names FROM destination_state s WHERE s.name = ANY(leasing) AND s.enabled = 1;
    END IF;
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(events) AS e(nth integer, b integer, id text, source text, external_id text, type text, severity text,
        status text, title text, summary text, dedup_key text, occurred_at text, received_at bigint, data text, echo text)
    ), claimed AS (
      -- Of two events with one sender id in this call, the first is stored. One insert against the
      -- sender ids' primary key: a concurrent insert of the same id waits for the other transaction,
      -- then does nothing (never check-then-insert); in key order, so two calls never wait for each
      -- other in a cycle.
      INSERT INTO sender_ids (source, external_id, event_id, received_at)
        SELECT f.source, f.external_id, f.id, f.received_at FROM (
          SELECT DISTINCT ON (i.source, i.external_id) i.source, i.external_id, i.id, i.received_at
          FROM input i WHERE i.external_id IS NOT NULL ORDER BY i.source, i.external_id, i.nth
        ) AS f ORDER BY f.source, f.external_id
        ON CONFLICT (source, external_id) DO NOTHING
        RETURNING event_id
    ), fresh AS (
      INSERT INTO events (id, receipt_id, source, external_id, type, severity, status, title, summary, dedup_key, occurred_at, received_at, data)
        SELECT i.id, r.id, i.source, i.external_id, i.type, i.severity, i.status, i.title, i.summary, i.dedup_key, i.occurred_at, i.received_at, i.data
        FROM input i JOIN jsonb_to_recordset(receipts) AS r(b integer, id text) ON r.b = i.b
        WHERE i.external_id IS NULL OR i.id IN (SELECT c.event_id FROM claimed c)
        ON CONFLICT (id) DO NOTHING
        RETURNING events.id
    ), kept AS (
      SELECT i.nth, i.b, i.id, i.received_at, i.echo FROM input i JOIN fresh f ON f.id = i.id
    ), receipt_rows AS (
      INSERT INTO receipts (id, source, received_at, headers, body)
        SELECT r.id, r.source, r.received_at, r.headers, bodies[r.b + 1]
        FROM jsonb_to_recordset(receipts) AS r(b integer, id text, source text, received_at bigint, headers text)
        WHERE r.b IN (SELECT k.b FROM kept k)
    ), placed AS (
      SELECT x.*, k.id AS event_id, k.received_at,
             -- Behind an earlier event of this call: its delivery of the incident is queued by then.
             count(x.incident_key) OVER (PARTITION BY x.destination, x.incident_key ORDER BY x.event RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) > 0 AS after_earlier
      FROM jsonb_to_recordset(deliveries) AS x(event integer, n integer, id text, destination text, route text, status text, note text, incident_key text,
             priority integer, rule_key text, held_by text, asked boolean, owner text, due_leased bigint, due bigint, leased_when integer, waits_when integer)
      JOIN kept k ON k.nth = x.event
    ), decided AS (
      SELECT p.*, p.asked AND (p.leased_when >> f.at) & 1 = 1 AS leased, p.asked AND (p.waits_when >> f.at) & 1 = 1 AS waits
      FROM placed p
      -- The facts' index in the table: 2 × behind + enabled.
      CROSS JOIN LATERAL (SELECT CASE WHEN NOT p.asked THEN 0 ELSE
          (CASE WHEN p.incident_key IS NOT NULL AND (p.after_earlier OR EXISTS (SELECT 1 FROM deliveries q
             WHERE q.destination = p.destination AND q.incident_key = p.incident_key AND q.status IN ('pending', 'in_flight'))) THEN 2 ELSE 0 END)
          + (CASE WHEN p.destination = ANY(open_names) THEN 1 ELSE 0 END) END AS at) AS f
    ), delivery_rows AS (
      INSERT INTO deliveries (id, event_id, destination, route, status, note, group_key, lease_owner, next_attempt_at, created_at, updated_at, incident_key, priority, rule_key, held_by)
        SELECT d.id, d.event_id, d.destination, d.route, CASE WHEN d.leased THEN 'in_flight' ELSE d.status END, d.note, NULL,
               CASE WHEN d.leased THEN d.owner END, CASE WHEN d.leased THEN d.due_leased ELSE d.due END,
               d.received_at, d.received_at, d.incident_key, d.priority, d.rule_key, d.held_by
        FROM decided d
    ), echo_rows AS (
      -- Applied after the commit (change 'apply_echo'); pending until then, so a stop in between loses nothing.
      INSERT INTO pending_echoes (event_id, dedup_key, created_at) SELECT k.id, k.echo, k.received_at FROM kept k WHERE k.echo IS NOT NULL
    )
    SELECT (SELECT coalesce(array_agg(k.nth), '{}') FROM kept k),
           (SELECT coalesce(array_agg(d.event ORDER BY d.event, d.n), '{}') FROM decided d WHERE d.waits),
           (SELECT coalesce(array_agg(d.id ORDER BY d.event, d.n), '{}') FROM decided d WHERE d.waits),
           (SELECT coalesce(array_agg(DISTINCT d.destination), '{}') FROM decided d WHERE d.status = 'pending' AND NOT d.leased AND d.destination IS NOT NULL)
      INTO stored, waits_at, waits_id, woken;
    IF cardinality(stored) < jsonb_array_length(events) THEN
      -- A fresh snapshot: a sender id another transaction stored (its insert above waited for it) is seen now.
      SELECT coalesce(array_agg(i.nth ORDER BY i.nth), '{}'), coalesce(array_agg(coalesce(s.event_id, i.id) ORDER BY i.nth), '{}'), bool_or(i.external_id IS NOT NULL AND s.event_id IS NULL)
        INTO others, firsts, vanished
        FROM jsonb_to_recordset(events) AS i(nth integer, id text, source text, external_id text)
        LEFT JOIN sender_ids s ON s.source = i.source AND s.external_id = i.external_id
        WHERE NOT i.nth = ANY(stored);
      -- Pruned in between: nothing to point at, so it is stored as new on a retry.
      IF vanished THEN
        RAISE EXCEPTION 'duplicate sender id vanished; retrying' USING ERRCODE = '40001';
      END IF;
      -- This very call, tried again after its connection was lost (src/store/postgres/connection.ts
      -- statement), and the first try had committed: each event is stored once, and what waits is
      -- what asked for a lease and does not hold it.
      SELECT waits_at || coalesce(array_agg(x.event ORDER BY x.event, x.n), '{}'), waits_id || coalesce(array_agg(x.id ORDER BY x.event, x.n), '{}')
        INTO waits_at, waits_id
        FROM jsonb_to_recordset(deliveries) AS x(event integer, n integer, id text, asked boolean, owner text)
        JOIN unnest(others, firsts) AS o(nth, first) ON o.nth = x.event
        JOIN jsonb_to_recordset(events) AS i(nth integer, id text) ON i.nth = x.event AND i.id = o.first
        WHERE x.asked AND NOT EXISTS (SELECT 1 FROM deliveries q WHERE q.id = x.id AND q.lease_owner = x.owner);
    END IF;
    RETURN QUERY
      WITH answers AS (
        SELECT i.nth, i.b, coalesce(o.first, i.id) AS id, coalesce(o.first <> i.id, false) AS duplicate,
               (SELECT coalesce(array_agg(w.id), '{}') FROM unnest(waits_at, waits_id) AS w(at, id) WHERE w.at = i.nth) AS waiting
        FROM jsonb_to_recordset(events) AS i(nth integer, b integer, id text)
        LEFT JOIN unnest(others, firsts) AS o(nth, first) ON o.nth = i.nth
      ), logged AS (
        -- Stored with the duplicate answer (outcome, status) when every event of its webhook turned out to be one.
        INSERT INTO requests (id, received_at, source, address, status, outcome, reason, body_bytes, excerpt, event_id)
          SELECT q.id, q.received_at, q.source, q.address,
                 CASE WHEN a.all_duplicates THEN (duplicate_answer->>'status')::integer ELSE q.status END,
                 CASE WHEN a.all_duplicates THEN duplicate_answer->>'outcome' ELSE q.outcome END,
                 q.reason, q.body_bytes, q.excerpt, a.first_id
          FROM jsonb_to_recordset(requests) AS q(b integer, id text, received_at bigint, source text, address text, status integer, outcome text, reason text, body_bytes integer, excerpt text)
          -- A webhook without events (a handshake answered) has its line too.
          LEFT JOIN (SELECT w.b, bool_and(w.duplicate) AS all_duplicates, (array_agg(w.id ORDER BY w.nth))[1] AS first_id FROM answers w GROUP BY w.b) AS a ON a.b = q.b
          ON CONFLICT (id) DO NOTHING
      )
      SELECT a.nth, a.id, a.duplicate, a.waiting FROM answers a ORDER BY a.nth;
    -- Announced with the commit: peers' dispatchers wake at once. NOTIFY payloads are limited to
    -- 8000 bytes: a longer list wakes every lane.
    IF cardinality(woken) > 0 THEN
      payload := to_json(woken)::text;
      PERFORM pg_notify(channel, CASE WHEN length(payload) < 7900 THEN payload ELSE '"*"' END);
    END IF;
  END
  $ingest$;
  `,
  `
  -- Deliveries due at the same moment are claimed oldest first, by id: a B-tree keeps equal keys
  -- in the order of their rows' places in the table, which every update that moves a row changes
  -- (a retried digest's lead came back behind its members). With the id in the index, the claim's
  -- ORDER BY next_attempt_at, id is read from it, as before, without a sort.
  DROP INDEX deliveries_due;
  CREATE INDEX deliveries_due ON deliveries(destination, priority, next_attempt_at, id) WHERE status IN ('pending', 'in_flight');
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
