import { once } from 'node:events';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { createServer } from 'node:http';
import type { RequestListener, Server } from 'node:http';
import type { Logger } from 'pino';
import type { ByteSize } from './util/byte-size.ts';
import type { Config } from './config/schema.ts';
import { adminPages } from './admin/index.ts';
import { Dispatcher } from './dispatch/dispatcher.ts';
import type { BreakerChange } from './notify/breaker.ts';
import { breakerNotice } from './app/breaker-notice.ts';
import { compileInhibitRules } from './notify/inhibit.ts';
import { IntervalEnds, releaseHold } from './app/interval-ends.ts';
import { intervalHolds, runTimeMuteMarker } from './notify/interval-ends.ts';
import { configMute } from './mutes/config-mutes.ts';
import { TimeIntervals } from './notify/time-intervals.ts';
import { NotificationStage } from './notify/pipeline.ts';
import { every, realTime, systemClock } from './util/clock.ts';
import type { Clock } from './util/clock.ts';
import { adminApi } from './http/admin-api.ts';
import { AdminThrottle } from './http/admin-throttle.ts';
import { capConnectionsPerAddress, openFileLimit } from './http/connection-cap.ts';
import { DEFAULT_LISTEN_HOST, describeListener, selfUrl } from './http/listen-address.ts';
import { createHttpApp } from './http/app.ts';
import { mutesApi } from './http/mutes-api.ts';
import { Ingestor } from './ingest/ingestor.ts';
import { pagerDutyEchoes } from './app/pagerduty-echo.ts';
import type { PagerDutyEchoes } from './app/pagerduty-echo.ts';
import { MuteRegistry } from './mutes/mute-registry.ts';
import { Operations } from './app/index.ts';
import { SharedSeenSignatures } from './slack/verify-slack-request.ts';
import { Metrics } from './observability/metrics.ts';
import { RequestRecorder } from './observability/request-log.ts';
import { buildComponents } from './runtime.ts';
import type { Components } from './runtime.ts';
import type { PostgresRateLimit } from './store/postgres/rate-limit.ts';
import type { Store } from './store/store.ts';
import { VERSION } from './version.ts';

/** Slack's replay memory in the store when replicas share it; undefined: this process's own. */
function sharedReplays(store: Store): SharedSeenSignatures | undefined {
  const admitOnce = store.admitOnce?.bind(store);
  return admitOnce ? new SharedSeenSignatures((signature, expiresAt, now) => admitOnce('slack', signature, expiresAt, now)) : undefined;
}

export interface ServerOptions {
  readonly config: Config;
  /** Where the config file lives (relative template folders). */
  readonly baseDir: string;
  readonly port: number;
  /** The address (or host name) to listen on; default every IPv4 interface (DEFAULT_LISTEN_HOST). */
  readonly host?: string;
  readonly logger: Logger;
  /** Bring a PostgreSQL schema up to date at start (default); false: `hookrelay migrate` did it. */
  readonly migrate?: boolean;
  /** `hookrelay work`: dispatch only, no HTTP server (port and host are then unused). */
  readonly dispatchOnly?: boolean;
  /**
   * The one clock every part reads and schedules by (src/util/clock.ts): ingest times, due times,
   * mutes, repeats, rates, pruning, sessions. The system clock by default; tests drive one.
   */
  readonly clock?: Clock;
  /** Tests: what every part uses in place of the opened store (faults injected at a chosen write, a stop between two). */
  readonly wrapStore?: (store: Store) => Store;
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
/** Senders that re-send an alert's whole state on every notification: unchanged repeats are suppressed by default. */
const STATE_RESENDING_PRESETS = new Set(['alertmanager', 'grafana']);
/** The requests log (admin Requests page) keeps the last 24 h, and at most this many lines. */
const KEEP_REQUESTS_MS = 24 * 3_600_000;
const KEEP_REQUESTS = 10_000;
/** How long shutdown waits for requests in progress (an ingest waiting for its commit): real time, a wait on sockets. */
const SHUTDOWN_GRACE_MS = 10_000;

/** Open files a server needs besides its inbound connections: the store, logs, outbound deliveries (destination concurrency, PostgreSQL pools). */
const FILES_BESIDES_CONNECTIONS = 256;

/** Why `listen` failed, said for the person who chose the host and port. */
const LISTEN_ERRORS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is in use (another hookrelay, or another server)',
  EADDRNOTAVAIL: 'not an address of this machine',
  EACCES: 'not allowed (ports below 1024 need privileges)',
  ENOTFOUND: 'no such host name',
  EAI_AGAIN: 'the host name could not be resolved',
};

