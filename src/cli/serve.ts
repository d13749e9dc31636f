import { findConfigFile, inspectConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../observability/logger.ts';
import { startServer } from '../server.ts';
import { CONFIG_OPTION, defineCommand, UsageError } from './command.ts';

export const serveCommand = defineCommand({
  name: 'serve',
  summary: 'receive webhooks and deliver them (the server; `npm start`)',
  synopsis: '[--config FILE] [--port 3000]',
  options: {
    config: CONFIG_OPTION,
    port: { type: 'string', short: 'p', value: 'PORT', description: 'the port to listen on (default: $PORT, else 3000)' },
  },
  async run({ values }) {
    const port = Number(values.port ?? process.env.PORT ?? 3000);
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new UsageError(`--port/PORT must be a port number, not "${values.port ?? process.env.PORT}"`);
    }
    const file = findConfigFile(values.config, process.env);
    const inspection = inspectConfig({ file, env: process.env });
    if (inspection.loaded === null) throw new ConfigError(inspection.problems);
    const loaded = inspection.loaded;
    const logger = createLogger();
    let server;
    try {
      server = await startServer({ config: loaded.config, baseDir: loaded.baseDir, port, logger });
    } catch (error) {
      // Problems found while building (templates, destination addresses), said as the user wrote them.
      if (error instanceof ConfigError) throw new ConfigError(error.problems.map(inspection.inUserTerms));
      throw error;
    }
    if (!file) logger.info('zero-config mode: relaying every source whose secret is set to SLACK_WEBHOOK_URL');
    await new Promise<void>((resolve) => {
      const shutdown = (signal: string): void => {
        logger.info({ signal }, 'shutting down: finishing deliveries in flight');
        server.close().then(resolve, (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          resolve();
        });
      };
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    });
    return 0;
  },
});
