import type { RelayEvent } from '../events/event.ts';
import { globMatcher, globProblem } from '../routing/glob.ts';
import { eventField } from '../routing/path.ts';
import { parseDuration } from '../util/duration.ts';

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

/**
 * `type=qos.* data.region=Maharashtra 2h …` as typed (Slack's `/hookrelay mute`, `hookrelay mute
 * add`): the field=glob terms, then a duration, then whatever follows (Slack's reason). `quote`
 * marks a term in the problem: Slack shows it as code, a terminal in double quotes.
 */
export function parseMuteTerms(
  terms: readonly string[],
  quote: (text: string) => string,
): { readonly matchers: Record<string, string>; readonly duration_ms: number; readonly rest: readonly string[] } | { readonly problem: string } {
  const matchers: Record<string, string> = {};
  let index = 0;
  for (; index < terms.length && terms[index]!.includes('='); index++) {
    const term = terms[index]!;
    const at = term.indexOf('=');
    const field = term.slice(0, at);
    const glob = term.slice(at + 1);
    if (field === '' || glob === '') return { problem: `${quote(term)} is not field=glob` };
    matchers[field] = glob;
  }
  if (index === 0) return { problem: `${quote('mute')} needs at least one field=glob, e.g. ${quote('type=qos.*')}` };
  const durationText = terms[index];
  const duration = durationText === undefined ? null : parseDuration(durationText);
  if (duration === null) {
    return {
      problem: `${quote('mute')} needs a duration after the matchers (${['30m', '2h', '1d'].map(quote).join(', ')})${durationText ? `, not ${quote(durationText)}` : ''}`,
    };
  }
  return { matchers, duration_ms: duration, rest: terms.slice(index + 1) };
}