/**
 * The HTTP server with the `http:` limits. Node checks the header and request deadlines on a
 * timer (every 30 s by default), which would let a slow client outstay a 10 s deadline by
 * half a minute, so the timer runs at a quarter of the header deadline (at most every second).
 * Each client gets at most `max_connections_per_address` of the `max_connections` (connection-cap.ts).
 */
export function createWebhookServer(app: RequestListener, limits: Config['http'], observe: { readonly logger: Logger; readonly clock: Clock }): Server {
  const server = createServer(
    {
      requestTimeout: limits.request_timeout,
      headersTimeout: limits.headers_timeout,
      keepAliveTimeout: limits.keep_alive_timeout,
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(limits.headers_timeout / 4))),
    },
    app,
  );
  // Connections beyond this are closed as soon as they are accepted (Node's `drop` event).
  server.maxConnections = limits.max_connections;
  capConnectionsPerAddress(server, { perAddress: limits.max_connections_per_address, logger: observe.logger, clock: observe.clock });
  return server;
}

/**
 * Each store's module (and its driver: pg, rate-limiter-flexible) is loaded only when the config
 * names that store: a process pays the memory of the one it runs on.
 */
export async function openStore(
  url: string,
  options: { readonly migrate?: boolean; readonly minFree?: ByteSize | null; readonly clock?: Clock; readonly logger?: Logger } = {},
): Promise<Store> {
  const clock = options.clock ?? systemClock;
  if (url.startsWith('sqlite:')) {
    const { SqliteStore } = await import('./store/sqlite/sqlite-store.ts');
    return SqliteStore.open(resolve(url.slice('sqlite:'.length)), {
      minFree: options.minFree ?? null,
      clock,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const { PostgresStore } = await import('./store/postgres/postgres-store.ts');
    return PostgresStore.open(url, { migrate: options.migrate !== false, clock });
  }
  throw new Error(`unsupported store "${url}"`);
}

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const { config, logger } = options;
  // The one clock, passed to every part from here (tests give a ManualClock).
  const clock = options.clock ?? systemClock;
  // Built (and checked) before the store is opened: a bad config creates no data folder.
  let opened: Store | null = null;
  const components = await buildComponents(config, {
    baseDir: options.baseDir,
    logger,
    clock,
    store: () => {
      if (!opened) throw new Error('the store is not open yet');
      return opened;
    },
  });
  for (const warning of components.warnings) logger.warn(warning);
  if (config.egress.allow_private) {
    logger.warn(
      'egress.allow_private is on (HOOKRELAY_ALLOW_PRIVATE): the egress guard is off, so destinations, redirects and Slack calls may reach loopback, private and link-local addresses (cloud metadata at 169.254.169.254 included)',
    );
  }

  // Whatever fails from here on must not leave the store's writer thread (or sockets) keeping
  // the process alive: each step registers how to undo it.
  const cleanup: Array<() => unknown> = [() => components.close()];
  try {
    const bare = await openStore(config.store, { migrate: options.migrate, minFree: config.store_min_free, clock, logger });
    const store = options.wrapStore ? options.wrapStore(bare) : bare;
    opened = store;
    cleanup.push(() => store.close());
    return await wireAndListen({ ...options, clock }, components, store, cleanup);
  } catch (error) {
    for (const step of cleanup.reverse()) await Promise.resolve(step()).catch(() => undefined);
    throw error;
  }
}

/** Everything after the store is open: the dispatcher, mutes, the HTTP app, and listening. */
async function wireAndListen(
  options: ServerOptions & { readonly clock: Clock },
  components: Components,
  store: Store,
  cleanup: Array<() => unknown>,
): Promise<RunningServer> {
  const { config, logger, clock } = options;
  const now = (): number => clock.now();
  await store.syncDestinations(components.destinations.map((destination) => destination.name));
  if (store.recoveredLeases) {
    logger.warn({ deliveries: store.recoveredLeases }, 'deliveries that were in flight when hookrelay last stopped will be attempted again');
  }
  const intervals = new TimeIntervals(config.time_intervals);
  const configMutes = config.mutes.map((entry) => configMute(entry, clock.now()));
  const mutes = new MuteRegistry(store, logger, clock, { mutes: configMutes, intervals });
  await mutes.start();
  cleanup.push(() => mutes.stop());
  const presets = new Map(components.sources.map((source) => [source.name, source.preset]));
  const stage = new NotificationStage({
    store,
    mutes,
    routes: (name) => components.router.rules(name),
    resendsState: (source) => STATE_RESENDING_PRESETS.has(presets.get(source) ?? ''),
    inhibit: compileInhibitRules(config.inhibit),
    intervals,
    clock,
  });
  // Set once the dispatcher exists (the notice tells it of the work it stores).
  let announce: ((change: BreakerChange) => void) | null = null;
  const metrics = new Metrics({ queues: () => store.view('queue'), destinations: components.destinations.map((destination) => destination.name), now });
  store.observeCommits?.((operations) => metrics.commitBatchSize.observe(operations));
  const requestLog = new RequestRecorder({ store, metrics, logger, clock });
  // Replicas on one PostgreSQL share each destination's rate budget (three replicas, one Slack rate).
  const sharedRateLimit = store.kind === 'postgres' ? (await import('./store/postgres/rate-limit.ts')).PostgresRateLimit.open(config.store) : undefined;
  if (sharedRateLimit) cleanup.push(() => sharedRateLimit.close());
  const dispatcher = new Dispatcher({
    store,
    destinations: components.destinations,
    retry: config.retry,
    logger,
    metrics,
    version: VERSION,
    stage,
    onBreakerChange: (change) => announce?.(change),
    clock,
    ...(sharedRateLimit ? { sharedRateLimit } : {}),
  });
  announce = breakerNotice({
    store,
    destinations: components.destinations,
    logger,
    notify: (names) => dispatcher.notify(names),
    now,
  });
  // A muting interval's end tells what it held that still fires (routes' muted_during / active_during, config mutes' during).
  const schedules = components.router.schedules();
  const intervalEnds = new IntervalEnds({ holds: intervalHolds(schedules, configMutes, intervals), store, clock, notify: (names) => dispatcher.notify(names), logger });
  intervalEnds.start();
  cleanup.push(() => intervalEnds.stop());
  // So does a run-time mute's end (expired, or ended from Slack, the API or the CLI).
  await mutes.onEnded(async (ids) => {
    for (const id of ids) await releaseHold(runTimeMuteMarker(id), { store, notify: (names) => dispatcher.notify(names), logger, now: clock.now() });
  });
  // Work committed by other replicas (shared stores) wakes this one's lanes at once.
  store.onWork?.((names) => dispatcher.notify(names));
  // PagerDuty's webhooks about incidents hookrelay paged update their Slack cards instead of being routed.
  const echoes = pagerDutyEchoes({ store, destinations: components.destinations, notify: (names) => dispatcher.notify(names), logger, now });
  if (options.dispatchOnly) return startDispatchOnly({ options, components, store, dispatcher, mutes, requestLog, sharedRateLimit, echoes });
  // Bolt (and the Web API client it brings) only when the Slack app is configured.
  const slackEvents = config.slack_app ? (await import('./slack/slack-app.ts')).slackEventsRouter : null;
  const operations = new Operations({ store, mutes, dispatcher, destinations: components.destinations, version: VERSION, logger, now });
  const ingestor = new Ingestor({
    sources: components.sources,
    router: components.router,
    mutes,
    store,
    metrics,
    logger,
    scheduler: dispatcher,
    trackIncidents: config.inhibit.length > 0,
    echoes,
    requestLog,
    now,
  });
  // One count of wrong admin tokens per address for the API and the sign-in form together.
  const adminThrottle = config.admin ? new AdminThrottle({ logger, clock }) : undefined;
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
          operations,
          mounts: [['/mutes', mutesApi({ operations, now })]],
          throttle: adminThrottle,
          now,
        }),
      ],
      [
        '/admin',
        adminPages({
          token: config.admin?.token ?? null,
          publicUrl: config.admin?.public_url ?? null,
          config,
          operations,
          logger,
          throttle: adminThrottle,
          now,
        }),
      ],
      ...(config.slack_app && slackEvents
        ? [['/', slackEvents({ config: config.slack_app, operations, logger, fetch: components.http.fetch, replays: sharedReplays(store), now })] as const]
        : []),
    ],
  });

  const files = openFileLimit();
  if (files !== null && files < config.http.max_connections + FILES_BESIDES_CONNECTIONS) {
    logger.warn(
      { open_file_limit: files, max_connections: config.http.max_connections },
      `the open-file limit (ulimit -n) is ${files}, too low for http.max_connections (${config.http.max_connections}): connections and deliveries would fail with EMFILE before the cap is reached; ` +
        `raise it to ${config.http.max_connections + FILES_BESIDES_CONNECTIONS} or more (systemd LimitNOFILE=, docker --ulimit nofile=) or lower http.max_connections`,
    );
  }
  const server = createWebhookServer(app, config.http, { logger, clock });
  const host = options.host ?? DEFAULT_LISTEN_HOST;
  server.listen(options.port, host);
  cleanup.push(() => new Promise((done) => server.close(done)));
  await once(server, 'listening').catch((error: NodeJS.ErrnoException) => {
    const reason = error.code !== undefined && LISTEN_ERRORS[error.code] ? `${LISTEN_ERRORS[error.code]} (${error.code})` : error.message;
    throw new Error(`cannot listen on ${host} port ${options.port}: ${reason}`, { cause: error });
  });
  const bound = server.address() as AddressInfo;
  const { port } = bound;
  cleanup.push(() => dispatcher.stop(1_000));
  await dispatcher.start();
  await recoverEchoes(echoes, logger);

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

  const stopPruning = every(clock, PRUNE_EVERY_MS, () => {
    store
      .prune('deliveries', { keep_per_destination: KEEP_FINISHED_PER_DESTINATION, keep_events_ms: KEEP_EVENTS_MS, now: clock.now() })
      .catch((error: unknown) => logger.warn({ err: error }, 'pruning the delivery log failed'));
    store
      .prune('requests', { keep: KEEP_REQUESTS, before: clock.now() - KEEP_REQUESTS_MS })
      .catch((error: unknown) => logger.warn({ err: error }, 'pruning the requests log failed'));
    void recoverEchoes(echoes, logger, clock.now() - PRUNE_EVERY_MS);
  });

  // The address as bound (not as asked: a host name, port 0), so the banner never says less than is exposed.
  const listener = describeListener(bound);
  logger.info(
    { url: listener.url, listening: listener.detail, pid: process.pid, ...startupBanner({ config, components, url: listener.url, store: config.store }) },
    `hookrelay ${VERSION} listening on ${listener.url} (${listener.scope})`,
  );

  let closing: Promise<void> | null = null;
  return {
    url: selfUrl(bound),
    port,
    store,
    dispatcher,
    components,
    close() {
      closing ??= (async () => {
        stopPruning();
        mutes.stop();
        const stopped = new Promise<void>((done) => server.close(() => done()));
        server.closeIdleConnections();
        // One grace for both: requests in progress finish their commit and answer while the
        // dispatcher finishes (or gives back) its sends; a delivery committed meanwhile under a
        // lease is given back by its stopped lane.
        const requestsDone =
          active > 0
            ? Promise.race([new Promise<void>((done) => (drained = done)), new Promise<void>((done) => realTime.after(SHUTDOWN_GRACE_MS, done, { unref: true }))])
            : Promise.resolve();
        await Promise.all([requestsDone, dispatcher.stop(SHUTDOWN_GRACE_MS)]);
        server.closeAllConnections();
        await stopped;
        await requestLog.flush();
        await sharedRateLimit?.close();
        await store.close();
        await components.close();
      })();
      return closing;
    },
  };
}

