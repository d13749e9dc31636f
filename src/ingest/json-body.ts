import { isUtf8 } from 'node:buffer';
import { HookrelayError } from '../errors.ts';

/**
 * Arrays and objects nested deeper than this are refused at ingest. Real senders nest a
 * handful of levels (Alertmanager: 4); a body that nests thousands of levels cannot be
 * rendered by anything that walks it recursively (JSON.stringify included), and a 202 is a
 * promise to deliver, so it is refused before it is stored.
 */
export const MAX_JSON_DEPTH = 64;

// UTF-8 bytes of the only characters that matter to nesting; multi-byte sequences never
// contain bytes below 0x80, so scanning bytes is exact.
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const BYTE_ORDER_MARK = '\ufeff';
/** The opening brackets as text: indexOf finds them alike in a string and in UTF-8 bytes. */
const OPENING = ['{', '['] as const;

/**
 * The byte offset of the first `[` or `{` that opens a level deeper than `max`, or null.
 * One linear pass over the raw bytes with no recursion and no allocation, so it is safe for
 * any input; brackets inside strings do not count. Malformed JSON is JSON.parse's to report.
 */
export function nestingBeyond(bytes: Uint8Array, max: number): number | null {
  let depth = 0;
  let inString = false;
  for (let at = 0; at < bytes.length; at += 1) {
    const byte = bytes[at];
    if (inString) {
      if (byte === BACKSLASH) at += 1;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      depth += 1;
      if (depth > max) return at;
    } else if ((byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) && depth > 0) {
      depth -= 1;
    }
  }
  return null;
}

/**
 * Whether JSON bytes or text hold at most `max` opening brackets in all (inside strings or not):
 * then nothing can nest deeper than `max`, and neither the byte-by-byte walk nor a parse is
 * needed to tell. Counted with indexOf (native), which a webhook's few objects and arrays make a
 * handful of calls: at ingest on the body's bytes, and on an event's stored text where a template
 * embeds it (templates/escape.ts).
 */
export function opensAtMost(source: Buffer | string, max: number): boolean {
  let opens = 0;
  for (const bracket of OPENING) {
    for (let at = source.indexOf(bracket); at !== -1; at = source.indexOf(bracket, at + 1)) {
      opens += 1;
      if (opens > max) return false;
    }
  }
  return true;
}

export interface JsonBody {
  /** Exactly what arrived, as text (a byte order mark included): what is stored and shown. */
  readonly text: string;
  readonly payload: unknown;
  /** The text had a byte order mark, so it is not itself parseable as the payload. */
  readonly bom: boolean;
}

/**
 * The verified raw bytes as JSON: UTF-8 only (RFC 8259 §8.1: invalid bytes are refused, not
 * replaced by U+FFFD, so the stored text is byte for byte what was signed), a leading byte
 * order mark ignored for parsing (§8.1 allows it) but kept in the stored text, and nesting
 * bounded by MAX_JSON_DEPTH before JSON.parse runs.
 */
export function parseJsonBody(bytes: Buffer): JsonBody {
  if (!isUtf8(bytes)) {
    throw new HookrelayError('invalid_utf8', 'the body is not valid UTF-8; JSON must be UTF-8 (RFC 8259 §8.1)');
  }
  const deep = opensAtMost(bytes, MAX_JSON_DEPTH) ? null : nestingBeyond(bytes, MAX_JSON_DEPTH);
  if (deep !== null) {
    throw new HookrelayError('nesting_too_deep', `arrays and objects nest deeper than ${MAX_JSON_DEPTH} levels (at byte ${deep})`);
  }
  const text = bytes.toString('utf8');
  const bom = text.startsWith(BYTE_ORDER_MARK);
  let payload: unknown;
  try {
    payload = JSON.parse(bom ? text.slice(BYTE_ORDER_MARK.length) : text);
  } catch (error) {
    throw new HookrelayError('invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
  }
  return { text, payload, bom };
}
