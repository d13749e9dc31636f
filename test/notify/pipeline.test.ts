/**
 * The notification stage on its own (src/notify/pipeline.ts): the real rules, routes, inhibit
 * rules, mutes and time intervals, a manual clock, and a notification log kept in memory the way
 * the stores answer it (what each destination was told, the threshold's arrivals, the incidents
 * still firing). What a user would notice is the verdict: what goes out, what is held and why,
 * and that a delivery no rule looks at costs no read of the log.
 */
import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { MuteRegistry } from '../../src/mutes/mute-registry.ts';
import { compileInhibitRules, inhibitRuleSchema } from '../../src/notify/inhibit.ts';
import { DEFAULT_REPEAT_MS, NotificationStage } from '../../src/notify/pipeline.ts';
import type { NotificationStageOptions, StageVerdict } from '../../src/notify/pipeline.ts';
import type { Rule } from '../../src/notify/rules.ts';
import { TimeIntervals, timeIntervalSchema } from '../../src/notify/time-intervals.ts';
import { Router, routeSchema } from '../../src/routing/routes.ts';
import type { RelayEvent } from '../../src/events/event.ts';
import type { ClaimedDelivery, NotificationEntry, RuleFacts, Store, StoredMute, ThresholdQuery, ThresholdState } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';
import { ManualClock } from '../support/clock.ts';
import { relayEvent } from '../support/events.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** A Monday, 10:00 UTC. */
const MONDAY_10 = Date.parse('2026-11-30T10:00:00Z');

/** One arrival a route's threshold counts: a delivery stored for a key, at a time. */
interface Arrival {
  readonly destination: string;
  readonly route: string;
  readonly rule_key: string;
  readonly id: string;
  readonly at: number;
  /** It went out (the threshold fired with it). */
  readonly sent?: boolean;
}

/**
 * The facts a store answers, kept in memory: the notification log, the threshold's arrivals in
 * the order they were stored, the firing incidents newest first. It answers as the stores do
 * (by destination and key, within the window, up to the delivery asked about) and counts reads.
 */
class Log implements RuleFacts {
  readonly told: NotificationEntry[] = [];
  readonly arrivals: Arrival[] = [];
  firing: RelayEvent[] = [];
  readonly logReads: Array<{ destination: string; keys: string[] }> = [];
  readonly thresholdReads: ThresholdQuery[] = [];
  readonly firingReads: number[] = [];

  async notificationLog(destination: string, dedupKeys: readonly string[]): Promise<NotificationEntry[]> {
    this.logReads.push({ destination, keys: [...dedupKeys] });
    return this.told.filter((entry) => entry.destination === destination && dedupKeys.includes(entry.dedup_key));
  }

  async thresholdState(query: ThresholdQuery): Promise<ThresholdState> {
    this.thresholdReads.push(query);
    const upTo = this.arrivals.findIndex((arrival) => arrival.id === query.up_to_id);
    const counted = this.arrivals.filter(
      (arrival) =>
        arrival.destination === query.destination && arrival.route === query.route && arrival.rule_key === query.rule_key && arrival.at >= query.since,
    );
    return {
      count: counted.filter((arrival) => this.arrivals.indexOf(arrival) <= upTo).length,
      fired: counted.find((arrival) => arrival.sent === true)?.id ?? null,
    };
  }

  async firingIncidents(limit: number): Promise<RelayEvent[]> {
    this.firingReads.push(limit);
    return this.firing.slice(0, limit);
  }
}

const silent = pino({ level: 'silent' });

/** Run-time mutes kept in memory (the mute registry's part of the store). */
function muteStore(): ConstructorParameters<typeof MuteRegistry>[0] {
  const mutes: StoredMute[] = [];
  // Only the kinds the registry asks for: create_mute, and the mutes view.
  const change = async (kind: string, mute: StoredMute): Promise<StoredMute | null> => (kind === 'create_mute' ? (mutes.push(mute), mute) : null);
  const view = async (kind: string, options: { now: number; all?: boolean }): Promise<StoredMute[]> =>
    kind === 'mutes' ? mutes.filter((mute) => options.all === true || Date.parse(mute.expires_at) > options.now) : [];
  return { change: change as unknown as Store['change'], view: view as unknown as Store['view'] };
}

