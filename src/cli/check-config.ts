import type { Config } from '../config/schema.ts';
import { findConfigFile, inspectConfig } from '../config/load.ts';
import { ZERO_CONFIG_SENDER_VARIABLES } from '../config/zero-config.ts';
import { ConfigError } from '../errors.ts';
import { silentLogger } from '../observability/logger.ts';
import { buildComponents } from '../runtime.ts';

/** `hookrelay check`: the problems on stderr (exit 2), else what the config holds (exit 0). */
export async function runCheck(explicit: string | undefined): Promise<number> {
  const file = findConfigFile(explicit, process.env);
  const report = await checkConfig(file);
  for (const problem of report.problems) console.error(problem);
  for (const warning of report.warnings) console.error(`warning: ${warning}`);
  if (report.problems.length > 0) return 2;
  const { config } = report;
  console.log(
    `${file ?? 'zero-config (environment)'}: ok — ${config!.sources.length} sources, ${config!.destinations.length} destinations, ${config!.routes.length} routes`,
  );
  return 0;
}

export interface CheckReport {
  readonly problems: readonly string[];
  readonly warnings: readonly string[];
  /** The config, when it has no problems. */
  readonly config: Config | null;
}

/**
 * Everything `serve` would refuse, in one pass: the config (schema, references, filters), and
 * then templates and destination addresses — of the whole config, or when the config has
 * problems, of each destination that is valid on its own. Problems are in the user's words.
 */
export async function checkConfig(file: string | null): Promise<CheckReport> {
  const inspection = inspectConfig({ file, env: process.env });
  const problems = [...inspection.problems];
  const warnings: string[] = [];
  const target = inspection.loaded ?? inspection.partial?.loaded ?? null;
  // Partial destination k is destinations[destinationIndex[k]] of the file.
  const index = inspection.partial?.destinationIndex;
  const inFileTerms = (line: string): string =>
    inspection.inUserTerms(index ? line.replace(/^destinations\[(\d+)\]/, (_, k: string) => `destinations[${index[Number(k)] ?? k}]`) : line);
  if (target !== null) {
    try {
      const components = await buildComponents(target.config, { baseDir: target.baseDir, logger: silentLogger() });
      await components.close();
      warnings.push(...components.warnings.map(inFileTerms));
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems.map(inFileTerms));
    }
  }
  if (inspection.loaded !== null) warnings.push(...configWarnings(inspection.loaded.config, inspection.loaded.file === null));
  return { problems, warnings, config: problems.length === 0 ? inspection.loaded!.config : null };
}

/** What is valid but probably not what the user meant. */
function configWarnings(config: Config, zeroConfig: boolean): string[] {
  const warnings: string[] = [];
  if (config.sources.length === 0) {
    warnings.push(
      zeroConfig
        ? `no sender is set up: every webhook would get 404 (set ${ZERO_CONFIG_SENDER_VARIABLES.slice(0, -1).join(', ')} or ${ZERO_CONFIG_SENDER_VARIABLES.at(-1)})`
        : 'sources: none configured, so every webhook would get 404 (add a source with its preset and secret)',
    );
  }
  if (config.routes.length === 0 && config.destinations.length > 0) {
    warnings.push('routes: none configured, so every event is logged as skipped and sent nowhere (a route with only `to:` takes everything)');
  }
  const routed = new Set(config.routes.flatMap((route) => route.to));
  config.destinations.forEach((destination, position) => {
    if (config.routes.length > 0 && !routed.has(destination.name)) {
      warnings.push(`destinations[${position}]: no route sends to "${destination.name}"`);
    }
  });
  return warnings;
}
