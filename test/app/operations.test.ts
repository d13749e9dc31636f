import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Operations } from '../../src/app/index.ts';
import type { Destination } from '../../src/destinations/destination.ts';
import { HookrelayError } from '../../src/errors.ts';
import { MuteRegistry } from '../../src/mutes/mute-registry.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { statusReport } from '../../src/slack/replies.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { AttemptResult, Store } from '../../src/store/store.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { recordAttempt } from '../support/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookrelay-ops-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Destinations as the operations see them: the send path is the dispatcher's, never called here. */
function destination(name: string, type: string, extra: Partial<Destination> = {}): Destination {
  return {
    name,
    type,
    template: `${type}/default`,
    limits: { concurrency: 1, rate: null, timeout_ms: 1_000 },
    urls: [],
    prepare: () => undefined,
    render: () => '{}',
    send: () => Promise.reject(new Error('operations never send')),
    ...extra,
  };
}

const pager = destination('pager', 'pagerduty', {
  stateful: true,
  acknowledge: (dedupKey) => JSON.stringify({ event_action: 'acknowledge', dedup_key: dedupKey }),
});
const slack = destination('slack', 'slack');

let store: Store;
let operations: Operations;
let notified: string[];
let enabled: string[];
let now: number;

beforeEach(async () => {
  store = await SqliteStore.open(join(dir, `ops-${++n}.db`));
  await store.syncDestinations(['slack', 'pager']);
  notified = [];
  enabled = [];
  now = Date.now();
  const mutes = new MuteRegistry(store, silentLogger());
  operations = new Operations({
    store,
    mutes,
    dispatcher: { notify: (names) => notified.push(...names), enabled: (name) => enabled.push(name) },
    destinations: [slack, pager],
    version: 'test',
    logger: silentLogger(),
    now: () => now,
  });
});
afterEach(async () => {
  await store.close();
});

/** Takes a destination's due deliveries and records one final attempt for each. */
async function finish(name: string, outcome: AttemptResult['outcome'], requestBody = '{"text":"hi"}', dedupKey?: string): Promise<void> {
  const { deliveries } = await store.claim(name, { limit: 100, now: Date.now() + 1_000, lease_ms: 60_000, owner: 'test' });
  for (const delivery of deliveries) {
    await recordAttempt(store, {
      delivery_id: delivery.id,
      member_ids: [],
      destination: name,
      lease_owner: 'test',
      started_at: Date.now(),
      finished_at: Date.now(),
      outcome,
      next_attempt_at: null,
      request_body: requestBody,
      response_code: outcome === 'succeeded' ? 200 : 500,
      response_body: null,
      latency_ms: 3,
      error: outcome === 'succeeded' ? null : 'HTTP 500',
      health: outcome === 'succeeded' ? 'success' : 'failure',
      breaker: { disable_after: 100, probe_backoff_ms: null },
      notified:
        dedupKey && outcome === 'succeeded'
          ? [{ destination: name, dedup_key: dedupKey, status: delivery.event.status, occurred_at: delivery.event.occurred_at, delivery_id: delivery.id, sent_at: Date.now() }]
          : [],
    });
  }
}

const code = async (promise: Promise<unknown>): Promise<string | undefined> =>
  promise.then(
    () => undefined,
    (error: unknown) => (error instanceof HookrelayError ? error.code : String(error)),
  );

describe('replay', () => {
  it('a delivery id → one new pending delivery with the same request, and the dispatcher is told', async () => {
    const event = relayEvent();
    await store.ingest(batchOf(event, ['slack']));
    await finish('slack', 'succeeded', '{"text":"the original"}');
    const [original] = await store.view('deliveries', { event_id: event.id, limit: 10 });
    const [replay] = await operations.replay(original!.id);
    expect(replay).toMatchObject({ replay_of: original!.id, status: 'pending', destination: 'slack', request_body: '{"text":"the original"}' });
    expect(notified).toEqual(['slack']);
  });

  it('an event id → its newest delivery to each destination', async () => {
    const event = relayEvent();
    await store.ingest(batchOf(event, ['slack', 'pager']));
    const replays = await operations.replay(event.id);
    expect(replays.map((replay) => replay.destination).sort()).toEqual(['pager', 'slack']);
  });

  it('an unknown id → not_found, and nothing is queued', async () => {
    expect(await code(operations.replay('dlv_01NOPE'))).toBe('not_found');
    expect(await code(operations.replay('evt_01NOPE'))).toBe('not_found');
    expect(notified).toEqual([]);
  });

  it('replay-failed since T replays the failed deliveries created since T, once', async () => {
    const old = relayEvent();
    await store.ingest(batchOf(old, ['slack'], Date.now() - 120_000));
    await finish('slack', 'failed');
    const since = Date.now() - 1;
    const recent = [relayEvent(), relayEvent(), relayEvent()];
    for (const event of recent) await store.ingest(batchOf(event, ['slack']));
    await finish('slack', 'failed');
    now = Date.now();
    const result = await operations.replayFailedSince('slack', since);
    expect(result.replays.map((replay) => replay.event_id)).toEqual(recent.map((event) => event.id));
    expect(notified).toEqual(['slack']);
    // Asking again does not send the same failures twice.
    expect((await operations.replayFailedSince('slack', since)).replays).toEqual([]);
    // From before the old one: only the old one is left.
    expect((await operations.replayFailedSince('slack', since - 600_000)).replays.map((replay) => replay.event_id)).toEqual([old.id]);
  });

  it('replay-failed for an unknown destination or a future time is refused', async () => {
    expect(await code(operations.replayFailedSince('nope', now - 1_000))).toBe('not_found');
    expect(await code(operations.replayFailedSince('slack', now + 60_000))).toBe('invalid_request');
  });
});

