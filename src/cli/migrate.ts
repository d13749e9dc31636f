import { CONFIG_OPTION, defineCommand } from './command.ts';

export const migrateCommand = defineCommand({
  name: 'migrate',
  summary: "bring the store's schema up to date (the release phase; serve and work also do it at start)",
  synopsis: '[--config FILE]',
  details: [
    'Applies the schema versions the store does not have yet, in one transaction, and says which.',
    'PostgreSQL: under an advisory lock, so replicas starting together never migrate twice; a failed',
    'migration changes nothing. SQLite: the file is created or upgraded (stop the server first).',
    'The store is store: in the config file, else DATABASE_URL, else the SQLite file in $HOOKRELAY_DATA_DIR',
    '(./data). Without a config file nothing else is needed: the release phase has no senders\' secrets.',
  ].join('\n'),
  options: { config: CONFIG_OPTION },
  async run({ values }) {
    const { runMigrate } = await import('./migrate-store.ts');
    return runMigrate(values.config);
  },
});
