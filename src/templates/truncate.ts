/** What marks a cut: visible, one character. */
export const ELLIPSIS = '…';

/**
 * At most `max` code points, "…" included and appended only when something was cut. Never
 * splits a surrogate pair (an emoji stays whole or goes).
 */
export function truncateText(text: string, max: number): string {
  // UTF-16 length ≥ code points, so a short string needs no scan.
  if (text.length <= max) return text;
  // Walks at most `max` code points, not the whole text (which may be a megabyte).
  let end = 0;
  let keep = 0;
  for (let points = 0; points < max; points++) {
    if (end >= text.length) return text;
    if (points === max - 1) keep = end;
    end += (text.codePointAt(end) ?? 0) > 0xffff ? 2 : 1;
  }
  return end >= text.length ? text : finish(text.slice(0, keep));
}

/**
 * At most `max` UTF-16 code units (`string.length`, which is what Slack and PagerDuty limits are
 * checked against as far as anyone can tell), "…" included, never splitting a surrogate pair.
 * `markup: true` also backs off so a Slack `<…>` token or `&amp;` entity is not cut in half,
 * and a markdown backslash escape (`\*`) is not cut after its backslash (which would escape
 * nothing, or the "…").
 */
export function truncateToLength(text: string, max: number, options: { markup?: boolean } = {}): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - ELLIPSIS.length);
  if (end > 0 && isHighSurrogate(text.charCodeAt(end - 1))) end -= 1;
  let kept = text.slice(0, end);
  if (options.markup === true) kept = withoutOpenMarkup(kept);
  return finish(kept);
}

function finish(kept: string): string {
  return kept.trimEnd() + ELLIPSIS;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

// The longest entity escaping writes is HTML's `&quot;` (6; Slack's longest is `&amp;`):
// anything longer after a bare `&` is not an entity.
const MAX_ENTITY_LENGTH = 6;

function withoutOpenMarkup(text: string): string {
  let result = text;
  const open = result.lastIndexOf('<');
  if (open > result.lastIndexOf('>')) result = result.slice(0, open);
  const amp = result.lastIndexOf('&');
  if (amp >= 0 && amp > result.lastIndexOf(';') && result.length - amp < MAX_ENTITY_LENGTH) {
    result = result.slice(0, amp);
  }
  let backslashes = 0;
  while (result.charCodeAt(result.length - 1 - backslashes) === BACKSLASH) backslashes += 1;
  return backslashes % 2 === 1 ? result.slice(0, -1) : result;
}

const BACKSLASH = 0x5c;
