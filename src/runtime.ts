import { resolve } from 'node:path';
import { Agent } from 'undici';
import type { Logger } from 'pino';
import type { Config } from './config/schema.ts';
import { createDestination, checkDestinationUrl, HttpClient } from './destinations/index.ts';
import type { Destination } from './destinations/index.ts';
import { ConfigError } from './errors.ts';
import { Router } from './routing/routes.ts';
import { createSource } from './sources/index.ts';
import type { Source } from './sources/index.ts';
import type { Store } from './store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine, SAMPLE_EVENT, sampleContext, TemplateRenderError } from './templates/index.ts';
import type { TemplateEngine } from './templates/index.ts';
import { systemClock } from './util/clock.ts';
import type { Clock } from './util/clock.ts';
import { VERSION } from './version.ts';

/** Everything built from a config that does not need the store: what `check` validates and `serve` runs. */
export interface Components {
  readonly config: Config;
  readonly sources: readonly Source[];
  readonly destinations: readonly Destination[];
  readonly router: Router;
  readonly templates: TemplateEngine;
  readonly http: HttpClient;
  /** For calls sources make themselves (Tape's verify/validate): not a destination, so not egress-guarded. */
  readonly senderApi: Agent;
  /** Things worth saying that do not stop start-up. */
  readonly warnings: readonly string[];
  close(): Promise<void>;
}

/**
 * Builds sources, destinations, templates and routes, and checks what can only be checked
 * by trying: templates compile and render, destination hosts are public addresses.
 * Every problem found is reported at once (ConfigError).
 */
export async function buildComponents(
  config: Config,
  options: { baseDir: string; logger: Logger; store?: () => Store; clock?: Clock },
): Promise<Components> {
  // The server's clock (relative times in templates, signed timestamps, Retry-After dates).
  const clock = options.clock ?? systemClock;
  const problems: string[] = [];
  const warnings: string[] = [];
  const dirs = config.templates_dir ? [resolve(options.baseDir, config.templates_dir), BUILTIN_TEMPLATES_DIR] : [BUILTIN_TEMPLATES_DIR];
  const templates = createTemplateEngine({ dirs, version: VERSION, now: () => clock.now() });
  const http = new HttpClient({ allowPrivate: config.egress.allow_private, userAgent: `hookrelay/${VERSION}`, clock });
  const senderApi = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: 5_000 } });
  // At close, sends still in flight were given up on (the dispatcher gave them back after its
  // grace): their sockets are cut, not waited for (undici's close() waits for every request).
  const close = async (): Promise<void> => {
    await Promise.all([http.dispatcher.destroy(), senderApi.destroy()]);
  };

  const sources = config.sources.map((source) => createSource(source, { http: senderApi, logger: options.logger }));
  const store =
    options.store ??
    ((): Store => {
      throw new Error('the store is not open here');
    });
  const destinations = config.destinations.map((destination) =>
    createDestination(destination, { http, templates, version: VERSION, logger: options.logger, store }),
  );

  const warned = new Set<string>();
  const prepared = new Set<Destination>();
  destinations.forEach((destination, index) => {
    const at = `destinations[${index}].template`;
    try {
      destination.prepare();
      prepared.add(destination);
    } catch (error) {
      if (error instanceof ConfigError) problems.push(...error.problems.map((line) => `${at}: ${line}`));
      else problems.push(`${at}: ${destination.template}: ${(error as Error).message}`);
    }
    // Each template's warnings once, at the first destination that uses it.
    for (const warning of templates.warnings().filter((line) => !warned.has(line))) {
      warned.add(warning);
      warnings.push(`${at}: ${warning}`);
    }
  });
  // What the service would refuse shows here, not at the first alert (Teams answers 202 to a
  // card it cannot show): the sample event, rendered and fitted as it would be sent. A warning
  // only, since a template may rightly need fields the sample does not have.
  await Promise.all(
    destinations.map(async (destination, index) => {
      const problem = prepared.has(destination) ? await sampleRefusal(destination) : null;
      if (problem !== null) warnings.push(`destinations[${index}].template: with the sample event, ${problem}`);
    }),
  );

  if (!config.egress.allow_private) {
    const checks = destinations.flatMap((destination, index) =>
      destination.urls.map(async (url) => ({ at: `destinations[${index}].${destination.urls_key ?? 'url'}`, result: await checkDestinationUrl(url) })),
    );
    for (const { at, result } of await Promise.all(checks)) {
      if (result.ok === false) problems.push(`${at}: ${result.reason}`);
      else if (result.ok === 'unknown') warnings.push(`${at}: ${result.reason}; it will be checked again when connecting`);
    }
  }

  // The PostgreSQL server's disk is not hookrelay's to watch (or to reserve): its own monitoring does.
  if (config.store_min_free !== null && !config.store.startsWith('sqlite:')) {
    warnings.push('store.min_free applies to the SQLite store only and is ignored: watch the PostgreSQL server\'s disk where it runs');
  }

  if (problems.length > 0) {
    await close();
    throw new ConfigError(problems);
  }
  return { config, sources, destinations, router: new Router(config.routes), templates, http, senderApi, warnings, close };
}

/** Why the destination's template cannot make a request of the sample event, or null (also when it cannot tell offline). */
async function sampleRefusal(destination: Destination): Promise<string | null> {
  try {
    await destination.render(sampleContext(SAMPLE_EVENT, { version: VERSION, destination: destination.name, delivery_id: 'dlv_sample' }));
    return null;
  } catch (error) {
    return error instanceof TemplateRenderError ? error.message : null;
  }
}
