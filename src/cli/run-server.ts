import { flushCompileCache } from 'node:module';
import type { Logger } from 'pino';
import { findConfigFile, inspectConfig } from '../config/load.ts';
import { zeroConfigChats } from '../config/zero-config.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../observability/logger.ts';
import { startServer } from '../server.ts';
import type { RunningServer, ServerOptions } from '../server.ts';
import { realTime } from '../util/clock.ts';

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
    process.off('SIGTERM', remember);
    process.off('SIGINT', remember);
    // Problems found while building (templates, destination addresses), said as the user wrote them.
    if (error instanceof ConfigError) throw new ConfigError(error.problems.map(inspection.inUserTerms));
    throw error;
  }
  // The compile cache (bin/hookrelay.js) is otherwise written at exit: written now, a server that is
  // later killed (SIGKILL, out of memory) still leaves the next start without TypeScript to strip.
  flushCompileCache();
  if (!file) {
    logger.info(`zero-config mode: relaying every source whose secret is set to ${zeroConfigChats(process.env).map((chat) => chat.variable).join(' and ')}`);
  }
  await untilSignal(server, logger, early, remember);
  return 0;
}

/**
 * Graceful shutdown on the first SIGTERM or SIGINT (stop accepting, finish or give back the
 * deliveries in flight, close the store); a second signal exits at once. `starting` listened while
 * the server started; it is let go only once these listen.
 */
function untilSignal(server: RunningServer, logger: Logger, early: NodeJS.Signals | null, starting: (signal: NodeJS.Signals) => void): Promise<void> {
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
    } else {
      process.once('SIGTERM', shutdown);
      process.once('SIGINT', shutdown);
    }
    // Not before: for as long as no listener is there, a SIGTERM ends the process at once (its
    // default action), and a server that logged "listening" and sent its first requests would die
    // with them in flight (test/integration/replicas-shutdown.test.ts, a loaded machine).
    process.off('SIGTERM', starting);
    process.off('SIGINT', starting);
  });
}
