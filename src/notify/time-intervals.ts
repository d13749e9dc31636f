import { z } from 'zod';

/**
 * Named time intervals, as Alertmanager's `time_intervals` (its timeinterval package): a name
 * stands for a list of intervals, and an instant is in the name when it is in any of them. An
 * interval constrains what it names — times of day, weekdays, days of the month, months, years
 * — each a list of ranges, read in its `location` (an IANA time zone, UTC when absent); a field
 * left out constrains nothing.
 *
 * ```yaml
 * time_intervals:
 *   - name: nights
 *     time_intervals:
 *       - weekdays: [monday:friday]
 *         times: [ { start_time: "22:00", end_time: "24:00" }, { start_time: "00:00", end_time: "06:00" } ]
 *         location: Europe/Berlin
 * ```
 */

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'] as const;

/** `HH:MM`, 00:00 to 23:59, or 24:00 as an end: minutes since midnight. */
const CLOCK_TIME = /^(?:([01]\d|2[0-3]):([0-5]\d)|24:00)$/;

function minutesOf(text: string): number | null {
  const match = CLOCK_TIME.exec(text);
  if (!match) return null;
  return match[1] === undefined ? 24 * 60 : Number(match[1]) * 60 + Number(match[2]);
}

type Range = readonly [number, number];

/**
 * `"monday:friday"`, `"saturday"`, `"1:5"`, `"-3:-1"`: an inclusive range of members, each a
 * name (of `names`, any case) or a whole number when `numbers` allows them.
 */
function rangeSchema(what: string, member: (text: string) => number | null, check: (range: Range, text: string) => string | null) {
  return z.union([z.string(), z.number().int()]).transform((input, ctx): Range => {
    const text = String(input).trim();
    const parts = text.split(':');
    const bounds = parts.length <= 2 ? parts.map((part) => member(part.trim().toLowerCase())) : [null];
    if (bounds.some((bound) => bound === null)) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is not a ${what} or a range of them (${what}:${what})` });
      return z.NEVER;
    }
    const range: Range = [bounds[0]!, bounds.at(-1)!];
    const problem = check(range, text);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return range;
  });
}

const wholeNumber = (text: string): number | null => (/^-?\d{1,4}$/.test(text) ? Number(text) : null);
const named = (names: readonly string[], base: number) => (text: string) => {
  const index = names.indexOf(text);
  return index === -1 ? null : index + base;
};

const weekdayRange = rangeSchema('weekday', named(WEEKDAYS, 0), ([begin, end], text) =>
  begin > end ? `"${text}": the week runs sunday to saturday, so ${WEEKDAYS[begin]} comes after ${WEEKDAYS[end]} (list two ranges instead)` : null,
);

const dayOfMonthRange = rangeSchema('day of the month', wholeNumber, ([begin, end], text) => {
  for (const day of [begin, end]) if (day === 0 || day < -31 || day > 31) return `"${text}": ${day} is not a day of the month (1 to 31, or -1 to -31 from the month's end)`;
  if (begin < 0 && end > 0) return `"${text}": a range that starts from the month's end must end there too`;
  // Negative days count from the end: a 28-day month is the shortest, where the order must hold.
  const position = (day: number): number => (day < 0 ? 29 + day : day);
  return position(begin) > position(end) ? `"${text}": it ends before it starts` : null;
});

const monthRange = rangeSchema(
  'month',
  (text) => named(MONTHS, 1)(text) ?? (/^\d{1,2}$/.test(text) ? Number(text) : null),
  ([begin, end], text) => {
    for (const month of [begin, end]) if (month < 1 || month > 12) return `"${text}": ${month} is not a month (1 to 12)`;
    return begin > end ? `"${text}": ${MONTHS[end - 1]} comes before ${MONTHS[begin - 1]} (list two ranges instead)` : null;
  },
);

const yearRange = rangeSchema('year', wholeNumber, ([begin, end], text) => (begin < 1 || begin > end ? `"${text}": not a range of years` : null));

const timeRangeSchema = z
  .object({ start_time: z.string(), end_time: z.string() })
  .strict()
  .transform((range, ctx): Range => {
    const start = minutesOf(range.start_time);
    const end = minutesOf(range.end_time);
    if (start === null || start === 24 * 60) ctx.addIssue({ code: 'custom', path: ['start_time'], message: `"${range.start_time}" is not a time of day (HH:MM, 00:00 to 23:59)` });
    if (end === null) ctx.addIssue({ code: 'custom', path: ['end_time'], message: `"${range.end_time}" is not a time of day (HH:MM, 00:00 to 24:00)` });
    if (start === null || end === null || start === 24 * 60) return z.NEVER;
    if (start >= end) {
      ctx.addIssue({ code: 'custom', message: `${range.start_time} to ${range.end_time} is empty: a range ends after it starts (across midnight, list ${range.start_time}–24:00 and 00:00–${range.end_time})` });
      return z.NEVER;
    }
    return [start, end];
  });

const locationSchema = z.string().transform((name, ctx) => {
  try {
    return new Intl.DateTimeFormat('en-US', { timeZone: name }).resolvedOptions().timeZone;
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${name}" is not a time zone (an IANA name such as Europe/Berlin, America/New_York or UTC)` });
    return z.NEVER;
  }
});

const intervalSchema = z
  .object({
    times: z.array(timeRangeSchema).min(1).optional(),
    weekdays: z.array(weekdayRange).min(1).optional(),
    days_of_month: z.array(dayOfMonthRange).min(1).optional(),
    months: z.array(monthRange).min(1).optional(),
    years: z.array(yearRange).min(1).optional(),
    location: locationSchema.default('UTC'),
  })
  .strict();

/** One named entry of `time_intervals:` in the config. */
export const timeIntervalSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'a name of letters, digits, _ . - (e.g. office_hours)'),
    time_intervals: z.array(intervalSchema).min(1, 'list at least one interval (an empty list would never hold)'),
  })
  .strict();

