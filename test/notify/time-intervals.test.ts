import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimeIntervals, timeIntervalSchema } from '../../src/notify/time-intervals.ts';

/** The named intervals of a config, as `check` would read them. */
function intervals(...entries: unknown[]): TimeIntervals {
  return new TimeIntervals(entries.map((entry) => timeIntervalSchema.parse(entry)));
}

/** Why the config entry is refused: each problem's path and message. */
function problems(entry: unknown): string[] {
  const parsed = timeIntervalSchema.safeParse(entry);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

const at = (iso: string): number => Date.parse(iso);

describe('time intervals (Alertmanager time_intervals)', () => {
  const nights = intervals({
    name: 'nights',
    time_intervals: [
      {
        weekdays: ['monday:friday'],
        times: [
          { start_time: '22:00', end_time: '24:00' },
          { start_time: '00:00', end_time: '06:00' },
        ],
        location: 'Europe/Berlin',
      },
    ],
  });

  it("DESIGN.md's nights: weekday nights in Berlin, start inclusive, end exclusive, read in Berlin's own time", () => {
    // Tuesday 2026-12-08: Berlin is UTC+1 in winter.
    expect(nights.contains('nights', at('2026-12-08T20:59:59Z'))).toBe(false); // 21:59 Berlin
    expect(nights.contains('nights', at('2026-12-08T21:00:00Z'))).toBe(true); // 22:00
    expect(nights.contains('nights', at('2026-12-08T22:59:00Z'))).toBe(true); // 23:59
    expect(nights.contains('nights', at('2026-12-08T23:00:00Z'))).toBe(true); // Wednesday 00:00
    expect(nights.contains('nights', at('2026-12-09T04:59:00Z'))).toBe(true); // 05:59
    expect(nights.contains('nights', at('2026-12-09T05:00:00Z'))).toBe(false); // 06:00: the end is not in it
    expect(nights.contains('nights', at('2026-12-09T12:00:00Z'))).toBe(false);
    // Saturday 2026-12-12 23:30 Berlin: not a weekday.
    expect(nights.contains('nights', at('2026-12-12T22:30:00Z'))).toBe(false);
    // Summer: Berlin is UTC+2, so 22:00 Berlin is 20:00 UTC (a fixed offset would say 21:00).
    expect(nights.contains('nights', at('2026-07-07T20:00:00Z'))).toBe(true);
    expect(nights.contains('nights', at('2026-07-07T19:59:00Z'))).toBe(false);
  });

  it('a name holds when any of its intervals does; an interval holds when all of its fields do', () => {
    const set = intervals({
      name: 'quiet',
      time_intervals: [
        { weekdays: ['saturday', 'sunday'] },
        { months: ['december'], days_of_month: ['24:26'] },
      ],
    });
    expect(set.contains('quiet', at('2026-12-12T10:00:00Z'))).toBe(true); // Saturday
    expect(set.contains('quiet', at('2026-12-24T10:00:00Z'))).toBe(true); // Thursday, Christmas Eve
    expect(set.contains('quiet', at('2026-12-23T10:00:00Z'))).toBe(false);
    expect(set.contains('quiet', at('2026-11-24T10:00:00Z'))).toBe(false); // the 24th, but November
    expect(set.contains('unknown', at('2026-12-12T10:00:00Z'))).toBe(false);
    expect(set.firstContaining(['unknown', 'quiet'], at('2026-12-12T10:00:00Z'))).toBe('quiet');
  });

  it('days of the month counted from its end follow each month: -1 is the 28th, 29th, 30th or 31st', () => {
    const set = intervals({ name: 'month_end', time_intervals: [{ days_of_month: ['-2:-1'] }] });
    expect(set.contains('month_end', at('2027-02-27T12:00:00Z'))).toBe(true);
    expect(set.contains('month_end', at('2027-02-26T12:00:00Z'))).toBe(false);
    expect(set.contains('month_end', at('2028-02-28T12:00:00Z'))).toBe(true); // leap year: 28, 29
    expect(set.contains('month_end', at('2028-02-27T12:00:00Z'))).toBe(false);
    expect(set.contains('month_end', at('2026-12-30T12:00:00Z'))).toBe(true);
    // A range past a short month's end holds nothing of it.
    const late = intervals({ name: 'late', time_intervals: [{ days_of_month: ['30:31'] }] });
    expect(late.contains('late', at('2027-02-28T12:00:00Z'))).toBe(false);
    expect(late.contains('late', at('2027-03-31T12:00:00Z'))).toBe(true);
  });

  it('months by name or number, years, and a location that is not UTC changes the day as well as the hour', () => {
    const set = intervals({ name: 'q1_2027', time_intervals: [{ months: ['1:march'], years: ['2027'], location: 'America/New_York' }] });
    // 2027-01-01T03:00Z is still 2026-12-31 in New York.
    expect(set.contains('q1_2027', at('2027-01-01T03:00:00Z'))).toBe(false);
    expect(set.contains('q1_2027', at('2027-01-01T06:00:00Z'))).toBe(true);
    expect(set.contains('q1_2027', at('2027-04-01T03:00:00Z'))).toBe(true); // March 31st, 23:00 in New York
    expect(set.contains('q1_2027', at('2027-04-01T05:00:00Z'))).toBe(false);
  });

  it('an interval with times only holds every day at those times, in UTC when no location is given', () => {
    const set = intervals({ name: 'lunch', time_intervals: [{ times: [{ start_time: '12:00', end_time: '13:00' }] }] });
    fc.assert(
      fc.property(fc.integer({ min: at('2020-01-01T00:00:00Z'), max: at('2035-01-01T00:00:00Z') }), (instant) => {
        const minute = Math.floor((instant % 86_400_000) / 60_000);
        expect(set.contains('lunch', instant)).toBe(minute >= 720 && minute < 780);
      }),
    );
  });

  it.each([
    [{ name: 'x', time_intervals: [{ weekdays: ['friday:monday'] }] }, 'time_intervals.0.weekdays.0: "friday:monday": the week runs sunday to saturday, so friday comes after monday (list two ranges instead)'],
    [{ name: 'x', time_intervals: [{ weekdays: ['funday'] }] }, 'time_intervals.0.weekdays.0: "funday" is not a weekday or a range of them (weekday:weekday)'],
    [{ name: 'x', time_intervals: [{ times: [{ start_time: '22:00', end_time: '06:00' }] }] }, 'time_intervals.0.times.0: 22:00 to 06:00 is empty: a range ends after it starts (across midnight, list 22:00–24:00 and 00:00–06:00)'],
    [{ name: 'x', time_intervals: [{ times: [{ start_time: '7:00', end_time: '09:00' }] }] }, 'time_intervals.0.times.0.start_time: "7:00" is not a time of day (HH:MM, 00:00 to 23:59)'],
    [{ name: 'x', time_intervals: [{ days_of_month: ['0'] }] }, 'time_intervals.0.days_of_month.0: "0": 0 is not a day of the month (1 to 31, or -1 to -31 from the month\'s end)'],
    [{ name: 'x', time_intervals: [{ days_of_month: ['-3:5'] }] }, 'time_intervals.0.days_of_month.0: "-3:5": a range that starts from the month\'s end must end there too'],
    [{ name: 'x', time_intervals: [{ months: ['march:january'] }] }, 'time_intervals.0.months.0: "march:january": january comes before march (list two ranges instead)'],
    [{ name: 'x', time_intervals: [{ location: 'Mars/Olympus_Mons' }] }, 'time_intervals.0.location: "Mars/Olympus_Mons" is not a time zone (an IANA name such as Europe/Berlin, America/New_York or UTC)'],
    [{ name: 'x', time_intervals: [] }, 'time_intervals: list at least one interval (an empty list would never hold)'],
    [{ name: 'x', time_intervals: [{ weekday: ['monday'] }] }, expect.stringContaining('weekday')],
  ])('%j is refused: %s', (entry, message) => {
    expect(problems(entry)).toEqual([message]);
  });
});
