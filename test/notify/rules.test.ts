import { describe, expect, it } from 'vitest';
import { compileInhibitRules } from '../../src/notify/inhibit.ts';
import { firstHold, intervalRule, repeatRule, supersededRule, thresholdRule } from '../../src/notify/rules.ts';
import { TimeIntervals, timeIntervalSchema } from '../../src/notify/time-intervals.ts';
import { intervalHolds, toRenotify } from '../../src/notify/interval-ends.ts';
import type { Facts } from '../../src/notify/rules.ts';
import type { NotificationEntry } from '../../src/store/store.ts';
import { relayEvent } from '../support/events.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const HOUR = 3_600_000;

function facts(overrides: Partial<Facts> = {}): Facts {
  return {
    event: relayEvent({ dedup_key: 'inc', status: 'firing', occurred_at: '2026-11-29T11:00:00.000Z' }),
    now: NOW,
    told: null,
    mute: null,
    repeat_ms: null,
    resends_state: false,
    stateful: false,
    inhibitor: null,
    threshold: null,
    schedule: null,
    ...overrides,
  };
}

const told = (overrides: Partial<NotificationEntry> = {}): NotificationEntry => ({
  destination: 'd',
  dedup_key: 'inc',
  status: 'firing',
  occurred_at: '2026-11-29T11:00:00.000Z',
  delivery_id: 'dlv_1',
  sent_at: NOW - HOUR,
  ...overrides,
});

