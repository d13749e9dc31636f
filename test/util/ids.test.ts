/**
 * Ids are ULIDs made in order (src/util/ids.ts): sorting by id is sorting by creation, also
 * within one millisecond, where the random part of the last id goes up by one.
 */
import { describe, expect, it } from 'vitest';
import { decodeTime, isValid } from 'ulid';
import { idAt, idKind, newId } from '../../src/util/ids.ts';

describe('newId', () => {
  it('makes valid ULIDs of the time they were made, each above the one before', () => {
    const before = Date.now();
    const ids = Array.from({ length: 5_000 }, () => newId('evt'));
    const after = Date.now();
    for (const [index, id] of ids.entries()) {
      expect(idKind(id)).toBe('evt');
      const ulid = id.slice(4);
      expect(isValid(ulid)).toBe(true);
      expect(decodeTime(ulid)).toBeGreaterThanOrEqual(before);
      expect(decodeTime(ulid)).toBeLessThanOrEqual(after);
      if (index > 0) expect(id > ids[index - 1]!).toBe(true);
    }
    // Thousands of ids in a few milliseconds: most share a millisecond with the one before.
    expect(new Set(ids.map((id) => id.slice(4, 14))).size).toBeLessThan(ids.length);
  });

  it('a new id sorts above idAt of the time before it, and below idAt of a later time', () => {
    const now = Date.now();
    const id = newId('dlv');
    expect(id >= idAt('dlv', now)).toBe(true);
    expect(id < idAt('dlv', Date.now() + 1)).toBe(true);
  });
});
