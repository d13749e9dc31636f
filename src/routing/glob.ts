/**
 * Globs for event fields (`type: "qos.*"`, mute matchers `data.region=Maha*`): `*` is any
 * run of characters, `?` one character (one Unicode code point), `\` makes the next character
 * literal, everything else is literal, case-sensitive, whole value. Path globbers (picomatch,
 * minimatch) stop `*` at `/` and treat dots specially, which is wrong for event types and
 * free-text fields, hence this one.
 *
 * Globs come from people (`/hookrelay mute`, `POST /api/v1/mutes`) and are tested against
 * every ingested event, so they are never turned into a backtracking regular expression
 * (`*?*?*?…!` as `.*.*.*…!` took seconds per event). The glob is split at its stars into
 * fixed-length segments; the first is anchored at the start, the last at the end, and the
 * ones between are found leftmost, in order, which is all a `*` can need (no backtracking
 * across stars). Each segment is found in one forward pass (indexOf, or Shift-And when it
 * holds a `?`), so a match costs O(value length × ⌈glob length / 32⌉) at worst.
 */

/** A literal run of text, or `?` (exactly one code point). */
type Token = { readonly literal: string } | { readonly any: true };

type SegmentSearch = (text: string, from: number, limit: number) => number;

interface CompiledGlob {
  /** Parts between stars; with no star, one part that is the whole value. */
  readonly segments: readonly (readonly Token[])[];
  readonly hasStar: boolean;
}

/** Bounds for globs that people type (mutes); routes' globs come from the config file. */
export const MAX_GLOB_LENGTH = 256;
export const MAX_GLOB_STARS = 16;

/** Why a glob typed by a person is refused, or null when it is within bounds. */
export function globProblem(glob: string): string | null {
  const length = [...glob].length;
  if (length > MAX_GLOB_LENGTH) return `is ${length} characters long; a glob may have at most ${MAX_GLOB_LENGTH}`;
  let stars = 0;
  for (let index = 0; index < glob.length; index++) {
    if (glob[index] === '\\') index++;
    else if (glob[index] === '*') stars++;
  }
  if (stars > MAX_GLOB_STARS) return `has ${stars} *; a glob may have at most ${MAX_GLOB_STARS}`;
  return null;
}

const isHigh = (unit: number): boolean => unit >= 0xd800 && unit <= 0xdbff;
const isLow = (unit: number): boolean => unit >= 0xdc00 && unit <= 0xdfff;

/** A position that does not split a surrogate pair (an emoji is two UTF-16 units). */
function isBoundary(text: string, at: number): boolean {
  return at === 0 || at >= text.length || !(isLow(text.charCodeAt(at)) && isHigh(text.charCodeAt(at - 1)));
}

/** Code units of the code point starting at `at` (a lone surrogate is a code point of its own). */
function codePointWidth(text: string, at: number): number {
  return isHigh(text.charCodeAt(at)) && at + 1 < text.length && isLow(text.charCodeAt(at + 1)) ? 2 : 1;
}

function compileGlob(glob: string): CompiledGlob {
  const segments: Token[][] = [[]];
  let escaped = false;
  const current = (): Token[] => segments.at(-1)!;
  const pushLiteral = (char: string): void => {
    const tokens = current();
    const last = tokens.at(-1);
    if (last && 'literal' in last) tokens[tokens.length - 1] = { literal: last.literal + char };
    else tokens.push({ literal: char });
  };
  for (const char of glob) {
    if (escaped) {
      pushLiteral(char);
      escaped = false;
    } else if (char === '\\') escaped = true;
    else if (char === '*') {
      // `**` is `*`.
      if (segments.length === 1 || current().length > 0) segments.push([]);
    } else if (char === '?') {
      // `*?` is `?*`: a `?` right after a star moves before it, so every segment after a star
      // starts with literal text that indexOf can find.
      if (segments.length > 1 && current().length === 0) segments.at(-2)!.push({ any: true });
      else current().push({ any: true });
    } else pushLiteral(char);
  }
  // A trailing backslash is a literal backslash.
  if (escaped) pushLiteral('\\');
  return { segments, hasStar: segments.length > 1 };
}

/** Where `tokens` matched from `at` ends, or -1. */
function matchForward(tokens: readonly Token[], text: string, at: number): number {
  let position = at;
  for (const token of tokens) {
    if ('literal' in token) {
      if (!text.startsWith(token.literal, position)) return -1;
      position += token.literal.length;
      if (!isBoundary(text, position)) return -1;
    } else {
      if (position >= text.length) return -1;
      position += codePointWidth(text, position);
    }
  }
  return position;
}

