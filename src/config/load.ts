import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { FilterError } from '../routing/filter.ts';
import { compileRoute } from '../routing/routes.ts';
import { globMatcher } from '../routing/glob.ts';
import { formatPath, interpolate } from './interpolate.ts';
import type { InterpolationProblem } from './interpolate.ts';
import { configSchema } from './schema.ts';
import type { Config } from './schema.ts';
import { zeroConfig } from './zero-config.ts';

export type Env = Readonly<Record<string, string | undefined>>;

export interface LoadedConfig {
  readonly config: Config;
  /** The file it came from, or null in zero-config mode. */
  readonly file: string | null;
  /** Where relative paths in the config are resolved from. */
  readonly baseDir: string;
}

/** `--config`, else `HOOKRELAY_CONFIG`, else `./hookrelay.yaml` when present, else zero-config. */
export function findConfigFile(explicit: string | undefined, env: Env, cwd = process.cwd()): string | null {
  if (explicit) return resolve(cwd, explicit);
  if (env.HOOKRELAY_CONFIG) return resolve(cwd, env.HOOKRELAY_CONFIG);
  const local = join(cwd, 'hookrelay.yaml');
  return existsSync(local) ? local : null;
}

export function loadConfig(options: { file: string | null; env: Env; cwd?: string }): LoadedConfig {
  const { file, env } = options;
  const cwd = options.cwd ?? process.cwd();
  if (file === null) {
    return { config: validate(zeroConfig(env), env, '(environment)'), file: null, baseDir: cwd };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError([`${file}: cannot read the config file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`]);
  }
  return { config: parseConfigText(text, env, file), file, baseDir: dirname(file) };
}

/** YAML text → a validated config; every problem becomes one line naming its path. */
export function parseConfigText(text: string, env: Env, label = 'hookrelay.yaml'): Config {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((error) => {
        const at = error.linePos?.[0];
        return `${label}${at ? `:${at.line}:${at.col}` : ''}: ${error.message.split('\n')[0]}`;
      }),
    );
  }
  return validate(document.toJS() ?? {}, env, label);
}

function validate(raw: unknown, env: Env, label: string): Config {
  const missing: InterpolationProblem[] = [];
  const interpolated = interpolate(raw, env, missing);
  const problems = missing.map(({ path, variable }) => `${path}: environment variable ${variable} is not set`);
  if (problems.length > 0) throw new ConfigError(problems);

  const parsed = configSchema.safeParse(interpolated);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.flatMap(describeIssue));
  const config = parsed.data;

  if (env.HOOKRELAY_ALLOW_PRIVATE === '1' || env.HOOKRELAY_ALLOW_PRIVATE === 'true') config.egress.allow_private = true;
  const dataDir = env.HOOKRELAY_DATA_DIR ?? './data';
  const store = config.store ?? `sqlite:${join(dataDir, 'hookrelay.db')}`;
  const checked = { ...config, store };
  const references = checkReferences(checked);
  if (references.length > 0) throw new ConfigError(references);
  void label;
  return checked;
}

function describeIssue(issue: z.core.$ZodIssue): string[] {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key (check the spelling)`);
  }
  if (issue.code === 'invalid_union' && issue.errors.length > 0 && !issue.message.startsWith('Invalid input')) {
    return [`${path}: ${issue.message}`];
  }
  if (issue.code === 'invalid_union') {
    // Report the branch that got furthest instead of "invalid input".
    const deepest = issue.errors
      .map((branch) => branch.filter((inner) => inner.code !== 'invalid_type' || inner.path.length > 0))
      .sort((a, b) => a.length - b.length)[0];
    if (deepest && deepest.length > 0) {
      return deepest.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }));
    }
  }
  return [`${path}: ${issue.message}`];
}

function duplicates(names: readonly string[]): string[] {
  return names.filter((name, index) => names.indexOf(name) !== index);
}

/** What the schema alone cannot know: names that must exist or be unique, filters, the store URL. */
function checkReferences(config: Config): string[] {
  const problems: string[] = [];
  for (const name of duplicates(config.sources.map((source) => source.name))) {
    problems.push(`sources: the name "${name}" is used twice`);
  }
  for (const name of duplicates(config.destinations.map((destination) => destination.name))) {
    problems.push(`destinations: the name "${name}" is used twice`);
  }
  const routeNames = config.routes.flatMap((route) => (route.name ? [route.name] : []));
  for (const name of duplicates(routeNames)) problems.push(`routes: the name "${name}" is used twice`);

  const destinations = new Set(config.destinations.map((destination) => destination.name));
  const sources = config.sources.map((source) => source.name);
  config.routes.forEach((route, index) => {
    const at = `routes[${index}]`;
    route.to.forEach((name, position) => {
      if (!destinations.has(name)) {
        problems.push(`${at}.to[${position}]: unknown destination "${name}"${suggest(name, [...destinations])}`);
      }
    });
    const wanted = route.match?.source;
    for (const [position, pattern] of (Array.isArray(wanted) ? wanted : wanted ? [wanted] : []).entries()) {
      const match = globMatcher(pattern);
      if (!sources.some(match)) {
        const where = Array.isArray(wanted) ? `${at}.match.source[${position}]` : `${at}.match.source`;
        problems.push(`${where}: no source is named "${pattern}"${suggest(pattern, sources)}`);
      }
    }
    try {
      compileRoute(route, at, index);
    } catch (error) {
      if (error instanceof FilterError) problems.push(`${error.path}: ${error.message}`);
      else throw error;
    }
  });

  if (!config.store.startsWith('sqlite:')) {
    problems.push(
      /^postgres(ql)?:\/\//.test(config.store)
        ? 'store: the PostgreSQL store is not part of this version yet; use sqlite:<path>'
        : `store: "${config.store}" is not a store URL (use sqlite:./data/hookrelay.db)`,
    );
  }
  return problems;
}

/** ` (did you mean "oncall"?)` for a near miss. */
function suggest(name: string, known: readonly string[]): string {
  const close = known.find((candidate) => distance(candidate, name) <= Math.max(1, Math.floor(name.length / 4)));
  return close ? ` (did you mean "${close}"?)` : known.length > 0 ? ` (known: ${known.join(', ')})` : '';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}
