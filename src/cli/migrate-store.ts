import { join } from 'node:path';
import { findConfigFile, inspectConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { redact } from '../store/postgres/url.ts';
import { CommandFailed, UsageError } from './command.ts';

/** `hookrelay migrate`: the store's schema brought up to date, saying from which version to which. */
export async function runMigrate(explicit: string | undefined): Promise<number> {
  const url = storeUrl(explicit);
  // The store's module (and driver) is loaded for the store named, never both.
  if (url.startsWith('sqlite:')) {
    const { SqliteStore } = await import('../store/sqlite/sqlite-store.ts');
    // Opening the SQLite store migrates it (and checks no other process holds it).
    const store = await SqliteStore.open(url.slice('sqlite:'.length));
    await store.close();
    console.log(`SQLite store ${url.slice('sqlite:'.length)}: schema up to date`);
    return 0;
  }
  const [{ createPool }, { MIGRATIONS, migrate }] = await Promise.all([
    import('../store/postgres/connection.ts'),
    import('../store/postgres/migrations.ts'),
  ]);
  const pool = createPool(url, { max: 1 });
  try {
    const { from, to } = await migrate(pool);
    console.log(
      from === to
        ? `PostgreSQL store ${redact(url)}: schema up to date (version ${to})`
        : `PostgreSQL store ${redact(url)}: schema migrated from version ${from} to ${to} (of ${MIGRATIONS.length})`,
    );
    return 0;
  } catch (error) {
    throw new CommandFailed(`could not migrate the PostgreSQL store ${redact(url)}: ${(error as Error).message}`);
  } finally {
    await pool.end().catch(() => undefined);
  }
}

/** The store to migrate: the config file's (checked whole), or without one DATABASE_URL, else the default SQLite file. */
function storeUrl(config: string | undefined): string {
  const file = findConfigFile(config, process.env);
  if (file) {
    const inspection = inspectConfig({ file, env: process.env });
    if (inspection.loaded === null) throw new ConfigError(inspection.problems);
    return inspection.loaded.config.store;
  }
  const url = process.env.DATABASE_URL || `sqlite:${join(process.env.HOOKRELAY_DATA_DIR ?? './data', 'hookrelay.db')}`;
  if (!url.startsWith('sqlite:') && !/^postgres(ql)?:\/\//.test(url)) {
    throw new UsageError(`DATABASE_URL: "${redact(url)}" is not a PostgreSQL URL (postgres://user:password@host:5432/database)`);
  }
  return url;
}
