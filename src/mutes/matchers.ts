import type { RelayEvent } from '../events/event.ts';
import { globMatcher } from '../routing/glob.ts';
import { eventField } from '../routing/path.ts';

/** Event fields a mute may match on; `data.<path>` reaches into the sender's payload. */
const TOP_LEVEL_FIELDS = ['source', 'type', 'severity', 'status', 'dedup_key', 'title', 'summary', 'id'];
const DATA_PATH = /^data(\.[^\s.=]+)+$/;

export type MuteMatchers = Readonly<Record<string, string>>;

/** Why a matcher set is unusable, or null when it is fine. */
export function invalidMatchers(matchers: MuteMatchers): string | null {
  const fields = Object.keys(matchers);
  if (fields.length === 0) return 'a mute needs at least one field=glob matcher (e.g. type=qos.*)';
  for (const field of fields) {
    if (!TOP_LEVEL_FIELDS.includes(field) && !DATA_PATH.test(field)) {
      return `"${field}" is not an event field: use ${TOP_LEVEL_FIELDS.join(', ')} or data.<path>`;
    }
    if (matchers[field] === '') return `the glob for ${field} is empty`;
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
