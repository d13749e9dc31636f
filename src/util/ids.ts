import { randomFillSync } from 'node:crypto';
import { encodeTime, monotonicFactory } from 'ulid';

/**
 * ulid's default source asks the OS for one random byte per character; ids are made three
 * per event on the hot path, so random bytes are drawn 4 KB at a time instead (still the
 * crypto source). Each byte is scaled to [0, 1); ulid picks one of 32 characters from it,
 * and 256 is a multiple of 32, so the choice stays uniform.
 */
const pool = Buffer.alloc(4_096);
let next = pool.length;
function randomFraction(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++]! / 256;
}

const nextUlid = monotonicFactory(randomFraction);

export type IdPrefix = 'evt' | 'dlv' | 'rcp' | 'mut' | 'req';

/** Time-ordered, unique ids (`evt_01JD…`): sorting by id is sorting by creation. */
export function newId(prefix: IdPrefix): string {
  return `${prefix}_${nextUlid()}`;
}

/** The smallest id made at `ms`: ids below it were made earlier (ranges by age). */
export function idAt(prefix: IdPrefix, ms: number): string {
  return `${prefix}_${encodeTime(Math.max(0, Math.floor(ms)), 10)}${'0'.repeat(16)}`;
}

export function idKind(id: string): IdPrefix | null {
  const prefix = id.slice(0, 3);
  return id[3] === '_' && (prefix === 'evt' || prefix === 'dlv' || prefix === 'rcp' || prefix === 'mut' || prefix === 'req') ? prefix : null;
}
