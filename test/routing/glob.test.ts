import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_GLOB_LENGTH, MAX_GLOB_STARS, globMatcher, globProblem, literalGlob } from '../../src/routing/glob.ts';

/**
 * The reference: the documented semantics written as the regular expression hookrelay used
 * before (`*` → `.*`, `?` → one code point). Fine for short inputs; it backtracks
 * exponentially on `*?*?…`, which is why it is only here.
 */
function referenceMatch(glob: string, value: string): boolean {
  let source = '';
  let escaped = false;
  for (const char of glob) {
    if (escaped) {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      escaped = false;
    } else if (char === '\\') escaped = true;
    else if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  if (escaped) source += '\\\\';
  return new RegExp(`^${source}$`, 'su').test(value);
}

const PATHOLOGICAL = '*?*?*?*?*?*?*?*?*?*?*?*?*?*?!';

describe('glob matching cost', () => {
  it('a pathological mute glob against a 1 MB field costs milliseconds, not seconds', () => {
    const field = 'a'.repeat(1_000_000);
    const matches = globMatcher(PATHOLOGICAL);
    const started = performance.now();
    expect(matches(field)).toBe(false);
    expect(matches(`${field}!`)).toBe(true);
    expect(performance.now() - started).toBeLessThan(200);
  });

  it('a 9-star glob against a 60-character value (30 s before) is instant', () => {
    const started = performance.now();
    expect(globMatcher('*a*a*a*a*a*a*a*a*a!')('a'.repeat(60))).toBe(false);
    expect(performance.now() - started).toBeLessThan(50);
  });

  it.each([
    ['many partial matches of a long segment', `*${'a'.repeat(200)}b*`, 'a'.repeat(1_000_000)],
    ['segments of ? and letters', `*${'a?'.repeat(100)}b*c`, 'a'.repeat(1_000_000)],
    ['a segment of ? and letters found almost everywhere', `*${'a?'.repeat(127)}b*`, 'a'.repeat(1_000_000)],
    ['a long run of ? after a letter', `*a${'?'.repeat(250)}b*`, 'a'.repeat(1_000_000)],
    ['sixteen stars, each almost found', `${'*ab'.repeat(16)}!`, 'ab'.repeat(500_000)],
  ])('worst cases within the bounds stay well under a second on 1 MB: %s', (_name, glob, field) => {
    const started = performance.now();
    expect(globMatcher(glob)(field)).toBe(false);
    // ~25 ms here; a backtracking verifier took 0.9–1.4 s on the last two.
    expect(performance.now() - started).toBeLessThan(400);
  });
});

describe('glob semantics', () => {
  it.each([
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['a\\?', 'a?', true],
    ['a\\', 'a\\', true],
    ['*\\\\', 'x\\', true],
    ['??', '😀', false],
    ['?', '😀', true],
    ['*?', '😀', true],
    ['*??', '😀', false],
    ['😀*😀', '😀😀', true],
    ['a**b', 'ab', true],
    ['*?*?*', 'x', false],
    ['*?*?*', 'xy', true],
    ['*a?c*', 'zzabcz', true],
    ['*', 'line one\nline two', true],
    ['?', '\n', true],
  ])('%s against %j → %s', (glob, value, expected) => {
    expect(globMatcher(glob)(value)).toBe(expected);
    expect(referenceMatch(glob, value)).toBe(expected);
  });

  it('literalGlob(text) matches exactly that text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme-composite', maxLength: 20 }), fc.string({ maxLength: 20 }), (text, other) => {
        expect(globMatcher(literalGlob(text))(text)).toBe(true);
        if (other !== text) expect(globMatcher(literalGlob(text))(other)).toBe(false);
      }),
    );
  });
});

// A small alphabet makes matches likely; surrogate halves and an emoji test code point handling.
const ALPHABET = ['a', 'b', '*', '?', '\\', '.', '\n', '😀', '\ud83d', '\ude00'];
const globChars = fc.array(fc.constantFrom(...ALPHABET), { maxLength: 12 }).map((chars) => chars.join(''));
const valueChars = fc.array(fc.constantFrom('a', 'b', '*', '?', '\\', '.', '\n', '😀', '\ud83d', '\ude00'), { maxLength: 16 }).map((chars) => chars.join(''));

describe('glob matcher agrees with the reference (property-based)', () => {
  it('on arbitrary short globs and values over a small alphabet', () => {
    fc.assert(
      fc.property(globChars, valueChars, (glob, value) => {
        expect(globMatcher(glob)(value)).toBe(referenceMatch(glob, value));
      }),
      { numRuns: 5_000 },
    );
  });

  it('on arbitrary unicode globs and values, including values built to match', () => {
    const value = fc.string({ unit: 'binary', maxLength: 12 });
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 10 }), value, (glob, text) => {
        expect(globMatcher(glob)(text)).toBe(referenceMatch(glob, text));
      }),
      { numRuns: 2_000 },
    );
    // A glob made from a value by replacing some characters with ? and some runs with * matches it.
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.string({ unit: 'binary', maxLength: 3 }), fc.constantFrom('keep', '?', '*')), { maxLength: 6 }), (parts) => {
        const text = parts.map(([part]) => part).join('');
        const glob = parts
          .map(([part, how]) => (how === 'keep' ? literalGlob(part) : how === '*' ? '*' : [...part].map(() => '?').join('')))
          .join('');
        expect(globMatcher(glob)(text)).toBe(true);
        expect(referenceMatch(glob, text)).toBe(true);
      }),
      { numRuns: 2_000 },
    );
  });

  it('arbitrary globs within the bounds against 100 kB values finish quickly and never throw', () => {
    const bounded = fc.array(fc.constantFrom('a', 'b', '*', '?', '\\'), { maxLength: 64 }).map((chars) => chars.join(''));
    fc.assert(
      fc.property(bounded, fc.constantFrom('a', 'ab', 'ba', 'aab'), (glob, unit) => {
        const value = unit.repeat(Math.ceil(100_000 / unit.length));
        const started = performance.now();
        globMatcher(glob)(value);
        expect(performance.now() - started).toBeLessThan(250);
      }),
      { numRuns: 200 },
    );
  });
});

describe('bounds for globs people type', () => {
  it('accepts ordinary globs and globs at the bounds', () => {
    expect(globProblem('qos.*')).toBeNull();
    expect(globProblem('x'.repeat(MAX_GLOB_LENGTH))).toBeNull();
    expect(globProblem('*'.repeat(MAX_GLOB_STARS))).toBeNull();
    expect(globProblem(`${'\\*'.repeat(40)}`)).toBeNull();
  });

  it('refuses a glob that is too long or has too many stars, saying which', () => {
    expect(globProblem('x'.repeat(MAX_GLOB_LENGTH + 1))).toContain(`at most ${MAX_GLOB_LENGTH}`);
    expect(globProblem('*'.repeat(MAX_GLOB_STARS + 1))).toContain(`at most ${MAX_GLOB_STARS}`);
    expect(globProblem(PATHOLOGICAL)).toBeNull();
    expect(globProblem(`${PATHOLOGICAL}*?*?*?`)).toContain('17 *');
  });

  it('counts characters as code points (an emoji is one)', () => {
    expect(globProblem('😀'.repeat(MAX_GLOB_LENGTH))).toBeNull();
  });
});
