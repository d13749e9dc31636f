import { describe, expect, it } from 'vitest';
import { deliveryChart } from '../../src/admin/delivery-chart.ts';
import { parseMatchers, parseSince } from '../../src/admin/admin-pages.ts';
import type { DeliveryRecord, DeliveryStatus } from '../../src/store/store.ts';

const NOW = Date.parse('2026-11-29T12:00:30Z');

function delivery(minutesAgo: number, status: DeliveryStatus, latency: number | null = null): DeliveryRecord {
  const at = new Date(NOW - minutesAgo * 60_000).toISOString();
  return {
    id: `dlv_${minutesAgo}`, event_id: 'evt_1', destination: 'd', route: 'r', status, attempts: 1,
    response_code: 200, response_body: null, latency_ms: latency, request_body: null, last_error: null, note: null,
    next_attempt_at: null, replay_of: null, created_at: at, updated_at: at, sent_via: null, fallback_for: null,
  };
}

describe('delivery chart', () => {
  it('counts the last 24 h by outcome and leaves older deliveries out', () => {
    const { summary } = deliveryChart(
      [delivery(0, 'succeeded', 10), delivery(1, 'failed', 30), delivery(2, 'pending'), delivery(3, 'in_flight'), delivery(4, 'muted'), delivery(24 * 60 + 1, 'failed', 999)],
      NOW,
    );
    expect(summary.total).toBe(5);
    expect(Object.fromEntries(summary.counts.map((entry) => [entry.key, entry.count]))).toEqual({ succeeded: 1, failed: 1, waiting: 2, held: 1 });
  });

  it('latency p50 / p99 are nearest-rank percentiles of the window', () => {
    const latencies = Array.from({ length: 100 }, (_, index) => index + 1);
    const { summary } = deliveryChart(latencies.map((latency, index) => delivery(index, 'succeeded', latency)), NOW);
    expect(summary.p50_ms).toBe(50);
    expect(summary.p99_ms).toBe(99);
  });

  it('no deliveries: an empty chart that says so, no percentiles', () => {
    const chart = deliveryChart([], NOW);
    expect(chart.summary).toMatchObject({ total: 0, p50_ms: null, p99_ms: null });
    expect(chart.svg).toContain('0 deliveries');
    expect(chart.svg).not.toContain('<rect');
  });

  it('a bar per busy minute, stacked: one minute with 3 deliveries draws its outcomes on top of each other', () => {
    const chart = deliveryChart([delivery(5, 'succeeded'), delivery(5, 'succeeded'), delivery(5, 'failed')], NOW);
    expect(chart.svg.match(/<rect /g)).toHaveLength(2);
    expect(chart.svg).toContain('max 3');
  });

  it('is plain SVG: no script and no style attribute (the pages forbid both)', () => {
    const chart = deliveryChart([delivery(1, 'succeeded', 5)], NOW);
    expect(chart.svg).not.toMatch(/<script|style=/);
  });
});

describe('form fields', () => {
  it.each([
    ['2026-11-29T07:00', '2026-11-29T07:00:00.000Z'],
    ['2026-11-29T07:00:05', '2026-11-29T07:00:05.000Z'],
    ['2026-11-29T09:00:00+02:00', '2026-11-29T07:00:00.000Z'],
  ])('since %s (UTC unless a zone is given) → %s', (text, iso) => {
    expect(new Date(parseSince(text)!).toISOString()).toBe(iso);
  });

  it.each(['', 'yesterday', '2026-13-40T99:00', '2026-11-29'])('since %j is refused', (text) => {
    expect(parseSince(text)).toBeNull();
  });

  it('matchers: field=glob per line or space, the glob keeps its "="', () => {
    expect(parseMatchers('type=qos.*\n data.region=Maharashtra source=tape*')).toEqual({ type: 'qos.*', 'data.region': 'Maharashtra', source: 'tape*' });
    expect(parseMatchers('summary=a=b')).toEqual({ summary: 'a=b' });
  });

  it('a matcher without "=" is invalid_request', () => {
    expect(() => parseMatchers('type')).toThrow(expect.objectContaining({ code: 'invalid_request' }));
  });
});