/**
 * PagerDuty echoes accepted (202) but not applied — their process stopped first, or their apply
 * failed — applied now, once (a 202 is a promise): all of them at start-up, and on each pruning
 * round those older than a round (younger ones may be being applied by their own request). A
 * failure is logged and leaves them pending.
 */
async function recoverEchoes(echoes: PagerDutyEchoes, logger: Logger, receivedBefore?: number): Promise<void> {
  try {
    const recovered = await echoes.recover(receivedBefore);
    if (recovered > 0) logger.warn({ echoes: recovered }, 'PagerDuty reports accepted but not yet applied were applied to their Slack messages now');
  } catch (error) {
    logger.error({ err: error }, 'could not apply PagerDuty reports accepted but not yet applied (they stay pending)');
  }
}

/** `hookrelay work`: the dispatcher (and pruning) without the HTTP server. */
async function startDispatchOnly(parts: {
  options: ServerOptions & { readonly clock: Clock };
  components: Components;
  store: Store;
  dispatcher: Dispatcher;
  mutes: MuteRegistry;
  requestLog: RequestRecorder;
  sharedRateLimit: PostgresRateLimit | undefined;
  echoes: PagerDutyEchoes;
}): Promise<RunningServer> {
  const { options, components, store, dispatcher, mutes, requestLog, sharedRateLimit } = parts;
  await dispatcher.start();
  await recoverEchoes(parts.echoes, options.logger);
  const { clock } = options;
  const stopPruning = every(clock, PRUNE_EVERY_MS, () => {
    store
      .prune('deliveries', { keep_per_destination: KEEP_FINISHED_PER_DESTINATION, keep_events_ms: KEEP_EVENTS_MS, now: clock.now() })
      .catch((error: unknown) => options.logger.warn({ err: error }, 'pruning the delivery log failed'));
    void recoverEchoes(parts.echoes, options.logger, clock.now() - PRUNE_EVERY_MS);
  });
  options.logger.info(
    {
      store: startupBanner({ config: options.config, components, url: '', store: options.config.store }).store,
      destinations: components.destinations.map((destination) => `${destination.name} (${destination.type})`),
    },
    `hookrelay ${VERSION} dispatching (no HTTP server)`,
  );
  let closing: Promise<void> | null = null;
  return {
    url: '',
    port: 0,
    store,
    dispatcher,
    components,
    close() {
      closing ??= (async () => {
        stopPruning();
        mutes.stop();
        await dispatcher.stop(SHUTDOWN_GRACE_MS);
        await requestLog.flush();
        await sharedRateLimit?.close();
        await store.close();
        await components.close();
      })();
      return closing;
    },
  };
}

