import { describe, expect, it } from 'vitest';
import { formatDuration, formatNumber } from '../../src/util/format.ts';

describe('formatNumber', () => {
  it('groups thousands and trims trailing zeros, like en-US Intl', () => {
    const cases: Array<[number, Parameters<typeof formatNumber>[1], string]> = [
      [24_000, {}, '24,000'],
      [8.4, {}, '8.4'],
      [-1_234_567.891, {}, '-1,234,567.891'],
      [0.1 + 0.2, {}, '0.3'],
      [999.9996, {}, '1,000'],
      [5, { decimals: 2 }, '5.00'],
      [1234.5678, { maxDecimals: 2 }, '1,234.57'],
      [-0.0001, {}, '0'],
      [1e21, {}, '1,000,000,000,000,000,000,000'],
      [Number.NaN, {}, 'NaN'],
    ];
    for (const [value, options, text] of cases) expect(formatNumber(value, options), String(value)).toBe(text);
  });
});

describe('formatDuration', () => {
  it('shows the two largest units', () => {
    expect([450, 150_000, 3_600_000, 273_600_000].map(formatDuration)).toEqual(['450ms', '2m 30s', '1h', '3d 4h']);
  });
});
