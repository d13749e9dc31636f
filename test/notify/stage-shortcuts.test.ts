/**
 * What the notification stage skips when no rule can apply (src/notify/pipeline.ts): it passes
 * such a delivery without reading the store or matching mutes, and says which successes the
 * notification log must record (only those some rule reads back).
 */
import { describe, expect, it } from 'vitest';
import { NotificationStage } from '../../src/notify/pipeline.ts';
import type { NotificationStageOptions } from '../../src/notify/pipeline.ts';
import type { ClaimedDelivery, RuleFacts } from '../../src/notify/facts.ts';
import type { RouteRules } from '../../src/routing/routes.ts';
import { ManualClock } from '../support/clock.ts';
import { relayEvent } from '../support/events.ts';

const event = relayEvent({ dedup_key: 'db:primary', source: 'tapemetric' });
const delivery = (overrides: Partial<ClaimedDelivery> = {}): ClaimedDelivery => ({
  id: 'dlv_1', destination: 'ops', event, member_ids: [], events: [event], attempts: 0, request_body: null, unordered: false, route: 'all', probe: false, rule_keys: [null],
  ...overrides,
});

/** A store that counts what the stage reads. */
function countingStore(): RuleFacts & { reads: number } {
  const store = {
    reads: 0,
    notificationLog: async () => (store.reads++, []),
    thresholdState: async () => (store.reads++, { count: 0, fired: null }),
    firingIncidents: async () => (store.reads++, []),
  };
  return store;
}

function stage(options: Partial<NotificationStageOptions> & { routeRules?: RouteRules; none?: boolean } = {}): { stage: NotificationStage; store: ReturnType<typeof countingStore>; matched: () => number } {
  const store = countingStore();
  let matched = 0;
  const { routeRules = {}, none = true, ...rest } = options;
  return {
    stage: new NotificationStage({
      store,
      mutes: { match: () => (matched++, null), none },
      routes: (name) => (name === 'all' ? routeRules : undefined),
      resendsState: () => false,
      clock: new ManualClock(),
      ...rest,
    }),
    store,
    matched: () => matched,
  };
}

describe('notification stage shortcuts', () => {
  it('no mute, rule or route rule for it: a delivery passes without a store read or a mute match', async () => {
    const { stage: quiet, store, matched } = stage();
    const claimed = delivery();
    expect(await quiet.decide(claimed, { name: 'ops' })).toEqual({ send: claimed, held: [] });
    expect(store.reads).toBe(0);
    expect(matched()).toBe(0);
  });

  it('a mute existing, a stateful destination or a route with a repeat interval: the rules are asked', async () => {
    const muted = stage({ none: false });
    await muted.stage.decide(delivery(), { name: 'ops' });
    expect(muted.matched()).toBe(1);
    const stateful = stage();
    await stateful.stage.decide(delivery(), { name: 'ops', stateful: true });
    expect(stateful.store.reads).toBe(1);
    const repeating = stage({ routeRules: { repeat_ms: 60_000 } });
    await repeating.stage.decide(delivery(), { name: 'ops' });
    expect(repeating.store.reads).toBe(1);
  });

  it('the notification log is written only where a rule reads it back', () => {
    const plain = stage().stage;
    expect(plain.logsNotifications(delivery(), { name: 'ops' })).toBe(false);
    expect(plain.logsNotifications(delivery(), { name: 'ops', stateful: true })).toBe(true);
    expect(plain.logsNotifications(delivery(), { name: 'ops', acknowledge: () => '{}' })).toBe(true);
    // A route the stage does not know (renamed since the delivery was routed): logged.
    expect(plain.logsNotifications(delivery({ route: 'gone' }), { name: 'ops' })).toBe(true);
    for (const rules of [{ repeat_ms: 60_000 }, { threshold: { count: 3, within_ms: 60_000 } }, { grouped: true }]) {
      expect(stage({ routeRules: rules }).stage.logsNotifications(delivery(), { name: 'ops' })).toBe(true);
    }
    expect(stage({ resendsState: () => true }).stage.logsNotifications(delivery(), { name: 'ops' })).toBe(true);
    expect(stage({ rules: [] }).stage.logsNotifications(delivery(), { name: 'ops' })).toBe(true);
    // Replays and commands tell nothing new.
    expect(stage({ routeRules: { repeat_ms: 60_000 } }).stage.logsNotifications(delivery({ unordered: true, route: null }), { name: 'ops' })).toBe(false);
  });
});
