import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import type { Config } from './config/schema.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import { adminApi } from './http/admin-api.ts';
import { createHttpApp } from './http/app.ts';
import { mutesApi } from './http/mutes-api.ts';
import { Ingestor } from './ingest/ingestor.ts';
import { MuteRegistry } from './mutes/mute-registry.ts';
import { Operations } from './slack/operations.ts';
import { slackEventsRouter } from './slack/slack-app.ts';
import { Metrics } from './observability/metrics.ts';
import { buildComponents } from './runtime.ts';
import type { Components } from './runtime.ts';
import { SqliteStore } from './store/sqlite/sqlite-store.ts';
import type { Store } from './store/store.ts';
import { VERSION } from './version.ts';

export interface ServerOptions {
  readonly config: Config;
  /** Where the config file lives (relative template folders). */
  readonly baseDir: string;
  readonly port: number;
  readonly host?: string;
  readonly logger: Logger;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  readonly dispatcher: Dispatcher;
  readonly components: Components;
  /** Graceful: stop accepting, finish or give back deliveries, close the store. */
  close(): Promise<void>;
}

/** The delivery log keeps at least this many finished deliveries per destination (DESIGN.md). */
const KEEP_FINISHED_PER_DESTINATION = 200;
/** Sender event ids are remembered this long, for duplicate detection (senders retry for ~31 h). */
const KEEP_EVENTS_MS = 7 * 24 * 3_600_000;
const PRUNE_EVERY_MS = 60_000;
/** How long shutdown waits for requests in progress (an ingest waiting for its commit). */
const SHUTDOWN_GRACE_MS = 10_000;

export async function openStore(url: string): Promise<Store> {
  if (url.startsWith('sqlite:')) return SqliteStore.open(resolve(url.slice('sqlite:'.length)));
  throw new Error(`unsupported store "${url}"`);
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, logger } = options;
  // Built (and checked) before the store is opened: a bad config creates no data folder.
  let opened: Store | null = null;
  const components = await buildComponents(config, {
    baseDir: options.baseDir,
    logger,
    store: () => {
      if (!opened) throw new Error('the store is not open yet');
      return opened;
    },
  });
  for (const warning of components.warnings) logger.warn(warning);

  // Whatever fails from here on must not leave the store's writer thread (or sockets) keeping
  // the process alive: each step registers how to undo it.
  const cleanup: Array<() => unknown> = [() => components.close()];
  try {
    const store = await openStore(config.store);
    opened = store;
    cleanup.push(() => store.close());
    return await wireAndListen(options, components, store, cleanup);
  } catch (error) {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
    throw error;
  }
}

/** Everything after the store is open: the dispatcher, mutes, the HTTP app, and listening. */
async function wireAndListen(
  options: ServerOptions,
  components: Components,
  store: Store,
  cleanup: Array<() => unknown>,
): Promise<RunningServer> {
  const { config, logger } = options;
  await store.syncDestinations(components.destinations.map((destination) => destination.name));
  if (store.recoveredLeases) {
    logger.warn({ deliveries: store.recoveredLeases }, 'deliveries that were in flight when hookrelay last stopped will be attempted again');
  }
  const metrics = new Metrics();
  const dispatcher = new Dispatcher({
    store,
    destinations: components.destinations,
    retry: config.retry,
    logger,
    metrics,
    version: VERSION,
  });
  const mutes = new MuteRegistry(store, logger);
  await mutes.start();
  cleanup.push(() => mutes.stop());
  const operations = new Operations({ store, mutes, dispatcher, destinations: components.destinations, version: VERSION, logger });
  const ingestor = new Ingestor({
    sources: components.sources,
    router: components.router,
    mutes,
    store,
    metrics,
    logger,
    scheduler: dispatcher,
  });
  const app = createHttpApp({
    ingestor,
    store,
    metrics,
    logger,
    version: VERSION,
    mounts: [
      [
        '/api/v1',
        adminApi({
          token: config.admin?.token ?? null,
          store,
          dispatcher,
          destinations: components.destinations,
          version: VERSION,
          mounts: [['/mutes', mutesApi({ mutes, store })]],
        }),
      ],
      ...(config.slack_app
        ? [['/', slackEventsRouter({ config: config.slack_app, operations, logger, fetch: components.http.fetch })] as const]
        : []),
    ],
  });

  const server: Server = app.listen(options.port, options.host ?? '0.0.0.0');
  cleanup.push(() => new Promise((done) => server.close(done)));
  await once(server, 'listening');
  server.keepAliveTimeout = 65_000;
  const { port } = server.address() as AddressInfo;
  cleanup.push(() => dispatcher.stop(1_000));
  await dispatcher.start();

  // Requests in progress, so shutdown lets an ingest finish its commit and answer its 202.
  let active = 0;
  let drained: (() => void) | null = null;
  server.on('request', (_request, response) => {
    active += 1;
    response.once('close', () => {
      active -= 1;
      if (active === 0) drained?.();
    });
  });

  const prune = setInterval(() => {
    store
      .prune({ keep_per_destination: KEEP_FINISHED_PER_DESTINATION, keep_events_ms: KEEP_EVENTS_MS, now: Date.now() })
      .catch((error: unknown) => logger.warn({ err: error }, 'pruning the delivery log failed'));
  }, PRUNE_EVERY_MS);
  prune.unref();

  logger.info(
    {
      port,
      store: store.kind,
      sources: components.sources.map((source) => `${source.name} (${source.preset}) → POST /hooks/${source.name}`),
      destinations: components.destinations.map((destination) => `${destination.name} (${destination.type})`),
      admin_api: config.admin ? 'on' : 'off (set admin.token or HOOKRELAY_ADMIN_TOKEN)',
      slack_app: config.slack_app ? 'on: POST /slack/events' : 'off (set slack_app.signing_secret or SLACK_SIGNING_SECRET)',
    },
    `hookrelay ${VERSION} listening`,
  );

  let closing: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    store,
    dispatcher,
    components,
    close() {
      closing ??= (async () => {
        clearInterval(prune);
        mutes.stop();
        const stopped = new Promise<void>((done) => server.close(() => done()));
        server.closeIdleConnections();
        if (active > 0) {
          await Promise.race([
            new Promise<void>((done) => (drained = done)),
            new Promise((done) => setTimeout(done, SHUTDOWN_GRACE_MS).unref()),
          ]);
        }
        await dispatcher.stop();
        server.closeAllConnections();
        await stopped;
        await store.close();
        await components.close();
      })();
      return closing;
    },
  };
}
