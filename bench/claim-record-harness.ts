/**
 * The drain's SQLite work alone, for instruction counts (valgrind --tool=callgrind): ingests N
 * events (one delivery each, INCIDENTS incidents round robin, priority by severity) into a real
 * file, then claims them CLAIM at a time and commits their attempts RECORD at a time, each in
 * its own transaction as the writer thread runs them.
 *   node bench/claim-record-harness.ts <phase: ingest|claim|record|all> [n]
 * Per delivery under callgrind: claim = (claim − ingest) / n, record = (all − claim) / n.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openWriter } from '../src/store/sqlite/connection.ts';
import { migrate } from '../src/store/sqlite/migrations.ts';
import { createWriteOps } from '../src/store/sqlite/writes.ts';
import type { AttemptResult, ClaimedDelivery, IngestBatch } from '../src/store/store.ts';
import { newId } from '../src/util/ids.ts';

const N = Number(process.argv[3] ?? 2_000);
const CLAIM = 128;
const RECORD = 32;
const INCIDENTS = N; // the bench: one incident per event (drain-incidents defaults to the backlog)
const OWNER = 'lane';
const T0 = Date.parse('2026-12-07T06:00:00Z');

const dir = mkdtempSync(join(tmpdir(), 'hookrelay-harness-'));
const db = openWriter(join(dir, 'store.db'));
migrate(db);
const ops = createWriteOps(db);
ops.syncDestinations(['drain']);

function tx<T>(run: () => T): T {
  db.exec('BEGIN IMMEDIATE');
  const value = run();
  db.exec('COMMIT');
  return value;
}

for (let i = 0; i < N; i++) {
  const id = newId('evt');
  const dedup = `drain-region-${i % INCIDENTS}`;
  const data = { region: dedup, affected_sessions: 24_000 + i, text: 'x'.repeat(600) };
  const batch: IngestBatch = {
    receipt: { id: newId('rcp'), source: 'tapemetric', received_at: T0, headers: { 'content-type': 'application/json' }, body: JSON.stringify(data) },
    events: [
      {
        event: {
          id, source: 'tapemetric', external_id: null, type: 'qos.rebuffer_spike', severity: 'critical', status: 'firing',
          title: 'Rebuffer spike', summary: '8.4 vs 3.1', dedup_key: dedup, occurred_at: new Date(T0).toISOString(), received_at: new Date(T0).toISOString(), data,
        },
        deliveries: [{ id: newId('dlv'), destination: 'drain', route: 'r', status: 'pending', incident_key: dedup, priority: 3 }],
      },
    ],
  };
  tx(() => ops.ingest(batch));
}

let now = T0 + 1_000;
function attempt(claimed: ClaimedDelivery): AttemptResult {
  return {
    delivery_id: claimed.id, member_ids: [], destination: 'drain', lease_owner: OWNER,
    started_at: now, finished_at: now + 1, outcome: 'succeeded', next_attempt_at: null, request_body: null,
    response_code: 200, response_body: null, latency_ms: 1, error: null, health: 'success',
    breaker: { disable_after: 5, probe_backoff_ms: null }, notified: [],
    // As a lane asks of every record of an incident's update (src/dispatch/scheduler.ts chainNext).
    chain: { lease_ms: 60_000, storm: null },
  };
}

let claimed = 0;
let recorded = 0;
function claimPhase(): readonly ClaimedDelivery[] {
  const batch = tx(() => ops.claimDue({ destination: 'drain', limit: CLAIM, now, lease_ms: 60_000, owner: OWNER, storm: null }));
  claimed += batch.deliveries.length;
  return batch.deliveries;
}
function recordPhase(deliveries: readonly ClaimedDelivery[]): void {
  for (let at = 0; at < deliveries.length; at += RECORD) {
    const results = deliveries.slice(at, at + RECORD).map(attempt);
    const out = tx(() => ops.commitAttempts(results));
    recorded += out.filter((r) => r.recorded).length;
  }
}
const phase = process.argv[2] ?? 'all';
for (;;) {
  if (phase === 'ingest') break;
  const batch = claimPhase();
  if (batch.length === 0) break;
  if (phase === 'all') recordPhase(batch);
  now += 10;
}
console.log(JSON.stringify({ n: N, claimed, recorded }));
db.close();
rmSync(dir, { recursive: true, force: true });
