import type { z } from 'zod';
import { HookrelayError } from '../errors.ts';
import { formatPath } from '../util/objects.ts';

/**
 * A request's query or JSON body through its schema, or 400 invalid_request naming the first
 * problem: `limit: Too big…`, `colour: unknown query parameter` / `unknown field`.
 */
export function parseRequest<T>(schema: z.ZodType<T>, input: unknown, part: 'query parameter' | 'field'): T {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') throw new HookrelayError('invalid_request', `${issue.keys.join(', ')}: unknown ${part}`);
  throw new HookrelayError('invalid_request', `${formatPath(issue.path)}: ${issue.message}`);
}
