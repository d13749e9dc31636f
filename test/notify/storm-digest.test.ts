/**
 * What a storm digest shows (src/notify/digest.ts: its label, its time span, the order of the
 * incidents it names) and when a destination's waiting work is a storm.
 */
import { describe, expect, it } from 'vitest';
import { digestView, stormCapacity } from '../../src/notify/digest.ts';
import { relayEvent } from '../support/events.ts';

const T0 = Date.parse('2026-04-23T18:28:00Z');
const at = (s: number) => new Date(T0 + s * 1_000).toISOString();

describe('storm digest', () => {
  it('is labelled by the event type its events share, else by its route', () => {
    const disk = (key: string) => relayEvent({ dedup_key: key, type: 'disk.full' });
    expect(digestView([disk('a'), disk('b')], 5, 'ops').label).toBe('disk.full');
    expect(digestView([disk('a'), relayEvent({ dedup_key: 'b', type: 'cpu.high' })], 5, 'ops').label).toBe('route ops');
    expect(digestView([disk('a'), relayEvent({ dedup_key: 'b', type: 'cpu.high' })], 5, null).label).toBe('route (none)');
  });

  it('spans from its oldest to its newest event, whatever order they came in', () => {
    const view = digestView([relayEvent({ dedup_key: 'a', occurred_at: at(30) }), relayEvent({ dedup_key: 'b', occurred_at: at(10) }), relayEvent({ dedup_key: 'c', occurred_at: at(20) })], 5, 'r');
    expect([view.first_at, view.last_at]).toEqual([at(10), at(30)]);
  });

  it('a view of no events is empty, without a span, and does not throw', () => {
    expect(digestView([], 5, 'r')).toMatchObject({ count: 0, incidents: 0, worst: [], more: 0, first_at: '', last_at: '' });
  });

  it('names a firing incident before a resolved one of higher severity', () => {
    const gone = relayEvent({ dedup_key: 'gone', severity: 'critical', status: 'resolved' });
    const info = relayEvent({ dedup_key: 'info', severity: 'info' });
    expect(digestView([gone, info], 2, 'r').worst.map((event) => event.dedup_key)).toEqual(['info', 'gone']);
    expect(digestView([info, gone], 2, 'r').worst.map((event) => event.dedup_key)).toEqual(['info', 'gone']);
  });

  it('among equals names the newest first, and at the same time the later event', () => {
    const older = relayEvent({ id: 'evt_01', dedup_key: 'older', occurred_at: at(1) });
    const newer = relayEvent({ id: 'evt_02', dedup_key: 'newer', occurred_at: at(2) });
    expect(digestView([older, newer], 2, 'r').worst.map((event) => event.dedup_key)).toEqual(['newer', 'older']);
    expect(digestView([newer, older], 2, 'r').worst.map((event) => event.dedup_key)).toEqual(['newer', 'older']);
    const first = relayEvent({ id: 'evt_01', dedup_key: 'first', occurred_at: at(1) });
    const second = relayEvent({ id: 'evt_02', dedup_key: 'second', occurred_at: at(1) });
    expect(digestView([first, second], 2, 'r').worst.map((event) => event.dedup_key)).toEqual(['second', 'first']);
    expect(digestView([second, first], 2, 'r').worst.map((event) => event.dedup_key)).toEqual(['second', 'first']);
  });

  it('a storm is more waiting than the rate limit sends within the horizon (at least one); none without a rate limit', () => {
    const storm = { horizon_ms: 5 * 60_000, worst: 5 };
    expect(stormCapacity(storm, { max: 1, per_ms: 1_000 })).toBe(300);
    expect(stormCapacity(storm, { max: 10, per_ms: 60_000 })).toBe(50);
    expect(stormCapacity({ horizon_ms: 1_000, worst: 5 }, { max: 1, per_ms: 60_000 })).toBe(1);
    expect(stormCapacity(storm, null)).toBeNull();
    expect(stormCapacity(null, { max: 1, per_ms: 1_000 })).toBeNull();
  });
});
