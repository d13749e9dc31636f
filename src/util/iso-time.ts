/**
 * `new Date(ms).toISOString()`, written without V8's formatter: that one goes through a printf
 * into a string stream, about 8,000 instructions a call under callgrind, and ingest makes two per
 * webhook (the receive time, the sender's time). Here it is plain arithmetic: the date from the
 * day number (Howard Hinnant's `civil_from_days`, howardhinnant.github.io/date_algorithms.html),
 * the time of day by division. Times outside 1970–9999 (other digit counts, signs) and anything
 * that is not a time (NaN, which throws) are left to V8 as they are.
 */
const DAY_MS = 86_400_000;
/** The largest time a Date holds, either side of 1970 (ECMA-262 TimeClip); beyond it, an invalid date. */
export const MAX_DATE_MS = 8.64e15;
/** 10000-01-01T00:00:00.000Z: from there on toISOString writes six-digit years (`+010000-…`). */
const YEAR_10000 = 253_402_300_800_000;
/** Days from 0000-03-01 to 1970-01-01 (civil_from_days counts from a March 1st). */
const EPOCH_SHIFT = 719_468;
const DAYS_PER_ERA = 146_097;

const TWO_DIGITS = Array.from({ length: 100 }, (_, n) => String(n).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1_000 }, (_, n) => String(n).padStart(3, '0'));

export function isoTime(ms: number): string {
  if (!(ms >= 0 && ms < YEAR_10000)) return new Date(ms).toISOString();
  // A Date keeps whole milliseconds (TimeClip truncates): so does this.
  const whole = Math.trunc(ms);
  const days = Math.floor(whole / DAY_MS);
  let rest = whole - days * DAY_MS;
  const milli = rest % 1_000;
  rest = (rest - milli) / 1_000;
  const second = rest % 60;
  rest = (rest - second) / 60;
  const minute = rest % 60;
  const hour = (rest - minute) / 60;
  // civil_from_days, for days >= 0 (eras of 400 years, years starting in March).
  const shifted = days + EPOCH_SHIFT;
  const era = Math.floor(shifted / DAYS_PER_ERA);
  const dayOfEra = shifted - era * DAYS_PER_ERA;
  const yearOfEra = Math.floor((dayOfEra - Math.floor(dayOfEra / 1_460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365);
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const monthFromMarch = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * monthFromMarch + 2) / 5) + 1;
  const month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return `${year}-${TWO_DIGITS[month]}-${TWO_DIGITS[day]}T${TWO_DIGITS[hour]}:${TWO_DIGITS[minute]}:${TWO_DIGITS[second]}.${THREE_DIGITS[milli]}Z`;
}
