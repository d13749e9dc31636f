import { randomBytes } from 'node:crypto';

/**
 * Stored JSON texts kept out of a render's output until the output has been checked (issue 20).
 *
 * An http destination's body goes out as its template rendered it, after a check that it is JSON
 * (`JSON.parse`). The envelope writes the sender's payload into the body with `{{json data}}`,
 * as the text it was stored as (json-text.ts), so that check parsed every payload again: the
 * largest single cost of a delivery on the event loop. Here a whole `{{json …}}` mustache that
 * writes a stored text writes a mark in its place: `["hookrelay:<nonce>:<n>"]`, the nth text of
 * the render. The output is checked with the marks in it, then the texts are put in.
 *
 * Why that check says the same as checking the final output:
 *   - A stored text is one JSON object or array (ingest parsed it; the store keeps it as it was).
 *   - A mark is JSON only where a value is: inside a string its bare `hookrelay` ends the string
 *     and is no JSON token; as a key it is not a string. So output that is JSON with a mark is
 *     JSON with the text there.
 *   - The other way does not hold (`"[{{json data}}]"` with data `[]` is a string with the text
 *     and not JSON with the mark): output that fails the check with marks is checked again with
 *     the texts in, and that answer (and its error message) is the one given.
 * The nonce is drawn once per process and written nowhere else, so no sender can put a mark into
 * a payload or a field; a piece of output that looks like a mark and is not one of this render's
 * is rendered again without marks.
 */

const NONCE = randomBytes(16).toString('hex');
const MARK_START = `["hookrelay:${NONCE}:`;
const MARK_END = '"]';

// Rendering is synchronous, so the render that collects texts is one slot, as budget.ts's meter.
let collecting: string[] | null = null;

/** Runs `render` collecting the texts its marks stand for. */
export function withStoredTexts<T>(render: () => T): { readonly value: T; readonly texts: readonly string[] } {
  const previous = collecting;
  const texts: string[] = [];
  collecting = texts;
  try {
    return { value: render(), texts };
  } finally {
    collecting = previous;
  }
}

/** What a whole `{{json …}}` writes for a stored text: a mark inside withStoredTexts, the text itself elsewhere. */
export function markStoredText(text: string): string {
  if (collecting === null) return text;
  collecting.push(text);
  return `${MARK_START}${collecting.length - 1}${MARK_END}`;
}

/** `output` with each mark replaced by its text; null when something looks like a mark and is not one of `texts`. */
export function putStoredTextsIn(output: string, texts: readonly string[]): string | null {
  let body = '';
  let from = 0;
  for (let at = output.indexOf(MARK_START); at !== -1; at = output.indexOf(MARK_START, from)) {
    const digits = at + MARK_START.length;
    const end = output.indexOf(MARK_END, digits);
    if (end === -1) return null;
    const index = output.slice(digits, end);
    const text = /^(?:0|[1-9]\d{0,8})$/.test(index) ? texts[Number(index)] : undefined;
    if (text === undefined) return null;
    body += output.slice(from, at) + text;
    from = end + MARK_END.length;
  }
  return body + output.slice(from);
}