const routes = new Router(
  [
    { name: 'plain', to: ['chat'] },
    { name: 'hourly', to: ['chat'], repeat_interval: '1h' },
    { name: 'three-in-10m', to: ['chat'], threshold: { count: 3, within: '10m' } },
    { name: 'office', to: ['chat'], active_during: ['office-hours'] },
    { name: 'quiet-nights', to: ['chat'], muted_during: ['office-hours'] },
  ].map((route) => routeSchema.parse(route)),
);
const officeHours = new TimeIntervals([
  timeIntervalSchema.parse({ name: 'office-hours', time_intervals: [{ weekdays: ['monday:friday'], times: [{ start_time: '09:00', end_time: '17:00' }] }] }),
]);

let clock: ManualClock;
let log: Log;
let mutes: MuteRegistry;

beforeEach(() => {
  clock = new ManualClock(MONDAY_10);
  log = new Log();
  mutes = new MuteRegistry(muteStore(), silent, clock);
});

/** The stage as the server builds it; `alertmanager` re-sends whole states, other sources do not. */
function stage(options: Partial<NotificationStageOptions> = {}): NotificationStage {
  return new NotificationStage({
    store: log,
    mutes,
    routes: (name) => routes.rules(name),
    resendsState: (source) => source === 'alertmanager',
    intervals: officeHours,
    clock,
    ...options,
  });
}

/** A claimed delivery of these events (the first leads, the others are its batch's members). */
function claimed(events: readonly RelayEvent[], overrides: Partial<ClaimedDelivery> = {}): ClaimedDelivery {
  const ids = events.map(() => newId('dlv'));
  return {
    id: ids[0]!,
    destination: 'chat',
    event: events[0]!,
    member_ids: ids.slice(1),
    events,
    attempts: 0,
    request_body: null,
    unordered: false,
    route: 'plain',
    probe: false,
    rule_keys: events.map(() => null),
    ...overrides,
  };
}

const CHAT = { name: 'chat' };
const PAGER = { name: 'pager', stateful: true };

/** What this destination was told of an incident, `ago` before now. */
function tell(event: RelayEvent, ago: number, overrides: Partial<NotificationEntry> = {}): void {
  log.told.push({
    destination: 'chat',
    dedup_key: event.dedup_key,
    status: event.status,
    occurred_at: event.occurred_at,
    delivery_id: 'dlv_told',
    sent_at: clock.now() - ago,
    ...overrides,
  });
}

const heldNotes = (verdict: StageVerdict): string[] => verdict.held.map((group) => group.hold.note);

describe('what passes untouched', () => {
  it('a replay or a command is sent as asked, whatever would hold an event of the incident, without reading the log', async () => {
    const event = relayEvent({ source: 'alertmanager' });
    await mutes.create({ matchers: { dedup_key: event.dedup_key }, duration_ms: HOUR, reason: 'deploy', created_by: 'dana' });
    tell(event, MINUTE);
    const replay = claimed([event], { unordered: true, route: null, request_body: '{"copied":true}' });
    const verdict = await stage().decide(replay, PAGER);
    expect(verdict).toEqual({ send: replay, held: [] });
    expect(verdict.send).toBe(replay);
    expect(log.logReads).toEqual([]);
  });

  it('a route with no rules sends a retry as drawn before, and reads nothing', async () => {
    const event = relayEvent();
    tell(event, MINUTE);
    const retry = claimed([event], { attempts: 2, request_body: '{"text":"drawn before"}' });
    const verdict = await stage().decide(retry, CHAT);
    expect(verdict.send).toBe(retry);
    expect(verdict.held).toEqual([]);
    expect(verdict.threshold).toBeUndefined();
    expect(log.logReads).toEqual([]);
    expect(log.thresholdReads).toEqual([]);
    expect(log.firingReads).toEqual([]);
  });

  it('a route no longer configured judges its waiting work without its rules', async () => {
    const event = relayEvent();
    tell(event, MINUTE);
    const verdict = await stage().decide(claimed([event], { route: 'removed' }), CHAT);
    expect(verdict.held).toEqual([]);
    expect(log.logReads).toEqual([]);
  });
});

