import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { findConfigFile, loadConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { createLogger, silentLogger } from '../observability/logger.ts';
import { buildComponents } from '../runtime.ts';
import { startServer } from '../server.ts';
import { newStandardSecret } from '../util/standard-webhooks.ts';
import { VERSION } from '../version.ts';
import { renderPreview } from './render.ts';
import { runSample } from './sample.ts';
import { signBody } from './sign.ts';

const USAGE = `hookrelay ${VERSION}: signed webhooks in, Slack / PagerDuty / HTTP out

Usage:
  hookrelay serve   [--config hookrelay.yaml] [--port 3000]
  hookrelay check   [--config hookrelay.yaml]
  hookrelay render  --template slack/default --source tapemetric (--event payload.json | --sample) [--config …]
  hookrelay sign    --source tapemetric --secret S [--url http://localhost:3000/hooks/tapemetric] < body.json
  hookrelay sample  <preset | source>            a realistic payload, fresh id each time (--help for more)
  hookrelay secret

Without --config, HOOKRELAY_CONFIG or ./hookrelay.yaml is used; with neither, zero-config
mode reads SLACK_WEBHOOK_URL, PAGERDUTY_ROUTING_KEY and the senders' secrets from the environment.`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  port: { type: 'string', short: 'p' },
  template: { type: 'string', short: 't' },
  source: { type: 'string', short: 's' },
  event: { type: 'string', short: 'e' },
  sample: { type: 'boolean' },
  secret: { type: 'string' },
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} as const;

/** Exit codes: 0 ok, 1 failure, 2 configuration or usage error. */
export async function main(argv: readonly string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0] ?? (values.version ? 'version' : 'help');
  try {
    switch (command) {
      case 'serve':
        return await serve(values.config, values.port);
      case 'check':
        return await check(values.config);
      case 'render': {
        const file = findConfigFile(values.config, process.env);
        const loaded = file ? loadConfig({ file, env: process.env }) : null;
        const output = await renderPreview({
          template: required(values.template, '--template'),
          source: required(values.source, '--source'),
          eventFile: values.sample ? values.event : required(values.event, '--event (or --sample)'),
          sample: values.sample === true,
          loaded,
        });
        console.log(JSON.stringify(output, null, 2));
        return 0;
      }
      case 'sign': {
        const file = values.config ? findConfigFile(values.config, process.env) : null;
        const loaded = file ? loadConfig({ file, env: process.env }) : null;
        const source = required(values.source, '--source');
        // Without a secret of its own, a preset would sign with a made-up one: headers that never verify.
        if (values.secret === undefined && !loaded?.config.sources.some((configured) => configured.name === source)) {
          throw new UsageError(`--secret is required (or --config with a source named "${source}")`);
        }
        console.log(
          signBody({
            source,
            secret: values.secret,
            body: readFileSync(0),
            url: values.url,
            loaded,
          }),
        );
        return 0;
      }
      case 'sample':
        return runSample({
          args: positionals.slice(1),
          help: values.help === true,
          load: () => {
            const file = findConfigFile(values.config, process.env);
            return file ? loadConfig({ file, env: process.env }) : null;
          },
        });
      case 'secret':
        console.log(newStandardSecret());
        return 0;
      case 'version':
        console.log(VERSION);
        return 0;
      case 'help':
        console.log(USAGE);
        return 0;
      default:
        console.error(`unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(problem);
      return 2;
    }
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${USAGE}`);
      return 2;
    }
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

class UsageError extends Error {}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

async function check(explicit: string | undefined): Promise<number> {
  const file = findConfigFile(explicit, process.env);
  const loaded = loadConfig({ file, env: process.env });
  const components = await buildComponents(loaded.config, { baseDir: loaded.baseDir, logger: silentLogger() });
  await components.close();
  for (const warning of components.warnings) console.error(`warning: ${warning}`);
  const { config } = loaded;
  console.log(
    `${file ?? 'zero-config (environment)'}: ok — ${config.sources.length} sources, ${config.destinations.length} destinations, ${config.routes.length} routes`,
  );
  return 0;
}

async function serve(explicit: string | undefined, portFlag: string | undefined): Promise<number> {
  const logger = createLogger();
  const file = findConfigFile(explicit, process.env);
  const loaded = loadConfig({ file, env: process.env });
  const port = Number(portFlag ?? process.env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new UsageError(`--port/PORT must be a port number, not "${portFlag ?? process.env.PORT}"`);
  const server = await startServer({ config: loaded.config, baseDir: loaded.baseDir, port, logger });
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
}
