/**
 * What each hold of the notification stage records (src/notify/rules.ts): the rule, the status
 * the delivery log shows, its note, and what an inhibition is held by; and the edges at which a
 * repeat, a superseded event or a threshold stops holding.
 */
import { describe, expect, it } from 'vitest';
import { inhibitRule, muteHold, repeatRule, supersededRule, thresholdRule } from '../../src/notify/rules.ts';
import type { Facts } from '../../src/notify/rules.ts';
import type { NotificationEntry } from '../../src/store/store.ts';
import { relayEvent } from '../support/events.ts';

const NOW = Date.parse('2026-11-29T12:00:00Z');
const HOUR = 3_600_000;
const OCCURRED = '2026-11-29T11:00:00.000Z';

function facts(overrides: Partial<Facts> = {}): Facts {
  return {
    event: relayEvent({ dedup_key: 'inc', status: 'firing', occurred_at: OCCURRED }),
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
  occurred_at: OCCURRED,
  delivery_id: 'dlv_1',
  sent_at: NOW - HOUR,
  ...overrides,
});

describe('holds', () => {
  it('an inhibition is logged muted and held by its inhibiting incident', () => {
    const inhibitor = relayEvent({ id: 'evt_src', source: 'prom', dedup_key: 'region-down', title: 'Region down' });
    expect(inhibitRule(facts({ inhibitor }))).toEqual({ rule: 'inhibit', status: 'muted', note: 'inhibited by evt_src (Region down)', held_by: '["prom","region-down"]' });
  });

  it('a mute is logged muted, with its reason when it has one; the hold names what must end for it to lift', () => {
    const mute = { id: 'mut_1', matchers: {}, reason: '', created_by: 'x', created_at: '', expires_at: '', deleted_at: null };
    // Made at run time: lifts when it expires or is ended.
    expect(muteHold(mute)).toEqual({ rule: 'mute', status: 'muted', note: 'muted by mut_1', held_by: 'until:mut_1' });
    expect(muteHold({ ...mute, reason: 'deploy' })).toEqual({ rule: 'mute', status: 'muted', note: 'muted by mut_1 (deploy)', held_by: 'until:mut_1' });
    // From the config: with `during`, lifts when its intervals end; without, never (nothing to name).
    expect(muteHold({ ...mute, id: 'batch', from_config: true, during: ['nights'] })).toEqual({ rule: 'mute', status: 'muted', note: 'muted by batch', held_by: 'mute:batch' });
    expect(muteHold({ ...mute, id: 'staging', from_config: true })).toEqual({ rule: 'mute', status: 'muted', note: 'muted by staging' });
  });

  it('each threshold hold is logged skipped under the threshold rule', () => {
    const t = { count: 5, within_ms: 600_000, fired: null };
    expect(thresholdRule(facts({ event: relayEvent({ status: 'resolved' }), threshold: { ...t, seen: 1 } }))).toEqual({ rule: 'threshold', status: 'skipped', note: 'resolved before the threshold fired' });
    expect(thresholdRule(facts({ threshold: { ...t, seen: 3 } }))).toEqual({ rule: 'threshold', status: 'skipped', note: 'below threshold 3/5 within 10m' });
    expect(thresholdRule(facts({ threshold: { ...t, seen: 6, fired: 'dlv_9' } }))).toEqual({ rule: 'threshold', status: 'skipped', note: 'threshold already fired within 10m (dlv_9)' });
  });

  it('repeat: nothing told yet goes; a sender re-sending the same alert within the interval is held; at the interval it goes again', () => {
    expect(repeatRule(facts({ repeat_ms: 4 * HOUR }))).toBeNull();
    expect(repeatRule(facts({ told: told(), repeat_ms: 4 * HOUR, resends_state: true }))).toEqual({ rule: 'repeat', status: 'skipped', note: 'repeat within 4h of dlv_1' });
    expect(repeatRule(facts({ told: told({ sent_at: NOW - 4 * HOUR }), repeat_ms: 4 * HOUR }))).toBeNull();
    expect(repeatRule(facts({ told: told({ sent_at: NOW - 4 * HOUR + 1 }), repeat_ms: 4 * HOUR }))).not.toBeNull();
    expect(repeatRule(facts({ told: told({ delivery_id: '' }), repeat_ms: 4 * HOUR }))?.note).toBe('repeat within 4h of an earlier delivery');
  });

  it('superseded: a stateful destination told nothing yet takes the event; the note names what it was told', () => {
    expect(supersededRule(facts({ stateful: true }))).toBeNull();
    const newer = told({ occurred_at: '2026-11-29T11:30:00.000Z', status: 'resolved' });
    expect(supersededRule(facts({ stateful: true, told: newer }))).toEqual({
      rule: 'superseded',
      status: 'skipped',
      note: 'superseded: dlv_1 told this destination of a newer event of the incident (2026-11-29T11:30:00.000Z)',
    });
    expect(supersededRule(facts({ stateful: true, told: { ...newer, delivery_id: '' } }))?.note).toBe('superseded: a delivery told this destination of a newer event of the incident (2026-11-29T11:30:00.000Z)');
  });
});
