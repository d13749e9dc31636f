import { describe, expect, it } from 'vitest';
import { closestName, didYouMean, editDistance } from '../../src/util/did-you-mean.ts';

describe('editDistance (optimal string alignment)', () => {
  it.each([
    ['secrets', 'secrets', 0],
    ['secretz', 'secrets', 1],
    ['secerts', 'secrets', 1], // one transposition, not two substitutions
    ['tapemetrik', 'tapemetric', 1],
    ['', 'abc', 3],
    ['kitten', 'sitting', 3],
  ])('%s → %s: %i', (a, b, expected) => {
    expect(editDistance(a, b)).toBe(expected);
    expect(editDistance(b, a)).toBe(expected);
  });
});

describe('closestName', () => {
  it('the nearest within a quarter of the length (at least one edit), case ignored', () => {
    expect(closestName('concurency', ['concurrency', 'rate', 'timeout'])).toBe('concurrency');
    expect(closestName('TRUNCAT', ['truncate', 'upper'])).toBe('truncate');
    expect(closestName('colour', ['store', 'sources', 'routes'])).toBeNull();
    expect(closestName('ab', ['xy'])).toBeNull();
  });
});

describe('didYouMean', () => {
  it('a near miss, else the known names unless told not to list them', () => {
    expect(didYouMean('oncal', ['oncall', 'audit'])).toBe(' (did you mean "oncall"?)');
    expect(didYouMean('pager', ['oncall', 'audit'])).toBe(' (known: oncall, audit)');
    expect(didYouMean('pager', ['oncall'], { listKnown: false })).toBe('');
  });
});
