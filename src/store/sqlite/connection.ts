import { DatabaseSync } from 'node:sqlite';

/** The one connection that writes: WAL, and FULL sync so a commit survives power loss, not only a crash. */
export function openWriter(path: string): DatabaseSync {
  const db = new DatabaseSync(path, { timeout: 5_000, enableForeignKeyConstraints: true });
  db.exec('PRAGMA journal_mode = WAL');
  db.exec('PRAGMA synchronous = FULL');
  return db;
}

/** Readers never block the writer in WAL mode (admin API, health checks). */
export function openReader(path: string): DatabaseSync {
  return new DatabaseSync(path, { readOnly: true, timeout: 5_000 });
}
