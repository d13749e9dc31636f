/**
 * What a destination was last told of an incident (src/notify/outcome.ts), when one commit
 * records several notifications of it.
 */
import { describe, expect, it } from 'vitest';
import { latestTold } from '../../src/notify/outcome.ts';

describe('notification log', () => {
  it('the latest sent wins whatever the order given; at the same time, the last given', () => {
    const told = (id: number, sent_at: number) => ({ destination: 'a', dedup_key: 'k', sent_at, id });
    expect(latestTold([told(1, 10), told(2, 20)]).map((entry) => entry.id)).toEqual([2]);
    expect(latestTold([told(1, 10), told(2, 10)]).map((entry) => entry.id)).toEqual([2]);
  });
});