/**
 * What a person starting hookrelay needs to see: where it listens, where the data is, the URL
 * to paste into each sender, where each route sends what, and what is off and how to turn it on.
 */
export function startupBanner(options: { config: Config; components: Components; url: string; store: string }): Record<string, unknown> {
  const { config, components, url } = options;
  // The URL to paste into a sender: the configured public URL; on every interface, this
  // machine's name (http://0.0.0.0:3000 is where it listens, not an address a sender can use).
  const listening = url === '' ? null : new URL(url);
  const wildcard = listening !== null && (listening.hostname === '0.0.0.0' || listening.hostname === '[::]');
  const paste = config.admin?.public_url?.replace(/\/+$/, '') ?? (wildcard ? `${listening.protocol}//${hostname()}:${listening.port}` : url);
  return {
    url,
    store: options.store.startsWith('sqlite:') ? resolve(options.store.slice('sqlite:'.length)) : options.store.replace(/\/\/[^@/]*@/, '//***@'),
    sources: components.sources.map((source) => `${source.name} (${source.preset}): POST ${paste}/hooks/${source.name}`),
    destinations: components.destinations.map((destination) => `${destination.name} (${destination.type})`),
    routes: config.routes.map((route, index) => {
      const match = Object.entries(route.match ?? {}).map(([field, value]) => `${field}=${String(value)}`);
      return `${route.name ?? `routes[${index}]`}: ${match.length ? match.join(' ') : 'every event'} → ${route.to.join(', ')}`;
    }),
    ...(components.sources.length === 0 ? { warning: 'no source is configured: every webhook gets 404' } : {}),
    admin_pages: config.admin ? `on: ${url}/admin` : 'off (set admin.token or HOOKRELAY_ADMIN_TOKEN)',
    admin_api: config.admin ? `on: ${url}/api/v1` : 'off (set admin.token or HOOKRELAY_ADMIN_TOKEN)',
    slack_app: config.slack_app ? `on: POST ${url}/slack/events` : 'off (set slack_app.signing_secret or SLACK_SIGNING_SECRET)',
    metrics: `${url}/metrics`,
  };
}
