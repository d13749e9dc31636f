import { CONFIG_OPTION, defineCommand } from './command.ts';
import { NO_MIGRATE_OPTION } from './serve.ts';

export const workCommand = defineCommand({
  name: 'work',
  summary: 'deliver stored work only, without the HTTP server (a worker replica on PostgreSQL)',
  synopsis: '[--config FILE] [--no-migrate]',
  details: [
    'Claims due deliveries from the store and sends them, like "serve" does, but answers no HTTP.',
    'With a PostgreSQL store (store: postgres://… or DATABASE_URL) any number of "serve" and "work"',
    'processes share the work; with the embedded SQLite store, one process owns the data folder.',
    'SIGTERM finishes or gives back the deliveries in flight (within 10 s) and exits 0.',
  ].join('\n'),
  options: {
    config: CONFIG_OPTION,
    'no-migrate': NO_MIGRATE_OPTION,
  },
  async run({ values }) {
    const { runServer } = await import('./run-server.ts');
    return runServer({ config: values.config, port: 0, migrate: values['no-migrate'] !== true, dispatchOnly: true });
  },
});
