import { z } from 'zod';
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

/** Several secrets while rotating: any one may match. */
export const secretListSchema = z
  .array(z.string().min(1, 'a secret may not be empty'))
  .min(1, 'at least one secret is required');

/** A single token, or several while rotating. Always a list after parsing. */
export const tokenListSchema = z
  .union([z.string().min(1, 'the token may not be empty'), secretListSchema])
  .transform((value) => (typeof value === 'string' ? [value] : value));

export const urlSchema = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });
