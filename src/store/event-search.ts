import type { DeliveryStatus, EventQuery } from './store.ts';
import { MAX_EVENT_PAGE } from './store.ts';

export type SqlDialect = 'sqlite' | 'postgres';

/** The escape character of the LIKE patterns below (`ESCAPE '\'` in both dialects). */
const LIKE_ESCAPE = '\\';

/** A LIKE pattern matching `text` anywhere, literally: `%`, `_` and the escape itself are escaped. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => LIKE_ESCAPE + char)}%`;
}

/**
 * A glob as routes write it (src/routing/glob.ts: `*` any run, `?` one character, `\` makes the
 * next character literal; case-sensitive, whole value) as a condition on `column`: equality when
 * it has no wildcard, else SQLite's GLOB (case-sensitive; its own `*`, `?` and `[` bracketed to
 * stay literal) or PostgreSQL's LIKE (case-sensitive; `%`, `_` and `\` escaped). Both match one
 * character (code point) for `?`, as the glob does. The admin API bounds globs as it bounds
 * mutes' (globProblem), so a pattern's cost over the short type strings stays small.
 */
export function globCondition(column: string, glob: string, param: (value: string) => string, dialect: SqlDialect): string {
  const parts: Array<{ literal: string } | { wildcard: '*' | '?' }> = [];
  let escaped = false;
  for (const char of glob) {
    if (escaped) {
      parts.push({ literal: char });
      escaped = false;
    } else if (char === '\\') escaped = true;
    else if (char === '*' || char === '?') parts.push({ wildcard: char });
    else parts.push({ literal: char });
  }
  // A trailing backslash is a literal backslash.
  if (escaped) parts.push({ literal: '\\' });
  if (parts.every((part) => 'literal' in part)) return `${column} = ${param(parts.map((part) => ('literal' in part ? part.literal : '')).join(''))}`;
  if (dialect === 'sqlite') {
    const pattern = parts.map((part) => ('wildcard' in part ? part.wildcard : /[*?[]/.test(part.literal) ? `[${part.literal}]` : part.literal)).join('');
    return `${column} GLOB ${param(pattern)}`;
  }
  const pattern = parts.map((part) => ('wildcard' in part ? (part.wildcard === '*' ? '%' : '_') : part.literal.replace(/[\\%_]/g, (char) => LIKE_ESCAPE + char))).join('');
  return `${column} LIKE ${param(pattern)} ESCAPE '${LIKE_ESCAPE}'`;
}

/** The WHERE clause and the row bound of an event search, as both stores run it. */
export interface EventSearchSql {
  readonly where: string;
  readonly limit: number;
}

/**
 * The search's conditions in one place for both stores: each store passes how it names a
 * parameter (`?` or `$n`) and its dialect. The title's text ignores case with each one's
 * case-insensitive LIKE (SQLite's LIKE ignores the case of ASCII letters; PostgreSQL's ILIKE, at
 * least those). User text is only ever a bound parameter: the title's text a pattern with its
 * wildcards escaped, the type's glob translated (globCondition).
 */
export function eventSearchSql(query: EventQuery, param: (value: string | number) => string, dialect: SqlDialect): EventSearchSql {
  const where: string[] = [];
  const iLike = dialect === 'sqlite' ? 'LIKE' : 'ILIKE';
  if (query.q !== undefined && query.q !== '') where.push(`e.title ${iLike} ${param(containsPattern(query.q))} ESCAPE '${LIKE_ESCAPE}'`);
  if (query.source !== undefined) where.push(`e.source = ${param(query.source)}`);
  if (query.type !== undefined) where.push(globCondition('e.type', query.type, param, dialect));
  if (query.severity !== undefined) where.push(`e.severity = ${param(query.severity)}`);
  if (query.status !== undefined) where.push(`e.status = ${param(query.status)}`);
  if (query.since !== undefined) where.push(`e.received_at >= ${param(query.since)}`);
  if (query.until !== undefined) where.push(`e.received_at < ${param(query.until)}`);
  if (query.before !== undefined) where.push(`e.id < ${param(query.before)}`);
  return {
    where: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '',
    limit: Math.max(1, Math.min(MAX_EVENT_PAGE, Math.floor(query.limit))),
  };
}

/** Folds `(event_id, status, count)` rows into each event's counts by status. */
export function deliveryCounts(rows: ReadonlyArray<Record<string, unknown>>): Map<string, Partial<Record<DeliveryStatus, number>>> {
  const counts = new Map<string, Partial<Record<DeliveryStatus, number>>>();
  for (const row of rows) {
    const id = String(row.event_id);
    let of = counts.get(id);
    if (!of) counts.set(id, (of = {}));
    of[String(row.status) as DeliveryStatus] = Number(row.count);
  }
  return counts;
}

/** The columns a search lists (no payload: pages of events stay small). */
export const EVENT_SUMMARY_COLUMNS = 'e.id, e.source, e.external_id, e.type, e.severity, e.status, e.title, e.summary, e.dedup_key, e.occurred_at, e.received_at';
