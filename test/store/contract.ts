import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HookrelayError } from '../../src/errors.ts';
import { ulid } from 'ulid';
import type { RelayEvent } from '../../src/events/event.ts';
import { SEVERITY_RANK } from '../../src/events/event.ts';
import { digestView } from '../../src/notify/digest.ts';
import { compileInhibitRules } from '../../src/notify/inhibit.ts';
import { NotificationStage } from '../../src/notify/pipeline.ts';
import { TimeIntervals, timeIntervalSchema } from '../../src/notify/time-intervals.ts';
import type { RouteRules } from '../../src/routing/routes.ts';
import type { NotificationStageOptions, StageVerdict } from '../../src/notify/pipeline.ts';
import { ManualClock } from '../support/clock.ts';
import type { AttemptResult, ClaimedDelivery, EchoApplied, IncidentState, IngestBatch, NewDelivery, RequestLogEntry, Store, StormPolicy } from '../../src/store/store.ts';
import { globMatcher } from '../../src/routing/glob.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent, succeededAttempt } from '../support/events.ts';
import { recordAttempt } from '../support/store.ts';

const OWNER = 'test-owner';
const LEASE = { lease_ms: 60_000, owner: OWNER };

/** A requests log line made at `at` (its id is time-ordered like the store's own). */
function requestLine(at: number, overrides: Partial<RequestLogEntry> = {}): RequestLogEntry {
  return {
    id: `req_${ulid(at)}`,
    received_at: at,
    source: 'tapemetric',
    address: '203.0.113.7',
    status: 401,
    outcome: 'signature_mismatch',
    reason: 'the signature does not match',
    body_bytes: 1_000,
    excerpt: '{"id":"evt_x"',
    ...overrides,
  };
}

const attempt = (deliveryId: string, overrides: Partial<AttemptResult> = {}): AttemptResult => succeededAttempt(deliveryId, OWNER, Date.now() + 12, overrides);

/**
 * The Store contract: every implementation runs these. `open` gives a fresh, empty store.
 */
/** PagerDuty's report on `dedupKey`, as ingest stores it: not routed (one skipped delivery), its echo pending. */
function pagerDutyReport(dedupKey: string, receivedAt: number, externalId = `pd_${ulid()}`): { report: RelayEvent; batch: IngestBatch } {
  const report = relayEvent({ source: 'pagerduty', dedup_key: `pagerduty:${dedupKey}`, external_id: externalId });
  const batch = batchOf(report, [], receivedAt);
  const skipped: NewDelivery = { id: newId('dlv'), destination: null, route: null, status: 'skipped', note: 'applied to its Slack messages' };
  return { report, batch: { ...batch, events: [{ event: report, deliveries: [skipped], echo: { dedup_key: dedupKey } }] } };
}

/** Applies a pending echo of `dedupKey`'s message at `version`: only its state, no deliveries. */
async function applyState(store: Store, dedupKey: string, version: number, state: IncidentState, now: number): Promise<EchoApplied> {
  const { report, batch } = pagerDutyReport(dedupKey, now);
  await store.ingest(batch);
  return store.change('apply_echo', { event_id: report.id, states: [{ destination: 'pager', dedup_key: dedupKey, version, state }], deliveries: [], now });
}