describe('repeats', () => {
  it('an unchanged alert is told again only after the route\'s repeat_interval, read from this destination\'s log', async () => {
    const event = relayEvent({ dedup_key: 'db:primary' });
    tell(event, 30 * MINUTE);
    const delivery = claimed([event], { route: 'hourly' });
    const held = await stage().decide(delivery, CHAT);
    expect(held.send).toBeNull();
    expect(held.held).toEqual([{ ids: [delivery.id], hold: { rule: 'repeat', status: 'skipped', note: 'repeat within 1h of dlv_told' } }]);
    expect(log.logReads).toEqual([{ destination: 'chat', keys: ['db:primary'] }]);

    await clock.advance(30 * MINUTE);
    expect((await stage().decide(delivery, CHAT)).send).toBe(delivery);
  });

  it('what another destination was told, or of another incident, is no repeat', async () => {
    const event = relayEvent({ dedup_key: 'db:primary' });
    tell(event, MINUTE, { destination: 'pager' });
    tell(relayEvent({ dedup_key: 'db:replica' }), MINUTE);
    const delivery = claimed([event], { route: 'hourly' });
    expect((await stage().decide(delivery, CHAT)).send).toBe(delivery);
  });

  it('a sender that re-sends whole states repeats after 4 hours by default, and a new start is news', async () => {
    const event = relayEvent({ source: 'alertmanager', occurred_at: '2026-11-30T09:00:00.000Z' });
    tell(event, DEFAULT_REPEAT_MS - 1);
    const delivery = claimed([event]);
    expect(heldNotes(await stage().decide(delivery, CHAT))).toEqual(['repeat within 4h of dlv_told']);

    const restarted = claimed([{ ...event, occurred_at: '2026-11-30T09:30:00.000Z' }]);
    expect((await stage().decide(restarted, CHAT)).send).toBe(restarted);

    await clock.advance(1);
    expect((await stage().decide(delivery, CHAT)).send).toBe(delivery);
  });

  it('another sender\'s unchanged status is a repeat whatever its start; without a repeat_interval it goes out', async () => {
    const event = relayEvent({ source: 'tapemetric', occurred_at: '2026-11-30T09:00:00.000Z' });
    tell(event, MINUTE, { occurred_at: '2026-11-30T08:00:00.000Z' });
    expect(heldNotes(await stage().decide(claimed([event], { route: 'hourly' }), CHAT))).toEqual(['repeat within 1h of dlv_told']);
    const plain = claimed([event]);
    expect((await stage().decide(plain, CHAT)).send).toBe(plain);
    expect(log.logReads).toHaveLength(1);
  });

  it('in a batch, one event whose sender re-sends states is enough to read the log; only that event is held', async () => {
    const plain = relayEvent({ source: 'tapemetric', dedup_key: 'cdn' });
    const whole = relayEvent({ source: 'alertmanager', dedup_key: 'db' });
    tell(plain, MINUTE);
    tell(whole, MINUTE);
    const batch = claimed([plain, whole]);
    const verdict = await stage().decide(batch, CHAT);
    expect(log.logReads).toEqual([{ destination: 'chat', keys: ['cdn', 'db'] }]);
    expect(verdict.send?.events).toEqual([plain]);
    expect(verdict.held).toEqual([{ ids: [batch.member_ids[0]], hold: { rule: 'repeat', status: 'skipped', note: 'repeat within 4h of dlv_told' } }]);
  });
});

