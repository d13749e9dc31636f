/**
 * Which firing incident holds another back under an inhibit rule (src/notify/inhibit.ts): never
 * an incident itself, every `equal` field must agree, and a malformed filter is named by its rule.
 */
import { describe, expect, it } from 'vitest';
import { compileInhibitRules } from '../../src/notify/inhibit.ts';
import { relayEvent } from '../support/events.ts';

describe('inhibition', () => {
  it('an incident never holds itself back, but the same key from another source, or another key, does', () => {
    const [rule] = compileInhibitRules([{ source: { match: { severity: 'critical' } }, target: { match: {} }, equal: [] }]);
    const target = relayEvent({ source: 'prom', dedup_key: 'k', severity: 'critical' });
    expect(rule!.inhibitor(target, [relayEvent({ source: 'prom', dedup_key: 'k', severity: 'critical' })])).toBeNull();
    const otherSource = relayEvent({ source: 'grafana', dedup_key: 'k', severity: 'critical' });
    expect(rule!.inhibitor(target, [otherSource])?.id).toBe(otherSource.id);
    const otherKey = relayEvent({ source: 'prom', dedup_key: 'j', severity: 'critical' });
    expect(rule!.inhibitor(target, [otherKey])?.id).toBe(otherKey.id);
  });

  it('every equal field must agree, not just one', () => {
    const [rule] = compileInhibitRules([{ source: { match: { severity: 'critical' } }, target: { match: { severity: 'warning' } }, equal: ['data.region', 'data.cluster'] }]);
    const target = relayEvent({ severity: 'warning', dedup_key: 'w', data: { region: 'eu', cluster: 'a' } });
    expect(rule!.inhibitor(target, [relayEvent({ severity: 'critical', dedup_key: 'c', data: { region: 'eu', cluster: 'b' } })])).toBeNull();
    const same = relayEvent({ severity: 'critical', dedup_key: 'c', data: { region: 'eu', cluster: 'a' } });
    expect(rule!.inhibitor(target, [same])?.id).toBe(same.id);
  });

  it('a malformed filter is reported under its rule and side', () => {
    const bad = { match: {}, filter: { 'data.region': { $bogus: 1 } } };
    expect(() => compileInhibitRules([{ source: { match: {} }, target: bad, equal: [] }])).toThrow(expect.objectContaining({ path: expect.stringMatching(/^inhibit\[0\]\.target\.filter/) }));
    expect(() => compileInhibitRules([{ source: { match: {} }, target: { match: {} }, equal: [] }, { source: bad, target: { match: {} }, equal: [] }])).toThrow(
      expect.objectContaining({ path: expect.stringMatching(/^inhibit\[1\]\.source\.filter/) }),
    );
  });
});
