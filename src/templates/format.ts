/**
 * Pure formatting used by the template helpers. Everything is English and UTC: messages go
 * to shared channels read from many time zones (Slack's own date token localizes per reader).
 */

// Epoch numbers below this are seconds, above it milliseconds (1e11 s is the year 5138,
// 1e11 ms is 1973), so both `1776968880` and `1776968880000` mean the same instant.
const SECONDS_THRESHOLD = 1e11;

/** An instant from a Date, ISO 8601 text or epoch seconds/milliseconds; null if it is none. */
export function toInstant(value: unknown): Date | null {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value;
  let ms: number;
  if (typeof value === 'number') {
    ms = epochToMs(value);
  } else if (typeof value === 'string' && value.trim() !== '') {
    const text = value.trim();
    ms = /^-?\d+(\.\d+)?$/.test(text) ? epochToMs(Number(text)) : Date.parse(text);
  } else {
    return null;
  }
  return Number.isFinite(ms) ? new Date(ms) : null;
}

function epochToMs(value: number): number {
  return Math.abs(value) < SECONDS_THRESHOLD ? value * 1000 : value;
}

const pad = (n: number): string => String(n).padStart(2, '0');

/** `2026-04-23` */
export function formatUtcDate(date: Date): string {
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/** `2026-04-23 18:28 UTC` */
export function formatUtc(date: Date): string {
  return `${formatUtcDate(date)} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())} UTC`;
}

// Made at the first relative date, not at start: Intl's first use pages ~4.6 MB of the node
// binary's ICU data in, which a relay whose templates never say "5 minutes ago" need not hold.
let relative: Intl.RelativeTimeFormat | undefined;
const RELATIVE_STEPS: readonly [Intl.RelativeTimeFormatUnit, number][] = [
  ['second', 60],
  ['minute', 60],
  ['hour', 24],
  ['day', 30],
  ['month', 12],
  ['year', Number.POSITIVE_INFINITY],
];

/** `5 minutes ago`, `in 2 hours`, `just now` (under 45 s either way). */
export function formatRelative(date: Date, nowMs: number): string {
  const seconds = (date.getTime() - nowMs) / 1000;
  if (Math.abs(seconds) < 45) return 'just now';
  relative ??= new Intl.RelativeTimeFormat('en', { numeric: 'always' });
  let amount = seconds;
  for (const [unit, size] of RELATIVE_STEPS) {
    if (Math.abs(amount) < size) return relative.format(Math.round(amount), unit);
    amount /= size;
  }
  return relative.format(Math.round(amount), 'year');
}

/** A finite number from a number or numeric text; null otherwise. */
export function toNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && value.trim() !== '') {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

export { formatDuration, formatNumber, humanize } from '../util/format.ts';


/** First letter upper-cased, the rest untouched. */
export function capitalize(text: string): string {
  const first = text.codePointAt(0);
  if (first === undefined) return text;
  const head = String.fromCodePoint(first);
  return head.toUpperCase() + text.slice(head.length);
}