describe('acknowledge', () => {
  it('by dedup key: an acknowledge delivery to the destination that was sent the incident, with the key it was sent', async () => {
    const event = relayEvent({ dedup_key: 'tapemetric:qos:Assam' });
    await store.ingest(batchOf(event, ['pager']));
    await finish('pager', 'succeeded', JSON.stringify({ event_action: 'trigger', dedup_key: 'shaped-by-template' }), event.dedup_key);
    const ack = await operations.acknowledge('tapemetric:qos:Assam', 'alice');
    expect(ack).toEqual({ dedup_key: 'tapemetric:qos:Assam', pagerduty: ['pager'], messages: [] });
    const queued = (await store.view('deliveries', { destination: 'pager', status: 'pending', limit: 10 }))[0]!;
    expect(queued.route).toBe('command:acknowledge');
    expect(queued.event_id).toBe(event.id);
    expect(JSON.parse(queued.request_body!)).toEqual({ event_action: 'acknowledge', dedup_key: 'shaped-by-template' });
    expect(notified).toEqual(['pager']);
  });

  it('by event id: that event\'s incident, even before its trigger went out', async () => {
    const event = relayEvent({ dedup_key: 'k-pending' });
    await store.ingest(batchOf(event, ['pager', 'slack']));
    const ack = await operations.acknowledge(event.id, 'bob');
    expect(ack.pagerduty).toEqual(['pager']);
    const queued = await store.view('deliveries', { destination: 'pager', limit: 10 });
    expect(queued.map((delivery) => delivery.route)).toContain('command:acknowledge');
  });

  it('an incident no destination that can acknowledge was told about → not_found, nothing queued', async () => {
    const event = relayEvent({ dedup_key: 'only-slack' });
    await store.ingest(batchOf(event, ['slack']));
    expect(await code(operations.acknowledge('only-slack', 'alice'))).toBe('not_found');
    expect(await code(operations.acknowledge('evt_01NOPE', 'alice'))).toBe('not_found');
    expect(await store.view('deliveries', { destination: 'pager', limit: 10 })).toEqual([]);
  });
});

