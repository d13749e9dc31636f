import type { DeliveryRecord } from '../store/store.ts';

const MINUTE = 60_000;
const WINDOW_MINUTES = 24 * 60;
/** Latency percentiles per quarter hour: per minute they are mostly one or two samples. */
const LATENCY_BUCKET_MINUTES = 15;

/** Outcomes as the chart groups them, bottom to top, with colours readable on white (≥ 3:1 for graphics). */
const OUTCOMES = [
  { key: 'succeeded', label: 'succeeded', colour: '#1a7f37', statuses: ['succeeded'] },
  { key: 'failed', label: 'failed', colour: '#cf222e', statuses: ['failed'] },
  { key: 'waiting', label: 'pending / in flight', colour: '#0969da', statuses: ['pending', 'in_flight'] },
  { key: 'held', label: 'muted / skipped', colour: '#6e7781', statuses: ['muted', 'skipped'] },
] as const;

export interface ChartSummary {
  readonly total: number;
  readonly counts: ReadonlyArray<{ readonly key: string; readonly label: string; readonly colour: string; readonly count: number }>;
  readonly p50_ms: number | null;
  readonly p99_ms: number | null;
}

export interface DeliveryChart {
  /** A self-contained SVG (no script, no style sheet): safe to inline under a strict CSP. */
  readonly svg: string;
  readonly summary: ChartSummary;
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const hhmm = (ms: number): string => new Date(ms).toISOString().slice(11, 16);

/**
 * The last 24 h of a destination: deliveries per minute stacked by outcome, and latency
 * p50 / p99 per quarter hour, as server-rendered SVG (no chart library, nothing from a CDN).
 */
export function deliveryChart(deliveries: readonly DeliveryRecord[], now: number): DeliveryChart {
  const start = Math.floor(now / MINUTE) * MINUTE - (WINDOW_MINUTES - 1) * MINUTE;
  const perMinute = OUTCOMES.map(() => new Array<number>(WINDOW_MINUTES).fill(0));
  const latencies = new Array<number[]>(WINDOW_MINUTES / LATENCY_BUCKET_MINUTES).fill([]).map(() => [] as number[]);
  const all: number[] = [];
  for (const delivery of deliveries) {
    const at = Date.parse(delivery.created_at);
    const minute = Math.floor((at - start) / MINUTE);
    if (!(minute >= 0 && minute < WINDOW_MINUTES)) continue;
    const outcome = OUTCOMES.findIndex((candidate) => (candidate.statuses as readonly string[]).includes(delivery.status));
    if (outcome >= 0) perMinute[outcome]![minute]! += 1;
    if (delivery.latency_ms !== null) {
      latencies[Math.floor(minute / LATENCY_BUCKET_MINUTES)]!.push(delivery.latency_ms);
      all.push(delivery.latency_ms);
    }
  }
  all.sort((a, b) => a - b);
  const counts = OUTCOMES.map((outcome, index) => ({
    key: outcome.key,
    label: outcome.label,
    colour: outcome.colour,
    count: perMinute[index]!.reduce((sum, value) => sum + value, 0),
  }));
  const summary: ChartSummary = {
    total: counts.reduce((sum, entry) => sum + entry.count, 0),
    counts,
    p50_ms: percentile(all, 50),
    p99_ms: percentile(all, 99),
  };

  const width = 1200;
  const left = 48;
  const plot = width - left - 8;
  const step = plot / WINDOW_MINUTES;
  const barsTop = 24;
  const barsHeight = 140;
  const latencyTop = barsTop + barsHeight + 40;
  const latencyHeight = 80;
  const height = latencyTop + latencyHeight + 24;
  const parts: string[] = [];

  // Deliveries per minute, stacked.
  const peak = Math.max(1, ...perMinute[0]!.map((_, minute) => perMinute.reduce((sum, series) => sum + series[minute]!, 0)));
  parts.push(`<text x="0" y="14" font-size="13" fill="#1f2328">Deliveries per minute (max ${peak})</text>`);
  parts.push(`<line x1="${left}" y1="${barsTop + barsHeight}" x2="${width - 8}" y2="${barsTop + barsHeight}" stroke="#57606a"/>`);
  OUTCOMES.forEach((outcome, index) => {
    const rects: string[] = [];
    for (let minute = 0; minute < WINDOW_MINUTES; minute++) {
      const value = perMinute[index]![minute]!;
      if (value === 0) continue;
      const below = perMinute.slice(0, index).reduce((sum, series) => sum + series[minute]!, 0);
      const y = barsTop + barsHeight - ((below + value) / peak) * barsHeight;
      const h = (value / peak) * barsHeight;
      rects.push(`<rect x="${(left + minute * step).toFixed(2)}" y="${y.toFixed(2)}" width="${Math.max(step, 1.5).toFixed(2)}" height="${h.toFixed(2)}"/>`);
    }
    if (rects.length > 0) parts.push(`<g fill="${outcome.colour}">${rects.join('')}</g>`);
  });

  // Latency p50 / p99 per quarter hour.
  const buckets = latencies.map((values) => {
    const sorted = values.sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  });
  const latencyPeak = Math.max(1, ...buckets.map((bucket) => bucket.p99 ?? 0));
  parts.push(`<text x="0" y="${latencyTop - 10}" font-size="13" fill="#1f2328">Latency p50 (solid) and p99 (dashed), per 15 min (max ${latencyPeak} ms)</text>`);
  parts.push(`<line x1="${left}" y1="${latencyTop + latencyHeight}" x2="${width - 8}" y2="${latencyTop + latencyHeight}" stroke="#57606a"/>`);
  for (const [key, dash] of [['p50', ''], ['p99', ' stroke-dasharray="6 4"']] as const) {
    const points = buckets.flatMap((bucket, index) => {
      const value = bucket[key];
      if (value === null) return [];
      const x = left + (index + 0.5) * LATENCY_BUCKET_MINUTES * step;
      return [`${x.toFixed(1)},${(latencyTop + latencyHeight - (value / latencyPeak) * latencyHeight).toFixed(1)}`];
    });
    if (points.length > 0) parts.push(`<polyline fill="none" stroke="#8250df" stroke-width="2"${dash} points="${points.join(' ')}"/>`);
    // A lone quarter hour draws no line: its points show it.
    parts.push(`<g fill="#8250df">${points.map((point) => `<circle cx="${point.split(',')[0]}" cy="${point.split(',')[1]}" r="2.5"/>`).join('')}</g>`);
  }

  // Time axis: every 3 hours.
  for (let minute = 0; minute <= WINDOW_MINUTES; minute += 180) {
    const x = left + Math.min(minute, WINDOW_MINUTES - 1) * step;
    const anchor = minute === 0 ? 'start' : minute === WINDOW_MINUTES ? 'end' : 'middle';
    parts.push(`<text x="${x.toFixed(1)}" y="${height - 6}" font-size="12" fill="#57606a" text-anchor="${anchor}">${hhmm(start + minute * MINUTE)}</text>`);
  }

  const label =
    `Last 24 hours: ${summary.total} deliveries (` +
    counts.map((entry) => `${entry.count} ${entry.label}`).join(', ') +
    `), latency p50 ${summary.p50_ms ?? '–'} ms, p99 ${summary.p99_ms ?? '–'} ms`;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${label}" class="chart">` +
    `<title>${label}</title>${parts.join('')}</svg>`;
  return { svg, summary };
}
