import { findConfigFile, inspectConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { createPool } from '../store/postgres/connection.ts';
import { MIGRATIONS, migrate } from '../store/postgres/migrations.ts';
import { redact } from '../store/postgres/postgres-store.ts';
import { SqliteStore } from '../store/sqlite/sqlite-store.ts';
import { CONFIG_OPTION, CommandFailed, defineCommand } from './command.ts';

export const migrateCommand = defineCommand({
  name: 'migrate',
  summary: "bring the store's schema up to date (the release phase; serve and work also do it at start)",
  synopsis: '[--config FILE]',
  details: [
    'Applies the schema versions the store does not have yet, in one transaction, and says which.',
    'PostgreSQL: under an advisory lock, so replicas starting together never migrate twice; a failed',
    'migration changes nothing. SQLite: the file is created or upgraded (stop the server first).',
    'The store is store: in the config, else DATABASE_URL, else the SQLite file in ./data.',
  ].join('\n'),
  options: { config: CONFIG_OPTION },
  async run({ values }) {
    const file = findConfigFile(values.config, process.env);
    const inspection = inspectConfig({ file, env: process.env });
    if (inspection.loaded === null) throw new ConfigError(inspection.problems);
    const url = inspection.loaded.config.store;
    if (url.startsWith('sqlite:')) {
      // Opening the SQLite store migrates it (and checks no other process holds it).
      const store = await SqliteStore.open(url.slice('sqlite:'.length));
      await store.close();
      console.log(`SQLite store ${url.slice('sqlite:'.length)}: schema up to date`);
      return 0;
    }
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
  },
});