/** The same store, every event it ingests inhibit-tracked (PostgreSQL ingests those by its statements, not by one call). */
function trackingIncidents(store: Store): Store {
  const ingest = (batch: IngestBatch) => store.ingest({ ...batch, events: batch.events.map((item) => ({ ...item, track_incident: true })) });
  return new Proxy(store, {
    get(target, property) {
      if (property === 'ingest') return ingest;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`${name} store contract`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
      await store.syncDestinations(['slack', 'pager']);
    });
    afterEach(async () => {
      await store.close();
    });

    /** Ingest's stories: run as they are, and again with every event inhibit-tracked (below). */
    const ingestStories = (): void => {
      it('stores an event with its raw request and deliveries in one call', async () => {
        const event = relayEvent({ external_id: 'evt_abc123' });
        const [result] = await store.ingest(batchOf(event, ['slack', 'pager']));
        expect(result).toEqual({ id: event.id, duplicate: false });
        const stored = await store.view('event', event.id);
        expect(stored?.event).toMatchObject({ id: event.id, type: 'qos.rebuffer_spike', data: event.data });
        expect(stored?.raw.headers['content-type']).toBe('application/json');
        expect(JSON.parse(stored?.raw.body ?? 'null')).toEqual(event.data);
        expect(stored?.deliveries.map((d) => [d.destination, d.status]).sort()).toEqual([
          ['pager', 'pending'],
          ['slack', 'pending'],
        ]);
      });

      it('an event whose data is the request body is stored once and read back whole', async () => {
        const event = relayEvent();
        const batch = batchOf(event, ['slack']);
        await store.ingest({ ...batch, events: [{ ...batch.events[0]!, data_is_body: true }] });
        expect((await store.view('event', event.id))?.event.data).toEqual(event.data);
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        expect(claimed?.event.data).toEqual(event.data);
      });

      it('one webhook of several events, one of them for a grouped route: its grouped delivery waits for its group, the others are due at once', async () => {
        const t0 = Date.now();
        const plain = relayEvent({ dedup_key: 'plain' });
        const mixed = relayEvent({ dedup_key: 'mixed' });
        const alone: NewDelivery = { id: newId('dlv'), destination: 'pager', route: 'all', status: 'pending' };
        const beside: NewDelivery = { id: newId('dlv'), destination: 'pager', route: 'all', status: 'pending' };
        const grouped: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', group: { key: 'g', wait_ms: 30_000, interval_ms: 300_000 } };
        await store.ingest({ ...batchOf(plain, [], t0), events: [{ event: plain, deliveries: [alone] }, { event: mixed, deliveries: [beside, grouped] }] });
        const due = async (id: string): Promise<number> => Date.parse((await store.view('delivery', id))!.next_attempt_at!);
        expect([await due(alone.id), await due(beside.id), await due(grouped.id)]).toEqual([t0, t0, t0 + 30_000]);
        expect((await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 29_999 })).deliveries).toEqual([]);
      });

      it('work muted at ingest keeps its note and the marker of what holds it: listed as held by it, released by it', async () => {
        const t0 = Date.now();
        const event = relayEvent({ dedup_key: 'night-b' });
        const muted: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'low', status: 'muted', note: 'muted during nights (route low)', held_by: 'interval:nights' };
        await store.ingest({ ...batchOf(event, [], t0), events: [{ event, deliveries: [muted] }] });
        expect(await store.view('delivery', muted.id)).toMatchObject({ status: 'muted', note: 'muted during nights (route low)' });
        expect((await store.view('held', 'interval:nights')).map((held) => held.id)).toEqual([muted.id]);
        expect(await store.holds('release', { marker: 'interval:nights', ids: [muted.id], note: '; told when it ended', now: t0 + 1 })).toEqual(['slack']);
        expect(await store.view('delivery', muted.id)).toMatchObject({ status: 'pending', note: 'muted during nights (route low); told when it ended' });
      });

      it('a sender id seen before is a duplicate and stores nothing new', async () => {
        const first = relayEvent({ external_id: 'evt_same' });
        await store.ingest(batchOf(first, ['slack']));
        const again = relayEvent({ external_id: 'evt_same' });
        const [result] = await store.ingest(batchOf(again, ['slack']));
        expect(result).toEqual({ id: first.id, duplicate: true });
        expect(await store.view('event', again.id)).toBeNull();
        expect(await store.view('deliveries', { destination: 'slack', limit: 10 })).toHaveLength(1);
      });

      it('the same sender id from another source is not a duplicate', async () => {
        await store.ingest(batchOf(relayEvent({ external_id: 'evt_1', source: 'a' }), ['slack']));
        const [result] = await store.ingest(batchOf(relayEvent({ external_id: 'evt_1', source: 'b' }), ['slack']));
        expect(result?.duplicate).toBe(false);
      });

      it('concurrent ingests all commit', async () => {
        const events = Array.from({ length: 300 }, () => relayEvent());
        const results = await Promise.all(events.map((event) => store.ingest(batchOf(event, ['slack']))));
        expect(results.flat().filter((r) => !r.duplicate)).toHaveLength(300);
        expect((await store.view('destinations')).find((s) => s.name === 'slack')?.pending).toBe(300);
      });

      it('replay sends the same request again as a new delivery', async () => {
        const event = relayEvent();
        await store.ingest(batchOf(event, ['slack']));
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        await recordAttempt(store, attempt(claimed!.id, { request_body: '{"text":"exact"}' }));
        const replay = await store.append('replay', claimed!.id, newId('dlv'), Date.now());
        expect(replay).toMatchObject({
          event_id: event.id,
          destination: 'slack',
          status: 'pending',
          request_body: '{"text":"exact"}',
          replay_of: claimed!.id,
          attempts: 0,
        });
        expect(replay?.id).not.toBe(claimed!.id);
        expect(await store.append('replay', 'dlv_missing', newId('dlv'), Date.now())).toBeNull();
      });

      it('a skipped delivery cannot be replayed', async () => {
        const event = relayEvent();
        const batch = batchOf(event, []);
        const skipped = { id: newId('dlv'), destination: null, route: null, status: 'skipped' as const };
        await store.ingest({ ...batch, events: [{ event, deliveries: [skipped] }] });
        const error = await store.append('replay', skipped.id, newId('dlv'), Date.now()).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(HookrelayError);
        expect((error as HookrelayError).code).toBe('conflict');
        expect((error as HookrelayError).message).toBe(`delivery ${skipped.id} was skipped (no route matched): there is nothing to replay it to`);
      });

      it('prepared requests become pending deliveries sent as they are', async () => {
        const event = relayEvent();
        await store.ingest(batchOf(event, ['slack']));
        const [queued] = await store.append('prepared', 
          event.id,
          [{ id: newId('dlv'), destination: 'pager', route: 'command:acknowledge', request_body: '{"event_action":"acknowledge"}' }],
          Date.now(),
        );
        expect(queued).toMatchObject({ destination: 'pager', status: 'pending', route: 'command:acknowledge' });
        const [claimed] = (await store.claim('pager', { ...LEASE, limit: 5, now: Date.now() + 1 })).deliveries;
        expect(claimed).toMatchObject({ id: queued!.id, request_body: '{"event_action":"acknowledge"}' });
      });

      it('duplicate detection keeps the sender id for its window after the event itself (and its body) is gone', async () => {
        const first = relayEvent({ external_id: 'evt_sender_1' });
        await store.ingest(batchOf(first, ['slack']));
        const newer = relayEvent();
        await store.ingest(batchOf(newer, ['slack']));
        for (const claimed of (await store.claim('slack', { ...LEASE, limit: 5, now: Date.now() + 1 })).deliveries) {
          await recordAttempt(store, attempt(claimed.id));
        }
        // Its delivery leaves the log (1 kept per destination), then the event goes, an hour on.
        await store.prune('deliveries', { keep_per_destination: 1, keep_events_ms: 7 * 86_400_000, now: Date.now() + 2 * 3_600_000 });
        expect(await store.view('event', first.id)).toBeNull();
        const [again] = await store.ingest(batchOf(relayEvent({ external_id: 'evt_sender_1' }), ['slack']));
        expect(again).toEqual({ id: first.id, duplicate: true });
        // After the duplicate window it is new again.
        await store.prune('deliveries', { keep_per_destination: 1, keep_events_ms: 7 * 86_400_000, now: Date.now() + 8 * 86_400_000 });
        const [later] = await store.ingest(batchOf(relayEvent({ external_id: 'evt_sender_1' }), ['slack']));
        expect(later).toMatchObject({ duplicate: false });
      });

      /**
       * Several dispatchers share one store (PostgreSQL replicas, or two lanes in one process):
       * each claims under its own owner name, and the store alone keeps them from stepping on
       * each other.
       */

      describe('requests log', () => {
        it('lists lines newest first, filtered by source and by outcome (refused = every refusal)', async () => {
          const now = Date.now();
          await store.append('requests', [
            requestLine(now - 3_000),
            requestLine(now - 2_000, { source: 'nosuch', status: 404, outcome: 'unknown_source', excerpt: null }),
            requestLine(now - 1_000, { status: 200, outcome: 'answered', reason: null, excerpt: null }),
          ]);
          const all = await store.view('requests', { limit: 10 });
          expect(all.map((line) => line.outcome)).toEqual(['answered', 'unknown_source', 'signature_mismatch']);
          expect(all[2]).toMatchObject({
            source: 'tapemetric',
            address: '203.0.113.7',
            status: 401,
            refused: true,
            reason: 'the signature does not match',
            body_bytes: 1_000,
            excerpt: '{"id":"evt_x"',
            received_at: new Date(now - 3_000).toISOString(),
          });
          expect(all[0]?.refused).toBe(false);
          expect((await store.view('requests', { limit: 10, source: 'nosuch' })).map((line) => line.outcome)).toEqual(['unknown_source']);
          expect((await store.view('requests', { limit: 10, outcome: 'refused' })).map((line) => line.outcome)).toEqual(['unknown_source', 'signature_mismatch']);
          expect((await store.view('requests', { limit: 10, outcome: 'signature_mismatch' })).length).toBe(1);
          expect((await store.view('requests', { limit: 1 })).length).toBe(1);
          expect((await store.view('requests', { limit: 10, before: all[0]!.id })).length).toBe(2);
        });

        it('an ingest writes its line in the same transaction: accepted, or duplicate (200) when every event is one', async () => {
          const now = Date.now();
          const first = batchOf(relayEvent({ external_id: 'evt_logged' }), ['slack']);
          await store.ingest({ ...first, request: requestLine(now, { status: 202, outcome: 'accepted', reason: null, excerpt: null }) });
          const again = batchOf(relayEvent({ external_id: 'evt_logged' }), ['slack']);
          await store.ingest({ ...again, request: requestLine(now + 1, { status: 202, outcome: 'accepted', reason: null, excerpt: null }) });
          const lines = await store.view('requests', { limit: 10 });
          expect(lines.map((line) => [line.outcome, line.status])).toEqual([
            ['duplicate', 200],
            ['accepted', 202],
          ]);
        });

        it('a line names the first event of its request; a request with a new event beside a duplicate is accepted; one with no event is logged as answered', async () => {
          const now = Date.now();
          const seen = relayEvent({ external_id: 'evt_seen' });
          await store.ingest(batchOf(seen, ['slack']));
          const fresh = relayEvent();
          const mixed = batchOf(fresh, ['slack']);
          await store.ingest({ ...mixed, events: [{ event: relayEvent({ external_id: 'evt_seen' }), deliveries: [] }, ...mixed.events], request: requestLine(now, { status: 202, outcome: 'accepted', reason: null, excerpt: null }) });
          await store.ingest({ ...batchOf(relayEvent(), []), events: [], request: requestLine(now + 1, { status: 200, outcome: 'answered', reason: null, excerpt: null }) });
          const lines = await store.view('requests', { limit: 10 });
          expect(lines.map((line) => [line.outcome, line.status, line.event_id])).toEqual([
            ['answered', 200, null],
            ['accepted', 202, seen.id],
          ]);
        });

        it('a refused request is logged once, however often it is recorded (a retried batch of lines)', async () => {
          const line = requestLine(Date.now() - 1_000);
          await store.append('requests', [line]);
          await store.append('requests', [line]);
          expect((await store.view('requests', { limit: 10 })).map((each) => each.id)).toEqual([line.id]);
        });

        it('pruning keeps at most `keep` lines and none older than `before`', async () => {
          const now = Date.now();
          const day = 24 * 3_600_000;
          await store.append('requests', [
            requestLine(now - 2 * day),
            requestLine(now - day - 60_000),
            ...Array.from({ length: 5 }, (_, index) => requestLine(now - 5_000 + index * 1_000)),
          ]);
          expect((await store.view('requests', { limit: 100 })).length).toBe(7);
          await store.prune('requests', { keep: 100, before: now - day });
          expect((await store.view('requests', { limit: 100 })).length).toBe(5);
          await store.prune('requests', { keep: 3, before: now - day });
          const kept = await store.view('requests', { limit: 100 });
          expect(kept.map((line) => line.received_at)).toEqual([1_000, 2_000, 3_000].map((ago) => new Date(now - ago).toISOString()));
        });
      });
    };
    describe('IngestStore: events appended with their deliveries, replays and prepared requests, the requests log', ingestStories);
    // PostgreSQL stores an inhibit-tracked (or grouped) webhook by its statements (writes.ts
    // `ingest`), any other by one call (ingest.ts): both must store and answer the same.
    describe('IngestStore, every event inhibit-tracked', () => {
      beforeEach(() => {
        store = trackingIncidents(store);
      });
      ingestStories();
    });

    describe('QueueStore: claims under leases, holds, outcomes committed in batches', () => {
      it("a destination's last success: stamped by a success, moved by a later one at most once a second, never back by an older one, kept through a failure", async () => {
        for (let i = 0; i < 6; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
        const t = Date.now() + 1;
        const claimed = (await store.claim('slack', { ...LEASE, limit: 6, now: t })).deliveries;
        const at = async (index: number, finishedAt: number, overrides: Partial<AttemptResult> = {}) => {
          await recordAttempt(store, attempt(claimed[index]!.id, { started_at: finishedAt - 1, finished_at: finishedAt, ...overrides }));
          return (await store.view('destinations')).find((state) => state.name === 'slack')!;
        };
        const iso = (ms: number) => new Date(ms).toISOString();
        expect(await at(0, t + 10_000)).toMatchObject({ last_success_at: iso(t + 10_000), consecutive_failures: 0 });
        expect(await at(1, t + 10_500)).toMatchObject({ last_success_at: iso(t + 10_000) });
        // Recorded late, finished earlier: the stamp stays where it is.
        expect(await at(2, t + 5_000)).toMatchObject({ last_success_at: iso(t + 10_000) });
        expect(await at(3, t + 12_000)).toMatchObject({ last_success_at: iso(t + 12_000) });
        const failed = await at(4, t + 13_000, { outcome: 'retry', health: 'failure', next_attempt_at: t + 60_000, response_code: 503, error: 'HTTP 503' });
        expect(failed).toMatchObject({ last_success_at: iso(t + 12_000), consecutive_failures: 1, enabled: true, last_error: 'HTTP 503' });
        // The next success after a failure is stamped at once, within the second too.
        expect(await at(5, t + 12_500)).toMatchObject({ last_success_at: iso(t + 12_500), consecutive_failures: 0 });
      });

      it('successes recorded at once are each recorded with its attempt and notification; one whose lease was lost is not', async () => {
        const events = Array.from({ length: 12 }, (_, i) => relayEvent({ dedup_key: `inc_many_${i}` }));
        for (const event of events) await store.ingest(batchOf(event, ['slack']));
        const now = Date.now() + 1;
        const claimed = (await store.claim('slack', { ...LEASE, limit: 12, now })).deliveries;
        expect(claimed).toHaveLength(12);
        const told = (index: number) => ({
          destination: 'slack',
          dedup_key: `inc_many_${index}`,
          status: 'firing' as const,
          occurred_at: events[index]!.occurred_at,
          delivery_id: claimed.find((delivery) => delivery.event.dedup_key === `inc_many_${index}`)!.id,
          sent_at: now + index,
        });
        // All in one tick, as a lane's answers arrive; the last one's lease belongs to someone else now.
        const results = await Promise.all(
          Array.from({ length: 12 }, (_, index) => {
            const entry = told(index);
            return recordAttempt(store, 
              attempt(entry.delivery_id, { notified: [entry], finished_at: now + index, ...(index === 11 ? { lease_owner: 'dead-worker' } : {}) }),
            );
          }),
        );
        expect(results.map((result) => result.recorded)).toEqual([...Array.from({ length: 11 }, () => true), false]);
        expect(results.every((result) => result.destination.enabled && result.destination.consecutive_failures === 0)).toBe(true);
        for (let index = 0; index < 11; index++) {
          const detail = await store.view('delivery', told(index).delivery_id);
          expect(detail).toMatchObject({ status: 'succeeded', attempts: 1, response_code: 200, request_body: '{"text":"hi"}' });
          expect(detail?.attempt_log).toHaveLength(1);
        }
        expect((await store.view('delivery', told(11).delivery_id))?.status).toBe('in_flight');
        const keys = Array.from({ length: 12 }, (_, index) => `inc_many_${index}`);
        expect((await store.notificationLog('slack', keys)).map((entry) => entry.dedup_key).sort()).toEqual(keys.slice(0, 11).sort());
      });

      it('an outcome for a destination the store does not know is refused, naming it; no state is made up for it', async () => {
        const refused = store.commitAttempts([attempt(newId('dlv'), { destination: 'ghost' })]);
        await expect(refused).rejects.toMatchObject({ code: 'not_found', message: 'unknown destination "ghost"' });
        expect((await store.view('destinations')).map((state) => state.name).sort()).toEqual(['pager', 'slack']);
      });

      it('a commit of several attempts: each recorded or refused on its own, with its response; each destination\'s breaker counts only its own', async () => {
        for (const destination of ['slack', 'slack', 'slack', 'pager']) await store.ingest(batchOf(relayEvent(), [destination]));
        const now = Date.now() + 1;
        const [ok, failed, lost] = (await store.claim('slack', { ...LEASE, limit: 3, now })).deliveries;
        const [paged] = (await store.claim('pager', { ...LEASE, limit: 1, now })).deliveries;
        const failure = { outcome: 'failed' as const, health: 'failure' as const, response_code: 500, response_body: 'down', error: 'HTTP 500', breaker: { disable_after: 2, probe_backoff_ms: null } };
        const results = await store.commitAttempts([
          attempt(ok!.id, { response_body: 'ok: 1 message', latency_ms: 48 }),
          attempt(failed!.id, failure),
          attempt(lost!.id, { ...failure, lease_owner: 'dead-worker' }),
          attempt('dlv_unknown', failure),
          attempt(paged!.id, { ...failure, destination: 'pager', notified: [{ destination: 'pager', dedup_key: paged!.event.dedup_key, status: 'firing', occurred_at: paged!.event.occurred_at, delivery_id: paged!.id, sent_at: now }] }),
        ]);
        expect(results.map((result) => [result.recorded, result.destination.name, result.destination.consecutive_failures, result.disabled_now, result.enabled_now, result.incident_stale])).toEqual([
          [true, 'slack', 0, false, false, false],
          [true, 'slack', 1, false, false, false],
          [false, 'slack', 1, false, false, false],
          [false, 'slack', 1, false, false, false],
          [true, 'pager', 1, false, false, false],
        ]);
        // A failure tells the destination nothing: the notification log has no line for it.
        expect(await store.notificationLog('pager', [paged!.event.dedup_key])).toEqual([]);
        expect(await store.view('delivery', ok!.id)).toMatchObject({ status: 'succeeded', response_code: 200, response_body: 'ok: 1 message', latency_ms: 48, last_error: null });
        expect((await store.view('delivery', ok!.id))?.attempt_log).toMatchObject([{ attempt: 1, outcome: 'succeeded', response_code: 200, response_body: 'ok: 1 message', latency_ms: 48, error: null }]);
        expect(await store.view('delivery', failed!.id)).toMatchObject({ status: 'failed', response_code: 500, response_body: 'down', latency_ms: 12, last_error: 'HTTP 500' });
        expect(await store.view('delivery', lost!.id)).toMatchObject({ status: 'in_flight', attempts: 0 });
        expect((await store.view('destinations')).map((state) => [state.name, state.enabled, state.consecutive_failures]).sort()).toEqual([
          ['pager', true, 1],
          ['slack', true, 1],
        ]);
      });

      it('a probe that succeeds closes the circuit, says so, and brings work backed off meanwhile forward', async () => {
        for (let i = 0; i < 3; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
        const now = Date.now() + 1;
        const breaker = { disable_after: 1, probe_backoff_ms: [10_000] };
        const [opening, backedOff] = (await store.claim('slack', { ...LEASE, limit: 2, now })).deliveries;
        await store.commitAttempts([
          attempt(opening!.id, { outcome: 'retry', next_attempt_at: now + 3_600_000, health: 'failure', response_code: 500, error: 'HTTP 500', finished_at: now, breaker }),
          attempt(backedOff!.id, { outcome: 'retry', next_attempt_at: now + 3_600_000, health: 'failure', response_code: 500, error: 'HTTP 500', finished_at: now, breaker }),
        ]);
        const [probe] = (await store.claim('slack', { probe: true, ...LEASE, now: now + 10_000 })).deliveries;
        const [closed] = await store.commitAttempts([attempt(probe!.id, { probe: true, finished_at: now + 10_050, breaker })]);
        expect(closed).toMatchObject({ recorded: true, enabled_now: true, disabled_now: false, destination: { enabled: true, consecutive_failures: 0 } });
        expect(probe!.id).toBe(opening!.id);
        const due = await store.claim('slack', { ...LEASE, limit: 10, now: now + 10_050 });
        expect(due.deliveries.map((d) => d.id)).toContain(backedOff!.id);
      });

      it('held deliveries are logged with their rule and never sent; only the lease owner can hold them', async () => {
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const now = Date.now() + 1;
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now })).deliveries;
        await store.holds('hold', { ids: [claimed!.id], lease_owner: 'someone-else', status: 'muted', note: 'muted by mut_x', now });
        expect((await store.view('delivery', claimed!.id))?.status).toBe('in_flight');
        await store.holds('hold', { ids: [claimed!.id], lease_owner: OWNER, status: 'skipped', note: 'repeat within 4h of dlv_y', now });
        expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'skipped', note: 'repeat within 4h of dlv_y' });
        expect((await store.claim('slack', { ...LEASE, limit: 5, now: now + 120_000 })).deliveries).toHaveLength(0);
      });

      it('claims due deliveries under a lease, at most `limit`, and not twice', async () => {
        for (let i = 0; i < 3; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
        const now = Date.now() + 1;
        const first = await store.claim('slack', { ...LEASE, limit: 2, now });
        expect(first.deliveries).toHaveLength(2);
        expect(first.deliveries[0]?.event.title).toBe('Rebuffer spike in Maharashtra');
        const second = await store.claim('slack', { ...LEASE, limit: 10, now });
        expect(second.deliveries).toHaveLength(1);
        const third = await store.claim('slack', { ...LEASE, limit: 10, now });
        expect(third.deliveries).toHaveLength(0);
        const listed = await store.view('deliveries', { destination: 'slack', limit: 10 });
        expect(listed.every((d) => d.status === 'in_flight')).toBe(true);
      });

      it('a delivery whose lease expired is claimed again (a worker died mid-attempt)', async () => {
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const now = Date.now() + 1;
        const claimed = await store.claim('slack', { limit: 1, now, lease_ms: 1_000, owner: 'dead-worker' });
        expect(claimed.deliveries).toHaveLength(1);
        const later = await store.claim('slack', { ...LEASE, limit: 1, now: now + 1_001 });
        expect(later.deliveries.map((d) => d.id)).toEqual(claimed.deliveries.map((d) => d.id));
        // The dead worker's late result is ignored; the new owner's counts.
        const stale = await recordAttempt(store, attempt(claimed.deliveries[0]!.id, { lease_owner: 'dead-worker' }));
        expect(stale.recorded).toBe(false);
        const fresh = await recordAttempt(store, attempt(claimed.deliveries[0]!.id));
        expect(fresh.recorded).toBe(true);
      });

      it('crash-loop counts: a lease taken over from a stopped worker counts an interruption, and its attempt when that worker had marked it under way', async () => {
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const now = Date.now() + 1;
        const counts = (batch: Awaited<ReturnType<Store['claim']>>) =>
          batch.deliveries.map((d) => [d.interrupted, d.interrupted_attempts]);
        const first = await store.claim('slack', { limit: 1, now, lease_ms: 1_000, owner: 'worker-1' });
        expect(counts(first)).toEqual([[0, 0]]);
        const id = first.deliveries[0]!.id;
        // worker-1 stopped without marking (its attempt had not started): one interruption.
        const second = await store.claim('slack', { limit: 1, now: now + 1_001, lease_ms: 1_000, owner: 'worker-2' });
        expect(counts(second)).toEqual([[1, 0]]);
        // worker-2 marked its attempt under way, then stopped: counted against that attempt too.
        await store.leases('started', [id], 'worker-2');
        const third = await store.claim('slack', { limit: 1, now: now + 2_002, lease_ms: 1_000, owner: 'worker-3' });
        expect(counts(third)).toEqual([[2, 1]]);
        // A mark by anyone but the lease's owner changes nothing; a new lease starts unmarked.
        await store.leases('started', [id], 'worker-2');
        const fourth = await store.claim('slack', { limit: 1, now: now + 3_003, lease_ms: 1_000, owner: 'worker-4' });
        expect(counts(fourth)).toEqual([[3, 1]]);
        // Given back (a graceful stop) or recorded: nothing more is counted, marked or not.
        await store.leases('started', [id], 'worker-4');
        await store.leases('release', [id], 'worker-4');
        const fifth = await store.claim('slack', { limit: 1, now: now + 3_004, lease_ms: 60_000, owner: OWNER });
        expect(counts(fifth)).toEqual([[3, 1]]);
        await store.leases('started', [id], OWNER);
        await recordAttempt(store, attempt(id, { outcome: 'retry', next_attempt_at: now + 3_005, health: 'failure', response_code: 503 }));
        const sixth = await store.claim('slack', { limit: 1, now: now + 3_006, lease_ms: 60_000, owner: OWNER });
        expect(counts(sixth)).toEqual([[3, 1]]);
      });

      it('a delivery leased at ingest is in flight, not claimable until its lease runs out, and renewable', async () => {
        const event = relayEvent();
        const now = Date.now();
        const batch = batchOf(event, []);
        const leased = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending' as const, lease: { owner: OWNER, until: now + 1_000 } };
        await store.ingest({ ...batch, events: [{ event, deliveries: [leased] }] });
        expect((await store.view('delivery', leased.id))?.status).toBe('in_flight');
        expect((await store.claim('slack', { ...LEASE, limit: 5, now: now + 500 })).deliveries).toHaveLength(0);
        await store.leases('extend', [leased.id], OWNER, now + 5_000);
        expect((await store.claim('slack', { ...LEASE, limit: 5, now: now + 2_000 })).deliveries).toHaveLength(0);
        // Another owner's renewal changes nothing.
        await store.leases('extend', [leased.id], 'someone-else', now + 60_000);
        const expired = await store.claim('slack', { ...LEASE, owner: 'next', limit: 5, now: now + 5_000 });
        expect(expired.deliveries.map((d) => d.id)).toEqual([leased.id]);
        // The owner that let it lapse can no longer record it.
        expect((await recordAttempt(store, attempt(leased.id))).recorded).toBe(false);
      });

      it('a retry goes back to pending, due at its next attempt, with the attempt logged', async () => {
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const now = Date.now() + 1;
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now })).deliveries;
        const retryAt = now + 30_000;
        await recordAttempt(store, 
          attempt(claimed!.id, { outcome: 'retry', next_attempt_at: retryAt, response_code: 503, health: 'failure', error: 'HTTP 503' }),
        );
        const early = await store.claim('slack', { ...LEASE, limit: 1, now: now + 1_000 });
        expect(early.deliveries).toHaveLength(0);
        expect(early.next_due_at).toBe(retryAt);
        const due = await store.claim('slack', { ...LEASE, limit: 1, now: retryAt });
        expect(due.deliveries[0]?.attempts).toBe(1);
        expect(due.deliveries[0]?.request_body).toBe('{"text":"hi"}');
        await recordAttempt(store, attempt(claimed!.id));
        // Nothing waits any more: no due time to wake up for.
        expect(await store.claim('slack', { ...LEASE, limit: 1, now: retryAt + 1 })).toMatchObject({ deliveries: [], next_due_at: null });
        const record = await store.view('delivery', claimed!.id);
        expect(record).toMatchObject({ status: 'succeeded', attempts: 2, response_code: 200 });
        expect(record?.attempt_log.map((a) => [a.attempt, a.outcome, a.response_code])).toEqual([
          [1, 'retry', 503],
          [2, 'succeeded', 200],
        ]);
      });

      it('releasing claims makes them due at once', async () => {
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        await store.leases('release', [claimed!.id], OWNER);
        const again = await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 });
        expect(again.deliveries.map((d) => d.id)).toEqual([claimed!.id]);
      });

      it('a replay or a command is unordered (sent whatever its incident\'s order, no route rules) and carries its request', async () => {
        const event = relayEvent({ dedup_key: 'inc_cmd' });
        await store.ingest(batchOf(event, ['slack']));
        const now = Date.now() + 1;
        const [first] = (await store.claim('slack', { ...LEASE, limit: 1, now })).deliveries;
        expect(first).toMatchObject({ unordered: false, route: 'all' });
        await recordAttempt(store, attempt(first!.id));
        const replay = newId('dlv');
        await store.append('replay', first!.id, replay, now + 1);
        await store.append('prepared', event.id, [{ id: 'dlv_command', destination: 'slack', route: 'command:acknowledge', request_body: '{"ack":1}' }], now + 1);
        const batch = await store.claim('slack', { ...LEASE, limit: 10, now: now + 2 });
        expect(batch.deliveries.map((d) => [d.id, d.unordered, d.route, d.request_body]).sort()).toEqual(
          [
            ['dlv_command', true, null, '{"ack":1}'],
            [replay, true, null, '{"text":"hi"}'],
          ].sort(),
        );
      });

      it('superseded: skipped with the reason as its note, not as an error', async () => {
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        await recordAttempt(store, attempt(claimed!.id, { outcome: 'superseded', error: 'superseded: evt_x was delivered first', response_code: null, health: 'neutral' }));
        expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'skipped', note: 'superseded: evt_x was delivered first', last_error: null });
      });

      describe('two dispatchers on one store', () => {
        const A = { lease_ms: 60_000, owner: 'dispatcher-a' };
        const B = { lease_ms: 60_000, owner: 'dispatcher-b' };

        /** Events of one incident, queued in order for `slack` with incident order kept. */
        async function queueIncident(dedupKey: string, count: number, receivedAt = Date.now()): Promise<string[]> {
          const ids: string[] = [];
          for (let i = 0; i < count; i++) {
            const event = relayEvent({ dedup_key: dedupKey, status: i === count - 1 && count > 1 ? 'resolved' : 'firing' });
            const id = newId('dlv');
            const batch = batchOf(event, [], receivedAt);
            await store.ingest({ ...batch, events: [{ event, deliveries: [{ id, destination: 'slack', route: 'r', status: 'pending', incident_key: dedupKey, priority: 3 }] }] });
            ids.push(id);
          }
          return ids;
        }

        it('no delivery is claimed by both while leased, even when they claim at the same moment', async () => {
          for (let i = 0; i < 40; i++) await queueIncident(`inc_${i}`, 1);
          const now = Date.now() + 1;
          const rounds = await Promise.all(
            Array.from({ length: 8 }, (_, i) => store.claim('slack', { ...(i % 2 === 0 ? A : B), limit: 7, now })),
          );
          const claimed = rounds.flatMap((round) => round.deliveries.map((delivery) => delivery.id));
          expect(new Set(claimed).size).toBe(claimed.length);
          expect(claimed).toHaveLength(40);
          // Nothing more for either while the leases hold.
          expect((await store.claim('slack', { ...A, limit: 100, now: now + 59_999 })).deliveries).toHaveLength(0);
          expect((await store.claim('slack', { ...B, limit: 100, now: now + 59_999 })).deliveries).toHaveLength(0);
        });

        it('per-incident order: the follower is not claimable by the other while the head is in flight', async () => {
          const [head, follower] = await queueIncident('inc_order', 2);
          const other = (await queueIncident('inc_other', 1))[0]!;
          const now = Date.now() + 1;
          const byA = await store.claim('slack', { ...A, limit: 1, now });
          expect(byA.deliveries.map((d) => d.id)).toEqual([head]);
          // B may take other incidents, never the follower.
          const byB = await store.claim('slack', { ...B, limit: 10, now });
          expect(byB.deliveries.map((d) => d.id)).toEqual([other]);
          // The head is retried: back to pending, and the follower still waits behind it.
          await recordAttempt(store, attempt(head!, { lease_owner: A.owner, outcome: 'retry', next_attempt_at: now + 5_000, health: 'failure', response_code: 503, error: 'HTTP 503' }));
          expect((await store.claim('slack', { ...B, limit: 10, now: now + 1_000 })).deliveries).toHaveLength(0);
          // B takes the head when it is due; A cannot take the follower meanwhile.
          expect((await store.claim('slack', { ...B, limit: 10, now: now + 5_000 })).deliveries.map((d) => d.id)).toEqual([head]);
          expect((await store.claim('slack', { ...A, limit: 10, now: now + 5_000 })).deliveries).toHaveLength(0);
          await recordAttempt(store, attempt(head!, { lease_owner: B.owner }));
          expect((await store.claim('slack', { ...A, limit: 10, now: now + 5_001 })).deliveries.map((d) => d.id)).toEqual([follower]);
        });

        it('an expired lease of one is taken over by the other; the late owner records nothing, and order holds across the takeover', async () => {
          const [head, follower] = await queueIncident('inc_takeover', 2);
          const now = Date.now() + 1;
          const byA = await store.claim('slack', { ...A, lease_ms: 1_000, limit: 10, now });
          expect(byA.deliveries.map((d) => d.id)).toEqual([head]);
          // A's renewal keeps it A's; B finds nothing until A stops renewing and the lease runs out.
          await store.leases('extend', [head!], A.owner, now + 2_000);
          expect((await store.claim('slack', { ...B, limit: 10, now: now + 1_500 })).deliveries).toHaveLength(0);
          const byB = await store.claim('slack', { ...B, limit: 10, now: now + 2_000 });
          expect(byB.deliveries.map((d) => d.id)).toEqual([head]);
          // The follower still waits: its head is in flight, now under B.
          expect((await store.claim('slack', { ...A, limit: 10, now: now + 2_000 })).deliveries).toHaveLength(0);
          // A wakes up late: its renewal, result and give-back change nothing.
          await store.leases('extend', [head!], A.owner, now + 600_000);
          await store.leases('release', [head!], A.owner);
          expect((await recordAttempt(store, attempt(head!, { lease_owner: A.owner }))).recorded).toBe(false);
          expect(await store.view('delivery', head!)).toMatchObject({ status: 'in_flight', attempts: 0 });
          expect((await recordAttempt(store, attempt(head!, { lease_owner: B.owner }))).recorded).toBe(true);
          expect(await store.view('delivery', head!)).toMatchObject({ status: 'succeeded', attempts: 1 });
          expect((await store.claim('slack', { ...A, limit: 10, now: now + 2_001 })).deliveries.map((d) => d.id)).toEqual([follower]);
        });

        it('a disabled destination gives neither any work; with automatic recovery exactly one of them gets the probe', async () => {
          await queueIncident('inc_1', 1);
          await queueIncident('inc_2', 1);
          await queueIncident('inc_3', 1);
          const now = Date.now() + 1;
          const [first] = (await store.claim('slack', { ...A, limit: 1, now })).deliveries;
          const opened = await recordAttempt(store, 
            attempt(first!.id, { lease_owner: A.owner, outcome: 'retry', next_attempt_at: now + 1_000, health: 'failure', response_code: 500, error: 'HTTP 500', finished_at: now, breaker: { disable_after: 1, probe_backoff_ms: [10_000] } }),
          );
          expect(opened.disabled_now).toBe(true);
          for (const owner of [A, B]) {
            expect((await store.claim('slack', { ...owner, limit: 10, now: now + 5_000 })).deliveries).toHaveLength(0);
            expect((await store.claim('slack', { probe: true, ...owner, now: now + 5_000 })).deliveries).toHaveLength(0);
          }
          const probes = await Promise.all([store.claim('slack', { probe: true, ...A, now: now + 10_000 }), store.claim('slack', { probe: true, ...B, now: now + 10_000 })]);
          const won = probes.flatMap((batch) => batch.deliveries);
          expect(won.map((d) => [d.id, d.probe])).toEqual([[first!.id, true]]);
          // While the probe is out, neither gets anything else.
          for (const owner of [A, B]) {
            expect((await store.claim('slack', { ...owner, limit: 10, now: now + 10_001 })).deliveries).toHaveLength(0);
            expect((await store.claim('slack', { probe: true, ...owner, now: now + 10_001 })).deliveries).toHaveLength(0);
          }
        });

        it('an attempt of the other that was already running when the circuit opened does not push the probe back; a failed probe does', async () => {
          const [a] = await queueIncident('inc_a', 1);
          const [b] = await queueIncident('inc_b', 1);
          const now = Date.now() + 1;
          const breaker = { disable_after: 1, probe_backoff_ms: [10_000, 20_000, 40_000] };
          const failure = { outcome: 'retry', next_attempt_at: now + 1_000, health: 'failure', response_code: 500, error: 'HTTP 500', finished_at: now, breaker } as const;
          expect((await store.claim('slack', { ...A, limit: 1, now })).deliveries.map((d) => d.id)).toEqual([a]);
          expect((await store.claim('slack', { ...B, limit: 1, now })).deliveries.map((d) => d.id)).toEqual([b]);
          expect((await recordAttempt(store, attempt(a!, { ...failure, lease_owner: A.owner }))).disabled_now).toBe(true);
          await recordAttempt(store, attempt(b!, { ...failure, lease_owner: B.owner }));
          expect((await store.view('destinations')).find((s) => s.name === 'slack')?.probe_at).toBe(new Date(now + 10_000).toISOString());
          const [probe] = (await store.claim('slack', { probe: true, ...A, now: now + 10_000 })).deliveries;
          await recordAttempt(store, attempt(probe!.id, { ...failure, lease_owner: A.owner, probe: true, finished_at: now + 10_000 }));
          expect((await store.view('destinations')).find((s) => s.name === 'slack')?.probe_at).toBe(new Date(now + 30_000).toISOString());
        });

        it('the probe of an open circuit never jumps ahead of an incident whose head is still in flight under the other', async () => {
          // A holds the head of inc_slow (a slow attempt); other work fails and opens the circuit.
          const [head, follower] = await queueIncident('inc_slow', 2);
          const [failing] = await queueIncident('inc_failing', 1);
          const now = Date.now() + 1;
          expect((await store.claim('slack', { ...A, limit: 1, now })).deliveries.map((d) => d.id)).toEqual([head]);
          expect((await store.claim('slack', { ...B, limit: 10, now })).deliveries.map((d) => d.id)).toEqual([failing]);
          await recordAttempt(store, 
            attempt(failing!, { lease_owner: B.owner, outcome: 'retry', next_attempt_at: now + 1_000, health: 'failure', response_code: 500, error: 'HTTP 500', finished_at: now, breaker: { disable_after: 1, probe_backoff_ms: [10_000] } }),
          );
          // The probe is due while A's head is still in flight: it must not be the follower.
          const probe = await store.claim('slack', { probe: true, ...B, now: now + 10_000 });
          expect(probe.deliveries.map((d) => d.id)).not.toContain(follower);
          expect(probe.deliveries.map((d) => d.id)).toEqual([failing]);
        });
      });

      describe('fallback destinations (src/notify/fallback.ts): an open circuit hands its work to its fallback', () => {
        const breaker = { disable_after: 1, probe_backoff_ms: [10_000] };
        /** An event of incident `key` for the pager, ordered. */
        const paged = (key: string, receivedAt: number, extra: Partial<NewDelivery> = {}) => {
          const event = relayEvent({ dedup_key: key });
          const delivery: NewDelivery = { id: newId('dlv'), destination: 'pager', route: 'r', status: 'pending', incident_key: key, ...extra };
          return { event, delivery, batch: { ...batchOf(event, [], receivedAt), events: [{ event, deliveries: [delivery] }] } };
        };
        /** The pager's circuit opened by a failed attempt of `id` (leased by OWNER), retried far later. */
        const openPager = async (id: string, now: number) => {
          const opened = await recordAttempt(store, attempt(id, { destination: 'pager', outcome: 'retry', health: 'failure', next_attempt_at: now + 999_999, error: 'HTTP 503', finished_at: now, breaker }));
          expect(opened.disabled_now).toBe(true);
        };
        const handOff = (ids: readonly string[], now: number, owner = OWNER) =>
          store.holds('fallback', { ids, fallback_ids: ids.map(() => newId('dlv')), lease_owner: owner, destination: 'pager', fallback: 'slack', fallback_ordered: true, now });

        it('while closed nothing is claimed for the fallback; once open, its due work and its retries (at once) are, never a replay', async () => {
          const t0 = Date.now();
          const first = paged('inc_1', t0);
          const second = paged('inc_2', t0 + 1);
          for (const each of [first, second]) await store.ingest(each.batch);
          expect(await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 10, for_fallback: true })).toMatchObject({ deliveries: [], enabled: true });
          const [leased] = (await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 10 })).deliveries;
          expect(leased?.id).toBe(first.delivery.id);
          await openPager(first.delivery.id, t0 + 20);
          const replay = await store.append('replay', first.delivery.id, newId('dlv'), t0 + 30);
          // The retry waits 999 s for the pager, but not for the fallback.
          const claimed = await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 40, for_fallback: true });
          expect(claimed.deliveries.map((d) => d.id).sort()).toEqual([first.delivery.id, second.delivery.id].sort());
          expect(claimed.deliveries.map((d) => d.id)).not.toContain(replay!.id);
          expect(claimed.deliveries.map((d) => d.probe)).toEqual([false, false]);
          expect(claimed.enabled).toBe(false);
          // The ordinary claim still takes nothing from an open circuit.
          expect((await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 50 })).deliveries).toEqual([]);
        });

        it('handed over once: the original is finished naming where it went, the copy waits at the fallback naming what it stands in for', async () => {
          const t0 = Date.now();
          const one = paged('inc_x', t0);
          await store.ingest(one.batch);
          const [leased] = (await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 10 })).deliveries;
          await openPager(leased!.id, t0 + 20);
          await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 30, for_fallback: true });
          const copyId = newId('dlv');
          // Another worker, whose lease this is not, hands nothing over.
          expect(await store.holds('fallback', { ids: [one.delivery.id], fallback_ids: [newId('dlv')], lease_owner: 'someone-else', destination: 'pager', fallback: 'slack', fallback_ordered: true, now: t0 + 35 })).toBe(0);
          expect(await store.holds('fallback', { ids: [one.delivery.id], fallback_ids: [copyId], lease_owner: OWNER, destination: 'pager', fallback: 'slack', fallback_ordered: true, now: t0 + 40 })).toBe(1);
          // Never twice: the original is finished.
          expect(await handOff([one.delivery.id], t0 + 41)).toBe(0);
          const original = await store.view('delivery', one.delivery.id);
          expect(original).toMatchObject({ status: 'skipped', sent_via: { destination: 'slack', delivery_id: copyId }, fallback_for: null });
          expect(original?.note).toContain('sent via fallback slack');
          const copy = await store.view('delivery', copyId);
          expect(copy).toMatchObject({ destination: 'slack', status: 'pending', event_id: one.event.id, fallback_for: { destination: 'pager', delivery_id: one.delivery.id }, sent_via: null });
          expect((await store.view('deliveries', { destination: 'slack', limit: 10 })).map((d) => d.id)).toEqual([copyId]);
          const [claimed] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 50 })).deliveries;
          expect(claimed).toMatchObject({ id: copyId, fallback_for: { destination: 'pager', delivery_id: one.delivery.id }, probe: false });
          expect(claimed?.event.id).toBe(one.event.id);
          expect(await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 60, for_fallback: true })).toMatchObject({ deliveries: [], next_due_at: null });
          expect((await store.view('event', one.event.id))?.deliveries.map((d) => [d.destination, d.status]).sort()).toEqual([
            ['pager', 'skipped'],
            ['slack', 'in_flight'],
          ]);
        });

        it("an incident's events reach the fallback in order: the resolve waits behind its trigger there", async () => {
          const t0 = Date.now();
          const trigger = paged('inc_o', t0);
          const resolve = paged('inc_o', t0 + 1);
          const other = paged('inc_p', t0 + 2);
          for (const each of [trigger, resolve, other]) await store.ingest(each.batch);
          await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 10 });
          await openPager(trigger.delivery.id, t0 + 20);
          const firstRound = await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 30, for_fallback: true });
          expect(firstRound.deliveries.map((d) => d.id).sort()).toEqual([trigger.delivery.id, other.delivery.id].sort());
          expect(await handOff([trigger.delivery.id], t0 + 31)).toBe(1);
          expect(await handOff([other.delivery.id], t0 + 32)).toBe(1);
          const secondRound = await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 40, for_fallback: true });
          expect(secondRound.deliveries.map((d) => d.id)).toEqual([resolve.delivery.id]);
          expect(await handOff([resolve.delivery.id], t0 + 41)).toBe(1);
          const atSlack = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 50 });
          expect(atSlack.deliveries.map((d) => d.fallback_for?.delivery_id).sort()).toEqual([trigger.delivery.id, other.delivery.id].sort());
          const triggerCopy = atSlack.deliveries.find((d) => d.fallback_for?.delivery_id === trigger.delivery.id)!;
          await recordAttempt(store, attempt(triggerCopy.id));
          const next = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 60 });
          expect(next.deliveries.map((d) => d.fallback_for?.delivery_id)).toEqual([resolve.delivery.id]);
        });

        it('a worker that died between the claim and the hand-over: its lease runs out, the work is claimed again and handed over once', async () => {
          const t0 = Date.now();
          const one = paged('inc_d', t0);
          await store.ingest(one.batch);
          await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 10 });
          await openPager(one.delivery.id, t0 + 20);
          const [first] = (await store.claim('pager', { ...LEASE, owner: 'dead-worker', limit: 10, now: t0 + 30, for_fallback: true })).deliveries;
          expect(first?.id).toBe(one.delivery.id);
          expect((await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 40, for_fallback: true })).deliveries).toEqual([]);
          const [again] = (await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 30 + LEASE.lease_ms + 1, for_fallback: true })).deliveries;
          expect(again?.id).toBe(one.delivery.id);
          expect(await handOff([one.delivery.id], t0 + 30 + LEASE.lease_ms + 2)).toBe(1);
          expect(await handOff([one.delivery.id], t0 + 30 + LEASE.lease_ms + 3, 'dead-worker')).toBe(0);
          expect(await store.view('deliveries', { destination: 'slack', limit: 10 })).toHaveLength(1);
        });

        it('a resolve kept for its own destination: copied once, pending there for the probe or a closed circuit, never handed over again', async () => {
          const t0 = Date.now();
          const trigger = paged('inc_k', t0);
          await store.ingest(trigger.batch);
          const [leased] = (await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 10 })).deliveries;
          await recordAttempt(store, attempt(leased!.id, { destination: 'pager', breaker }));
          const resolve = paged('inc_k', t0 + 20);
          const other = paged('inc_l', t0 + 21);
          for (const each of [resolve, other]) await store.ingest(each.batch);
          const [failing] = (await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 30 })).deliveries;
          await openPager(failing!.id, t0 + 40);
          const claimed = await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 50, for_fallback: true });
          expect(claimed.deliveries.map((d) => d.id).sort()).toEqual([resolve.delivery.id, other.delivery.id].sort());
          const copy = newId('dlv');
          expect(
            await store.holds('fallback', { ids: [resolve.delivery.id], fallback_ids: [copy], keep: [resolve.delivery.id], lease_owner: OWNER, destination: 'pager', fallback: 'slack', fallback_ordered: true, now: t0 + 60 }),
          ).toBe(1);
          expect(await store.view('delivery', resolve.delivery.id)).toMatchObject({ status: 'pending', sent_via: { destination: 'slack', delivery_id: copy } });
          expect((await store.view('delivery', resolve.delivery.id))?.note).toContain('waits to close the incident here');
          expect(await store.view('delivery', copy)).toMatchObject({ status: 'pending', fallback_for: { destination: 'pager', delivery_id: resolve.delivery.id } });
          // Not claimed for the fallback again; the probe (or an ordinary claim once closed) takes it, saying it was copied.
          expect((await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 70, for_fallback: true })).deliveries).toEqual([]);
          const [probe] = (await store.claim('pager', { probe: true, ...LEASE, now: t0 + 40 + 10_000 })).deliveries;
          expect(probe).toMatchObject({ id: resolve.delivery.id, probe: true, sent_via_fallback: true });
        });

        it('two workers claiming for the fallback at once take different deliveries, and each is handed over once', async () => {
          const t0 = Date.now();
          const all = Array.from({ length: 12 }, (_, index) => paged(`inc_c${index}`, t0 + index));
          for (const each of all) await store.ingest(each.batch);
          const [leased] = (await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 20 })).deliveries;
          await openPager(leased!.id, t0 + 30);
          const [a, b] = await Promise.all(
            ['worker-a', 'worker-b'].map((owner) => store.claim('pager', { ...LEASE, owner, limit: 8, now: t0 + 40, for_fallback: true })),
          );
          const ids = (batch: typeof a) => batch!.deliveries.map((d) => d.id);
          expect(ids(a).filter((id) => ids(b).includes(id))).toEqual([]);
          const handed = await Promise.all([
            ...ids(a).map((id) => handOff([id], t0 + 50, 'worker-a')),
            ...ids(b).map((id) => handOff([id], t0 + 50, 'worker-b')),
            // A worker handing over what the other leased hands nothing.
            ...ids(a).map((id) => handOff([id], t0 + 50, 'worker-b')),
          ]);
          expect(handed.reduce((sum, count) => sum + count, 0)).toBe(ids(a).length + ids(b).length);
          expect(await store.view('deliveries', { destination: 'slack', limit: 100 })).toHaveLength(ids(a).length + ids(b).length);
        });

        it('a storm at the fallback never folds its copies into a digest (each carries its own marker), nor into a digest of its own work', async () => {
          const t0 = Date.now();
          const pages = ['inc_s1', 'inc_s2', 'inc_s3'].map((key, index) => paged(key, t0 + index));
          const own = ['own_1', 'own_2', 'own_3'].map((key, index) => {
            const event = relayEvent({ dedup_key: key });
            const delivery: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', incident_key: key };
            return { delivery, batch: { ...batchOf(event, [], t0 + 10 + index), events: [{ event, deliveries: [delivery] }] } };
          });
          for (const each of [...pages, ...own]) await store.ingest(each.batch);
          const [leased] = (await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 20 })).deliveries;
          await openPager(leased!.id, t0 + 30);
          const claimed = (await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 40, for_fallback: true })).deliveries;
          expect(claimed).toHaveLength(3);
          for (const each of claimed) expect(await handOff([each.id], t0 + 50)).toBe(1);
          const atSlack = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 60, storm: { capacity: 1 } })).deliveries;
          const copies = atSlack.filter((d) => d.fallback_for !== undefined);
          expect(copies.map((d) => d.fallback_for?.delivery_id).sort()).toEqual(pages.map((each) => each.delivery.id).sort());
          expect(copies.map((d) => [d.digest ?? false, d.member_ids])).toEqual(copies.map(() => [false, []]));
          const digests = atSlack.filter((d) => d.fallback_for === undefined);
          expect(digests).toHaveLength(1);
          expect(digests[0]!.digest).toBe(true);
          expect([digests[0]!.id, ...digests[0]!.member_ids].sort()).toEqual(own.map((each) => each.delivery.id).sort());
        });

        it('a grouped batch handed over goes out as one batch at the fallback', async () => {
          const t0 = Date.now();
          const group = { key: 'g', wait_ms: 0, interval_ms: 0 };
          const a = paged('inc_ga', t0, { group });
          const b = paged('inc_gb', t0 + 1, { group });
          for (const each of [a, b]) await store.ingest(each.batch);
          const [lead] = (await store.claim('pager', { ...LEASE, limit: 1, now: t0 + 10 })).deliveries;
          expect(lead?.member_ids).toHaveLength(1);
          const opened = await recordAttempt(store, attempt(lead!.id, { destination: 'pager', member_ids: lead!.member_ids, outcome: 'retry', health: 'failure', next_attempt_at: t0 + 999_999, error: 'HTTP 503', finished_at: t0 + 20, breaker }));
          expect(opened.disabled_now).toBe(true);
          const [batch] = (await store.claim('pager', { ...LEASE, limit: 10, now: t0 + 30, for_fallback: true })).deliveries;
          const ids = [batch!.id, ...batch!.member_ids];
          expect(ids.sort()).toEqual([a.delivery.id, b.delivery.id].sort());
          expect(await handOff([batch!.id, ...batch!.member_ids], t0 + 40)).toBe(2);
          const atSlack = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 50 })).deliveries;
          expect(atSlack).toHaveLength(1);
          expect(atSlack[0]!.member_ids).toHaveLength(1);
        });
      });
    });

    describe('IncidentStateStore: what the rules read, and what people change', () => {
      it('the notification log keeps what each incident was last told, written by successful attempts', async () => {
        const event = relayEvent({ dedup_key: 'inc_n' });
        await store.ingest(batchOf(event, ['slack']));
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        const told = { destination: 'slack', dedup_key: 'inc_n', status: 'firing' as const, occurred_at: event.occurred_at, delivery_id: claimed!.id, sent_at: 1_700_000_000_000 };
        await recordAttempt(store, attempt(claimed!.id, { notified: [told] }));
        expect(await store.notificationLog('slack', ['inc_n', 'inc_unknown'])).toEqual([told]);
        expect(await store.notificationLog('pager', ['inc_n'])).toEqual([]);
        // A failed attempt told nobody anything.
        await store.ingest(batchOf(relayEvent({ dedup_key: 'inc_failed' }), ['slack']));
        const [failing] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        const untold = { ...told, dedup_key: 'inc_failed', delivery_id: failing!.id };
        await recordAttempt(store, attempt(failing!.id, { outcome: 'failed', health: 'failure', error: 'HTTP 400', notified: [untold] }));
        expect(await store.notificationLog('slack', ['inc_failed'])).toEqual([]);
      });

      it('mutes: active ones are listed until they expire or are deleted', async () => {
        const now = Date.now();
        const mute = (id: string, expiresIn: number) => ({
          id,
          matchers: { type: 'qos.*', 'data.region': 'Maha*' },
          reason: 'deploy',
          created_by: '<@U123>',
          created_at: new Date(now).toISOString(),
          expires_at: new Date(now + expiresIn).toISOString(),
          deleted_at: null,
        });
        expect(await store.change('create_mute', mute('mut_a', 60_000))).toEqual(mute('mut_a', 60_000));
        await store.change('create_mute', mute('mut_b', 1_000));
        expect((await store.view('mutes', { now })).map((m) => m.id)).toEqual(['mut_b', 'mut_a']);
        expect((await store.view('mutes', { now: now + 1_000 })).map((m) => m.id)).toEqual(['mut_a']);
        const deleted = await store.change('delete_mute', 'mut_a', now + 10);
        expect(deleted?.deleted_at).not.toBeNull();
        expect(await store.change('delete_mute', 'mut_a', now + 20)).toBeNull();
        expect((await store.view('mutes', { now: now + 20 })).map((m) => m.id)).toEqual(['mut_b']);
        expect(await store.view('mutes', { now: now + 1_000 })).toEqual([]);
        expect((await store.view('mutes', { now: now + 20, all: true })).map((m) => m.id).sort()).toEqual(['mut_a', 'mut_b']);
      });

      it('threshold state counts a route key up to a delivery within the window, and names the delivery that fired it', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 3; i++) {
          const event = relayEvent({ dedup_key: 'k' });
          const batch = batchOf(event, []);
          const id = newId('dlv');
          ids.push(id);
          await store.ingest({ ...batch, events: [{ event, deliveries: [{ id, destination: 'slack', route: 'qos', status: 'pending', rule_key: 'k' }] }] });
        }
        const query = { destination: 'slack', route: 'qos', rule_key: 'k', since: Date.now() - 60_000 };
        expect(await store.thresholdState({ ...query, up_to_id: ids[1]! })).toEqual({ count: 2, fired: null });
        expect(await store.thresholdState({ ...query, up_to_id: ids[2]!, since: Date.now() + 60_000 })).toEqual({ count: 0, fired: null });
        const claimed = (await store.claim('slack', { ...LEASE, limit: 3, now: Date.now() + 1 })).deliveries;
        const first = claimed.find((delivery) => delivery.id === ids[0]);
        expect(first?.rule_keys).toEqual(['k']);
        await recordAttempt(store, attempt(ids[0]!));
        expect(await store.thresholdState({ ...query, up_to_id: ids[2]! })).toEqual({ count: 3, fired: ids[0] });
      });
    });

    describe('StoreViews: what the admin API and metrics read', () => {
      it('queue stats count pending and in-flight work per destination, with the oldest', async () => {
        const t0 = Date.now() - 5_000;
        await store.ingest(batchOf(relayEvent(), ['slack'], t0));
        await store.ingest(batchOf(relayEvent(), ['slack', 'pager'], t0 + 1_000));
        await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() });
        expect(await store.view('queue')).toEqual([
          { destination: 'pager', enabled: true, depth: 1, oldest_pending_at: t0 + 1_000 },
          { destination: 'slack', enabled: true, depth: 2, oldest_pending_at: t0 },
        ]);
      });

      it('lists deliveries newest first, filtered and limited', async () => {
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) {
          const batch = batchOf(relayEvent(), ['slack', 'pager']);
          ids.push(batch.events[0]!.deliveries[0]!.id);
          await store.ingest(batch);
        }
        const listed = await store.view('deliveries', { destination: 'slack', limit: 3 });
        expect(listed.map((d) => d.id)).toEqual(ids.slice(-3).reverse());
        const page = await store.view('deliveries', { destination: 'slack', limit: 10, before: ids[2]! });
        expect(page.map((d) => d.id)).toEqual([ids[1], ids[0]]);
      });

      describe('event search (the event explorer)', () => {
        /** Five events, one request each, a second apart (oldest first). */
        async function seed(t0: number): Promise<string[]> {
          const events = [
            relayEvent({ title: 'Rebuffer spike in Maharashtra', source: 'tapemetric', type: 'qos.rebuffer_spike', severity: 'critical' }),
            relayEvent({ title: 'Disk 100% full_on db-1', source: 'statussentry', type: 'disk.full', severity: 'warning' }),
            relayEvent({ title: 'REBUFFER spike in Kerala', source: 'tapemetric', type: 'qos.rebuffer_spike', severity: 'error', status: 'resolved' }),
            relayEvent({ title: 'Disk 1000 full on db-2', source: 'statussentry', type: 'disk.full', severity: 'info' }),
            relayEvent({ title: 'Überlast in Köln', source: 'tapemetric', type: 'qos.load', severity: 'warning' }),
          ];
          for (const [index, event] of events.entries()) await store.ingest(batchOf(event, ['slack'], t0 + index * 1_000));
          return events.map((event) => event.id);
        }
        const ids = (found: ReadonlyArray<{ id: string }>): string[] => found.map((event) => event.id);

        it('lists newest first, without payloads, filtered by source, type, severity and status', async () => {
          const t0 = Date.now() - 60_000;
          const [a, b, c, d, e] = await seed(t0);
          const all = await store.view('events', { limit: 50 });
          expect(ids(all)).toEqual([e, d, c, b, a]);
          expect(all[2]).toEqual({
            id: c,
            source: 'tapemetric',
            external_id: null,
            type: 'qos.rebuffer_spike',
            severity: 'error',
            status: 'resolved',
            title: 'REBUFFER spike in Kerala',
            summary: '8.4 vs baseline 3.1',
            dedup_key: 'qos.rebuffer_spike:Maharashtra',
            occurred_at: '2026-04-23T18:28:00.000Z',
            received_at: new Date(t0 + 2_000).toISOString(),
            deliveries: { pending: 1 },
          });
          expect(ids(await store.view('events', { limit: 50, source: 'statussentry' }))).toEqual([d, b]);
          expect(ids(await store.view('events', { limit: 50, type: 'qos.rebuffer_spike' }))).toEqual([c, a]);
          expect(ids(await store.view('events', { limit: 50, type: 'qos.*' }))).toEqual([e, c, a]);
          expect(ids(await store.view('events', { limit: 50, type: '*.full' }))).toEqual([d, b]);
          expect(ids(await store.view('events', { limit: 50, type: 'qos.?oad' }))).toEqual([e]);
          expect(ids(await store.view('events', { limit: 50, type: 'QOS.*' }))).toEqual([]);
          expect(ids(await store.view('events', { limit: 50, type: 'qos' }))).toEqual([]);
          expect(ids(await store.view('events', { limit: 50, severity: 'warning' }))).toEqual([e, b]);
          expect(ids(await store.view('events', { limit: 50, status: 'resolved' }))).toEqual([c]);
          expect(ids(await store.view('events', { limit: 50, source: 'tapemetric', severity: 'critical', status: 'firing' }))).toEqual([a]);
        });

        it('each event found says how its deliveries stand, by status', async () => {
          const event = relayEvent();
          await store.ingest(batchOf(event, ['slack', 'pager']));
          const skipped = relayEvent();
          await store.ingest({ ...batchOf(skipped, []), events: [{ event: skipped, deliveries: [{ id: newId('dlv'), destination: null, route: null, status: 'skipped' }] }] });
          const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
          await store.commitAttempts([attempt(claimed!.id)]);
          const found = await store.view('events', { limit: 10 });
          expect(found.map((summary) => [summary.id, summary.deliveries])).toEqual([
            [skipped.id, { skipped: 1 }],
            [event.id, { pending: 1, succeeded: 1 }],
          ]);
        });

        it('title text matches anywhere, ignoring ASCII case, and literally: % and _ are no wildcards', async () => {
          const [a, b, c, d, e] = await seed(Date.now() - 60_000);
          expect(ids(await store.view('events', { limit: 50, q: 'rebuffer SPIKE' }))).toEqual([c, a]);
          expect(ids(await store.view('events', { limit: 50, q: '100%' }))).toEqual([b]);
          expect(ids(await store.view('events', { limit: 50, q: 'full_on' }))).toEqual([b]);
          expect(ids(await store.view('events', { limit: 50, q: '1_0' }))).toEqual([]);
          expect(ids(await store.view('events', { limit: 50, q: '%' }))).toEqual([b]);
          expect(ids(await store.view('events', { limit: 50, q: 'db-\\' }))).toEqual([]);
          expect(ids(await store.view('events', { limit: 50, q: 'Köln' }))).toEqual([e]);
          expect(ids(await store.view('events', { limit: 50, q: "'; DROP TABLE events; --" }))).toEqual([]);
          expect(ids(await store.view('events', { limit: 50, q: 'db-' }))).toEqual([d, b]);
        });

        it('a type glob takes `*`, `?`, `[`, `%` and `_` in a type literally where they are literal', async () => {
          const t0 = Date.now() - 60_000;
          const odd = ['deploy.*', 'deploy.x', 'job[1]', 'job1', 'rate_%', 'rateX1', 'a\\b'];
          const stored: string[] = [];
          for (const [index, type] of odd.entries()) {
            const event = relayEvent({ type });
            stored.push(event.id);
            await store.ingest(batchOf(event, [], t0 + index));
          }
          const [star, x, bracket, plain, underscore, other, backslash] = stored;
          expect(ids(await store.view('events', { limit: 50, type: 'deploy.\\*' }))).toEqual([star]);
          expect(ids(await store.view('events', { limit: 50, type: 'deploy.*' }))).toEqual([x, star]);
          expect(ids(await store.view('events', { limit: 50, type: 'job[1]' }))).toEqual([bracket]);
          expect(ids(await store.view('events', { limit: 50, type: 'job[1?' }))).toEqual([bracket]);
          expect(ids(await store.view('events', { limit: 50, type: 'job?' }))).toEqual([plain]);
          expect(ids(await store.view('events', { limit: 50, type: 'rate_%*' }))).toEqual([underscore]);
          expect(ids(await store.view('events', { limit: 50, type: 'rate*' }))).toEqual([other, underscore]);
          expect(ids(await store.view('events', { limit: 50, type: 'a\\\\*' }))).toEqual([backslash]);
          expect(ids(await store.view('events', { limit: 50, type: 'a\\b' }))).toEqual([]);
          expect(ids(await store.view('events', { limit: 50, type: 'a\\\\b' }))).toEqual([backslash]);
          // The same answers as the routes' own matcher, for each glob.
          for (const glob of ['*', '?', '*?*', 'deploy.?', 'job[*', '*%', '*_*', '\\*', 'a\\\\?', '*\\?*', 'rate?%']) {
            const expected = stored.filter((_, index) => globMatcher(glob)(odd[index]!)).reverse();
            expect(ids(await store.view('events', { limit: 50, type: glob })), glob).toEqual(expected);
          }
        });

        it('a time range takes events received at or after `since` and before `until`', async () => {
          const t0 = Date.now() - 60_000;
          const [, b, c, d] = await seed(t0);
          expect(ids(await store.view('events', { limit: 50, since: t0 + 1_000, until: t0 + 4_000 }))).toEqual([d, c, b]);
          expect(ids(await store.view('events', { limit: 50, since: t0 + 3_500 }))).toHaveLength(1);
          expect(ids(await store.view('events', { limit: 50, until: t0 }))).toEqual([]);
        });

        it('pages by `before` with a bounded limit', async () => {
          const [a, b, c, d, e] = await seed(Date.now() - 60_000);
          const first = await store.view('events', { limit: 2 });
          expect(ids(first)).toEqual([e, d]);
          const second = await store.view('events', { limit: 2, before: first.at(-1)!.id });
          expect(ids(second)).toEqual([c, b]);
          expect(ids(await store.view('events', { limit: 2, before: second.at(-1)!.id }))).toEqual([a]);
          expect(ids(await store.view('events', { limit: 2, before: b, q: 'disk' }))).toEqual([]);
          for (let index = 0; index < 200; index++) await store.ingest(batchOf(relayEvent(), []));
          expect(await store.view('events', { limit: 10_000 })).toHaveLength(200);
        });

        it('a requests log line links to the event its request brought (for a duplicate, the first one stored)', async () => {
          const now = Date.now();
          const event = relayEvent({ external_id: 'evt_linked' });
          await store.ingest({ ...batchOf(event, ['slack']), request: requestLine(now, { status: 202, outcome: 'accepted', reason: null, excerpt: null }) });
          await store.ingest({
            ...batchOf(relayEvent({ external_id: 'evt_linked' }), ['slack']),
            request: requestLine(now + 1, { status: 202, outcome: 'accepted', reason: null, excerpt: null }),
          });
          await store.append('requests', [requestLine(now + 2)]);
          const lines = await store.view('requests', { limit: 10 });
          expect(lines.map((line) => [line.outcome, line.event_id])).toEqual([
            ['signature_mismatch', null],
            ['duplicate', event.id],
            ['accepted', event.id],
          ]);
        });
      });
    });

    describe('StoreLifecycle: bounded logs, readiness', () => {
      it('prune keeps the newest finished deliveries per destination and never pending work', async () => {
        const finished: string[] = [];
        for (let i = 0; i < 8; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
        const claimed = (await store.claim('slack', { ...LEASE, limit: 6, now: Date.now() + 1 })).deliveries;
        for (const delivery of claimed) {
          await recordAttempt(store, attempt(delivery.id));
          finished.push(delivery.id);
        }
        const removed = await store.prune('deliveries', { keep_per_destination: 4, keep_events_ms: 0, now: Date.now() + 1 });
        expect(removed).toBe(2);
        const left = await store.view('deliveries', { destination: 'slack', limit: 100 });
        expect(left.filter((d) => d.status === 'succeeded').map((d) => d.id).sort()).toEqual(finished.slice(-4).sort());
        expect(left.filter((d) => d.status === 'pending')).toHaveLength(2);
      });

      it('prune forgets, once older than the events window, what decides nothing any more: told lines, resolved incidents\' messages, ended mutes; younger or open ones stay', async () => {
        const t0 = Date.now();
        const day = 86_400_000;
        // The window ends at t0 + 1000: what is older goes, what is that old or younger stays.
        const horizon = t0 + 1_000;
        for (let i = 0; i < 3; i++) await store.ingest(batchOf(relayEvent(), ['slack', 'pager'], t0 - 10_000));
        const [toldOld, toldEdge, toldNew] = (await store.claim('slack', { ...LEASE, limit: 3, now: t0 })).deliveries;
        const told = (delivery: ClaimedDelivery, key: string, at: number) =>
          recordAttempt(store, attempt(delivery.id, { notified: [{ destination: 'slack', dedup_key: key, status: 'firing', occurred_at: delivery.event.occurred_at, delivery_id: delivery.id, sent_at: at }] }));
        await told(toldOld!, 'k-old', horizon - 1);
        await told(toldEdge!, 'k-edge', horizon);
        await told(toldNew!, 'k-new', horizon + 1_000);

        const [resolvedOld, stillFiring, resolvedNew] = (await store.claim('pager', { ...LEASE, limit: 3, now: t0 })).deliveries;
        const message = async (delivery: ClaimedDelivery, key: string, status: 'firing' | 'resolved', at: number) =>
          recordAttempt(store, attempt(delivery.id, {
            destination: 'pager',
            started_at: at - 1,
            finished_at: at,
            effects: { incident_message: { kind: 'posted', dedup_key: key, channel: 'C1', ts: '1700000000.000100', started_at: '2026-11-23T10:00:00.000Z', status, resolved_at: status === 'resolved' ? '2026-11-23T10:10:00.000Z' : null, last_event_id: delivery.event.id } },
          }));
        await message(resolvedOld!, 'm-resolved-old', 'resolved', horizon - 1);
        await message(stillFiring!, 'm-firing', 'firing', t0 - 5_000);
        await message(resolvedNew!, 'm-resolved-edge', 'resolved', horizon);

        const mute = (id: string, expiresAt: number) => ({
          id, matchers: { type: 'qos.*' }, reason: 'deploy', created_by: '<@U123>',
          created_at: new Date(t0 - 60_000).toISOString(), expires_at: new Date(expiresAt).toISOString(), deleted_at: null,
        });
        await store.change('create_mute', mute('mut-expired', horizon - 1));
        await store.change('create_mute', mute('mut-expired-edge', horizon));
        await store.change('create_mute', mute('mut-deleted', t0 + 30 * day));
        await store.change('delete_mute', 'mut-deleted', horizon - 1);
        await store.change('create_mute', mute('mut-deleted-edge', t0 + 30 * day));
        await store.change('delete_mute', 'mut-deleted-edge', horizon);
        await store.change('create_mute', mute('mut-live', t0 + 30 * day));

        await store.prune('deliveries', { keep_per_destination: 1_000, keep_events_ms: day, now: horizon + day });

        expect((await store.notificationLog('slack', ['k-old', 'k-edge', 'k-new'])).map((entry) => entry.dedup_key).sort()).toEqual(['k-edge', 'k-new']);
        expect(await store.view('incident_message', 'pager', 'm-resolved-old')).toBeNull();
        expect(await store.view('incident_message', 'pager', 'm-firing')).toMatchObject({ status: 'firing' });
        expect(await store.view('incident_message', 'pager', 'm-resolved-edge')).toMatchObject({ status: 'resolved' });
        expect((await store.view('mutes', { now: t0, all: true })).map((m) => m.id).sort()).toEqual(['mut-deleted-edge', 'mut-expired-edge', 'mut-live']);
      });

      it('prune never removes pending or in-flight work, even when it is older than every finished delivery it keeps', async () => {
        const t0 = Date.now() - 60_000;
        // The oldest three stay unfinished: one pending (given back), one in flight, one waiting to retry.
        const old = [relayEvent(), relayEvent(), relayEvent()];
        for (const [i, event] of old.entries()) await store.ingest(batchOf(event, ['slack'], t0 + i));
        for (let i = 0; i < 6; i++) await store.ingest(batchOf(relayEvent(), ['slack'], t0 + 1_000 + i));
        const claimed = (await store.claim('slack', { ...LEASE, limit: 9, now: Date.now() })).deliveries;
        expect(claimed.map((d) => d.event.id).slice(0, 3)).toEqual(old.map((event) => event.id));
        const [given, flying, retrying, ...rest] = claimed;
        await store.leases('release', [given!.id], OWNER);
        await recordAttempt(store, attempt(retrying!.id, { outcome: 'retry', next_attempt_at: Date.now() + 3_600_000, health: 'failure', response_code: 503 }));
        for (const delivery of rest) await recordAttempt(store, attempt(delivery.id));

        const removed = await store.prune('deliveries', { keep_per_destination: 4, keep_events_ms: 0, now: Date.now() + 120_000 });

        expect(removed).toBe(2);
        const left = await store.view('deliveries', { destination: 'slack', limit: 100 });
        expect(left.filter((d) => d.status === 'succeeded').map((d) => d.id).sort()).toEqual(rest.slice(-4).map((d) => d.id).sort());
        expect(await store.view('delivery', given!.id)).toMatchObject({ status: 'pending', attempts: 0 });
        expect(await store.view('delivery', flying!.id)).toMatchObject({ status: 'in_flight' });
        expect(await store.view('delivery', retrying!.id)).toMatchObject({ status: 'pending', attempts: 1 });
        // Their events and raw requests are still there to be rendered and sent.
        for (const event of old) expect((await store.view('event', event.id))?.raw.body).toBe(JSON.stringify(event.data));
      });

      it('answers ping while open', async () => {
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('rule stories (the decisions of src/notify/, held by this store)', () => {
      it('consecutive failures disable the destination; its work waits; enable resumes it at once', async () => {
        for (let i = 0; i < 4; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
        let now = Date.now() + 1;
        const claimed = (await store.claim('slack', { ...LEASE, limit: 3, now })).deliveries;
        const failure = { outcome: 'retry', health: 'failure', response_code: 500, error: 'HTTP 500' } as const;
        const r1 = await recordAttempt(store, attempt(claimed[0]!.id, { ...failure, next_attempt_at: now + 999_999 }));
        const r2 = await recordAttempt(store, attempt(claimed[1]!.id, { ...failure, next_attempt_at: now + 999_999 }));
        expect([r1.disabled_now, r2.disabled_now]).toEqual([false, false]);
        const r3 = await recordAttempt(store, attempt(claimed[2]!.id, { ...failure, next_attempt_at: now + 999_999, finished_at: now + 5 }));
        expect(r3.disabled_now).toBe(true);
        expect(r3.destination).toMatchObject({ enabled: false, consecutive_failures: 3, pending: 4 });
        expect((await store.view('destinations')).find((state) => state.name === 'slack')).toMatchObject({
          enabled: false,
          disabled_at: new Date(now + 5).toISOString(),
          disabled_reason: '3 consecutive failed attempts; last: HTTP 500',
        });
        now += 10;
        expect((await store.claim('slack', { ...LEASE, limit: 10, now })).deliveries).toHaveLength(0);
        const enabled = await store.change('enable_destination', 'slack', now);
        expect(enabled).toMatchObject({ enabled: true, consecutive_failures: 0, disabled_at: null });
        // Backed-off deliveries are due now, not in 999 seconds.
        expect((await store.claim('slack', { ...LEASE, limit: 10, now })).deliveries).toHaveLength(4);
        expect(await store.change('enable_destination', 'nope', now)).toBeNull();
      });

      it('a success resets the failure count; rate limits do not count', async () => {
        for (let i = 0; i < 3; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
        const claimed = (await store.claim('slack', { ...LEASE, limit: 3, now: Date.now() + 1 })).deliveries;
        await recordAttempt(store, attempt(claimed[0]!.id, { outcome: 'failed', health: 'failure', error: 'HTTP 404' }));
        await recordAttempt(store, attempt(claimed[1]!.id, { outcome: 'retry', health: 'neutral', next_attempt_at: Date.now(), response_code: 429 }));
        const states = await store.view('destinations');
        expect(states.find((s) => s.name === 'slack')?.consecutive_failures).toBe(1);
        const ok = await recordAttempt(store, attempt(claimed[2]!.id));
        expect(ok.destination.consecutive_failures).toBe(0);
      });

      describe('grouped routes', () => {
        const group = (key: string) => ({ key, wait_ms: 30_000, interval_ms: 300_000 });
        const groupedBatch = (key: string, receivedAt: number) => {
          const event = relayEvent();
          return {
            batch: {
              ...batchOf(event, [], receivedAt),
              events: [{ event, deliveries: [{ id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending' as const, group: group(key) }] }],
            },
            event,
          };
        };

        it('a new group waits `wait`; later events join its batch; the batch is claimed and recorded as one', async () => {
          const t0 = Date.now();
          const first = groupedBatch('["r","Maharashtra"]', t0);
          const second = groupedBatch('["r","Maharashtra"]', t0 + 5_000);
          const other = groupedBatch('["r","Kerala"]', t0 + 6_000);
          for (const { batch } of [first, second, other]) await store.ingest(batch);

          const early = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 29_000 });
          expect(early.deliveries).toHaveLength(0);
          expect(early.next_due_at).toBe(t0 + 30_000);

          const due = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 30_000 });
          expect(due.deliveries).toHaveLength(1);
          const [batch] = due.deliveries;
          expect(batch!.events.map((e) => e.id)).toEqual([first.event.id, second.event.id]);
          expect(batch!.member_ids).toHaveLength(1);

          await recordAttempt(store, attempt(batch!.id, { member_ids: batch!.member_ids, finished_at: t0 + 30_050 }));
          const both = await store.view('deliveries', { destination: 'slack', status: 'succeeded', limit: 10 });
          expect(both.map((d) => d.event_id).sort()).toEqual([first.event.id, second.event.id].sort());
          expect(both.every((d) => d.attempts === 1 && d.request_body === '{"text":"hi"}')).toBe(true);

          // The Kerala group is its own batch, due 30 s after its first event.
          const kerala = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 36_000 });
          expect(kerala.deliveries.map((d) => d.event.id)).toEqual([other.event.id]);
        });

        it('two groups notified in one commit each wait their own `interval` after it', async () => {
          const t0 = Date.now();
          // g1 a batch of two events, g2 a single one: a store may record the two differently.
          const g1 = groupedBatch('g1', t0);
          const g1b = groupedBatch('g1', t0 + 1);
          const g2 = groupedBatch('g2', t0);
          for (const { batch } of [g1, g1b, g2]) await store.ingest(batch);
          const claimed = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 30_000 })).deliveries;
          const of = (event: RelayEvent) => claimed.find((delivery) => delivery.event.id === event.id)!;
          expect(of(g1.event).member_ids).toHaveLength(1);
          await store.commitAttempts([attempt(of(g1.event).id, { member_ids: of(g1.event).member_ids, finished_at: t0 + 30_100 }), attempt(of(g2.event).id, { finished_at: t0 + 30_050 })]);
          const next1 = groupedBatch('g1', t0 + 31_000);
          const next2 = groupedBatch('g2', t0 + 31_000);
          for (const { batch } of [next1, next2]) await store.ingest(batch);
          expect(await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 330_049 })).toMatchObject({ deliveries: [], next_due_at: t0 + 330_050 });
          expect((await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 330_050 })).deliveries.map((d) => d.event.id)).toEqual([next2.event.id]);
          expect((await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 330_100 })).deliveries.map((d) => d.event.id)).toEqual([next1.event.id]);
        });

        it('after a notification, the next event of the group waits for `interval`, not `wait`', async () => {
          const t0 = Date.now();
          const first = groupedBatch('["r","x"]', t0);
          await store.ingest(first.batch);
          const [batch] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 30_000 })).deliveries;
          await recordAttempt(store, attempt(batch!.id, { finished_at: t0 + 30_000 }));
          const later = groupedBatch('["r","x"]', t0 + 60_000);
          await store.ingest(later.batch);
          const early = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 300_000 });
          expect(early.deliveries).toHaveLength(0);
          expect(early.next_due_at).toBe(t0 + 330_000);
        });

        it('a batch is retried together, and events arriving meanwhile form the next batch', async () => {
          const t0 = Date.now();
          const a = groupedBatch('["r","y"]', t0);
          const b = groupedBatch('["r","y"]', t0 + 1_000);
          await store.ingest(a.batch);
          await store.ingest(b.batch);
          const [batch] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 30_000 })).deliveries;
          await recordAttempt(store, 
            attempt(batch!.id, { member_ids: batch!.member_ids, outcome: 'retry', health: 'failure', next_attempt_at: t0 + 40_000, response_code: 500 }),
          );
          const c = groupedBatch('["r","y"]', t0 + 35_000);
          await store.ingest(c.batch);
          const retry = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 40_000 });
          expect(retry.deliveries).toHaveLength(1);
          expect(retry.deliveries[0]!.events.map((e) => e.id).sort()).toEqual([a.event.id, b.event.id].sort());
          expect(retry.deliveries[0]!.request_body).toBe('{"text":"hi"}');
          // c waits one interval after the batch in progress.
          const [retried] = retry.deliveries;
          await recordAttempt(store, attempt(retried!.id, { member_ids: retried!.member_ids, finished_at: t0 + 40_100 }));
          const after = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 40_200 });
          expect(after.deliveries).toHaveLength(0);
          expect(after.next_due_at).toBe(t0 + 35_000 + 300_000);
        });

        it("a resolve of an incident the destination was told firing goes at once; one never told firing, or another incident's event, waits for the group", async () => {
          const t0 = Date.now();
          const key = '["r","resolve"]';
          const grouped = async (dedupKey: string, status: 'firing' | 'resolved', at: number): Promise<string> => {
            const event = relayEvent({ dedup_key: dedupKey, status });
            const id = newId('dlv');
            await store.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [{ id, destination: 'slack', route: 'r', status: 'pending', group: group(key) }] }] });
            return id;
          };
          await grouped('inc', 'firing', t0);
          const [batch] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 30_000 })).deliveries;
          const told = { destination: 'slack', dedup_key: 'inc', status: 'firing' as const, occurred_at: batch!.event.occurred_at, delivery_id: batch!.id, sent_at: t0 + 30_100 };
          await recordAttempt(store, attempt(batch!.id, { finished_at: t0 + 30_100, notified: [told] }));
          const resolve = await grouped('inc', 'resolved', t0 + 40_000);
          const neverTold = await grouped('never-told', 'resolved', t0 + 40_000);
          const other = await grouped('other', 'firing', t0 + 40_000);
          const due = async (id: string): Promise<number> => Date.parse((await store.view('delivery', id))!.next_attempt_at!);
          expect(await due(resolve)).toBe(t0 + 40_000);
          // One interval after the group's notification, together.
          expect([await due(neverTold), await due(other)]).toEqual([t0 + 30_100 + 300_000, t0 + 30_100 + 300_000]);
        });
      });

      /** Incident order's stories: run as they are, and again with every event inhibit-tracked (below). */
      const incidentOrderStories = (): void => {
        /** One event of incident `key` for `destination`, ordered, with the given severity rank. */
        const ordered = (key: string, priority = 0, extra: Partial<NewDelivery> = {}, receivedAt = Date.now()) => {
          const event = relayEvent({ dedup_key: key });
          const delivery: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', incident_key: key, priority, ...extra };
          return { event, delivery, batch: { ...batchOf(event, [], receivedAt), events: [{ event, deliveries: [delivery] }] } };
        };

        it('a delivery is never claimable while an earlier unfinished one of its incident waits; the next goes once it is finished', async () => {
          const t0 = Date.now();
          const first = ordered('inc_a', 0, {}, t0);
          const second = ordered('inc_a', 0, {}, t0 + 1);
          const other = ordered('inc_b', 0, {}, t0 + 2);
          for (const each of [first, second, other]) await store.ingest(each.batch);
          const claimed = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 10 });
          expect(claimed.deliveries.map((d) => d.id).sort()).toEqual([first.delivery.id, other.delivery.id].sort());
          expect((await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 20 })).deliveries).toHaveLength(0);
          await recordAttempt(store, attempt(first.delivery.id));
          const next = await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 30 });
          expect(next.deliveries.map((d) => d.id)).toEqual([second.delivery.id]);
        });

        it('a delivery leased at ingest behind an earlier unfinished one of its incident is stored pending, and said to wait', async () => {
          const now = Date.now();
          const first = ordered('inc_c', 0, {}, now);
          await store.ingest(first.batch);
          const second = ordered('inc_c', 0, { lease: { owner: OWNER, until: now + 60_000 } }, now + 1);
          const [result] = await store.ingest(second.batch);
          expect(result).toEqual({ id: second.event.id, duplicate: false, waiting: [second.delivery.id] });
          expect((await store.view('delivery', second.delivery.id))?.status).toBe('pending');
        });

        it('higher priority goes first within a destination', async () => {
          const now = Date.now();
          const info = ordered('inc_info', 0, {}, now);
          const critical = ordered('inc_critical', 3, {}, now + 5);
          await store.ingest(info.batch);
          await store.ingest(critical.batch);
          const [first] = (await store.claim('slack', { ...LEASE, limit: 1, now: now + 10 })).deliveries;
          expect(first?.id).toBe(critical.delivery.id);
        });

        it('the claim limit holds across priority levels; the next due time is the earliest of every level', async () => {
          const now = Date.now();
          const high = ordered('inc_high', 2, {}, now + 5);
          const lows = [ordered('inc_l1', 0, {}, now), ordered('inc_l2', 0, {}, now + 1), ordered('inc_l3', 0, {}, now + 2)];
          // Not due yet: the earliest sits at a middle level, neither the first looked at nor the last.
          const later = [ordered('inc_t3', 3, {}, now + 9_000), ordered('inc_t1', 1, {}, now + 5_000), ordered('inc_t0', 0, {}, now + 7_000)];
          for (const each of [high, ...lows, ...later]) await store.ingest(each.batch);
          const first = await store.claim('slack', { ...LEASE, limit: 2, now: now + 10 });
          expect(first.deliveries.map((d) => d.id)).toEqual([high.delivery.id, lows[0]!.delivery.id]);
          const rest = await store.claim('slack', { ...LEASE, limit: 10, now: now + 10 });
          expect(rest.deliveries.map((d) => d.id)).toEqual([lows[1]!.delivery.id, lows[2]!.delivery.id]);
          expect(rest.next_due_at).toBe(now + 5_000);
        });

        it('a grouped batch carries each event\'s threshold key, the lead\'s first', async () => {
          const now = Date.now();
          const group = { key: 'g', wait_ms: 1_000, interval_ms: 60_000 };
          const keyed = [ordered('inc_k1', 0, { group, rule_key: 'g', incident_key: null }, now), ordered('inc_k2', 0, { group, rule_key: 'g', incident_key: null }, now + 1), ordered('inc_k3', 0, { group, incident_key: null }, now + 2)];
          for (const each of keyed) await store.ingest(each.batch);
          const [lead] = (await store.claim('slack', { ...LEASE, limit: 10, now: now + 1_000 })).deliveries;
          expect(lead).toMatchObject({ id: keyed[0]!.delivery.id, member_ids: [keyed[1]!.delivery.id, keyed[2]!.delivery.id], rule_keys: ['g', 'g', null], route: 'r', probe: false });
        });

        it('an open circuit lets one probe through when it is due; its success closes the circuit', async () => {
          for (let i = 0; i < 3; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
          const now = Date.now() + 1;
          const claimed = (await store.claim('slack', { ...LEASE, limit: 3, now })).deliveries;
          const breaker = { disable_after: 1, probe_backoff_ms: [10_000] };
          const opened = await recordAttempt(store, 
            attempt(claimed[0]!.id, { outcome: 'retry', health: 'failure', next_attempt_at: now + 1_000, error: 'HTTP 500', finished_at: now, breaker }),
          );
          expect(opened.disabled_now).toBe(true);
          await store.leases('release', [claimed[1]!.id, claimed[2]!.id], OWNER);
          const early = await store.claim('slack', { probe: true, ...LEASE, now: now + 5_000 });
          expect(early.deliveries).toHaveLength(0);
          expect(early.next_due_at).toBe(now + 10_000);
          const [probe] = (await store.claim('slack', { probe: true, ...LEASE, now: now + 10_000 })).deliveries;
          expect(probe?.probe).toBe(true);
          // One probe at a time.
          expect((await store.claim('slack', { probe: true, ...LEASE, now: now + 10_001 })).deliveries).toHaveLength(0);
          const closed = await recordAttempt(store, attempt(probe!.id, { breaker, finished_at: now + 10_100 }));
          expect(closed).toMatchObject({ enabled_now: true, destination: { enabled: true, consecutive_failures: 0 } });
        });

        it('successes arriving at once at an open circuit: the first closes it, and only that one says so', async () => {
          for (let i = 0; i < 4; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
          const now = Date.now() + 1;
          const claimed = (await store.claim('slack', { ...LEASE, limit: 4, now })).deliveries;
          const breaker = { disable_after: 1, probe_backoff_ms: null };
          const opened = await recordAttempt(store, 
            attempt(claimed[0]!.id, { outcome: 'retry', health: 'failure', next_attempt_at: now + 1_000, error: 'HTTP 500', finished_at: now, breaker }),
          );
          expect(opened.disabled_now).toBe(true);
          // Attempts that were already running when it opened answer 200.
          const late = await Promise.all(claimed.slice(1).map((delivery, index) => recordAttempt(store, attempt(delivery.id, { breaker, finished_at: now + 10 + index }))));
          expect(late.every((result) => result.recorded && result.destination.enabled)).toBe(true);
          expect(late.filter((result) => result.enabled_now)).toHaveLength(1);
          expect((await store.view('destinations')).find((state) => state.name === 'slack')).toMatchObject({ enabled: true, consecutive_failures: 0 });
        });

        it('at ingest another incident, or an event without one, is leased at once; muted work asks for no lease and waits for nothing', async () => {
          const now = Date.now();
          const lease = { owner: OWNER, until: now + 60_000 };
          const first = ordered('inc_d', 0, { lease }, now);
          const other = ordered('inc_e', 0, { lease }, now);
          const keyless = ordered('inc_f', 0, { lease, incident_key: null }, now);
          const muted = ordered('inc_d', 0, { lease, status: 'muted', note: 'muted by mut_1' }, now);
          const results = [];
          for (const each of [first, other, keyless, muted]) results.push(...(await store.ingest(each.batch)));
          expect(results.map((result) => (result.duplicate ? 'duplicate' : (result.waiting ?? 'leased')))).toEqual(['leased', 'leased', 'leased', 'leased']);
          const stored = async (id: string) => (await store.view('delivery', id))?.status;
          expect([await stored(other.delivery.id), await stored(keyless.delivery.id), await stored(muted.delivery.id)]).toEqual(['in_flight', 'in_flight', 'muted']);
          // Leased, so not claimable until the lease runs out; muted work never is.
          expect((await store.claim('slack', { ...LEASE, limit: 10, now: now + 59_999 })).deliveries).toEqual([]);
          // Leased to its owner, whose outcome is recorded.
          expect((await recordAttempt(store, attempt(other.delivery.id, { finished_at: now + 20 }))).recorded).toBe(true);
        });

        describe("the incident's next update leased by the commit of the one ahead (chain)", () => {
          const chain = { lease_ms: 60_000, storm: null };
          const status = async (id: string) => (await store.view('delivery', id))?.status;

          it('a finished attempt that asks leases its incident\'s next waiting delivery to the same owner, in order, and answers it', async () => {
            const t0 = Date.now();
            const updates = [0, 1, 2].map((index) => ordered('inc_chain', 0, {}, t0 + index));
            const other = ordered('inc_chain_other', 0, {}, t0 + 3);
            for (const each of [...updates, other]) await store.ingest(each.batch);
            const [first] = (await store.claim('slack', { ...LEASE, limit: 1, now: t0 + 10 })).deliveries;
            expect(first?.id).toBe(updates[0]!.delivery.id);
            const one = await recordAttempt(store, attempt(first!.id, { chain, finished_at: t0 + 20 }));
            expect(one.next).toMatchObject({ id: updates[1]!.delivery.id, destination: 'slack', event: { id: updates[1]!.event.id }, member_ids: [], attempts: 0, probe: false });
            // Whole, as a claim would hand it over: its event's data parsed, for the template.
            expect(one.next!.event.data).toEqual(updates[1]!.event.data);
            expect(one.next!.event).not.toHaveProperty('data_text');
            expect(await status(updates[1]!.delivery.id)).toBe('in_flight');
            // Leased to us: no claim takes it, nor the one behind it; another incident is not chained.
            expect((await store.claim('slack', { ...LEASE, owner: 'peer', limit: 10, now: t0 + 30 })).deliveries.map((d) => d.id)).toEqual([other.delivery.id]);
            // A failure that gives up finishes the delivery too: the next goes.
            const two = await recordAttempt(store, attempt(one.next!.id, { chain, outcome: 'failed', health: 'failure', response_code: 400, error: 'HTTP 400', finished_at: t0 + 40 }));
            expect(two.next?.id).toBe(updates[2]!.delivery.id);
            // The last of its incident: nothing to lease.
            const three = await recordAttempt(store, attempt(two.next!.id, { chain, finished_at: t0 + 50 }));
            expect(three).toMatchObject({ recorded: true, next: null });
          });

          it('nothing is leased without asking, nor on a retry (the delivery stays first of its incident)', async () => {
            const t0 = Date.now();
            const updates = [0, 1].map((index) => ordered('inc_chain_retry', 0, {}, t0 + index));
            for (const each of updates) await store.ingest(each.batch);
            const [first] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 10 })).deliveries;
            const retried = await recordAttempt(store, attempt(first!.id, { chain, outcome: 'retry', health: 'neutral', response_code: 429, next_attempt_at: t0 + 20, finished_at: t0 + 15 }));
            expect(retried).toMatchObject({ recorded: true, next: null });
            expect(await status(updates[1]!.delivery.id)).toBe('pending');
            const [again] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 20 })).deliveries;
            expect(again?.id).toBe(first!.id);
            const unasked = await recordAttempt(store, attempt(again!.id, { finished_at: t0 + 30 }));
            expect(unasked.next).toBeUndefined();
            expect(await status(updates[1]!.delivery.id)).toBe('pending');
          });

          it("not when the attempt opens the destination's circuit: the next waits in the store", async () => {
            const t0 = Date.now();
            const updates = [0, 1].map((index) => ordered('inc_chain_open', 0, {}, t0 + index));
            for (const each of updates) await store.ingest(each.batch);
            const [first] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 10 })).deliveries;
            const breaker = { disable_after: 1, probe_backoff_ms: null };
            const opened = await recordAttempt(store, attempt(first!.id, { chain, breaker, outcome: 'failed', health: 'failure', response_code: 500, error: 'HTTP 500', finished_at: t0 + 20 }));
            expect(opened).toMatchObject({ recorded: true, disabled_now: true, next: null });
            expect(await status(updates[1]!.delivery.id)).toBe('pending');
          });

          it('not for a delivery whose circuit is open already (an attempt that was running when it opened)', async () => {
            const t0 = Date.now();
            const failing = ordered('inc_chain_failing', 0, {}, t0);
            const updates = [1, 2].map((index) => ordered('inc_chain_late', 0, {}, t0 + index));
            for (const each of [failing, ...updates]) await store.ingest(each.batch);
            const claimed = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 10 })).deliveries;
            const breaker = { disable_after: 1, probe_backoff_ms: null };
            const late = claimed.find((d) => d.id === updates[0]!.delivery.id)!;
            await recordAttempt(store, attempt(failing.delivery.id, { breaker, outcome: 'retry', health: 'failure', response_code: 500, error: 'HTTP 500', next_attempt_at: t0 + 1_000, finished_at: t0 + 20 }));
            // A failure that says nothing of its health (our own error) leaves the circuit open.
            const recorded = await recordAttempt(store, attempt(late.id, { chain, breaker, outcome: 'failed', health: 'neutral', error: 'template', finished_at: t0 + 30 }));
            expect(recorded).toMatchObject({ recorded: true, destination: { enabled: false }, next: null });
            expect(await status(updates[1]!.delivery.id)).toBe('pending');
          });

          it('not for a probe: its success closes the circuit, and the claims take the waiting work from there', async () => {
            const t0 = Date.now();
            const failing = ordered('inc_chain_probe_failing', 0, {}, t0);
            const updates = [1, 2].map((index) => ordered('inc_chain_probe', 0, {}, t0 + index));
            for (const each of [failing, ...updates]) await store.ingest(each.batch);
            const [lead] = (await store.claim('slack', { ...LEASE, limit: 1, now: t0 + 10 })).deliveries;
            expect(lead?.id).toBe(failing.delivery.id);
            const breaker = { disable_after: 1, probe_backoff_ms: [10_000] };
            await recordAttempt(store, attempt(lead!.id, { breaker, outcome: 'failed', health: 'failure', response_code: 500, error: 'HTTP 500', finished_at: t0 + 20 }));
            const [probe] = (await store.claim('slack', { probe: true, ...LEASE, now: t0 + 20 + 10_000 })).deliveries;
            expect(probe).toMatchObject({ id: updates[0]!.delivery.id, probe: true });
            const closed = await recordAttempt(store, attempt(probe!.id, { chain, breaker, probe: true, finished_at: t0 + 20 + 10_100 }));
            expect(closed).toMatchObject({ recorded: true, enabled_now: true, next: null });
            expect(await status(updates[1]!.delivery.id)).toBe('pending');
          });

          it('not past a group wait: a grouped next update waits for its group, and is claimed with it', async () => {
            const t0 = Date.now();
            const first = ordered('inc_chain_group', 0, {}, t0);
            const grouped = ordered('inc_chain_group', 0, { group: { key: '["r","g"]', wait_ms: 30_000, interval_ms: 300_000 } }, t0 + 1);
            for (const each of [first, grouped]) await store.ingest(each.batch);
            const [lead] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 10 })).deliveries;
            expect(lead?.id).toBe(first.delivery.id);
            const recorded = await recordAttempt(store, attempt(lead!.id, { chain, finished_at: t0 + 20 }));
            expect(recorded).toMatchObject({ recorded: true, next: null });
            expect(await status(grouped.delivery.id)).toBe('pending');
            expect((await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 29_000 })).deliveries).toEqual([]);
            expect((await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 30_001 })).deliveries.map((d) => d.id)).toEqual([grouped.delivery.id]);
          });

          it('not when a storm rages (the claim folds it into a digest)', async () => {
            const t0 = Date.now();
            const first = ordered('inc_chain_storm', 0, {}, t0);
            const second = ordered('inc_chain_storm', 0, {}, t0 + 1);
            const crowd = [0, 1, 2].map((index) => ordered(`inc_chain_crowd_${index}`, 0, {}, t0 + 2 + index));
            for (const each of [first, second, ...crowd]) await store.ingest(each.batch);
            const [lead] = (await store.claim('slack', { ...LEASE, limit: 1, now: t0 + 10 })).deliveries;
            expect(lead?.id).toBe(first.delivery.id);
            // Four requests waiting, more than the destination sends within its horizon: a storm.
            const storm: StormPolicy = { capacity: 2, keep_incident_messages: false };
            const recorded = await recordAttempt(store, attempt(lead!.id, { chain: { lease_ms: 60_000, storm }, finished_at: t0 + 20 }));
            expect(recorded).toMatchObject({ recorded: true, next: null });
            expect(await status(second.delivery.id)).toBe('pending');
          });

          it('a lease lost meanwhile: nothing recorded, nothing chained', async () => {
            const t0 = Date.now();
            const updates = [0, 1].map((index) => ordered('inc_chain_lost', 0, {}, t0 + index));
            for (const each of updates) await store.ingest(each.batch);
            const [first] = (await store.claim('slack', { ...LEASE, limit: 10, now: t0 + 10 })).deliveries;
            // Our lease ran out and a peer took the delivery over.
            const [taken] = (await store.claim('slack', { ...LEASE, owner: 'peer', limit: 10, now: t0 + 10 + 60_001 })).deliveries;
            expect(taken?.id).toBe(first!.id);
            const late = await recordAttempt(store, attempt(first!.id, { chain, finished_at: t0 + 60_100 }));
            expect(late).toMatchObject({ recorded: false });
            expect(late.next ?? null).toBeNull();
            expect(await status(updates[1]!.delivery.id)).toBe('pending');
            // The peer's record chains it to the peer.
            const peer = await recordAttempt(store, attempt(first!.id, { chain, lease_owner: 'peer', finished_at: t0 + 60_200 }));
            expect(peer.next?.id).toBe(updates[1]!.delivery.id);
            expect((await store.view('delivery', updates[1]!.delivery.id))?.status).toBe('in_flight');
          });
        });

        it('no probe for a closed circuit, an unknown destination, one that waits for a person, or when nothing waits; a held probe lets the next go at once', async () => {
          const now = Date.now() + 1;
          expect(await store.claim('slack', { probe: true, ...LEASE, now })).toMatchObject({ deliveries: [], next_due_at: null });
          expect(await store.claim('nowhere', { probe: true, ...LEASE, now })).toMatchObject({ deliveries: [], next_due_at: null });
          /** `count` deliveries for `destination`; the first fails and opens its circuit at the time returned, the others wait. */
          const open = async (destination: string, count: number, breaker: AttemptResult['breaker']): Promise<{ at: number; ids: string[] }> => {
            for (let i = 0; i < count; i++) await store.ingest(batchOf(relayEvent(), [destination]));
            const at = Date.now() + 1;
            const ids = (await store.claim(destination, { ...LEASE, limit: count, now: at })).deliveries.map((delivery) => delivery.id);
            expect(ids).toHaveLength(count);
            await recordAttempt(store, attempt(ids[0]!, { destination, outcome: 'failed', health: 'failure', error: 'HTTP 500', finished_at: at, breaker }));
            await store.leases('release', ids.slice(1), OWNER);
            return { at, ids };
          };
          // Manual recovery: no probe, however long it waits.
          const manual = await open('pager', 2, { disable_after: 1, probe_backoff_ms: null });
          expect(await store.claim('pager', { probe: true, ...LEASE, now: manual.at + 3_600_000 })).toMatchObject({ deliveries: [], next_due_at: null });
          // Nothing waits behind the failure that opened it.
          await store.syncDestinations(['empty']);
          const empty = await open('empty', 1, { disable_after: 1, probe_backoff_ms: [10_000] });
          expect(await store.claim('empty', { probe: true, ...LEASE, now: empty.at + 10_000 })).toMatchObject({ deliveries: [], next_due_at: null });
          // A probe held back (a repeat) leaves the way open for the next one at once.
          const slack = await open('slack', 3, { disable_after: 1, probe_backoff_ms: [10_000] });
          const [probe] = (await store.claim('slack', { probe: true, ...LEASE, now: slack.at + 10_000 })).deliveries;
          expect(probe?.id).toBe(slack.ids[1]);
          await store.holds('hold', { ids: [probe!.id], lease_owner: OWNER, status: 'skipped', note: 'repeat within 4h of dlv_x', now: slack.at + 10_500, probe_of: 'slack' });
          expect(await store.view('delivery', probe!.id)).toMatchObject({ status: 'skipped', note: 'repeat within 4h of dlv_x', next_attempt_at: null });
          expect((await store.claim('slack', { probe: true, ...LEASE, now: slack.at + 10_500 })).deliveries.map((delivery) => delivery.id)).toEqual([slack.ids[2]]);
        });

        it('a closed circuit gives no probe even with work waiting', async () => {
          await store.ingest(batchOf(relayEvent(), ['slack']));
          expect(await store.claim('slack', { probe: true, ...LEASE, now: Date.now() + 1 })).toMatchObject({ deliveries: [], next_due_at: null });
        });

        it('a probe held after a person closed the circuit leaves it closed', async () => {
          for (let i = 0; i < 3; i++) await store.ingest(batchOf(relayEvent(), ['slack']));
          const now = Date.now() + 1;
          const claimed = (await store.claim('slack', { ...LEASE, limit: 3, now })).deliveries;
          const breaker = { disable_after: 1, probe_backoff_ms: [10_000] };
          expect((await recordAttempt(store, attempt(claimed[0]!.id, { outcome: 'failed', health: 'failure', error: 'HTTP 500', finished_at: now, breaker }))).disabled_now).toBe(true);
          await store.leases('release', claimed.slice(1).map((delivery) => delivery.id), OWNER);
          const [probe] = (await store.claim('slack', { probe: true, ...LEASE, now: now + 10_000 })).deliveries;
          expect(probe?.probe).toBe(true);
          await store.change('enable_destination', 'slack', now + 10_500);
          await store.holds('hold', { ids: [probe!.id], lease_owner: OWNER, status: 'skipped', note: 'repeat within 4h of dlv_x', now: now + 11_000, probe_of: 'slack' });
          expect((await store.view('destinations')).find((state) => state.name === 'slack')).toMatchObject({ enabled: true, probe_at: null });
        });
      };
      describe('incident order, priority, probes and holds', incidentOrderStories);
      describe('incident order, priority, probes and holds, every event inhibit-tracked', () => {
        beforeEach(() => {
          store = trackingIncidents(store);
        });
        incidentOrderStories();
      });

      it('incident messages are written with the attempt that posted or updated them; an acknowledgement is never overwritten', async () => {
        expect(await store.view('incident_message', 'pager', 'inc_1')).toBeNull();
        const first = relayEvent({ dedup_key: 'inc_1' });
        const second = relayEvent({ dedup_key: 'inc_1', status: 'resolved' });
        await store.ingest(batchOf(first, ['pager']));
        const [posting] = (await store.claim('pager', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        const post = await recordAttempt(store, 
          attempt(posting!.id, {
            destination: 'pager',
            effects: {
              incident_message: {
                kind: 'posted', dedup_key: 'inc_1', channel: 'C123', ts: '1700000000.000100', started_at: '2026-11-23T10:00:00.000Z',
                status: 'firing', resolved_at: null, last_event_id: first.id,
              },
            },
          }),
        );
        // A message just posted is drawn from what it says: nothing to redraw.
        expect(post.incident_stale).toBe(false);
        expect(await store.view('incident_message', 'pager', 'inc_1')).toMatchObject({ channel: 'C123', ts: '1700000000.000100', status: 'firing', updates: 0, version: 1 });
        // The update was drawn at version 1; an acknowledgement lands before it is recorded.
        await store.ingest(batchOf(second, ['pager']));
        const [updating] = (await store.claim('pager', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        const acked = await store.change('acknowledge', 'pager', 'inc_1', '<@U42>', Date.parse('2026-11-23T10:05:00Z'));
        expect(acked).toMatchObject({ acknowledged_by: '<@U42>', acknowledged_at: '2026-11-23T10:05:00.000Z', version: 2 });
        const recorded = await recordAttempt(store, 
          attempt(updating!.id, {
            destination: 'pager',
            effects: { incident_message: { kind: 'updated', dedup_key: 'inc_1', status: 'resolved', resolved_at: '2026-11-23T10:14:00.000Z', last_event_id: second.id, drawn_from_version: 1 } },
          }),
        );
        expect(recorded.incident_stale).toBe(true);
        expect(await store.view('incident_message', 'pager', 'inc_1')).toMatchObject({
          status: 'resolved', resolved_at: '2026-11-23T10:14:00.000Z', updates: 1, acknowledged_by: '<@U42>', last_event_id: second.id, version: 3,
        });
        expect(await store.change('acknowledge', 'pager', 'nope', 'x', Date.now())).toBeNull();
        // Drawn from the version it updates: not stale. An update of a message the store no longer has: nothing to redraw.
        const third = relayEvent({ dedup_key: 'inc_1', status: 'resolved' });
        const fourth = relayEvent({ dedup_key: 'gone', status: 'resolved' });
        await store.ingest(batchOf(third, ['pager']));
        await store.ingest(batchOf(fourth, ['pager']));
        const claimed = (await store.claim('pager', { ...LEASE, limit: 2, now: Date.now() + 1 })).deliveries;
        const of = (event: RelayEvent) => claimed.find((delivery) => delivery.event.id === event.id)!;
        const current = await recordAttempt(store, 
          attempt(of(third).id, {
            destination: 'pager',
            effects: { incident_message: { kind: 'updated', dedup_key: 'inc_1', status: 'resolved', resolved_at: '2026-11-23T10:14:00.000Z', last_event_id: third.id, drawn_from_version: 3 } },
          }),
        );
        expect(current.incident_stale).toBe(false);
        const gone = await recordAttempt(store, 
          attempt(of(fourth).id, {
            destination: 'pager',
            effects: { incident_message: { kind: 'updated', dedup_key: 'gone', status: 'resolved', resolved_at: '2026-11-23T10:14:00.000Z', last_event_id: fourth.id, drawn_from_version: 1 } },
          }),
        );
        expect(gone).toMatchObject({ recorded: true, incident_stale: false });
        expect(await store.view('incident_message', 'pager', 'gone')).toBeNull();
      });

      it('an incident\'s state decided elsewhere (PagerDuty) is written only over the version it was decided on; a new incident forgets it', async () => {
        const first = relayEvent({ dedup_key: 'inc_pd' });
        await store.ingest(batchOf(first, ['pager']));
        const [posting] = (await store.claim('pager', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        const posted = {
          kind: 'posted' as const, dedup_key: 'inc_pd', channel: 'C123', ts: '1700000000.000200', started_at: '2026-11-23T10:00:00.000Z',
          status: 'firing' as const, resolved_at: null, last_event_id: first.id,
        };
        await recordAttempt(store, attempt(posting!.id, { destination: 'pager', effects: { incident_message: posted } }));
        const before = await store.view('incident_message', 'pager', 'inc_pd');
        expect(before).toMatchObject({ status: 'firing', resolved_by: null, version: 1 });

        const acknowledged = { acknowledged_by: 'Dana in PagerDuty', acknowledged_at: '2026-11-23T10:03:00.000Z', status: 'firing' as const, resolved_at: null, resolved_by: null };
        expect(await applyState(store, 'inc_pd', 1, acknowledged, Date.parse('2026-11-23T10:03:01Z'))).toBe('applied');
        expect(await store.view('incident_message', 'pager', 'inc_pd')).toMatchObject({ ...acknowledged, version: 2, last_event_id: first.id, updates: 0 });
        // Decided on version 1, but the message is at 2 now: nothing is written.
        const resolved = { ...acknowledged, status: 'resolved' as const, resolved_at: '2026-11-23T10:09:00.000Z', resolved_by: 'Dana in PagerDuty' };
        expect(await applyState(store, 'inc_pd', 1, resolved, Date.parse('2026-11-23T10:09:01Z'))).toBe('stale');
        expect(await store.view('incident_message', 'pager', 'inc_pd')).toMatchObject({ status: 'firing', version: 2 });
        expect(await applyState(store, 'inc_pd', 2, resolved, Date.parse('2026-11-23T10:09:01Z'))).toBe('applied');
        expect(await store.view('incident_message', 'pager', 'inc_pd')).toMatchObject({ ...resolved, version: 3 });
        expect(await applyState(store, 'nope', 0, resolved, Date.now())).toBe('stale');
        // Drawn from a first version of a message the store does not have (pruned, say): stale too.
        expect(await applyState(store, 'nope', 1, resolved, Date.now())).toBe('stale');

        // The incident fires again: a new message for it, with nothing of the last one's acknowledgement or resolution.
        const again = relayEvent({ dedup_key: 'inc_pd' });
        await store.ingest(batchOf(again, ['pager']));
        const [reposting] = (await store.claim('pager', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        await recordAttempt(store, 
          attempt(reposting!.id, { destination: 'pager', effects: { incident_message: { ...posted, ts: '1700000100.000300', last_event_id: again.id } } }),
        );
        expect(await store.view('incident_message', 'pager', 'inc_pd')).toMatchObject({
          ts: '1700000100.000300', status: 'firing', acknowledged_by: null, resolved_by: null, resolved_at: null, version: 4,
        });
      });

      it('an acknowledgement decided elsewhere and cleared again takes its time with it', async () => {
        const event = relayEvent({ dedup_key: 'inc_clear' });
        await store.ingest(batchOf(event, ['pager']));
        const [posting] = (await store.claim('pager', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        const posted = { kind: 'posted' as const, dedup_key: 'inc_clear', channel: 'C1', ts: '1.1', started_at: '2026-11-23T10:00:00.000Z', status: 'firing' as const, resolved_at: null, last_event_id: event.id };
        await recordAttempt(store, attempt(posting!.id, { destination: 'pager', effects: { incident_message: posted } }));
        const acknowledged = { acknowledged_by: 'PagerDuty (Ann)', acknowledged_at: '2026-11-23T10:05:00.000Z', status: 'firing' as const, resolved_at: null, resolved_by: null };
        expect(await applyState(store, 'inc_clear', 1, acknowledged, Date.parse('2026-11-23T10:06:00Z'))).toBe('applied');
        expect(await store.view('incident_message', 'pager', 'inc_clear')).toMatchObject({ acknowledged_at: '2026-11-23T10:05:00.000Z', version: 2 });
        const cleared = { ...acknowledged, acknowledged_by: null, acknowledged_at: null };
        expect(await applyState(store, 'inc_clear', 2, cleared, Date.parse('2026-11-23T10:07:00Z'))).toBe('applied');
        expect(await store.view('incident_message', 'pager', 'inc_clear')).toMatchObject({ acknowledged_by: null, acknowledged_at: null, version: 3 });
      });

      /** PagerDuty echoes' stories: run as they are, and again with every event inhibit-tracked (below). */
      const echoStories = (): void => {
        /** A slack-bot message for `dedupKey` at version 1, as a posted card leaves it. */
        const postCard = async (dedupKey: string): Promise<void> => {
          const opening = relayEvent({ dedup_key: dedupKey });
          await store.ingest(batchOf(opening, ['pager']));
          const [posting] = (await store.claim('pager', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
          const posted = { kind: 'posted' as const, dedup_key: dedupKey, channel: 'C1', ts: '1.2', started_at: '2026-12-06T10:00:00.000Z', status: 'firing' as const, resolved_at: null, last_event_id: opening.id };
          await recordAttempt(store, attempt(posting!.id, { destination: 'pager', effects: { incident_message: posted } }));
        };
        const acknowledged = { acknowledged_by: 'Dana in PagerDuty', acknowledged_at: '2026-12-06T10:03:00.000Z', status: 'firing' as const, resolved_at: null, resolved_by: null };
        const card = (id = newId('dlv')) => ({ id, destination: 'pager', route: 'command:pagerduty', request_body: '{"note":"inc_echo"}' });

        it('pending from the ingest (not again for a duplicate); a stale decision writes nothing; applied, the state, the card and the end of pending commit together, and a second apply adds nothing', async () => {
          await postCard('inc_echo');
          const at = Date.parse('2026-12-06T10:03:01Z');
          const { report, batch } = pagerDutyReport('inc_echo', at, 'pd_once');
          await store.ingest(batch);
          expect(await store.view('echoes', 10)).toEqual([{ event_id: report.id, dedup_key: 'inc_echo', created_at: at }]);
          // The sender's retry is a duplicate: nothing more is pending.
          const retried = pagerDutyReport('inc_echo', at + 1, 'pd_once');
          expect((await store.ingest(retried.batch))[0]).toMatchObject({ duplicate: true, id: report.id });
          expect(await store.view('echoes', 10)).toHaveLength(1);

          // Decided on a version the message is no longer at: nothing is written, the echo stays pending.
          const stale = { event_id: report.id, states: [{ destination: 'pager', dedup_key: 'inc_echo', version: 0, state: acknowledged }], deliveries: [card()], now: at + 2 };
          expect(await store.change('apply_echo', stale)).toBe('stale');
          expect(await store.view('incident_message', 'pager', 'inc_echo')).toMatchObject({ acknowledged_by: null, version: 1 });
          expect((await store.view('deliveries', { event_id: report.id, limit: 10 })).map((d) => d.status)).toEqual(['skipped']);
          expect(await store.view('echoes', 10)).toHaveLength(1);

          const redraw = card();
          expect(await store.change('apply_echo', { ...stale, states: [{ ...stale.states[0]!, version: 1 }], deliveries: [redraw] })).toBe('applied');
          expect(await store.view('incident_message', 'pager', 'inc_echo')).toMatchObject({ ...acknowledged, version: 2 });
          expect(await store.view('echoes', 10)).toEqual([]);
          expect(await store.view('delivery', redraw.id)).toMatchObject({ event_id: report.id, destination: 'pager', route: 'command:pagerduty', status: 'pending', request_body: redraw.request_body });

          // Applied again (a restart that decided before it saw the first apply, another replica): nothing twice.
          expect(await store.change('apply_echo', { ...stale, states: [{ ...stale.states[0]!, version: 2 }], deliveries: [card()] })).toBe('done');
          expect(await store.view('deliveries', { event_id: report.id, limit: 10 })).toHaveLength(2);
          expect(await store.view('incident_message', 'pager', 'inc_echo')).toMatchObject({ version: 2 });
          const [claimed] = (await store.claim('pager', { ...LEASE, limit: 5, now: Date.now() + 1 })).deliveries;
          expect(claimed).toMatchObject({ id: redraw.id, request_body: redraw.request_body });
        });

        it('listed oldest first up to the limit; a thread line alone, or nothing to change, ends the echo too', async () => {
          await postCard('inc_line');
          const first = pagerDutyReport('inc_line', Date.parse('2026-12-06T10:01:00Z'));
          const second = pagerDutyReport('inc_line', Date.parse('2026-12-06T10:02:00Z'));
          await store.ingest(second.batch);
          await store.ingest(first.batch);
          expect((await store.view('echoes', 1)).map((echo) => echo.event_id)).toEqual([first.report.id]);
          expect((await store.view('echoes', 10)).map((echo) => echo.event_id)).toEqual([first.report.id, second.report.id]);

          const line = card();
          expect(await store.change('apply_echo', { event_id: first.report.id, states: [], deliveries: [line], now: Date.now() })).toBe('applied');
          expect(await store.view('delivery', line.id)).toMatchObject({ status: 'pending', route: 'command:pagerduty' });
          expect(await store.view('incident_message', 'pager', 'inc_line')).toMatchObject({ version: 1 });
          expect(await store.change('apply_echo', { event_id: second.report.id, states: [], deliveries: [], now: Date.now() })).toBe('applied');
          expect(await store.view('echoes', 10)).toEqual([]);
          expect(await store.change('apply_echo', { event_id: 'evt_never_pending', states: [], deliveries: [card()], now: Date.now() })).toBe('done');
        });

        it('two applies of one echo at once (its own process and a restarted replica): one applies, the other adds nothing', async () => {
          await postCard('inc_race');
          const { report, batch } = pagerDutyReport('inc_race', Date.now());
          await store.ingest(batch);
          const application = (id: string) => ({ event_id: report.id, states: [{ destination: 'pager', dedup_key: 'inc_race', version: 1, state: acknowledged }], deliveries: [card(id)], now: Date.now() });
          const outcomes = await Promise.all([store.change('apply_echo', application(newId('dlv'))), store.change('apply_echo', application(newId('dlv')))]);
          expect(outcomes.filter((outcome) => outcome === 'applied')).toHaveLength(1);
          expect((await store.view('deliveries', { event_id: report.id, limit: 10 })).filter((d) => d.destination === 'pager')).toHaveLength(1);
          expect(await store.view('incident_message', 'pager', 'inc_race')).toMatchObject({ version: 2 });
          expect(await store.view('echoes', 10)).toEqual([]);
        });
      };
      describe('PagerDuty echoes: pending from their ingest, applied in one transaction (src/app/pagerduty-echo.ts)', echoStories);
      describe('PagerDuty echoes, every event inhibit-tracked', () => {
        beforeEach(() => {
          store = trackingIncidents(store);
        });
        echoStories();
      });

      it('inhibition memory: firing incidents are listed; a resolve releases what it inhibited, if the target still fires', async () => {
        const critical = relayEvent({ source: 'am', dedup_key: 'crit', severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
        const warning = relayEvent({ source: 'am', dedup_key: 'warn', severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' });
        const track = (event: typeof critical, destinations: string[]) => {
          const batch = batchOf(event, destinations);
          return store.ingest({ ...batch, events: batch.events.map((item) => ({ ...item, track_incident: true })) });
        };
        await track(critical, []);
        await track(warning, ['slack']);
        expect((await store.firingIncidents(10)).map((event) => event.dedup_key).sort()).toEqual(['crit', 'warn']);
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        await store.holds('hold', { ids: [claimed!.id], lease_owner: OWNER, status: 'muted', note: 'inhibited by x', now: Date.now(), held_by: JSON.stringify(['am', 'crit']) });
        expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'muted' });
        const [result] = await track({ ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, []);
        expect(result).toMatchObject({ duplicate: false, released: ['slack'] });
        expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'pending' });
        expect((await store.firingIncidents(10)).map((event) => event.dedup_key)).toEqual(['warn']);
      });

      it('an inhibitor firing again releases nothing; its resolve leaves muted a target whose own incident resolved meanwhile', async () => {
        const critical = relayEvent({ source: 'am', dedup_key: 'crit4', severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
        const firing = relayEvent({ source: 'am', dedup_key: 'warn4', severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' });
        const over = relayEvent({ source: 'am', dedup_key: 'warn5', severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' });
        const track = (event: typeof critical, destinations: string[]) => {
          const batch = batchOf(event, destinations);
          return store.ingest({ ...batch, events: batch.events.map((item) => ({ ...item, track_incident: true })) });
        };
        await track(critical, []);
        await track(firing, ['slack']);
        await track(over, ['slack']);
        const claimed = (await store.claim('slack', { ...LEASE, limit: 2, now: Date.now() + 1 })).deliveries;
        expect(claimed).toHaveLength(2);
        await store.holds('hold', { ids: claimed.map((delivery) => delivery.id), lease_owner: OWNER, status: 'muted', note: 'inhibited by crit4', now: Date.now(), held_by: JSON.stringify(['am', 'crit4']) });
        const idOf = (event: RelayEvent) => claimed.find((delivery) => delivery.event.id === event.id)!.id;
        const status = async (event: RelayEvent) => (await store.view('delivery', idOf(event)))?.status;
        const [again] = await track({ ...critical, id: newId('evt'), occurred_at: '2026-11-29T10:02:00.000Z' }, []);
        expect(again).toEqual({ id: expect.any(String), duplicate: false });
        expect([await status(firing), await status(over)]).toEqual(['muted', 'muted']);
        await track({ ...over, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:03:00.000Z' }, []);
        const [resolved] = await track({ ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, []);
        expect(resolved).toMatchObject({ released: ['slack'] });
        expect([await status(firing), await status(over)]).toEqual(['pending', 'muted']);
      });

      it('a hold that is no inhibition (skipped) names no inhibitor: the resolve of the incident it named releases nothing', async () => {
        const critical = relayEvent({ source: 'am', dedup_key: 'crit2', severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
        const tracked = (event: typeof critical, destinations: string[]) => {
          const batch = batchOf(event, destinations);
          return store.ingest({ ...batch, events: batch.events.map((item) => ({ ...item, track_incident: true })) });
        };
        await tracked(critical, []);
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        await store.holds('hold', { ids: [claimed!.id], lease_owner: OWNER, status: 'skipped', note: 'below threshold 1/5 within 10m', now: Date.now(), held_by: JSON.stringify(['am', 'crit2']) });
        const [result] = await tracked({ ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, []);
        expect(result).toEqual({ id: expect.any(String), duplicate: false });
        expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'skipped', note: 'below threshold 1/5 within 10m' });
      });

      it('the inhibitor firing again releases nothing', async () => {
        const critical = relayEvent({ source: 'am', dedup_key: 'crit', severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
        const track = (event: typeof critical, destinations: string[]) => {
          const batch = batchOf(event, destinations);
          return store.ingest({ ...batch, events: batch.events.map((item) => ({ ...item, track_incident: true })) });
        };
        await track(critical, []);
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        await store.holds('hold', { ids: [claimed!.id], lease_owner: OWNER, status: 'muted', note: 'inhibited by x', now: Date.now(), held_by: JSON.stringify(['am', 'crit']) });
        const [again] = await track({ ...critical, id: newId('evt'), occurred_at: '2026-11-29T10:05:00.000Z' }, []);
        expect(again).toEqual({ id: expect.any(String), duplicate: false });
        expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'muted' });
      });

      it('a hold that is no inhibition stands even when the incident it names has already resolved', async () => {
        const critical = relayEvent({ source: 'am', dedup_key: 'crit3', severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
        const track = (event: typeof critical) => {
          const batch = batchOf(event, []);
          return store.ingest({ ...batch, events: batch.events.map((item) => ({ ...item, track_incident: true })) });
        };
        await track(critical);
        await track({ ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' });
        await store.ingest(batchOf(relayEvent(), ['slack']));
        const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: Date.now() + 1 })).deliveries;
        await store.holds('hold', { ids: [claimed!.id], lease_owner: OWNER, status: 'skipped', note: 'below threshold 1/5 within 10m', now: Date.now(), held_by: JSON.stringify(['am', 'crit3']) });
        expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'skipped', note: 'below threshold 1/5 within 10m', next_attempt_at: null });
      });

      describe('the notification stage over this store: repeat, threshold, inhibit', () => {
        let clock: ManualClock;
        beforeEach(() => {
          clock = new ManualClock(Date.now());
        });
        const stageWith = (options: Partial<NotificationStageOptions> = {}) =>
          new NotificationStage({ store, mutes: { match: () => null }, routes: () => undefined, resendsState: () => false, clock, ...options });
        const queueOne = async (event: RelayEvent, extra: Partial<NewDelivery> = {}, track = false): Promise<string> => {
          const id = newId('dlv');
          const delivery: NewDelivery = { id, destination: 'slack', route: 'r', status: 'pending', ...extra };
          await store.ingest({ ...batchOf(event, [], clock.now()), events: [{ event, deliveries: extra.destination === null ? [] : [delivery], track_incident: track }] });
          return id;
        };
        const claimOne = async (): Promise<ClaimedDelivery> => (await store.claim('slack', { ...LEASE, limit: 1, now: clock.now() + 1 })).deliveries[0]!;
        /** What the lane does with the stage's verdict: sends (recorded with what it told) or holds. */
        const settle = async (delivery: ClaimedDelivery, verdict: StageVerdict): Promise<void> => {
          for (const held of verdict.held) {
            await store.holds('hold', { ids: held.ids, lease_owner: OWNER, status: held.hold.status, note: held.hold.note, now: clock.now(), held_by: held.hold.held_by ?? null });
          }
          const send = verdict.send;
          if (!send) return;
          const notified = send.events.map((event) => ({ destination: 'slack', dedup_key: event.dedup_key, status: event.status, occurred_at: event.occurred_at, delivery_id: send.id, sent_at: clock.now() }));
          await store.commitAttempts([attempt(send.id, { member_ids: send.member_ids, notified, started_at: clock.now(), finished_at: clock.now() })]);
          expect(send.id).toBe(delivery.id);
        };

        it('repeat: an unchanged incident told within its repeat interval is skipped with the delivery it repeats; after the interval it is told again', async () => {
          const stage = stageWith({ routes: () => ({ repeat_ms: 3_600_000 }) });
          await queueOne(relayEvent({ dedup_key: 'rep' }));
          const first = await claimOne();
          await settle(first, await stage.decide(first, { name: 'slack' }));
          expect((await store.view('delivery', first.id))?.status).toBe('succeeded');
          await clock.advance(60_000);
          const second = await queueOne(relayEvent({ dedup_key: 'rep' }));
          const claimed = await claimOne();
          await settle(claimed, await stage.decide(claimed, { name: 'slack' }));
          expect(await store.view('delivery', second)).toMatchObject({ status: 'skipped', note: `repeat within 1h of ${first.id}` });
          await clock.advance(3_600_000);
          const third = await queueOne(relayEvent({ dedup_key: 'rep' }));
          const again = await claimOne();
          await settle(again, await stage.decide(again, { name: 'slack' }));
          expect((await store.view('delivery', third))?.status).toBe('succeeded');
        });

        it('route schedule: held as muted while inside muted_during or outside active_during, the note naming the interval; sent otherwise', async () => {
          const intervals = new TimeIntervals(
            [
              { name: 'nights', time_intervals: [{ times: [{ start_time: '22:00', end_time: '24:00' }, { start_time: '00:00', end_time: '06:00' }], location: 'Europe/Berlin' }] },
              { name: 'office_hours', time_intervals: [{ weekdays: ['monday:friday'], times: [{ start_time: '09:00', end_time: '17:00' }], location: 'Europe/Berlin' }] },
            ].map((entry) => timeIntervalSchema.parse(entry)),
          );
          const schedules: Record<string, RouteRules> = {
            low: { schedule: { route: 'low', muted_during: ['nights'], active_during: [] } },
            day: { schedule: { route: 'day', muted_during: [], active_during: ['office_hours'] } },
          };
          const outcome = async (route: string): Promise<string> => {
            const id = await queueOne(relayEvent(), { route });
            const claimed = await claimOne();
            await settle(claimed, await stage.decide(claimed, { name: 'slack' }));
            const record = await store.view('delivery', id);
            return `${record!.status}${record!.note ? `: ${record!.note}` : ''}`;
          };
          // Tuesday 2026-12-01 23:30 in Berlin (22:30 UTC): night, outside office hours.
          clock = new ManualClock(Date.parse('2026-12-01T22:30:00Z'));
          const stage = stageWith({ routes: (name) => schedules[name], intervals });
          expect(await outcome('low')).toBe('muted: muted during nights (route low)');
          expect(await outcome('day')).toBe('muted: outside office_hours (route day)');
          // Wednesday 10:00 in Berlin: both go.
          await clock.advance(Date.parse('2026-12-02T09:00:00Z') - clock.now());
          expect(await outcome('low')).toBe('succeeded');
          expect(await outcome('day')).toBe('succeeded');
        });

        it('interval ends: what an interval held is listed by its marker; released ones are due again with a note, the rest stay muted and are no longer its', async () => {
          const intervals = new TimeIntervals([timeIntervalSchema.parse({ name: 'nights', time_intervals: [{ times: [{ start_time: '00:00', end_time: '06:00' }] }] })]);
          clock = new ManualClock(Date.parse('2026-12-03T03:00:00Z'));
          const stage = stageWith({ routes: () => ({ schedule: { route: 'low', muted_during: ['nights'], active_during: [] } }), intervals });
          const hold = async (event: RelayEvent): Promise<string> => {
            const id = await queueOne(event);
            const claimed = await claimOne();
            await settle(claimed, await stage.decide(claimed, { name: 'slack' }));
            return id;
          };
          const older = await hold(relayEvent({ dedup_key: 'night-a', occurred_at: '2026-12-03T02:00:00.000Z' }));
          const newer = await hold(relayEvent({ dedup_key: 'night-a', occurred_at: '2026-12-03T02:30:00.000Z' }));
          expect((await store.view('held', 'interval:nights')).map((held) => [held.id, held.destination, held.dedup_key, held.status, held.occurred_at]).sort()).toEqual([
            [newer, 'slack', 'night-a', 'firing', '2026-12-03T02:30:00.000Z'],
            [older, 'slack', 'night-a', 'firing', '2026-12-03T02:00:00.000Z'],
          ].sort());
          await clock.advance(3 * 3_600_000);
          expect(await store.holds('release', { marker: 'interval:nights', ids: [newer], note: '; told when it ended', now: clock.now() })).toEqual(['slack']);
          expect(await store.view('delivery', newer)).toMatchObject({ status: 'pending', note: 'muted during nights (route low); told when it ended' });
          expect(await store.view('delivery', older)).toMatchObject({ status: 'muted', note: 'muted during nights (route low)' });
          expect(await store.view('held', 'interval:nights')).toEqual([]);
          // Released once: a second release (another replica) changes nothing.
          expect(await store.holds('release', { marker: 'interval:nights', ids: [newer, older], note: '; told when it ended', now: clock.now() })).toEqual([]);
          const claimed = await claimOne();
          expect(claimed.id).toBe(newer);
          await settle(claimed, await stage.decide(claimed, { name: 'slack' }));
          expect((await store.view('delivery', newer))?.status).toBe('succeeded');
        });

        it('threshold: held below its count within the window, sent once at the count, held after it fired', async () => {
          const stage = stageWith({ routes: () => ({ threshold: { count: 3, within_ms: 600_000 } }) });
          const statuses: string[] = [];
          for (let i = 0; i < 4; i++) {
            const id = await queueOne(relayEvent({ dedup_key: 'thr' }), { rule_key: 'thr' });
            const claimed = await claimOne();
            await settle(claimed, await stage.decide(claimed, { name: 'slack' }));
            const record = await store.view('delivery', id);
            statuses.push(`${record!.status}: ${record!.note ?? ''}`);
            await clock.advance(1_000);
          }
          expect(statuses[0]).toBe('skipped: below threshold 1/3 within 10m');
          expect(statuses[1]).toBe('skipped: below threshold 2/3 within 10m');
          expect(statuses[2]).toBe('succeeded: ');
          expect(statuses[3]).toMatch(/^skipped: threshold already fired within 10m \(dlv_/);
        });

        it('inhibit: a firing critical holds a warning (muted, held by it); its resolve releases the warning, which then goes out', async () => {
          const stage = stageWith({ inhibit: compileInhibitRules([{ source: { match: { severity: 'critical' } }, target: { match: { severity: 'warning' } }, equal: [] }]) });
          const critical = relayEvent({ source: 'am', dedup_key: 'crit', severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
          await queueOne(critical, { destination: null }, true);
          const warning = await queueOne(relayEvent({ source: 'am', dedup_key: 'warn', severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' }), {}, true);
          const claimed = await claimOne();
          const verdict = await stage.decide(claimed, { name: 'slack' });
          expect(verdict.held[0]?.hold).toMatchObject({ rule: 'inhibit', held_by: JSON.stringify(['am', 'crit']) });
          await settle(claimed, verdict);
          expect((await store.view('delivery', warning))?.status).toBe('muted');
          const [resolved] = await store.ingest({
            ...batchOf(critical, [], clock.now()),
            events: [{ event: { ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, deliveries: [], track_incident: true }],
          });
          expect(resolved).toMatchObject({ released: ['slack'] });
          const again = await claimOne();
          expect(again.id).toBe(warning);
          await settle(again, await stage.decide(again, { name: 'slack' }));
          expect((await store.view('delivery', warning))?.status).toBe('succeeded');
        });
      });

      describe('storm digests at claim time', () => {
        const T0 = Date.parse('2026-04-23T18:28:00Z');
        /** Slack's default 3 per 3 s with `storm: { horizon: 10s }`: 10 requests fit in the horizon. */
        const STORM: StormPolicy = { capacity: 10 };

        /** One event routed to slack as ingest stores it (incident order, severity priority); returns its delivery id. */
        const queue = async (at: number, overrides: Partial<RelayEvent> = {}, extra: Partial<NewDelivery> = {}): Promise<string> => {
          const event = relayEvent({ occurred_at: new Date(at).toISOString(), ...overrides });
          const id = newId('dlv');
          const delivery: NewDelivery = { id, destination: 'slack', route: 'all', status: 'pending', incident_key: event.dedup_key, priority: SEVERITY_RANK[event.severity], ...extra };
          await store.ingest({ ...batchOf(event, [], at), events: [{ event, deliveries: [delivery] }] });
          return id;
        };
        const claim = async (now: number, storm: StormPolicy | null = STORM, limit = 5): Promise<readonly ClaimedDelivery[]> =>
          (await store.claim('slack', { ...LEASE, limit, now, storm })).deliveries;
        const idsOf = (delivery: ClaimedDelivery): string[] => [delivery.id, ...delivery.member_ids];
        const succeeded = (delivery: ClaimedDelivery, at: number): AttemptResult =>
          attempt(delivery.id, { member_ids: delivery.member_ids, started_at: at, finished_at: at + 10, request_body: '{"text":"digest"}', ...(delivery.digest ? { digest: true } : {}) });
        /** 100 warnings over 2 s, four alert types taking turns, each its own incident. */
        const burst = async (): Promise<Map<string, string[]>> => {
          const byType = new Map<string, string[]>();
          for (let i = 0; i < 100; i++) {
            const type = `alert.${'abcd'[i % 4]}`;
            const id = await queue(T0 + i * 20, { type, severity: 'warning', dedup_key: `${type}:${i}`, title: `${type} #${i}` });
            byType.set(type, [...(byType.get(type) ?? []), id]);
          }
          return byType;
        };

        it('a burst of 100 events in 2 s beyond the horizon → one digest per group, each carrying every event of its group', async () => {
          const byType = await burst();
          const claimed = await claim(T0 + 2_000);
          expect(claimed).toHaveLength(4);
          for (const digest of claimed) {
            expect(digest.digest).toBe(true);
            const type = digest.event.type;
            expect(digest.events.every((event) => event.type === type)).toBe(true);
            expect(new Set(idsOf(digest))).toEqual(new Set(byType.get(type)));
            expect(digestView(digest.events, 5, digest.route)).toMatchObject({ count: 25, incidents: 25, firing: 25, more: 20, label: type });
          }
          expect(await store.view('deliveries', { destination: 'slack', status: 'in_flight', limit: 200 })).toHaveLength(100);
        });

        it('within the horizon nothing collapses; a destination without storm digests (PagerDuty) never does', async () => {
          await burst();
          const claimed = await claim(T0 + 2_000, { capacity: 100 });
          expect(claimed).toHaveLength(5);
          expect(claimed.every((delivery) => delivery.digest !== true && delivery.member_ids.length === 0)).toBe(true);
          expect((await claim(T0 + 2_000, null)).every((delivery) => delivery.member_ids.length === 0)).toBe(true);
        });

        it('a critical event arriving after the storm goes first, on its own; the storm follows as a digest', async () => {
          for (let i = 0; i < 50; i++) await queue(T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
          const critical = await queue(T0 + 1_000, { type: 'disk.full', severity: 'critical', dedup_key: 'disk:db-1' });
          const claimed = await claim(T0 + 1_000, STORM, 2);
          expect(claimed[0]).toMatchObject({ id: critical, member_ids: [] });
          expect(claimed[0]!.digest).toBeUndefined();
          expect(claimed[1]).toMatchObject({ digest: true });
          expect(claimed[1]!.member_ids).toHaveLength(49);
        });

        it('incident order: a firing and its resolve fold into one digest that shows the latest state; a resolve whose firing is in flight waits', async () => {
          for (let i = 0; i < 20; i++) await queue(T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
          const firing = await queue(T0 + 100, { type: 'flood', severity: 'critical', dedup_key: 'db', status: 'firing' });
          const resolve = await queue(T0 + 200, { type: 'flood', severity: 'critical', dedup_key: 'db', status: 'resolved' });
          const inFlight = await queue(T0 + 300, { type: 'flood', severity: 'warning', dedup_key: 'api' }, { lease: { owner: 'lane-b', until: T0 + 60_000 } });
          const waiting = await queue(T0 + 400, { type: 'flood', severity: 'warning', dedup_key: 'api', status: 'resolved' });

          const [digest, ...rest] = await claim(T0 + 1_000);
          expect(rest).toHaveLength(0);
          const ids = idsOf(digest!);
          expect(ids).toContain(firing);
          expect(ids).toContain(resolve);
          expect(ids).not.toContain(inFlight);
          expect(ids).not.toContain(waiting);
          expect(ids.indexOf(firing)).toBeLessThan(ids.indexOf(resolve));
          const view = digestView(digest!.events, 30, digest!.route);
          expect(view).toMatchObject({ count: 22, incidents: 21, resolved: 1, firing: 20 });
          expect(view.worst.find((event) => event.dedup_key === 'db')).toMatchObject({ status: 'resolved' });
          expect((await store.view('delivery', waiting))?.status).toBe('pending');
        });

        it('a digest that must be retried is claimed again as the same digest, storm or not; success notes each event with its digest', async () => {
          const ids: string[] = [];
          for (let i = 0; i < 30; i++) ids.push(await queue(T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` }));
          const [digest] = await claim(T0 + 1_000);
          expect(digest!.member_ids).toHaveLength(29);
          await store.commitAttempts([{ ...succeeded(digest!, T0 + 1_000), outcome: 'retry', next_attempt_at: T0 + 31_000, health: 'failure', error: 'HTTP 503', response_code: 503 }]);
          expect(await claim(T0 + 2_000)).toHaveLength(0);

          const [again] = await claim(T0 + 31_000, null);
          expect(again).toMatchObject({ digest: true, attempts: 1 });
          expect(new Set(idsOf(again!))).toEqual(new Set(ids));
          await store.commitAttempts([succeeded(again!, T0 + 31_000)]);
          const log = await store.view('deliveries', { destination: 'slack', limit: 100 });
          expect(log).toHaveLength(30);
          for (const entry of log) expect(entry).toMatchObject({ status: 'succeeded', attempts: 2, note: `in digest ${again!.id} (30 events)` });
        });

        it('past the capacity the lead carries the due events of its own route and type only, in order; alone in its group, the lead goes as itself', async () => {
          const disks = [];
          for (let i = 0; i < 3; i++) disks.push(await queue(T0 + i, { type: 'disk.full', severity: 'warning', dedup_key: `disk:${i}` }));
          const cpu = await queue(T0 + 3, { type: 'cpu.high', severity: 'warning', dedup_key: 'cpu:1' });
          const [digest] = await claim(T0 + 10, { capacity: 3 }, 1);
          expect(digest).toMatchObject({ id: disks[0], member_ids: [disks[1], disks[2]], digest: true });
          expect(digest!.events.map((event) => event.dedup_key)).toEqual(['disk:0', 'disk:1', 'disk:2']);
          // cpu.high is alone in its group: itself, however stormy.
          const [alone] = await claim(T0 + 10, { capacity: 0 }, 1);
          expect(alone).toMatchObject({ id: cpu, member_ids: [] });
          expect(alone!.digest).toBeUndefined();
        });

        it('replays, retries of single deliveries and events of an incident with an open slack-bot message are never folded', async () => {
          // flood:3 has its own open message here (posted by an earlier attempt).
          const card = await queue(T0 - 10, { type: 'card', severity: 'warning', dedup_key: 'flood:3' });
          const [posting] = await claim(T0 - 9, null, 1);
          expect(posting?.id).toBe(card);
          const posted = { kind: 'posted', dedup_key: 'flood:3', channel: 'C1', ts: '1.1', started_at: new Date(T0).toISOString(), status: 'firing', resolved_at: null, last_event_id: posting!.event.id } as const;
          await store.commitAttempts([attempt(card, { effects: { incident_message: posted } })]);
          // A retry of a single delivery, due again during the storm: its request is made, never folded.
          const retried = await queue(T0 - 5, { type: 'flood', severity: 'warning', dedup_key: 'flood:retried' });
          expect((await claim(T0 - 4, null, 1))[0]?.id).toBe(retried);
          await store.commitAttempts([attempt(retried, { outcome: 'retry', next_attempt_at: T0 + 500, health: 'failure', error: 'HTTP 503', response_code: 503, request_body: '{"text":"made"}' })]);
          for (let i = 0; i < 20; i++) await queue(T0 + i, { type: 'flood', severity: 'warning', dedup_key: `flood:${i}` });
          // A replay of one of them is never folded either.
          const replay = await store.append('replay', retried, newId('dlv'), T0 + 600);

          const [digest] = await claim(T0 + 1_000, { capacity: 10, keep_incident_messages: true }, 1);
          const folded = digest!.events.map((event) => event.dedup_key);
          expect(folded).toHaveLength(19);
          expect(folded).not.toContain('flood:3');
          expect(idsOf(digest!)).not.toContain(retried);
          expect(idsOf(digest!)).not.toContain(replay!.id);
        });

        // Stories from the former sqlite-storm-digest.test.ts (mutation-killing, issue 19 item 5).
        const PLAIN: Partial<NewDelivery> = { priority: 0, incident_key: null };

        it('on a grouped route, a digest folds the lead\'s group only', async () => {
          const group = (key: string): Partial<NewDelivery> => ({ ...PLAIN, group: { key, wait_ms: 0, interval_ms: 60_000 } });
          const g1 = [await queue(T0, { dedup_key: 'a1' }, group('g1')), await queue(T0 + 1, { dedup_key: 'a2' }, group('g1'))];
          await queue(T0 + 2, { dedup_key: 'b1' }, group('g2'));
          const [lead] = await claim(T0 + 500, { capacity: 1 }, 1);
          expect(lead).toMatchObject({ id: g1[0], member_ids: [g1[1]], digest: true });
        });

        it('a replay claimed first in a storm goes alone; the others fold without it', async () => {
          const first = await queue(T0 - 1_000, { dedup_key: 'k1' }, PLAIN);
          expect((await claim(T0 - 900, null, 1))[0]?.id).toBe(first);
          await store.commitAttempts([attempt(first)]);
          const replay = await store.append('replay', first, newId('dlv'), T0 - 100);
          const ids = [await queue(T0, { dedup_key: 'k2' }, PLAIN), await queue(T0 + 1, { dedup_key: 'k3' }, PLAIN)];
          const [alone] = await claim(T0 + 500, { capacity: 1 }, 1);
          expect(alone).toMatchObject({ id: replay!.id, member_ids: [] });
          expect(alone!.digest).toBeUndefined();
          expect((await claim(T0 + 500, { capacity: 1 }, 1))[0]).toMatchObject({ id: ids[0], member_ids: [ids[1]], digest: true });
        });

        it('a digest retried is claimed again with the same members, storm or not, and newcomers are not folded into it; after its lease ran out, the same digest again', async () => {
          const ids = [await queue(T0, { dedup_key: 'k1' }, PLAIN), await queue(T0 + 1, { dedup_key: 'k2' }, PLAIN), await queue(T0 + 2, { dedup_key: 'k3' }, PLAIN)];
          const [lead] = await claim(T0 + 500, { capacity: 1 }, 1);
          expect(lead).toMatchObject({ id: ids[0], member_ids: [ids[1], ids[2]], digest: true });
          await store.commitAttempts([attempt(ids[0]!, { member_ids: [ids[1]!, ids[2]!], digest: true, outcome: 'retry', next_attempt_at: T0 + 5_000, health: 'failure', error: 'HTTP 503', response_code: 503 })]);
          const newcomer = await queue(T0 + 600, { dedup_key: 'k4' }, PLAIN);
          // Still a storm (the digest and the newcomer wait, past a capacity of one).
          const [alone, again] = await claim(T0 + 5_000, { capacity: 1 }, 10);
          expect(alone).toMatchObject({ id: newcomer, member_ids: [] });
          expect(alone!.digest).toBeUndefined();
          expect(again).toMatchObject({ id: ids[0], member_ids: [ids[1], ids[2]], digest: true, attempts: 1 });
          expect(again!.events.map((event) => event.dedup_key)).toEqual(['k1', 'k2', 'k3']);
          // Its lease ran out (the newcomer went out meanwhile): claimed again without a storm, the same digest.
          await store.commitAttempts([attempt(newcomer)]);
          const [taken] = await claim(T0 + 5_000 + LEASE.lease_ms, null, 1);
          expect(taken).toMatchObject({ id: ids[0], member_ids: [ids[1], ids[2]], digest: true, interrupted: 1 });
        });

        it('a digest waiting for its retry counts as one request towards a storm', async () => {
          const ids = [await queue(T0, { dedup_key: 'k1', type: 'disk.full' }, PLAIN), await queue(T0 + 1, { dedup_key: 'k2', type: 'disk.full' }, PLAIN), await queue(T0 + 2, { dedup_key: 'k3', type: 'disk.full' }, PLAIN)];
          await claim(T0 + 500, { capacity: 1 }, 1);
          await store.commitAttempts([attempt(ids[0]!, { member_ids: [ids[1]!, ids[2]!], digest: true, outcome: 'retry', next_attempt_at: T0 + 5_000, health: 'failure', error: 'HTTP 503', response_code: 503 })]);
          // Waiting now: the digest (one request) and two newcomers of another type — three.
          const cpu = [await queue(T0 + 600, { dedup_key: 'cpu1', type: 'cpu.high' }, { ...PLAIN, priority: 1 }), await queue(T0 + 601, { dedup_key: 'cpu2', type: 'cpu.high' }, { ...PLAIN, priority: 1 })];
          expect((await claim(T0 + 5_000, { capacity: 3 }, 1))[0]).toMatchObject({ id: cpu[0], member_ids: [] });
          // Given back (due again at the store's own clock), three requests are past a capacity of two.
          await store.leases('release', [cpu[0]!], OWNER);
          expect((await claim(Date.now() + 1_000, { capacity: 2 }, 1))[0]).toMatchObject({ id: cpu[1], member_ids: [cpu[0]], digest: true });
        });

        describe('a destination keeping one message per incident (slack-bot)', () => {
          /** An earlier event of `dedupKey` posted its message, still firing. */
          const openMessage = async (dedupKey: string): Promise<void> => {
            const id = await queue(T0 - 1_000, { dedup_key: dedupKey, type: 'posted.before' }, PLAIN);
            expect((await claim(T0 - 900, null, 1))[0]?.id).toBe(id);
            const posted = { kind: 'posted', dedup_key: dedupKey, channel: 'C1', ts: '1.1', started_at: new Date(T0).toISOString(), status: 'firing', resolved_at: null, last_event_id: 'evt_1' } as const;
            await store.commitAttempts([attempt(id, { effects: { incident_message: posted } })]);
          };

          it('a lead whose incident has an open message goes as itself', async () => {
            await openMessage('k1');
            const ids = [await queue(T0, { dedup_key: 'k1' }, PLAIN), await queue(T0 + 1, { dedup_key: 'k2' }, PLAIN), await queue(T0 + 2, { dedup_key: 'k3' }, PLAIN)];
            const [lead] = await claim(T0 + 500, { capacity: 1, keep_incident_messages: true }, 1);
            expect(lead).toMatchObject({ id: ids[0], member_ids: [] });
            expect(lead!.digest).toBeUndefined();
          });

          it('other destinations fold those events too', async () => {
            await openMessage('k1');
            const ids = [await queue(T0, { dedup_key: 'k1' }, PLAIN), await queue(T0 + 1, { dedup_key: 'k2' }, PLAIN)];
            expect((await claim(T0 + 500, { capacity: 1 }, 1))[0]).toMatchObject({ id: ids[0], member_ids: [ids[1]], digest: true });
          });
        });
      });

      describe('where the two stores used to disagree', () => {
        const track = (event: ReturnType<typeof relayEvent>, destinations: string[]) => {
          const batch = batchOf(event, destinations);
          return store.ingest({ ...batch, events: batch.events.map((item) => ({ ...item, track_incident: true })) });
        };

        it('a hold by an inhibiting incident that resolved after the stage read it is not kept: the delivery is due again, to be judged afresh', async () => {
          const critical = relayEvent({ source: 'am', dedup_key: 'crit', severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
          const warning = relayEvent({ source: 'am', dedup_key: 'warn', severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' });
          await track(critical, []);
          await track(warning, ['slack']);
          const now = Date.now();
          const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now: now + 1 })).deliveries;
          // The stage saw `crit` firing; before its hold commits, the resolve of `crit` is ingested.
          expect((await store.firingIncidents(10)).map((event) => event.dedup_key)).toContain('crit');
          const [resolved] = await track({ ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, []);
          expect(resolved).not.toHaveProperty('released');
          await store.holds('hold', { ids: [claimed!.id], lease_owner: OWNER, status: 'muted', note: 'inhibited by crit', now: now + 2, held_by: JSON.stringify(['am', 'crit']) });
          expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'pending' });
          const [again] = (await store.claim('slack', { ...LEASE, owner: 'lane-b', limit: 1, now: now + 3 })).deliveries;
          expect(again?.id).toBe(claimed!.id);
        });

        it('a hold racing with the resolve of its inhibitor ends released either way, never muted for good', async () => {
          for (let round = 0; round < 5; round++) {
            const critical = relayEvent({ source: 'am', dedup_key: `crit${round}`, severity: 'critical', occurred_at: '2026-11-29T10:00:00.000Z' });
            const warning = relayEvent({ source: 'am', dedup_key: `warn${round}`, severity: 'warning', occurred_at: '2026-11-29T10:01:00.000Z' });
            await track(critical, []);
            await track(warning, ['slack']);
            const now = Date.now();
            const claimed = (await store.claim('slack', { ...LEASE, limit: 100, now })).deliveries.find((delivery) => delivery.event.id === warning.id);
            await Promise.all([
              store.holds('hold', { ids: [claimed!.id], lease_owner: OWNER, status: 'muted', note: 'inhibited', now, held_by: JSON.stringify(['am', `crit${round}`]) }),
              track({ ...critical, id: newId('evt'), status: 'resolved', occurred_at: '2026-11-29T10:05:00.000Z' }, []),
            ]);
            expect(await store.view('delivery', claimed!.id)).toMatchObject({ status: 'pending' });
          }
        });

        it('a destination whose circuit is open takes no lease at ingest: its work is stored pending, said to wait, and goes when it is enabled', async () => {
          await store.ingest(batchOf(relayEvent(), ['slack']));
          const now = Date.now() + 1;
          const [claimed] = (await store.claim('slack', { ...LEASE, limit: 1, now })).deliveries;
          const opened = await store.commitAttempts([
            attempt(claimed!.id, { outcome: 'retry', health: 'failure', next_attempt_at: now + 60_000, error: 'HTTP 500', breaker: { disable_after: 1, probe_backoff_ms: null } }),
          ]);
          expect(opened[0]?.disabled_now).toBe(true);
          const event = relayEvent({ dedup_key: 'after-open' });
          const leased: NewDelivery = { id: newId('dlv'), destination: 'slack', route: 'r', status: 'pending', lease: { owner: OWNER, until: now + 60_000 } };
          const [result] = await store.ingest({ ...batchOf(event, []), events: [{ event, deliveries: [leased] }] });
          expect(result).toEqual({ id: event.id, duplicate: false, waiting: [leased.id] });
          expect((await store.view('delivery', leased.id))?.status).toBe('pending');
          await store.change('enable_destination', 'slack', now + 2);
          const resumed = await store.claim('slack', { ...LEASE, limit: 10, now: now + 2 });
          expect(resumed.deliveries.map((delivery) => delivery.id)).toContain(leased.id);
        });

        it('a batch of outcomes commits together: each with its attempt, one notification line per incident (the newest told), failures counted in order, a lost lease recording nothing', async () => {
          const events = Array.from({ length: 5 }, (_, index) => relayEvent({ dedup_key: index < 2 ? 'inc_same' : `inc_${index}` }));
          for (const event of events) await store.ingest(batchOf(event, ['slack']));
          const now = Date.now() + 1;
          const claimed = (await store.claim('slack', { ...LEASE, limit: 5, now })).deliveries;
          expect(claimed).toHaveLength(5);
          const byEvent = (index: number) => claimed.find((delivery) => delivery.event.id === events[index]!.id)!;
          const told = (index: number, sentAt: number) => ({
            destination: 'slack',
            dedup_key: events[index]!.dedup_key,
            status: 'firing' as const,
            occurred_at: events[index]!.occurred_at,
            delivery_id: byEvent(index).id,
            sent_at: sentAt,
          });
          const breaker = { disable_after: 2, probe_backoff_ms: null };
          const failure = { outcome: 'retry', health: 'failure', response_code: 500, error: 'HTTP 500', next_attempt_at: now + 60_000, breaker } as const;
          // Answers arriving out of order: the later-sent one of `inc_same` is committed first.
          const recorded = await store.commitAttempts([
            attempt(byEvent(1).id, { notified: [told(1, now + 20)], finished_at: now + 20, breaker }),
            attempt(byEvent(0).id, { notified: [told(0, now + 10)], finished_at: now + 10, breaker }),
            attempt(byEvent(2).id, { ...failure, finished_at: now + 30 }),
            attempt(byEvent(3).id, { ...failure, finished_at: now + 31 }),
            attempt(byEvent(4).id, { lease_owner: 'dead-worker', notified: [told(4, now + 40)], finished_at: now + 40 }),
          ]);
          expect(recorded.map((each) => each.recorded)).toEqual([true, true, true, true, false]);
          expect(recorded.map((each) => each.disabled_now)).toEqual([false, false, false, true, false]);
          expect(recorded[3]?.destination).toMatchObject({ enabled: false, consecutive_failures: 2 });
          for (const index of [0, 1]) expect(await store.view('delivery', byEvent(index).id)).toMatchObject({ status: 'succeeded', attempts: 1 });
          for (const index of [2, 3]) expect((await store.view('delivery', byEvent(index).id))?.attempt_log.map((each) => each.outcome)).toEqual(['retry']);
          expect((await store.view('delivery', byEvent(4).id))?.status).toBe('in_flight');
          expect(await store.notificationLog('slack', ['inc_same', 'inc_4'])).toEqual([told(1, now + 20)]);
        });
      });
    });
  });
}