describe('notification rules (pure: event, log, clock)', () => {
  it('interval ends: per destination and incident only the newest held state is told, and only if it fires', () => {
    const held = (id: string, destination: string, dedup_key: string, status: string, occurred_at: string) => ({ id, destination, source: 's', dedup_key, status, occurred_at });
    expect(
      toRenotify([
        held('dlv_1', 'slack', 'a', 'firing', '2026-11-29T01:00:00Z'),
        held('dlv_2', 'slack', 'a', 'firing', '2026-11-29T02:00:00Z'),
        held('dlv_3', 'pager', 'a', 'firing', '2026-11-29T01:00:00Z'),
        held('dlv_4', 'slack', 'b', 'firing', '2026-11-29T01:00:00Z'),
        held('dlv_5', 'slack', 'b', 'resolved', '2026-11-29T03:00:00Z'),
      ]).sort(),
    ).toEqual(['dlv_2', 'dlv_3']);
  });

  it('interval ends: the holds a config makes, each saying whether it still stands', () => {
    const intervals = new TimeIntervals([timeIntervalSchema.parse({ name: 'nights', time_intervals: [{ times: [{ start_time: '00:00', end_time: '06:00' }] }] })]);
    const holds = intervalHolds(
      [{ route: 'low', muted_during: ['nights'], active_during: [] }, { route: 'day', muted_during: [], active_during: ['nights'] }],
      [{ id: 'batch-jobs', matchers: { type: 'b' }, reason: 'r', created_by: 'config', created_at: '', expires_at: null, deleted_at: null, from_config: true, during: ['nights'] }],
      intervals,
    );
    const night = Date.parse('2026-11-29T03:00:00Z');
    const day = Date.parse('2026-11-29T07:00:00Z');
    expect(holds.map((hold) => [hold.marker, hold.holds(night), hold.holds(day)])).toEqual([
      ['interval:nights', true, false],
      ['outside:nights', false, true],
      ['mute:batch-jobs', true, false],
    ]);
    expect(intervalHolds([], [], intervals)).toEqual([]);
  });

  it('interval: muted inside muted_during, muted outside every active_during, naming the interval and route; a route without a schedule is never held', () => {
    const intervals = new TimeIntervals(
      [
        { name: 'nights', time_intervals: [{ times: [{ start_time: '00:00', end_time: '06:00' }] }] },
        { name: 'lunch', time_intervals: [{ times: [{ start_time: '12:00', end_time: '13:00' }] }] },
        { name: 'office_hours', time_intervals: [{ times: [{ start_time: '09:00', end_time: '17:00' }] }] },
      ].map((entry) => timeIntervalSchema.parse(entry)),
    );
    const at = (time: string, muted_during: string[], active_during: string[]) =>
      intervalRule(facts({ now: Date.parse(`2026-11-29T${time}:00Z`), schedule: { route: { route: 'low', muted_during, active_during }, intervals } }));
    // held_by names what must end for the hold to lift (notify/interval-ends.ts).
    expect(at('03:00', ['lunch', 'nights'], [])).toEqual({ rule: 'interval', status: 'muted', note: 'muted during nights (route low)', held_by: 'interval:nights' });
    expect(at('12:30', ['lunch', 'nights'], [])).toMatchObject({ note: 'muted during lunch (route low)' });
    expect(at('06:00', ['nights'], [])).toBeNull();
    expect(at('18:00', [], ['office_hours'])).toEqual({ rule: 'interval', status: 'muted', note: 'outside office_hours (route low)', held_by: 'outside:office_hours' });
    expect(at('08:59', [], ['office_hours', 'lunch'])).toMatchObject({ note: 'outside office_hours, lunch (route low)', held_by: 'outside:office_hours,lunch' });
    expect(at('09:00', [], ['office_hours'])).toBeNull();
    // Muted wins inside an active interval (Alertmanager: both apply).
    expect(at('12:15', ['lunch'], ['office_hours'])).toMatchObject({ note: 'muted during lunch (route low)' });
    expect(intervalRule(facts({ schedule: null }))).toBeNull();
    // In the default chain too, ahead of mutes (Alertmanager: time intervals before silences).
    expect(firstHold(facts({ now: Date.parse('2026-11-29T03:00:00Z'), schedule: { route: { route: 'low', muted_during: ['nights'], active_during: [] }, intervals } }))).toMatchObject({ rule: 'interval' });
  });

  it('repeat: the same state within the interval is held, naming the delivery that told it; after it, or changed, it goes', () => {
    expect(repeatRule(facts({ told: told(), repeat_ms: 4 * HOUR }))).toMatchObject({ rule: 'repeat', status: 'skipped', note: 'repeat within 4h of dlv_1' });
    expect(repeatRule(facts({ told: told({ sent_at: NOW - 5 * HOUR }), repeat_ms: 4 * HOUR }))).toBeNull();
    expect(repeatRule(facts({ told: told({ status: 'resolved' }), repeat_ms: 4 * HOUR }))).toBeNull();
    expect(repeatRule(facts({ told: told(), repeat_ms: null }))).toBeNull();
    // Senders that re-send whole states: a new start is a new alert.
    expect(repeatRule(facts({ told: told({ occurred_at: '2026-11-29T10:00:00.000Z' }), repeat_ms: 4 * HOUR, resends_state: true }))).toBeNull();
    expect(repeatRule(facts({ told: told({ occurred_at: '2026-11-29T10:00:00.000Z' }), repeat_ms: 4 * HOUR, resends_state: false }))).not.toBeNull();
  });

  it('superseded: only at stateful destinations, only for an event older (sender time) than what was told', () => {
    const older = facts({ stateful: true, told: told({ occurred_at: '2026-11-29T11:30:00.000Z', status: 'resolved' }) });
    expect(supersededRule(older)).toMatchObject({ rule: 'superseded', status: 'skipped' });
    expect(supersededRule({ ...older, stateful: false })).toBeNull();
    expect(supersededRule(facts({ stateful: true, told: told({ occurred_at: '2026-11-29T11:00:00.000Z' }) }))).toBeNull();
  });

  it('threshold: below the count held with k/N; at it sent; after it fired within the window held; a resolve only if it fired', () => {
    const t = { count: 5, within_ms: 600_000, fired: null };
    expect(thresholdRule(facts({ threshold: { ...t, seen: 3 } }))).toMatchObject({ note: 'below threshold 3/5 within 10m' });
    expect(thresholdRule(facts({ threshold: { ...t, seen: 5 } }))).toBeNull();
    expect(thresholdRule(facts({ threshold: { ...t, seen: 6, fired: 'dlv_9' } }))).toMatchObject({ note: 'threshold already fired within 10m (dlv_9)' });
    const resolved = relayEvent({ status: 'resolved', dedup_key: 'inc' });
    expect(thresholdRule(facts({ event: resolved, threshold: { ...t, seen: 1 } }))).toMatchObject({ note: 'resolved before the threshold fired' });
    expect(thresholdRule(facts({ event: resolved, threshold: { ...t, seen: 1 }, told: told() }))).toBeNull();
  });

  it('the chain runs inhibit → mute → superseded → threshold → repeat; the first hold wins', () => {
    const inhibitor = relayEvent({ id: 'evt_src', title: 'Region down', dedup_key: 'src' });
    const mute = { id: 'mut_1', matchers: {}, reason: 'deploy', created_by: 'x', created_at: '', expires_at: '', deleted_at: null };
    expect(firstHold(facts({ inhibitor, mute }))).toMatchObject({ rule: 'inhibit', status: 'muted', note: 'inhibited by evt_src (Region down)' });
    expect(firstHold(facts({ mute, told: told(), repeat_ms: HOUR * 4 }))).toMatchObject({ rule: 'mute', note: 'muted by mut_1 (deploy)' });
    expect(firstHold(facts())).toBeNull();
  });

  it('inhibit rules: a firing source with equal fields holds a firing target; never itself, never a resolve', () => {
    const [rule] = compileInhibitRules([
      { source: { match: { severity: 'critical' } }, target: { match: { severity: 'warning' } }, equal: ['data.region'] },
    ]);
    const critical = relayEvent({ severity: 'critical', dedup_key: 'c', data: { region: 'eu' } });
    const warningEu = relayEvent({ severity: 'warning', dedup_key: 'w1', data: { region: 'eu' } });
    const warningUs = relayEvent({ severity: 'warning', dedup_key: 'w2', data: { region: 'us' } });
    expect(rule!.targets(warningEu)).toBe(true);
    expect(rule!.targets({ ...warningEu, status: 'resolved' })).toBe(false);
    expect(rule!.targets(critical)).toBe(false);
    expect(rule!.inhibitor(warningEu, [critical])?.id).toBe(critical.id);
    expect(rule!.inhibitor(warningUs, [critical])).toBeNull();
    expect(rule!.inhibitor(warningEu, [warningEu])).toBeNull();
  });
});