/** Where `tokens` matched so that they end at `end` start, or -1. */
function matchBackward(tokens: readonly Token[], text: string, end: number): number {
  let position = end;
  for (let index = tokens.length - 1; index >= 0; index--) {
    const token = tokens[index]!;
    if ('literal' in token) {
      const start = position - token.literal.length;
      if (start < 0 || !text.startsWith(token.literal, start) || !isBoundary(text, start)) return -1;
      position = start;
    } else {
      if (position <= 0) return -1;
      position -= position >= 2 && isLow(text.charCodeAt(position - 1)) && isHigh(text.charCodeAt(position - 2)) ? 2 : 1;
    }
  }
  return position;
}

/**
 * Leftmost occurrence of a segment with `?` in it, by bit-parallel Shift-And over code points
 * (Baeza-Yates & Gonnet 1992): one pass over the text, ⌈segment length / 32⌉ word operations
 * per code point, whatever the text. Every occurrence is as many code points long, so the
 * first one to end is the leftmost. Returns its end, or -1.
 */
function shiftAndSearch(tokens: readonly Token[]): SegmentSearch {
  const codePoints: Array<number | null> = tokens.flatMap((token) => ('literal' in token ? [...token.literal].map((char) => char.codePointAt(0)!) : [null]));
  const words = Math.ceil(codePoints.length / 32);
  const anyMask = new Uint32Array(words);
  codePoints.forEach((point, index) => {
    if (point === null) anyMask[index >>> 5]! |= 1 << (index & 31);
  });
  const masks = new Map<number, Uint32Array>();
  codePoints.forEach((point, index) => {
    if (point === null) return;
    let mask = masks.get(point);
    if (!mask) masks.set(point, (mask = anyMask.slice()));
    mask[index >>> 5]! |= 1 << (index & 31);
  });
  const lastWord = (codePoints.length - 1) >>> 5;
  const lastBit = 1 << ((codePoints.length - 1) & 31);
  const state = new Uint32Array(words);
  return (text, from, limit) => {
    state.fill(0);
    for (let at = from; at < limit; ) {
      const width = codePointWidth(text, at);
      const mask = masks.get(width === 2 ? text.codePointAt(at)! : text.charCodeAt(at)) ?? anyMask;
      let carry = 1;
      for (let word = 0; word < words; word++) {
        const shifted = ((state[word]! << 1) | carry) >>> 0;
        carry = state[word]! >>> 31;
        state[word] = shifted & mask[word]!;
      }
      at += width;
      if ((state[lastWord]! & lastBit) !== 0 && at <= limit) return at;
    }
    return -1;
  };
}

/** How a segment between two stars is found: leftmost occurrence within [from, limit), its end or -1. */
function segmentSearch(tokens: readonly Token[]): SegmentSearch {
  if (tokens.length > 1) return shiftAndSearch(tokens);
  // Plain text (a segment after a star starts with text): indexOf, which V8 runs in linear time.
  const { literal } = tokens[0] as { literal: string };
  return (text, from, limit) => {
    for (let at = text.indexOf(literal, from); at !== -1 && at + literal.length <= limit; at = text.indexOf(literal, at + 1)) {
      if (isBoundary(text, at) && isBoundary(text, at + literal.length)) return at + literal.length;
    }
    return -1;
  };
}

export function globMatcher(glob: string): (value: string) => boolean {
  if (!/[*?\\]/.test(glob)) return (value) => value === glob;
  const { segments, hasStar } = compileGlob(glob);
  const [first, ...rest] = segments as [readonly Token[], ...(readonly Token[])[]];
  if (!hasStar) return (value) => matchForward(first, value, 0) === value.length;
  const last = rest.at(-1)!;
  const middle = rest.slice(0, -1).map(segmentSearch);
  return (value) => {
    let position = matchForward(first, value, 0);
    if (position === -1) return false;
    const limit = matchBackward(last, value, value.length);
    if (limit < position) return false;
    for (const search of middle) {
      position = search(value, position, limit);
      if (position === -1) return false;
    }
    return true;
  };
}

/** A glob matching exactly this text (a dedup key may contain `*`). */
export function literalGlob(text: string): string {
  return text.replace(/[*?\\]/g, '\\$&');
}