export type TimeIntervalConfig = z.output<typeof timeIntervalSchema>;
type Interval = z.output<typeof intervalSchema>;

/** The wall-clock fields of an instant in a time zone. */
interface LocalTime {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly weekday: number;
  readonly minute: number;
  readonly daysInMonth: number;
}

/** One formatter per zone: building one costs far more than using it. */
const formatters = new Map<string, Intl.DateTimeFormat>();

function localTime(at: number, zone: string): LocalTime {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', weekday: 'long' });
    formatters.set(zone, format);
  }
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(at)) parts[part.type] = part.value;
  const year = Number(parts.year);
  const month = Number(parts.month);
  return {
    year,
    month,
    day: Number(parts.day),
    weekday: WEEKDAYS.indexOf(parts.weekday!.toLowerCase() as (typeof WEEKDAYS)[number]),
    minute: Number(parts.hour) * 60 + Number(parts.minute),
    // Day 0 of the next month is this month's last (UTC arithmetic: calendars do not have zones).
    daysInMonth: new Date(Date.UTC(year, month, 0)).getUTCDate(),
  };
}

const within = (ranges: readonly Range[] | undefined, value: number): boolean => ranges === undefined || ranges.some(([begin, end]) => value >= begin && value <= end);

function contains(interval: Interval, at: number): boolean {
  const local = localTime(at, interval.location);
  if (interval.times && !interval.times.some(([start, end]) => local.minute >= start && local.minute < end)) return false;
  if (!within(interval.weekdays, local.weekday) || !within(interval.months, local.month) || !within(interval.years, local.year)) return false;
  if (interval.days_of_month) {
    const resolve = (day: number): number => (day < 0 ? local.daysInMonth + day + 1 : day);
    // A range that starts past this month's end (30:31 in February) holds no day of it.
    const hit = interval.days_of_month.some(([begin, end]) => resolve(begin) <= local.daysInMonth && local.day >= resolve(begin) && local.day <= resolve(end));
    if (!hit) return false;
  }
  return true;
}

/** The named intervals of a config, to ask whether an instant (ms since the epoch) is in one. */
export class TimeIntervals {
  readonly #byName: ReadonlyMap<string, readonly Interval[]>;

  constructor(config: readonly TimeIntervalConfig[]) {
    this.#byName = new Map(config.map((entry) => [entry.name, entry.time_intervals]));
  }

  get names(): string[] {
    return [...this.#byName.keys()];
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** Whether `at` is in the named set (in any of its intervals). An unknown name holds nothing (`check` refuses one). */
  contains(name: string, at: number): boolean {
    return (this.#byName.get(name) ?? []).some((interval) => contains(interval, at));
  }

  /** The first of `names` that `at` is in, or null: what a delivery log names as holding a delivery. */
  firstContaining(names: readonly string[], at: number): string | null {
    return names.find((name) => this.contains(name, at)) ?? null;
  }
}
