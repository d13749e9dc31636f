import { parseListenHost } from '../http/listen-address.ts';
import { CONFIG_OPTION, defineCommand, UsageError } from './command.ts';
import type { OptionSpec } from './command.ts';

/** `--no-migrate`, for `serve` and `work`: the schema is brought up to date elsewhere (`hookrelay migrate`, the release phase). */
export const NO_MIGRATE_OPTION = {
  type: 'boolean',
  description: 'do not bring a PostgreSQL schema up to date at start (run "hookrelay migrate" first)',
} as const satisfies OptionSpec;

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'receive webhooks and deliver them (the server; `npm start`)',
  synopsis: '[--config FILE] [--host 0.0.0.0] [--port 3000] [--no-migrate]',
  options: {
    config: CONFIG_OPTION,
    host: {
      type: 'string',
      value: 'ADDRESS',
      description: 'the address to listen on (default: $HOST, else 0.0.0.0 = every IPv4 interface; 127.0.0.1 = this machine only; :: = every interface)',
    },
    port: { type: 'string', short: 'p', value: 'PORT', description: 'the port to listen on (default: $PORT, else 3000)' },
    'no-migrate': NO_MIGRATE_OPTION,
  },
  async run({ values }) {
    const port = Number(values.port ?? process.env.PORT ?? 3000);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new UsageError(`--port/PORT must be a port number, not "${values.port ?? process.env.PORT}"`);
    }
    // An empty HOST (`HOST=` in an env file) is no HOST.
    const hostText = values.host ?? (process.env.HOST || undefined);
    const host = hostText === undefined ? undefined : parseListenHost(hostText);
    if (host && 'problem' in host) throw new UsageError(`--host/HOST: ${host.problem}`);
    const { runServer } = await import('./run-server.ts');
    return runServer({ config: values.config, port, host: host?.host, migrate: values['no-migrate'] !== true, dispatchOnly: false });
  },
});