describe('mute, enable, secrets', () => {
  it('mute and unmute through the registry; a bad matcher is invalid_request', async () => {
    const mute = await operations.mute({ matchers: { type: 'qos.*' }, duration_ms: 3_600_000, reason: 'deploy', by: 'alice' });
    expect(mute.expires_at).toBe(new Date(now + 3_600_000).toISOString());
    expect(operations.activeMutes().map((active) => active.id)).toEqual([mute.id]);
    expect((await operations.unmute(mute.id))?.id).toBe(mute.id);
    expect(operations.activeMutes()).toEqual([]);
    expect(await operations.unmute(mute.id)).toBeNull();
    expect(await code(operations.mute({ matchers: {}, duration_ms: 60_000, reason: '', by: 'alice' }))).toBe('invalid_request');
  });

  it('enable re-enables a disabled destination and tells the dispatcher', async () => {
    const event = relayEvent();
    await store.ingest(batchOf(event, ['slack']));
    const { deliveries } = await store.claim('slack', { limit: 1, now: Date.now() + 1_000, lease_ms: 60_000, owner: 'test' });
    await recordAttempt(store, {
      delivery_id: deliveries[0]!.id, member_ids: [], destination: 'slack', lease_owner: 'test', started_at: now, finished_at: now,
      outcome: 'failed', next_attempt_at: null, request_body: '{}', response_code: 500, response_body: null, latency_ms: 1,
      error: 'HTTP 500', health: 'failure', breaker: { disable_after: 1, probe_backoff_ms: null }, notified: [],
    });
    expect((await operations.destinationStates()).find((state) => state.name === 'slack')?.enabled).toBe(false);
    const state = await operations.enable('slack');
    expect(state).toMatchObject({ name: 'slack', type: 'slack', enabled: true, consecutive_failures: 0 });
    expect(enabled).toEqual(['slack']);
    expect(await code(operations.enable('nope'))).toBe('not_found');
  });

  it("Slack's /hookrelay status: a destination its probe re-enables says so; only one without auto_enable is told to POST to the API", async () => {
    const manualSlack = destination('manual', 'slack', { auto_enable: false });
    const autoPager = destination('auto', 'pagerduty', { auto_enable: true });
    await store.syncDestinations(['manual', 'auto']);
    const withBoth = new Operations({
      store,
      mutes: new MuteRegistry(store, silentLogger()),
      dispatcher: { notify: () => undefined, enabled: () => undefined },
      destinations: [manualSlack, autoPager],
      version: 'test',
      logger: silentLogger(),
      now: () => now,
    });
    /** One failed attempt opens the circuit (disable_after 1), with the destination's own recovery. */
    const disable = async (name: string, probe: readonly number[] | null): Promise<void> => {
      await store.ingest(batchOf(relayEvent(), [name]));
      const { deliveries } = await store.claim(name, { limit: 1, now: Date.now() + 1_000, lease_ms: 60_000, owner: 'test' });
      await recordAttempt(store, {
        delivery_id: deliveries[0]!.id, member_ids: [], destination: name, lease_owner: 'test', started_at: now, finished_at: now,
        outcome: 'failed', next_attempt_at: null, request_body: '{}', response_code: 500, response_body: null, latency_ms: 1,
        error: 'HTTP 500', health: 'failure', breaker: { disable_after: 1, probe_backoff_ms: probe }, notified: [],
      });
    };
    await disable('auto', [10_000]);
    const autoOnly = statusReport(await withBoth.status());
    expect(autoOnly).toMatch(/\*auto\* \(pagerduty\): :no_entry: \*disabled\*.* probes by itself .*and resumes when that succeeds/);
    expect(autoOnly).not.toContain('/api/v1');
    await disable('manual', null);
    const both = statusReport(await withBoth.status());
    expect(both).toMatch(/\*manual\* \(slack\): :no_entry: \*disabled\*.* waits to be enabled/);
    expect(both).toContain('*manual* has `auto_enable: false`: re-enable with `POST /api/v1/destinations/<name>/enable` once fixed.');
    expect(both).not.toMatch(/\*auto\*[^\n]*enable`/);
  });

  it("Slack's /hookrelay status and the destinations list: a disabled destination with a fallback says where its alerts go meanwhile", async () => {
    const pager = destination('pager', 'pagerduty', { fallback: 'chat' });
    const chat = destination('chat', 'slack');
    await store.syncDestinations(['pager', 'chat']);
    const withFallback = new Operations({
      store,
      mutes: new MuteRegistry(store, silentLogger()),
      dispatcher: { notify: () => undefined, enabled: () => undefined },
      destinations: [pager, chat],
      version: 'test',
      logger: silentLogger(),
      now: () => now,
    });
    expect(statusReport(await withFallback.status())).not.toContain('meanwhile');
    await store.ingest(batchOf(relayEvent(), ['pager']));
    const { deliveries } = await store.claim('pager', { limit: 1, now: Date.now() + 1_000, lease_ms: 60_000, owner: 'test' });
    await recordAttempt(store, {
      delivery_id: deliveries[0]!.id, member_ids: [], destination: 'pager', lease_owner: 'test', started_at: now, finished_at: now,
      outcome: 'retry', next_attempt_at: now + 60_000, request_body: '{}', response_code: 503, response_body: null, latency_ms: 1,
      error: 'HTTP 503', health: 'failure', breaker: { disable_after: 1, probe_backoff_ms: [10_000] }, notified: [],
    });
    expect(statusReport(await withFallback.status())).toMatch(/\*pager\* \(pagerduty\): :no_entry: \*disabled\*.* · its alerts go to \*chat\* meanwhile · 1 pending/);
    const states = await withFallback.destinationStates();
    expect(states.find((state) => state.name === 'pager')?.fallback).toBe('chat');
    expect(states.find((state) => state.name === 'chat')).not.toHaveProperty('fallback');
  });

  it('generateSecret → a fresh whsec_ secret of 32 random bytes', () => {
    const first = operations.generateSecret();
    expect(first).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(first.slice(6), 'base64')).toHaveLength(32);
    expect(operations.generateSecret()).not.toBe(first);
  });
});
