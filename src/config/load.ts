import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { compileFilter, FilterError } from '../routing/filter.ts';
import { globMatcher } from '../routing/glob.ts';
import { formatPath, isRecord } from '../util/objects.ts';
import { interpolate } from './interpolate.ts';
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
    const raw = zeroConfig(env);
    try {
      return { config: validate(raw, env), file: null, baseDir: cwd };
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const variables = variablesByPath(raw);
      throw new ConfigError(error.problems.map((problem) => inTermsOfVariables(problem, variables)));
    }
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
        // The message's first line repeats the position as " at line 3, column 1:"; the prefix says it already.
        const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return `${label}${at ? `:${at.line}:${at.col}` : ''}: ${message}`;
      }),
    );
  }
  return validate(document.toJS() ?? {}, env);
}

function validate(raw: unknown, env: Env): Config {
  const missing: InterpolationProblem[] = [];
  const interpolated = interpolate(raw, env, missing);
  const parsed = configSchema.safeParse(interpolated);
  const defaultStore = `sqlite:${join(env.HOOKRELAY_DATA_DIR ?? './data', 'hookrelay.db')}`;
  // Every problem at once: schema and references are checked even when something else is wrong,
  // and a value emptied by a missing variable is reported once, as the missing variable.
  const derived = [
    ...(parsed.success ? [] : parsed.error.issues.flatMap(describeIssue)),
    ...checkReferences(interpolated, (isRecord(interpolated) ? interpolated.store : undefined) || defaultStore),
  ].filter((line) => !missing.some(({ path }) => line.startsWith(`${path}: `)));
  const problems = [...missing.map(({ path, variable }) => `${path}: environment variable ${variable} is not set`), ...derived];
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);

  const config = parsed.data;
  if (env.HOOKRELAY_ALLOW_PRIVATE === '1' || env.HOOKRELAY_ALLOW_PRIVATE === 'true') config.egress.allow_private = true;
  return { ...config, store: config.store ?? defaultStore };
}

/**
 * In zero-config mode the user wrote environment variables, not the config built from them:
 * `destinations[0].url: …` becomes `SLACK_WEBHOOK_URL: …`. Maps each `${VAR}` value's path.
 */
function variablesByPath(raw: unknown, where: PropertyKey[] = [], found: Array<[string, string]> = []): Array<[string, string]> {
  if (typeof raw === 'string') {
    const whole = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$/.exec(raw);
    if (whole) found.push([formatPath(where), whole[1]!]);
  } else if (Array.isArray(raw)) raw.forEach((item, index) => variablesByPath(item, [...where, index], found));
  else if (isRecord(raw)) for (const [key, item] of Object.entries(raw)) variablesByPath(item, [...where, key], found);
  return found;
}

function inTermsOfVariables(problem: string, variables: ReadonlyArray<[string, string]>): string {
  const at = problem.indexOf(': ');
  const path = at < 0 ? '' : problem.slice(0, at);
  const match = variables.find(([where]) => path === where || path.startsWith(`${where}[`) || path.startsWith(`${where}.`));
  return match ? `${match[1]}: ${problem.slice(at + 2)}` : problem;
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
      // An empty branch is one of the wrong type altogether: it says nothing about what is wrong.
      .filter((branch) => branch.length > 0)
      .sort((a, b) => a.length - b.length)[0];
    if (deepest && deepest.length > 0) {
      return deepest.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }));
    }
  }
  return [`${path}: ${issue.message}`];
}

/** The entries of a top-level list, read loosely: what is not a mapping is the schema's to report. */
function entriesOf(input: unknown, key: string): Record<string, unknown>[] {
  const list = isRecord(input) ? input[key] : undefined;
  return Array.isArray(list) ? list.map((entry) => (isRecord(entry) ? entry : {})) : [];
}

const nameOf = (entry: Record<string, unknown>): string | undefined => (typeof entry.name === 'string' ? entry.name : undefined);

function duplicateNames(list: string, entries: readonly Record<string, unknown>[]): string[] {
  const first = new Map<string, number>();
  const problems: string[] = [];
  entries.forEach((entry, index) => {
    const name = nameOf(entry);
    if (name === undefined) return;
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, index);
    else problems.push(`${list}[${index}].name: "${name}" is already the name of ${list}[${earlier}]`);
  });
  return problems;
}

/**
 * What the schema alone cannot know: names that must exist or be unique, filters, the store URL.
 * Reads the (possibly invalid) input loosely so these are reported alongside schema problems.
 */
function checkReferences(input: unknown, store: unknown): string[] {
  const sourceEntries = entriesOf(input, 'sources');
  const destinationEntries = entriesOf(input, 'destinations');
  const routeEntries = entriesOf(input, 'routes');
  const problems = [
    ...duplicateNames('sources', sourceEntries),
    ...duplicateNames('destinations', destinationEntries),
    ...duplicateNames('routes', routeEntries),
  ];

  const destinations = destinationEntries.flatMap((entry) => nameOf(entry) ?? []);
  const sources = sourceEntries.flatMap((entry) => nameOf(entry) ?? []);
  routeEntries.forEach((route, index) => {
    const at = `routes[${index}]`;
    if (Array.isArray(route.to)) {
      route.to.forEach((name, position) => {
        if (typeof name === 'string' && !destinations.includes(name)) {
          problems.push(`${at}.to[${position}]: unknown destination "${name}"${suggest(name, destinations)}`);
        }
      });
    }
    const wanted = isRecord(route.match) ? route.match.source : undefined;
    (Array.isArray(wanted) ? wanted : [wanted]).forEach((pattern: unknown, position) => {
      if (typeof pattern === 'string' && pattern !== '' && !sources.some(globMatcher(pattern))) {
        const where = Array.isArray(wanted) ? `${at}.match.source[${position}]` : `${at}.match.source`;
        problems.push(`${where}: no source is named "${pattern}"${suggest(pattern, sources)}`);
      }
    });
    if (isRecord(route.filter)) {
      try {
        compileFilter(route.filter, `${at}.filter`);
      } catch (error) {
        if (error instanceof FilterError) problems.push(`${error.path}: ${error.message}`);
        else throw error;
      }
    }
  });

  if (typeof store === 'string' && !store.startsWith('sqlite:')) {
    problems.push(
      /^postgres(ql)?:\/\//.test(store)
        ? 'store: the PostgreSQL store is not part of this version yet; use sqlite:<path>'
        : `store: "${store}" is not a store URL (use sqlite:./data/hookrelay.db)`,
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
