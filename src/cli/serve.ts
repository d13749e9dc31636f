import { flushCompileCache } from 'node:module';
import type { Logger } from 'pino';
import { findConfigFile, inspectConfig } from '../config/load.ts';
import { zeroConfigChats } from '../config/zero-config.ts';
import { ConfigError } from '../errors.ts';
import { parseListenHost } from '../http/listen-address.ts';
import { createLogger } from '../observability/logger.ts';
import { startServer } from '../server.ts';
import type { RunningServer, ServerOptions } from '../server.ts';
import { CONFIG_OPTION, defineCommand, UsageError } from './command.ts';
import type { OptionSpec } from './command.ts';
import { realTime } from '../util/clock.ts';

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
    return runServer({ config: values.config, port, host: host?.host, migrate: values['no-migrate'] !== true, dispatchOnly: false });
  },
});

/** Starts the server (or the dispatcher alone) from the config and runs it until SIGTERM / SIGINT. */
export async function runServer(options: {
  config: string | undefined;
  port: number;
  host?: string | undefined;
  migrate: boolean;
  dispatchOnly: boolean;
}): Promise<number> {
  const file = findConfigFile(options.config, process.env);
  const inspection = inspectConfig({ file, env: process.env });
  if (inspection.loaded === null) throw new ConfigError(inspection.problems);
  const loaded = inspection.loaded;
  const logger = createLogger();
  const serverOptions: ServerOptions = {
    config: loaded.config,
    baseDir: loaded.baseDir,
    port: options.port,
    ...(options.host === undefined ? {} : { host: options.host }),
    logger,
    migrate: options.migrate,
    dispatchOnly: options.dispatchOnly,
  };
  // A signal while starting (a supervisor stopping a start that is slow: PostgreSQL answering
  // late, a big file checked) is kept and honoured once the server is up, gracefully; without this
  // the default action would end the process at once, between listening and being able to stop.
  // A second signal while starting exits at once.
  let early: NodeJS.Signals | null = null;
  const remember = (signal: NodeJS.Signals): void => {
    if (early !== null) process.exit(1);
    early = signal;
    logger.info({ signal }, 'stop asked while starting: stopping as soon as started (a second signal exits at once)');
  };
  process.on('SIGTERM', remember);
  process.on('SIGINT', remember);
  let server;
  try {
    server = await startServer(serverOptions);
  } catch (error) {
    // Problems found while building (templates, destination addresses), said as the user wrote them.
    if (error instanceof ConfigError) throw new ConfigError(error.problems.map(inspection.inUserTerms));
    throw error;
  } finally {
    process.off('SIGTERM', remember);
    process.off('SIGINT', remember);
  }
  // The compile cache (bin/hookrelay.js) is otherwise written at exit: written now, a server that is
  // later killed (SIGKILL, out of memory) still leaves the next start without TypeScript to strip.
  flushCompileCache();
  if (!file) {
    logger.info(`zero-config mode: relaying every source whose secret is set to ${zeroConfigChats(process.env).map((chat) => chat.variable).join(' and ')}`);
  }
  await untilSignal(server, logger, early);
  return 0;
}

/**
 * Graceful shutdown on the first SIGTERM or SIGINT (stop accepting, finish or give back the
 * deliveries in flight, close the store); a second signal exits at once.
 */
function untilSignal(server: RunningServer, logger: Logger, early: NodeJS.Signals | null): Promise<void> {
  return new Promise<void>((resolve) => {
    const shutdown = (signal: string): void => {
      logger.info({ signal }, 'shutting down: finishing deliveries in flight (a second signal exits at once)');
      const again = (): void => {
        logger.warn('second signal: exiting now');
        process.exit(1);
      };
      process.once('SIGTERM', again);
      process.once('SIGINT', again);
      const elapsed = realTime.stopwatch();
      void server
        .close()
        .then(
          () => true,
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed');
            return false;
          },
        )
        .then((clean) => {
          // The last line: whoever reads the log knows the process ended on purpose, and how long it took.
          logger.info({ signal, shutdown_ms: Math.round(elapsed()), clean }, 'stopped');
          resolve();
        });
    };
    if (early !== null) {
      shutdown(early);
      return;
    }
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
  });
}