describe('incident order on stateful destinations', () => {
  it('a late event older than what the destination was told is superseded there; a stateless destination takes it', async () => {
    const late = relayEvent({ occurred_at: '2026-11-30T09:00:00.000Z' });
    tell(late, MINUTE, { destination: 'pager', occurred_at: '2026-11-30T09:05:00.000Z', delivery_id: 'dlv_newer' });
    tell(late, MINUTE, { occurred_at: '2026-11-30T09:05:00.000Z' });
    const delivery = claimed([late]);
    expect(heldNotes(await stage().decide(delivery, PAGER))).toEqual([
      'superseded: dlv_newer told this destination of a newer event of the incident (2026-11-30T09:05:00.000Z)',
    ]);
    expect(log.logReads).toEqual([{ destination: 'pager', keys: [late.dedup_key] }]);
    expect((await stage().decide(delivery, CHAT)).send).toBe(delivery);
    expect((await stage().decide(delivery, { name: 'chat', stateful: false })).send).toBe(delivery);
    expect(log.logReads).toHaveLength(1);
  });

  it('a stateless destination whose log is read for repeats still takes a late event of another status', async () => {
    const lateResolve = relayEvent({ status: 'resolved', occurred_at: '2026-11-30T09:00:00.000Z' });
    tell({ ...lateResolve, status: 'firing' }, MINUTE, { occurred_at: '2026-11-30T09:05:00.000Z' });
    const delivery = claimed([lateResolve], { route: 'hourly' });
    expect((await stage().decide(delivery, CHAT)).send).toBe(delivery);
    expect(log.logReads).toHaveLength(1);
  });
});

describe('a custom rule set', () => {
  it('replaces the default rules and may look at the log', async () => {
    const event = relayEvent();
    await mutes.create({ matchers: { dedup_key: event.dedup_key }, duration_ms: HOUR, reason: '', created_by: 'dana' });
    tell(event, MINUTE);
    const toldBefore: Rule = ({ told }) => (told ? { rule: 'repeat', status: 'skipped', note: `told by ${told.delivery_id}` } : null);
    const delivery = claimed([event]);
    expect(heldNotes(await stage({ rules: [toldBefore] }).decide(delivery, CHAT))).toEqual(['told by dlv_told']);
    expect((await stage({ rules: [] }).decide(delivery, CHAT)).send).toBe(delivery);
  });
});

describe('thresholds', () => {
  /** An arrival for `chat` on the threshold route, `ago` before now. */
  const arrive = (key: string, ago: number, extra: Partial<Arrival> = {}): string => {
    const id = newId('dlv');
    log.arrivals.push({ destination: 'chat', route: 'three-in-10m', rule_key: key, id, at: clock.now() - ago, ...extra });
    return id;
  };
  const onThreshold = (event: RelayEvent, id: string, key = event.dedup_key): ClaimedDelivery =>
    ({ ...claimed([event], { route: 'three-in-10m', rule_keys: [key] }), id });

  it('fires with the delivery that makes the count within the window, and says how many arrived', async () => {
    const event = relayEvent({ dedup_key: 'cdn' });
    arrive('cdn', 10 * MINUTE + 1);
    arrive('cdn', 10 * MINUTE);
    arrive('other', 5 * MINUTE);
    arrive('cdn', 5 * MINUTE, { destination: 'pager' });
    const second = arrive('cdn', MINUTE);
    const third = arrive('cdn', 0);
    const below = await stage().decide(onThreshold(event, second), CHAT);
    expect(below.send).toBeNull();
    expect(heldNotes(below)).toEqual(['below threshold 2/3 within 10m']);
    expect(log.thresholdReads[0]).toEqual({ destination: 'chat', route: 'three-in-10m', rule_key: 'cdn', since: clock.now() - 10 * MINUTE, up_to_id: second });

    const fires = onThreshold(event, third);
    expect(await stage().decide(fires, CHAT)).toEqual({ send: fires, held: [], threshold: { count: 3, within_ms: 10 * MINUTE } });
  });

  it('after it fired within the window, more of the same are held', async () => {
    const event = relayEvent({ dedup_key: 'cdn' });
    arrive('cdn', 3 * MINUTE);
    const fired = arrive('cdn', 2 * MINUTE, { sent: true });
    arrive('cdn', MINUTE);
    const fourth = arrive('cdn', 0);
    expect(heldNotes(await stage().decide(onThreshold(event, fourth), CHAT))).toEqual([`threshold already fired within 10m (${fired})`]);
  });

  it('a resolve goes out only when the destination was told the incident fired; it fires no threshold', async () => {
    const resolved = relayEvent({ dedup_key: 'cdn', status: 'resolved' });
    const id = arrive('cdn', 0);
    expect(heldNotes(await stage().decide(onThreshold(resolved, id), CHAT))).toEqual(['resolved before the threshold fired']);
    tell({ ...resolved, status: 'firing' }, MINUTE);
    const delivery = onThreshold(resolved, id);
    expect(await stage().decide(delivery, CHAT)).toEqual({ send: delivery, held: [], threshold: undefined });
  });

  it('counts each event of a batch only up to its own delivery', async () => {
    const first = relayEvent({ dedup_key: 'cdn' });
    const second = relayEvent({ dedup_key: 'cdn' });
    arrive('cdn', 2 * MINUTE);
    const a = arrive('cdn', MINUTE);
    const b = arrive('cdn', 0);
    const batch: ClaimedDelivery = { ...claimed([first, second], { route: 'three-in-10m', rule_keys: ['cdn', 'cdn'] }), id: a, member_ids: [b] };
    const verdict = await stage().decide(batch, CHAT);
    expect(verdict.held).toEqual([{ ids: [a], hold: { rule: 'threshold', status: 'skipped', note: 'below threshold 2/3 within 10m' } }]);
    expect(verdict.send).toMatchObject({ id: b, member_ids: [], events: [second], rule_keys: ['cdn'] });
    expect(verdict.threshold).toEqual({ count: 3, within_ms: 10 * MINUTE });
  });

  it('a delivery stored before its route had a threshold (no key) goes out uncounted', async () => {
    const event = relayEvent({ dedup_key: 'cdn' });
    const delivery = claimed([event], { route: 'three-in-10m', rule_keys: [null] });
    expect(await stage().decide(delivery, CHAT)).toEqual({ send: delivery, held: [], threshold: undefined });
    expect(log.thresholdReads).toEqual([]);
  });
});

