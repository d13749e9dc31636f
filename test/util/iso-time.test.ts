import { describe, expect, it } from 'vitest';
import { isoTime } from '../../src/util/iso-time.ts';

/** What isoTime stands in for. */
const v8 = (ms: number): string => new Date(ms).toISOString();

describe('isoTime', () => {
  it('writes what toISOString writes at the edges of a day, a leap day and the range it formats itself', () => {
    for (const ms of [0, 1, 999, 1_000, 59_999, 3_599_999, 86_399_999, 86_400_000, 951_782_400_000, 951_868_799_999, 1_765_000_000_123, 253_402_300_799_999]) {
      expect(isoTime(ms)).toBe(v8(ms));
    }
  });

  it('drops a fraction of a millisecond as a Date does (2026-12-07T16:03:47.999Z, not .000 of the next second)', () => {
    expect(isoTime(1_796_659_427_999.9)).toBe('2026-12-07T16:03:47.999Z');
    expect(isoTime(1_796_659_427_999.9)).toBe(v8(1_796_659_427_999.9));
  });

  it('agrees with toISOString across days in any order (no day is kept between calls)', () => {
    let seed = 7;
    const next = (): number => (seed = (seed * 48_271) % 2_147_483_647);
    for (let index = 0; index < 20_000; index += 1) {
      const ms = (next() / 2_147_483_647) * 4_102_444_800_000 + (index % 2 === 0 ? 0 : next() % 1_000);
      expect(isoTime(ms)).toBe(v8(ms));
    }
  });

  it('leaves times before 1970 and after 9999 to the Date: signed six-digit years, and a RangeError for no time at all', () => {
    for (const ms of [-1, -86_400_000.5, 253_402_300_800_000, 8.64e15, -8.64e15]) expect(isoTime(ms)).toBe(v8(ms));
    expect(isoTime(253_402_300_800_000)).toBe('+010000-01-01T00:00:00.000Z');
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
    expect(() => isoTime(8.64e15 + 1)).toThrow(RangeError);
  });
});
