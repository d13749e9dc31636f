import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { IntervalEnds } from '../../src/app/interval-ends.ts';
import { intervalHolds } from '../../src/notify/interval-ends.ts';
import type { IntervalHeldDelivery } from '../../src/notify/interval-ends.ts';
import type { Store } from '../../src/store/store.ts';
import { TimeIntervals, timeIntervalSchema } from '../../src/notify/time-intervals.ts';
import { ManualClock } from '../support/clock.ts';

const HOUR = 3_600_000;
const intervals = new TimeIntervals([timeIntervalSchema.parse({ name: 'nights', time_intervals: [{ times: [{ start_time: '00:00', end_time: '06:00' }] }] })]);
const holds = intervalHolds([{ route: 'low', muted_during: ['nights'], active_during: [] }], [], intervals);

/** The store's two calls, answered from a list of held deliveries; what was asked is kept. */
function heldStore(held: IntervalHeldDelivery[]) {
  const calls: string[] = [];
  return {
    calls,
    store: {
      view: ((kind: string, marker: string) => {
        expect(kind).toBe('held');
        calls.push(`heldBy ${marker}`);
        return Promise.resolve(held.splice(0));
      }) as Store['view'],
      holds: ((kind: string, args: { marker: string; ids: readonly string[]; note: string; now: number }) => {
        expect(kind).toBe('release');
        calls.push(`release ${args.marker} ${args.ids.join(',')} at ${new Date(args.now).toISOString()}`);
        return Promise.resolve(args.ids.length > 0 ? ['slack'] : []);
      }) as Store['holds'],
    },
  };
}

const firing = (id: string): IntervalHeldDelivery => ({ id, destination: 'slack', source: 's', dedup_key: id, status: 'firing', occurred_at: '2026-11-29T01:00:00Z' });

describe('IntervalEnds: what a muting interval held is released when it ends', () => {
  it('started inside the interval: nothing is read until it ends, then once at the minute it ends, and not again', async () => {
    const clock = new ManualClock(Date.parse('2026-11-29T05:58:30Z'));
    const { calls, store } = heldStore([firing('dlv_a')]);
    const woken: string[][] = [];
    const ends = new IntervalEnds({ holds, store, clock, notify: (names) => woken.push([...names]), logger: pino({ level: 'silent' }) });
    ends.start();
    await clock.advance(60_000); // 05:59:30: still night
    expect(calls).toEqual([]);
    await clock.advance(30_000); // 06:00:00
    expect(calls).toEqual(['heldBy interval:nights', 'release interval:nights dlv_a at 2026-11-29T06:00:00.000Z']);
    expect(woken).toEqual([['slack']]);
    await clock.jump(5 * HOUR);
    expect(calls).toHaveLength(2);
    await ends.stop();
  });

  it('started after the interval ended (hookrelay was stopped then): what it held is released at once', async () => {
    const clock = new ManualClock(Date.parse('2026-11-29T09:00:00Z'));
    const { calls, store } = heldStore([firing('dlv_b')]);
    const ends = new IntervalEnds({ holds, store, clock, notify: () => undefined, logger: pino({ level: 'silent' }) });
    ends.start();
    await clock.advance(0);
    expect(calls).toEqual(['heldBy interval:nights', 'release interval:nights dlv_b at 2026-11-29T09:00:00.000Z']);
    await ends.stop();
  });

  it('a config without intervals reads nothing and sets no timer', async () => {
    const clock = new ManualClock(Date.parse('2026-11-29T09:00:00Z'));
    const { calls, store } = heldStore([firing('dlv_c')]);
    let timers = 0;
    const counting = { now: () => clock.now(), after: (ms: number, task: () => void) => ((timers += 1), clock.after(ms, task)) };
    const ends = new IntervalEnds({ holds: [], store, clock: counting, notify: () => undefined, logger: pino({ level: 'silent' }) });
    ends.start();
    await clock.jump(24 * HOUR);
    expect(calls).toEqual([]);
    expect(timers).toBe(0);
    await ends.stop();
  });
});