describe('inhibition', () => {
  const rules = compileInhibitRules(
    [
      { source: { match: { type: 'dc.down' } }, target: { match: { type: 'node.*' } }, equal: ['data.dc'] },
      { source: { match: { type: 'region.down' } }, target: { match: { type: 'node.*' } }, equal: ['data.region'] },
    ].map((rule) => inhibitRuleSchema.parse(rule)),
  );

  it('a firing source of any rule holds a target with equal fields back, until it resolves; the sources are read once per delivery', async () => {
    const regionDown = relayEvent({ id: 'evt_region', type: 'region.down', title: 'Region down', dedup_key: 'region', data: { region: 'west', dc: 'b' } });
    const dcDown = relayEvent({ id: 'evt_dc', type: 'dc.down', dedup_key: 'dc', data: { region: 'east', dc: 'a' } });
    log.firing = [dcDown, regionDown];
    const node1 = relayEvent({ type: 'node.down', dedup_key: 'n1', data: { region: 'west', dc: 'c' } });
    const node2 = relayEvent({ type: 'node.slow', dedup_key: 'n2', data: { region: 'west', dc: 'c' } });
    const batch = claimed([node1, node2]);
    const verdict = await stage({ inhibit: rules }).decide(batch, CHAT);
    expect(verdict.send).toBeNull();
    expect(verdict.held).toEqual([
      {
        ids: [batch.id, ...batch.member_ids],
        hold: { rule: 'inhibit', status: 'muted', note: 'inhibited by evt_region (Region down)', held_by: JSON.stringify([regionDown.source, 'region']) },
      },
    ]);
    expect(log.firingReads).toEqual([10_000]);

    log.firing = [dcDown];
    expect((await stage({ inhibit: rules }).decide(batch, CHAT)).send).toBe(batch);
  });

  it('an event no rule targets never reads the firing incidents', async () => {
    log.firing = [relayEvent({ type: 'dc.down', data: {} })];
    const delivery = claimed([relayEvent({ type: 'disk.full', data: {} })]);
    expect((await stage({ inhibit: rules }).decide(delivery, CHAT)).send).toBe(delivery);
    expect((await stage().decide(delivery, CHAT)).send).toBe(delivery);
    expect(log.firingReads).toEqual([]);
  });
});

