import type { EventQuery } from './store.ts';
import { MAX_EVENT_PAGE } from './store.ts';

/** The escape character of the LIKE patterns below (`ESCAPE '\'` in both dialects). */
const LIKE_ESCAPE = '\\';

/** A LIKE pattern matching `text` anywhere, literally: `%`, `_` and the escape itself are escaped. */
export function containsPattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (char) => LIKE_ESCAPE + char)}%`;
}

/** The WHERE clause and the row bound of an event search, as both stores run it. */
export interface EventSearchSql {
  readonly where: string;
  readonly limit: number;
}

/**
 * The search's conditions in one place for both stores: each store passes how it names a
 * parameter (`?` or `$n`) and its case-insensitive LIKE (SQLite's LIKE ignores the case of ASCII
 * letters; PostgreSQL's ILIKE, at least those). User text is only ever a bound parameter, and the
 * title's text a pattern with its wildcards escaped.
 */
export function eventSearchSql(query: EventQuery, param: (value: string | number) => string, iLike: 'LIKE' | 'ILIKE'): EventSearchSql {
  const where: string[] = [];
  if (query.q !== undefined && query.q !== '') where.push(`e.title ${iLike} ${param(containsPattern(query.q))} ESCAPE '${LIKE_ESCAPE}'`);
  if (query.source !== undefined) where.push(`e.source = ${param(query.source)}`);
  if (query.type !== undefined) where.push(`e.type = ${param(query.type)}`);
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

/** The columns a search lists (no payload: pages of events stay small). */
export const EVENT_SUMMARY_COLUMNS = 'e.id, e.source, e.external_id, e.type, e.severity, e.status, e.title, e.summary, e.dedup_key, e.occurred_at, e.received_at';
