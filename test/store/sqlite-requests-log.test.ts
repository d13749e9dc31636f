/**
 * The SQLite store's log of requests to /hooks/* (src/store/sqlite/writes.ts), run in this
 * thread on a real file: what each request is logged as, and how the log is pruned.
 */
import type { DatabaseSync } from 'node:sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';
import type { RequestLogEntry } from '../../src/store/store.ts';
import { idAt } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { closeInThread, openInThread } from '../support/sqlite-ops.ts';

const T0 = Date.parse('2026-04-23T18:28:00Z');

let db: DatabaseSync;
let ops: WriteOps;

beforeEach(() => {
  ({ db, ops } = openInThread(['slack']));
});

afterEach(() => closeInThread(db));

const request = (at: number, overrides: Partial<RequestLogEntry> = {}): RequestLogEntry => ({
  id: idAt('req', at).slice(0, -1) + String(at % 10),
  received_at: at,
  source: 'prom',
  address: '127.0.0.1',
  status: 202,
  outcome: 'accepted',
  reason: null,
  body_bytes: 10,
  excerpt: null,
  ...overrides,
});
const logged = () => db.prepare('SELECT received_at, status, outcome, reason, excerpt FROM requests ORDER BY id').all();

describe('requests log', () => {
  it('a refused request is logged as it was answered, once however often it is recorded', () => {
    const refused = request(T0, { status: 401, outcome: 'unauthorized', reason: 'bad signature', excerpt: '{"a":' });
    ops.recordRequests([refused]);
    ops.recordRequests([refused]);
    expect(logged()).toEqual([{ received_at: T0, status: 401, outcome: 'unauthorized', reason: 'bad signature', excerpt: '{"a":' }]);
  });

  it('a request whose events are all duplicates is logged as a duplicate answered 200; one with a new event as accepted', () => {
    const event = relayEvent({ external_id: 'ext-1' });
    ops.ingest({ ...batchOf(event, ['slack'], T0), request: request(T0) });
    ops.ingest({ ...batchOf(relayEvent({ external_id: 'ext-1' }), ['slack'], T0 + 1), request: request(T0 + 1) });
    const fresh = relayEvent();
    const seen = relayEvent({ external_id: 'ext-1' });
    ops.ingest({ ...batchOf(fresh, ['slack'], T0 + 2), events: [{ event: seen, deliveries: [] }, { event: fresh, deliveries: [] }], request: request(T0 + 2) });
    expect(logged()).toEqual([
      { received_at: T0, status: 202, outcome: 'accepted', reason: null, excerpt: null },
      { received_at: T0 + 1, status: 200, outcome: 'duplicate', reason: null, excerpt: null },
      { received_at: T0 + 2, status: 202, outcome: 'accepted', reason: null, excerpt: null },
    ]);
  });

  it('a logged request names its first event; one that carried no event is logged as answered, naming none', () => {
    const [first, second] = [relayEvent(), relayEvent()];
    ops.ingest({ ...batchOf(first!, ['slack'], T0), events: [{ event: first!, deliveries: [] }, { event: second!, deliveries: [] }], request: request(T0) });
    ops.ingest({ ...batchOf(relayEvent(), [], T0 + 1), events: [], request: request(T0 + 1, { outcome: 'answered', status: 200, reason: 'a ping' }) });
    expect(db.prepare('SELECT status, outcome, event_id FROM requests ORDER BY id').all()).toEqual([
      { status: 202, outcome: 'accepted', event_id: first!.id },
      { status: 200, outcome: 'answered', event_id: null },
    ]);
  });

  it('pruning removes what is older than the horizon, and beyond the newest `keep`', () => {
    ops.recordRequests([1, 2, 3, 4, 5].map((s) => request(T0 + s * 1_000 + s)));
    expect(ops.pruneRequests({ keep: 10, before: T0 + 2_500 })).toBe(2);
    expect(logged().map((entry) => (entry as { received_at: number }).received_at)).toEqual([T0 + 3_003, T0 + 4_004, T0 + 5_005]);
    expect(ops.pruneRequests({ keep: 2, before: T0 })).toBe(1);
    expect(logged().map((entry) => (entry as { received_at: number }).received_at)).toEqual([T0 + 4_004, T0 + 5_005]);
    expect(ops.pruneRequests({ keep: 2, before: T0 })).toBe(0);
  });
});
