import { describe, expect, it } from 'vitest';
import { fallbackGroupKey, fallbackIncidentKey, fallbackMarker, fallbackProblems, handsOff } from '../../src/notify/fallback.ts';
import { foldable } from '../../src/notify/storm.ts';

/** The fallback rules on their own (src/notify/fallback.ts): what is handed over, how it is named and keyed, and what `check` refuses. */
describe('fallback rules', () => {
  it('an open circuit with a fallback hands over ordinary work; never the probe, a replay or a command, nor anything while closed or without a fallback', () => {
    const work = { probe: false, unordered: false };
    expect(handsOff(work, true, 'ops-slack')).toBe(true);
    expect(handsOff({ ...work, probe: true }, true, 'ops-slack')).toBe(false);
    expect(handsOff({ ...work, unordered: true }, true, 'ops-slack')).toBe(false);
    expect(handsOff(work, false, 'ops-slack')).toBe(false);
    expect(handsOff(work, true, null)).toBe(false);
    expect(handsOff(work, true, undefined)).toBe(false);
  });

  it('the marker names the type as people know it, and the destination', () => {
    expect(fallbackMarker({ name: 'oncall', type: 'pagerduty' })).toBe('via fallback: PagerDuty destination `oncall` is unavailable');
    expect(fallbackMarker({ name: 'chat', type: 'google_chat' })).toBe('via fallback: Google Chat destination `chat` is unavailable');
    expect(fallbackMarker({ name: 'x', type: 'future_type' })).toBe('via fallback: future_type destination `x` is unavailable');
  });

  it('a batch keeps together at the fallback under a key of its own; a single delivery has none; order follows the fallback', () => {
    expect(fallbackGroupKey('dlv_lead', 3)).toBe('fallback:dlv_lead');
    expect(fallbackGroupKey('dlv_lead', 1)).toBeNull();
    expect(fallbackIncidentKey(true, 'db:primary')).toBe('db:primary');
    expect(fallbackIncidentKey(false, 'db:primary')).toBeNull();
  });

  it("a fallback's copy is never folded into a storm digest", () => {
    const fresh = { batch_id: null, attempts: 0, request_body: null, replay_of: null, route: 'all' };
    expect(foldable(fresh, 'command:')).toBe(true);
    expect(foldable({ ...fresh, fallback_of: 'dlv_original' }, 'command:')).toBe(false);
  });

  it('check: unknown, itself, and chains (hence cycles) are refused; several destinations may share one fallback', () => {
    expect(
      fallbackProblems([
        { name: 'slack' },
        { name: 'pd', fallback: 'slack' },
        { name: 'pd2', fallback: 'slack' },
      ]),
    ).toEqual([]);
    expect(fallbackProblems([{ name: 'pd', fallback: 'nope' }])).toEqual([{ index: 0, problem: 'unknown destination "nope"' }]);
    expect(fallbackProblems([{ name: 'pd', fallback: 'pd' }])[0]?.problem).toContain('this destination itself');
    const cycle = fallbackProblems([
      { name: 'a', fallback: 'b' },
      { name: 'b', fallback: 'a' },
    ]);
    expect(cycle.map((problem) => problem.index)).toEqual([0, 1]);
    expect(fallbackProblems([{ name: 'a', fallback: 'b' }, { name: 'b', fallback: 'c' }, { name: 'c' }]).map((problem) => problem.index)).toEqual([0]);
  });
});