describe('mutes and schedules', () => {
  it('a mute holds what it matches until it expires on the clock', async () => {
    const event = relayEvent({ dedup_key: 'cdn' });
    const mute = await mutes.create({ matchers: { dedup_key: 'cdn' }, duration_ms: HOUR, reason: 'deploy', created_by: 'dana' });
    const delivery = claimed([event]);
    expect((await stage().decide(delivery, CHAT)).held).toEqual([{ ids: [delivery.id], hold: { rule: 'mute', status: 'muted', note: `muted by ${mute.id} (deploy)`, held_by: `until:${mute.id}` } }]);
    await clock.advance(HOUR);
    expect((await stage().decide(delivery, CHAT)).send).toBe(delivery);
  });

  it('active_during holds outside the interval and sends inside it; muted_during the other way round', async () => {
    const event = relayEvent();
    const office = claimed([event], { route: 'office' });
    const nights = claimed([event], { route: 'quiet-nights' });
    expect((await stage().decide(office, CHAT)).send).toBe(office);
    expect(heldNotes(await stage().decide(nights, CHAT))).toEqual(['muted during office-hours (route quiet-nights)']);
    await clock.advance(8 * HOUR);
    expect(heldNotes(await stage().decide(office, CHAT))).toEqual(['outside office-hours (route office)']);
    expect((await stage().decide(nights, CHAT)).send).toBe(nights);
  });

  it('with no time_intervals configured, muted_during never holds and active_during always does', async () => {
    const event = relayEvent();
    const nights = claimed([event], { route: 'quiet-nights' });
    expect((await stage({ intervals: undefined }).decide(nights, CHAT)).send).toBe(nights);
    expect(heldNotes(await stage({ intervals: undefined }).decide(claimed([event], { route: 'office' }), CHAT))).toEqual(['outside office-hours (route office)']);
  });
});

describe('a batch partly held', () => {
  it('shrinks to the events that may go out, redrawn, and groups what is held by reason', async () => {
    const teams = ['db', 'web', 'db', 'web', 'cdn'];
    const events = teams.map((team, index) => relayEvent({ dedup_key: `k${index}`, data: { team } }));
    const deploy = await mutes.create({ matchers: { 'data.team': 'db' }, duration_ms: HOUR, reason: 'deploy', created_by: 'dana' });
    const maintenance = await mutes.create({ matchers: { 'data.team': 'cdn' }, duration_ms: HOUR, reason: 'maintenance', created_by: 'dana' });
    const batch = claimed(events, { rule_keys: ['ka', 'kb', 'kc', 'kd', 'ke'], request_body: '{"text":"all five"}', attempts: 1 });
    const [, idB, idC, idD, idE] = [batch.id, ...batch.member_ids];
    const verdict = await stage().decide(batch, CHAT);
    expect(verdict.send).toEqual({ ...batch, id: idB, event: events[1], member_ids: [idD], events: [events[1], events[3]], rule_keys: ['kb', 'kd'], request_body: null });
    expect(verdict.held).toEqual([
      { ids: [batch.id, idC], hold: { rule: 'mute', status: 'muted', note: `muted by ${deploy.id} (deploy)`, held_by: `until:${deploy.id}` } },
      { ids: [idE], hold: { rule: 'mute', status: 'muted', note: `muted by ${maintenance.id} (maintenance)`, held_by: `until:${maintenance.id}` } },
    ]);
    expect(verdict.threshold).toBeUndefined();
  });

  it('held whole, nothing goes out', async () => {
    await mutes.create({ matchers: { source: 'tapemetric' }, duration_ms: HOUR, reason: '', created_by: 'dana' });
    const batch = claimed([relayEvent(), relayEvent()]);
    const verdict = await stage().decide(batch, CHAT);
    expect(verdict.send).toBeNull();
    expect(verdict.held.map((group) => group.ids)).toEqual([[batch.id, ...batch.member_ids]]);
  });
});
