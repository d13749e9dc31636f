/**
 * Numbers and durations for people, shared by source summaries, templates and Slack replies.
 * `Intl.NumberFormat` is expensive to build (tens of µs) and this runs per event, so
 * formatters are built once per precision.
 */
const formatters = new Map<string, Intl.NumberFormat>();

/** `24,000`, `8.4`; `maxDecimals` digits at most (default 3), or exactly `decimals`. */
export function formatNumber(value: number, options: { readonly decimals?: number; readonly maxDecimals?: number } = {}): string {
  const exact = options.decimals === undefined ? undefined : Math.min(20, Math.max(0, Math.trunc(options.decimals)));
  const key = exact === undefined ? `max${options.maxDecimals ?? 3}` : `exact${exact}`;
  let format = formatters.get(key);
  if (!format) {
    format = new Intl.NumberFormat(
      'en-US',
      exact === undefined ? { maximumFractionDigits: options.maxDecimals ?? 3 } : { minimumFractionDigits: exact, maximumFractionDigits: exact },
    );
    formatters.set(key, format);
  }
  return format.format(value);
}

const DURATION_UNITS: readonly [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** Milliseconds as the two largest units: `450ms`, `2m 30s`, `1h`, `3d 4h`. */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.round(Math.abs(ms));
  if (rest < 1000) return `${sign}${rest}ms`;
  const parts: string[] = [];
  for (const [unit, size] of DURATION_UNITS) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0 || parts.length > 0) parts.push(`${count}${unit}`);
    if (parts.length === 2) break;
  }
  return sign + parts.filter((part) => !/^0\D/.test(part)).join(' ');
}
