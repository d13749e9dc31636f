import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DatabaseSync } from 'node:sqlite';
import { openWriter } from '../../src/store/sqlite/connection.ts';
import { migrate } from '../../src/store/sqlite/migrations.ts';
import { createWriteOps } from '../../src/store/sqlite/writes.ts';
import type { WriteOps } from '../../src/store/sqlite/writes.ts';

const folders = new Map<DatabaseSync, string>();

/**
 * The SQLite store's write operations run in the test's own thread, on a fresh file with these
 * destinations (what `npm run mutate` can reach: it cannot switch mutants on in the writer thread).
 */
export function openInThread(destinations: readonly string[]): { db: DatabaseSync; ops: WriteOps } {
  const dir = mkdtempSync(join(tmpdir(), 'hookrelay-ops-'));
  const db = openWriter(join(dir, 'store.db'));
  migrate(db);
  const ops = createWriteOps(db);
  ops.syncDestinations([...destinations]);
  folders.set(db, dir);
  return { db, ops };
}

/** Closes a file opened by openInThread and removes its folder. */
export function closeInThread(db: DatabaseSync): void {
  db.close();
  rmSync(folders.get(db)!, { recursive: true, force: true });
  folders.delete(db);
}
