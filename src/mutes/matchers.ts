import type { RelayEvent } from '../events/event.ts';
import { globMatcher, globProblem } from '../routing/glob.ts';
import { eventField } from '../routing/path.ts';

/** Event fields a mute may match on; `data.<path>` reaches into the sender's payload. */
const TOP_LEVEL_FIELDS = ['source', 'type', 'severity', 'status', 'dedup_key', 'title', 'summary', 'id'];
const DATA_PATH = /^data(\.[^\s.=]+)+$/;

export type MuteMatchers = Readonly<Record<string, string>>;

/** Every active mute is tested against every ingested event: a mute stays small. */
export const MAX_MUTE_MATCHERS = 16;
const MAX_FIELD_LENGTH = 200;

/** Why a matcher set is unusable, or null when it is fine. */
export function invalidMatchers(matchers: MuteMatchers): string | null {
  const fields = Object.keys(matchers);
  if (fields.length === 0) return 'a mute needs at least one field=glob matcher (e.g. type=qos.*)';
  if (fields.length > MAX_MUTE_MATCHERS) return `a mute may have at most ${MAX_MUTE_MATCHERS} field=glob matchers, not ${fields.length}`;
  for (const field of fields) {
    if (field.length > MAX_FIELD_LENGTH) return `a field path may have at most ${MAX_FIELD_LENGTH} characters`;
    if (!TOP_LEVEL_FIELDS.includes(field) && !DATA_PATH.test(field)) {
      return `"${field}" is not an event field: use ${TOP_LEVEL_FIELDS.join(', ')} or data.<path>`;
    }
    if (matchers[field] === '') return `the glob for ${field} is empty`;
    const problem = globProblem(matchers[field]!);
    if (problem) return `the glob for ${field} ${problem}`;
  }
  return null;
}

/** Every matcher must match (globs: `*`, `?`); numbers and booleans match their text. */
export function compileMatchers(matchers: MuteMatchers): (event: RelayEvent) => boolean {
  const tests = Object.entries(matchers).map(([field, glob]) => {
    const match = globMatcher(glob);
    return (event: RelayEvent): boolean => {
      const value = eventField(event, field);
      if (typeof value === 'string') return match(value);
      if (typeof value === 'number' || typeof value === 'boolean') return match(String(value));
      return false;
    };
  });
  return (event) => tests.every((test) => test(event));
}
