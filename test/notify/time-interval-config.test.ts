/**
 * What a `time_intervals:` entry accepts and refuses at the edges of each field
 * (src/notify/time-intervals.ts), and what the accepted edges then hold.
 */
import { describe, expect, it } from 'vitest';
import { TimeIntervals, timeIntervalSchema } from '../../src/notify/time-intervals.ts';

function problems(interval: unknown): string[] {
  const parsed = timeIntervalSchema.safeParse({ name: 'x', time_intervals: [interval] });
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.slice(2).join('.')}: ${issue.message}`);
}

function holds(interval: unknown, iso: string): boolean {
  return new TimeIntervals([timeIntervalSchema.parse({ name: 'x', time_intervals: [interval] })]).contains('x', Date.parse(iso));
}

describe('time interval config edges', () => {
  it('days of the month run 1 to 31 and -1 to -31; anything else, or not a whole number, is refused', () => {
    expect(problems({ days_of_month: ['31', '-31', '1:-1'] })).toEqual([]);
    expect(problems({ days_of_month: ['32'] })).toEqual(['days_of_month.0: "32": 32 is not a day of the month (1 to 31, or -1 to -31 from the month\'s end)']);
    expect(problems({ days_of_month: ['-32'] })).toEqual(['days_of_month.0: "-32": -32 is not a day of the month (1 to 31, or -1 to -31 from the month\'s end)']);
    expect(problems({ days_of_month: ['5th'] })).toEqual(['days_of_month.0: "5th" is not a day of the month or a range of them (day of the month:day of the month)']);
    expect(problems({ days_of_month: ['x5'] })).toEqual(['days_of_month.0: "x5" is not a day of the month or a range of them (day of the month:day of the month)']);
    expect(problems({ days_of_month: ['1:2:3'] })).toEqual(['days_of_month.0: "1:2:3" is not a day of the month or a range of them (day of the month:day of the month)']);
  });

  it('a range of days that ends before it starts is refused; the first to the last day is the whole month', () => {
    expect(problems({ days_of_month: ['5:3'] })).toEqual(['days_of_month.0: "5:3": it ends before it starts']);
    expect(problems({ days_of_month: ['-1:-3'] })).toEqual(['days_of_month.0: "-1:-3": it ends before it starts']);
    expect(problems({ days_of_month: ['3:3'] })).toEqual([]);
    expect(holds({ days_of_month: ['1:-1'] }, '2027-02-28T12:00:00Z')).toBe(true);
    expect(holds({ days_of_month: ['2:-2'] }, '2027-02-28T12:00:00Z')).toBe(false);
    expect(holds({ days_of_month: ['2:-2'] }, '2027-02-01T12:00:00Z')).toBe(false);
    expect(holds({ days_of_month: ['2:-2'] }, '2027-02-27T12:00:00Z')).toBe(true);
  });

  it('the last day of a month named by its number holds; of several ranges, any one holding is enough', () => {
    expect(holds({ days_of_month: ['31'] }, '2026-12-31T12:00:00Z')).toBe(true);
    expect(holds({ days_of_month: ['28'] }, '2027-02-28T12:00:00Z')).toBe(true);
    const twice = { days_of_month: ['1:5', '20:25'] };
    expect(holds(twice, '2026-12-22T12:00:00Z')).toBe(true);
    expect(holds(twice, '2026-12-03T12:00:00Z')).toBe(true);
    expect(holds(twice, '2026-12-10T12:00:00Z')).toBe(false);
  });

  it('months run 1 to 12, by name in any case or by number', () => {
    expect(problems({ months: ['12', 'December', ' 1 : 3 '] })).toEqual([]);
    expect(holds({ months: ['12'] }, '2026-12-06T12:00:00Z')).toBe(true);
    expect(holds({ months: ['December'] }, '2026-11-06T12:00:00Z')).toBe(false);
    expect(problems({ months: ['13'] })).toEqual(['months.0: "13": 13 is not a month (1 to 12)']);
    expect(problems({ months: ['1:13'] })).toEqual(['months.0: "1:13": 13 is not a month (1 to 12)']);
    expect(problems({ months: ['0'] })).toEqual(['months.0: "0": 0 is not a month (1 to 12)']);
    expect(problems({ months: ['x5'] })).toEqual(['months.0: "x5" is not a month or a range of them (month:month)']);
    expect(problems({ months: ['5x'] })).toEqual(['months.0: "5x" is not a month or a range of them (month:month)']);
  });

  it('years are a range of positive years, written as whole numbers', () => {
    expect(problems({ years: ['2026:2027', 2028] })).toEqual([]);
    expect(problems({ years: ['0'] })).toEqual(['years.0: "0": not a range of years']);
    expect(problems({ years: ['2028:2027'] })).toEqual(['years.0: "2028:2027": not a range of years']);
    expect(problems({ years: ['20277'] })).toEqual(['years.0: "20277" is not a year or a range of them (year:year)']);
  });

  it('times: 24:00 only ends a range, the start is in it and the end is not, and an empty range is refused', () => {
    expect(problems({ times: [{ start_time: '24:00', end_time: '24:00' }] })).toEqual(['times.0.start_time: "24:00" is not a time of day (HH:MM, 00:00 to 23:59)']);
    expect(problems({ times: [{ start_time: '09:00', end_time: '25:00' }] })).toEqual(['times.0.end_time: "25:00" is not a time of day (HH:MM, 00:00 to 24:00)']);
    expect(problems({ times: [{ start_time: '09:00', end_time: '09:00' }] })).toEqual(['times.0: 09:00 to 09:00 is empty: a range ends after it starts (across midnight, list 09:00–24:00 and 00:00–09:00)']);
    const evening = { times: [{ start_time: '23:30', end_time: '24:00' }] };
    expect(holds(evening, '2026-12-06T23:29:00Z')).toBe(false);
    expect(holds(evening, '2026-12-06T23:30:00Z')).toBe(true);
    expect(holds(evening, '2026-12-06T23:59:00Z')).toBe(true);
    expect(holds(evening, '2026-12-07T00:00:00Z')).toBe(false);
    const morning = { times: [{ start_time: '09:15', end_time: '09:45' }] };
    expect(holds(morning, '2026-12-06T09:14:00Z')).toBe(false);
    expect(holds(morning, '2026-12-06T09:15:00Z')).toBe(true);
    expect(holds(morning, '2026-12-06T09:44:00Z')).toBe(true);
    expect(holds(morning, '2026-12-06T09:45:00Z')).toBe(false);
  });

  it('weekday names are read in any case and around spaces', () => {
    expect(problems({ weekdays: [' Monday : FRIDAY '] })).toEqual([]);
    expect(problems({ weekdays: ['monday:funday'] })).toEqual(['weekdays.0: "monday:funday" is not a weekday or a range of them (weekday:weekday)']);
    expect(holds({ weekdays: ['Sunday'] }, '2026-12-06T12:00:00Z')).toBe(true);
  });

  it('two named sets are told apart, and the names are listed', () => {
    const set = new TimeIntervals([
      timeIntervalSchema.parse({ name: 'weekend', time_intervals: [{ weekdays: ['saturday', 'sunday'] }] }),
      timeIntervalSchema.parse({ name: 'december', time_intervals: [{ months: ['december'], location: 'Europe/Berlin' }] }),
    ]);
    expect(set.names).toEqual(['weekend', 'december']);
    expect([set.has('weekend'), set.has('weekdays')]).toEqual([true, false]);
    expect(set.firstContaining(['weekend', 'december'], Date.parse('2026-12-07T12:00:00Z'))).toBe('december');
    expect(set.firstContaining(['weekend', 'december'], Date.parse('2026-11-07T12:00:00Z'))).toBe('weekend');
    expect(set.contains('december', Date.parse('2026-11-30T23:30:00Z'))).toBe(true); // already December in Berlin
  });
});
