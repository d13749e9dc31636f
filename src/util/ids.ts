import { randomFillSync } from 'node:crypto';
import { encodeTime } from 'ulid';
import { systemClock } from './clock.ts';

/** Crockford's base32, ULID's alphabet (github.com/ulid/spec). */
const ENCODING = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_CHARS = 16;

/**
 * ulid's default source asks the OS for one random byte per character; ids are made four per
 * webhook on the ingest path, so random bytes are drawn 4 KB at a time instead (still the crypto
 * source). 256 is a multiple of 32, so a byte's top five bits pick a character uniformly.
 */
const pool = Buffer.alloc(4_096);
let next = pool.length;
function randomDigit(): number {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  return pool[next++]! >> 3;
}

/**
 * A monotonic ULID (ulid's `monotonicFactory`, the same ids): within one millisecond, or when
 * the clock steps back, the random part of the last id plus one. Written out rather than through
 * the library, which encodes the time again and rebuilds its strings character by character for
 * every id; here the time part is encoded once per millisecond.
 */
let lastTime = -1;
let timePart = '';
const digits = new Uint8Array(RANDOM_CHARS);
function nextUlid(): string {
  // The machine's time, as ulid read it: ids order records, they decide nothing (a test's clock does not move them).
  const now = systemClock.now();
  if (now > lastTime) {
    lastTime = now;
    timePart = encodeTime(now, 10);
    for (let at = 0; at < RANDOM_CHARS; at += 1) digits[at] = randomDigit();
  } else {
    let at = RANDOM_CHARS - 1;
    while (at >= 0 && digits[at] === 31) digits[at--] = 0;
    // 2^80 ids in one millisecond: ulid gives up too.
    if (at < 0) throw new Error('cannot make another id in this millisecond: the random part overflowed');
    digits[at]! += 1;
  }
  let random = '';
  for (let at = 0; at < RANDOM_CHARS; at += 1) random += ENCODING[digits[at]!];
  return timePart + random;
}

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
