import { z } from 'zod';
import { parseByteSize } from './byte-size.ts';
import { parseDuration } from './duration.ts';

/** Names appear in URLs (`/hooks/:source`) and in route lists. */
export const nameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,63}$/i, 'must be letters, digits, "-", "_" or "." (at most 64)');

/** `"30s"`, `"5m"` … → milliseconds. */
export const durationSchema = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use 30s, 5m, 1h, 1d)` });
    return z.NEVER;
  }
  return ms;
});

/** `"256MB"`, `"1GB"`, `"5%"` (of the volume), or a number of bytes → a ByteSize. */
export const byteSizeSchema = z.union([z.number().int().min(0), z.string()]).transform((value, ctx) => {
  const size = typeof value === 'number' ? { bytes: value } : parseByteSize(value);
  if (size === null) {
    ctx.addIssue({ code: 'custom', message: `"${String(value)}" is not a size (use 256MB, 1GB, or 5% of the volume)` });
    return z.NEVER;
  }
  return size;
});

/** Several secrets while rotating: any one may match. */
export const secretListSchema = z
  .array(z.string().min(1, 'a secret may not be empty'))
  .min(1, 'at least one secret is required');

/** A single token, or several while rotating. Always a list after parsing. */
export const tokenListSchema = z
  .union([z.string().min(1, 'the token may not be empty'), secretListSchema])
  .transform((value) => (typeof value === 'string' ? [value] : value));

export const urlSchema = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/**
 * What an unset `${VAR}` URL stands in as for offline commands (render, routes test): `.invalid`
 * never resolves (RFC 2606).
 */
export const UNSET_URL_STAND_IN = 'https://unset.invalid/';

/**
 * A service's webhook URL: an http(s) URL that `problem` finds nothing wrong with (it says
 * what the right URL looks like). The offline stand-in passes: nothing is sent to it.
 */
export function webhookUrlSchema(problem: (url: URL) => string | null) {
  return urlSchema.superRefine((text, context) => {
    if (text === UNSET_URL_STAND_IN || !URL.canParse(text)) return;
    const message = problem(new URL(text));
    if (message !== null) context.addIssue({ code: 'custom', message });
  });
}

/**
 * A whole number in the config; `"6"` is accepted too, because `${VAR}` interpolation always
 * yields text (`disable_after: ${DISABLE_AFTER}`).
 */
export function countSchema(min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.preprocess(
    (value) => (typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value),
    z.number().int().min(min).max(max),
  );
}

/** true/false; `"true"`, `"false"`, `"1"`, `"0"` too, for values from `${VAR}`. */
export const flagSchema = z.preprocess((value) => {
  if (typeof value !== 'string') return value;
  const text = value.trim().toLowerCase();
  return text === 'true' || text === '1' ? true : text === 'false' || text === '0' ? false : value;
}, z.boolean());
