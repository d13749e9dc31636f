import { describe, expect, it } from 'vitest';
import { digestView } from '../../src/notify/digest.ts';
import { relayEvent } from '../support/events.ts';

const T0 = Date.parse('2026-04-23T18:28:00Z');

describe('digestView', () => {
  it('names the worst incidents (firing first, then severity, then newest) and counts the rest as "+K more"', () => {
    const at = (s: number) => new Date(T0 + s * 1_000).toISOString();
    const events = [
      relayEvent({ dedup_key: 'a', severity: 'info', occurred_at: at(1) }),
      relayEvent({ dedup_key: 'b', severity: 'critical', occurred_at: at(2) }),
      relayEvent({ dedup_key: 'c', severity: 'critical', occurred_at: at(3) }),
      relayEvent({ dedup_key: 'd', severity: 'error', occurred_at: at(4) }),
      relayEvent({ dedup_key: 'b', severity: 'critical', status: 'resolved', occurred_at: at(5) }),
    ];
    const view = digestView(events, 2, 'r');
    expect(view.worst.map((event) => event.dedup_key)).toEqual(['c', 'd']);
    expect(view).toMatchObject({ count: 5, incidents: 4, firing: 3, resolved: 1, more: 2, first_at: at(1), last_at: at(5) });
    expect(view.severities).toEqual({ critical: 1, error: 1, warning: 0, info: 1 });
  });
});
