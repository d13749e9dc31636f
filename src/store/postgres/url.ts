/**
 * What can be said about a PostgreSQL URL without loading the driver (`hookrelay migrate`'s
 * messages, the start-up banner of a SQLite process stay free of pg).
 */

/** A database URL without its password, for messages and logs. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}
