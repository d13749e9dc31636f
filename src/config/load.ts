import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.ts';
import { compileFilter, FilterError } from '../routing/filter.ts';
import { globMatcher } from '../routing/glob.ts';
import { destinationConfigSchema } from '../destinations/index.ts';
import { fallbackProblems } from '../notify/fallback.ts';
import { closestName, didYouMean } from '../util/did-you-mean.ts';
import { formatPath, isRecord } from '../util/objects.ts';
import { UNSET_URL_STAND_IN } from '../util/schemas.ts';
import { interpolate } from './interpolate.ts';
import type { InterpolationProblem, StandIn } from './interpolate.ts';
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
  const inspection = inspectConfig(options);
  if (inspection.loaded === null) throw new ConfigError(inspection.problems);
  return inspection.loaded;
}

/**
 * What a command that works offline (render, routes test, sample, sign) reads of the config.
 * `serve`, `work` and `check` read all of it, and every unset variable is a problem there.
 */
export interface ConfigReader {
  /** What the command does, as notes and problems say it: "render", "test routes". */
  readonly purpose: string;
  /**
   * The top-level keys it reads. A key it does not read that uses an unset variable (the
   * admin token, the store URL) is left out, with a note.
   */
  readonly reads: readonly string[];
  /**
   * The source whose own secret or token it signs with: an unset variable there is a problem,
   * which says what to do `instead` ("or give --secret"). Other sources' secrets and tokens,
   * and destinations' addresses and credentials, are never used offline: unset, they stand in
   * as placeholders, with a note.
   */
  readonly signsAs?: { readonly source: string; readonly instead: string } | undefined;
}

/**
 * The config as an offline command needs it: unset variables in parts it does not use become
 * notes (`admin.token uses HOOKRELAY_ADMIN_TOKEN, which is not set (not needed to render)`);
 * in parts it uses they are problems, as is anything else wrong with the file.
 */
export function loadConfigToRead(options: { file: string | null; env: Env; cwd?: string; reader: ConfigReader }): {
  loaded: LoadedConfig;
  notes: readonly string[];
} {
  const inspection = inspectConfig(options);
  if (inspection.loaded === null) throw new ConfigError(inspection.problems);
  return { loaded: inspection.loaded, notes: inspection.notes };
}

/** What `hookrelay check` needs: every problem of the config at once, and what can be checked further. */
export interface ConfigInspection {
  /** The config, when it has no problems; null otherwise. */
  readonly loaded: LoadedConfig | null;
  /** Every problem found, one line each, in the user's words. */
  readonly problems: readonly string[];
  /**
   * When the config has problems: the part of it that is valid on its own (each destination that
   * parses, `templates_dir`, `egress`), so templates and destination addresses can be checked in
   * the same pass. Its destination k is `destinations[destinationIndex[k]]` of the file.
   */
  readonly partial: { readonly loaded: LoadedConfig; readonly destinationIndex: readonly number[] } | null;
  /**
   * A problem found later (a template, a destination address) in the user's words: in
   * zero-config mode `destinations[0].url: …` becomes `SLACK_WEBHOOK_URL: …` (or the chat's own variable).
   */
  inUserTerms(problem: string): string;
  /** With a `reader`: the unset variables it does not need, one line each. */
  readonly notes: readonly string[];
}

/** Like loadConfig, but reports every problem instead of throwing at the first kind. */
export function inspectConfig(options: { file: string | null; env: Env; cwd?: string; reader?: ConfigReader }): ConfigInspection {
  const { file, env, reader } = options;
  const cwd = options.cwd ?? process.cwd();
  const failed = (problems: readonly string[]): ConfigInspection => ({ loaded: null, problems, partial: null, inUserTerms: (problem) => problem, notes: [] });
  if (file === null) {
    let raw: Record<string, unknown>;
    try {
      raw = zeroConfig(env);
    } catch (error) {
      if (error instanceof ConfigError) return failed(error.problems);
      throw error;
    }
    const variables = variablesByPath(raw);
    return inspection(validate(raw, env, reader), null, cwd, (problem) => inTermsOfVariables(problem, variables));
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    return failed([`${file}: cannot read the config file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`]);
  }
  const document = parseYaml(text, file);
  if (!document.ok) return failed(document.problems);
  return inspection(validate(document.value, env, reader), file, dirname(file), (problem) => problem);
}

function inspection(result: Validation, file: string | null, baseDir: string, inUserTerms: (problem: string) => string): ConfigInspection {
  const notes = result.notes.map(inUserTerms);
  if (result.config !== null) return { loaded: { config: result.config, file, baseDir }, problems: [], partial: null, inUserTerms, notes };
  const partial = result.partial === null ? null : { loaded: { config: result.partial.config, file, baseDir }, destinationIndex: result.partial.destinationIndex };
  return { loaded: null, problems: result.problems.map(inUserTerms), partial, inUserTerms, notes };
}

/** YAML text → a validated config; every problem becomes one line naming its path. */
export function parseConfigText(text: string, env: Env, label = 'hookrelay.yaml'): Config {
  const document = parseYaml(text, label);
  if (!document.ok) throw new ConfigError(document.problems);
  const result = validate(document.value, env);
  if (result.config === null) throw new ConfigError(result.problems);
  return result.config;
}

function parseYaml(text: string, label: string): { ok: true; value: unknown } | { ok: false; problems: string[] } {
  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    return {
      ok: false,
      problems: document.errors.map((error) => {
        const at = error.linePos?.[0];
        // The message's first line repeats the position as " at line 3, column 1:"; the prefix says it already.
        const message = error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
        return `${label}${at ? `:${at.line}:${at.col}` : ''}: ${message}`;
      }),
    };
  }
  return { ok: true, value: document.toJS() ?? {} };
}

interface Validation {
  readonly config: Config | null;
  readonly problems: readonly string[];
  readonly partial: { readonly config: Config; readonly destinationIndex: readonly number[] } | null;
  readonly notes: readonly string[];
}

function validate(raw: unknown, env: Env, reader?: ConfigReader): Validation {
  const missing: InterpolationProblem[] = [];
  const notes = new Set<string>();
  const unread = new Set<string>();
  // The source an offline command signs as (its own secret is needed), by its name as interpolated.
  const signing = reader?.signsAs ? entriesOf(raw, 'sources').findIndex((entry) => interpolate(entry.name, env, []) === reader.signsAs?.source) : -1;
  const standIn = reader && standInFor(reader, signing, notes, unread);
  const interpolated = withoutKeys(interpolate(raw, env, missing, [], standIn), unread);
  const parsed = configSchema.safeParse(interpolated);
  // `store:` wins; else DATABASE_URL (as hosting platforms set it); else the embedded SQLite file.
  const defaultStore = env.DATABASE_URL || `sqlite:${join(env.HOOKRELAY_DATA_DIR ?? './data', 'hookrelay.db')}`;
  // Every problem at once: schema and references are checked even when something else is wrong,
  // and a value emptied by a missing variable is reported once, as the missing variable.
  const derived = [
    ...(parsed.success ? [] : describeIssues(parsed.error.issues, interpolated)),
    ...checkReferences(interpolated, storeUrlIn(interpolated) || defaultStore),
  ].filter((line) => !missing.some(({ path }) => line.startsWith(`${path}: `)));
  const needed = (path: string): string => {
    if (reader === undefined) return '';
    const { signsAs } = reader;
    return signsAs && path.startsWith(`sources[${signing}].`) ? ` (needed to ${reader.purpose} as "${signsAs.source}"; ${signsAs.instead})` : ` (needed to ${reader.purpose})`;
  };
  const problems = [...missing.map(({ path, variable }) => `${path}: environment variable ${variable} is not set${needed(path)}`), ...derived];
  const finish = (config: ParsedConfig): Config => {
    if (env.HOOKRELAY_ALLOW_PRIVATE === '1' || env.HOOKRELAY_ALLOW_PRIVATE === 'true') config.egress.allow_private = true;
    const { store, ...rest } = config;
    const url = typeof store === 'string' ? store : store?.url;
    return { ...rest, store: url ?? defaultStore, store_min_free: typeof store === 'object' ? (store.min_free ?? null) : null };
  };
  if (!parsed.success || problems.length > 0) {
    const partial = validPart(interpolated);
    return { config: null, problems, partial: partial && { config: finish(partial.config), destinationIndex: partial.destinationIndex }, notes: [...notes] };
  }
  return { config: finish(parsed.data), problems: [], partial: null, notes: [...notes] };
}

/** Keys of a source that hold its secrets, tokens or the sender's API: used to verify, never offline. */
const SOURCE_CREDENTIALS = new Set(['secrets', 'token', 'api_key', 'api_url']);
/** Keys of a destination that say where and with what credentials to send: never used offline. */
const DESTINATION_CREDENTIALS = new Set(['url', 'api_url', 'routing_key', 'token', 'secret', 'channel', 'headers', 'smtp']);

/**
 * For an offline command: an unset variable in a top-level key it does not read leaves that key
 * out (added to `unread`); in a source's or destination's credentials it stands in as a
 * placeholder. Either way it is a note; anywhere else it stays a problem.
 */
function standInFor(reader: ConfigReader, signing: number, notes: Set<string>, unread: Set<string>): StandIn {
  return (path, variable, text) => {
    const [key, index, field] = path;
    const note = (): void => void notes.add(`${formatPath(path)} uses ${variable}, which is not set (not needed to ${reader.purpose})`);
    if (typeof key === 'string' && !reader.reads.includes(key)) {
      unread.add(key);
      // Routes name destinations: without the destinations, they go too.
      if (key === 'destinations') unread.add('routes');
      note();
      return '';
    }
    const credential =
      typeof field === 'string' &&
      ((key === 'sources' && index !== signing && SOURCE_CREDENTIALS.has(field)) || (key === 'destinations' && DESTINATION_CREDENTIALS.has(field)));
    if (!credential) return undefined;
    note();
    // An address that is all variable must still be a URL; `.invalid` never resolves (RFC 2606).
    return field.endsWith('url') && text.startsWith(`\${${variable}`) ? UNSET_URL_STAND_IN : 'unset';
  };
}

function withoutKeys(value: unknown, keys: ReadonlySet<string>): unknown {
  if (keys.size === 0 || !isRecord(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !keys.has(key)));
}

type ParsedConfig = z.output<typeof configSchema>;

/** The store URL as written, in either form (`store: url` or `store: { url }`), read loosely. */
function storeUrlIn(input: unknown): unknown {
  const store = isRecord(input) ? input.store : undefined;
  return isRecord(store) ? store.url : store;
}

/** The destinations that are valid on their own, with the settings their checks need (templates_dir, egress). */
function validPart(input: unknown): { config: ParsedConfig; destinationIndex: number[] } | null {
  if (!isRecord(input)) return null;
  const destinations: unknown[] = [];
  const destinationIndex: number[] = [];
  entriesOf(input, 'destinations').forEach((entry, index) => {
    const parsed = destinationConfigSchema.safeParse(entry);
    let usable: Record<string, unknown> | null = parsed.success ? entry : null;
    // A misspelled optional key is reported already; the rest of the entry is still worth checking.
    if (!parsed.success && parsed.error.issues.every((issue) => issue.code === 'unrecognized_keys' && issue.path.length === 0)) {
      const unknown = new Set(parsed.error.issues.flatMap((issue) => (issue.code === 'unrecognized_keys' ? issue.keys : [])));
      const rest = Object.fromEntries(Object.entries(entry).filter(([key]) => !unknown.has(key)));
      if (destinationConfigSchema.safeParse(rest).success) usable = rest;
    }
    if (usable === null) return;
    destinations.push(usable);
    destinationIndex.push(index);
  });
  const part: Record<string, unknown> = { destinations };
  if (typeof input.templates_dir === 'string' && input.templates_dir !== '') part.templates_dir = input.templates_dir;
  if (configSchema.shape.egress.safeParse(input.egress).success) part.egress = input.egress;
  const parsed = configSchema.safeParse(part);
  return parsed.success ? { config: parsed.data, destinationIndex } : null;
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

/**
 * Zod's issues as one line each, with "did you mean" where the user typed a near miss: a key
 * (`secretz` → `secrets`), a preset, a destination type, an enum value. A required key reported
 * missing only because it was misspelled is not reported twice.
 */
function describeIssues(issues: readonly z.core.$ZodIssue[], input: unknown): string[] {
  const meant = new Set<string>();
  const lines = issues.flatMap((issue) => describeIssue(issue, input, meant));
  return lines.filter((line) => !meant.has(line.slice(0, line.indexOf(': '))) || !/received undefined$/.test(line));
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, meant: Set<string>): string[] {
  const path = formatPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeysAt(configSchema, issue.path, input);
    return issue.keys.map((key) => {
      const close = closestName(key, known);
      if (close !== null) meant.add(formatPath([...issue.path, close]));
      const hint = close !== null ? `did you mean "${close}"?` : known.length > 0 ? `known keys: ${known.join(', ')}` : 'check the spelling';
      return `${formatPath([...issue.path, key])}: unknown key (${hint})`;
    });
  }
  const typed = valueAt(input, issue.path);
  if (issue.code === 'invalid_value' && typeof typed === 'string') {
    return [`${path}: ${issue.message}${didYouMean(typed, issue.values.map(String), { listKnown: false })}`];
  }
  const options = (issue as { options?: unknown }).options;
  if (issue.code === 'invalid_union' && 'discriminator' in issue && Array.isArray(options)) {
    // A discriminated union (`preset`, `type`) with no matching branch: the value is at the path.
    const close = typeof typed === 'string' ? didYouMean(typed, options.map(String), { listKnown: false }) : '';
    return [`${path}: ${issue.message}${close}`];
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
      return deepest.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }, input, meant));
    }
  }
  return [`${path}: ${issue.message}`];
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const segment of path) {
    if (Array.isArray(value) && typeof segment === 'number') value = value[segment];
    else if (isRecord(value) && typeof segment === 'string') value = value[segment];
    else return undefined;
  }
  return value;
}

/** The wrappers zod puts around a schema that do not change its shape. */
const WRAPPERS = new Set(['optional', 'nullable', 'default', 'prefault', 'readonly', 'catch', 'nonoptional']);

/**
 * The keys the schema accepts for the object at `path` of the input, walking zod's definitions
 * (objects, arrays, records, unions; a discriminated union follows the input's discriminator).
 */
function knownKeysAt(schema: z.core.$ZodType, path: readonly PropertyKey[], input: unknown): string[] {
  let def = schema._zod.def as unknown as Record<string, unknown> & { type: string };
  for (;;) {
    if (WRAPPERS.has(def.type)) def = (def.innerType as z.core.$ZodType)._zod.def as typeof def;
    else if (def.type === 'pipe') def = (def.in as z.core.$ZodType)._zod.def as typeof def;
    else if (def.type === 'lazy') def = (def.getter as () => z.core.$ZodType)()._zod.def as typeof def;
    else break;
  }
  if (def.type === 'union') {
    let options = def.options as z.core.$ZodType[];
    const discriminator = def.discriminator as string | undefined;
    const wanted = discriminator !== undefined ? valueAt(input, [...path, discriminator]) : undefined;
    if (discriminator !== undefined) {
      const chosen = options.filter((option) => option._zod.propValues?.[discriminator]?.has(wanted as string));
      if (chosen.length > 0) options = chosen;
    }
    return [...new Set(options.flatMap((option) => knownKeysAt(option, path, input)))];
  }
  const [head, ...rest] = path;
  if (head === undefined) return def.type === 'object' ? Object.keys(def.shape as object) : [];
  const inner = isRecord(input) || Array.isArray(input) ? (input as Record<PropertyKey, unknown>)[head] : undefined;
  if (def.type === 'object' && typeof head === 'string') {
    const field = (def.shape as Record<string, z.core.$ZodType>)[head];
    return field ? knownKeysAt(field, rest, inner) : [];
  }
  if (def.type === 'array' && typeof head === 'number') return knownKeysAt(def.element as z.core.$ZodType, rest, inner);
  if (def.type === 'record') return knownKeysAt(def.valueType as z.core.$ZodType, rest, inner);
  return [];
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
  const intervalEntries = entriesOf(input, 'time_intervals');
  const problems = [
    ...duplicateNames('sources', sourceEntries),
    ...duplicateNames('destinations', destinationEntries),
    ...duplicateNames('routes', routeEntries),
    ...duplicateNames('time_intervals', intervalEntries),
    ...duplicateNames('mutes', entriesOf(input, 'mutes')),
  ];
  const intervals = intervalEntries.flatMap((entry) => nameOf(entry) ?? []);
  /** `muted_during: [nights]` and the like: each name must be one of `time_intervals`. */
  const checkIntervalNames = (at: string, names: unknown): void => {
    if (!Array.isArray(names)) return;
    names.forEach((name, position) => {
      if (typeof name !== 'string' || name === '' || intervals.includes(name)) return;
      const known = intervals.length > 0 ? didYouMean(name, intervals) : ' (no time_intervals are configured: define it under time_intervals:)';
      problems.push(`${at}[${position}]: unknown time interval "${name}"${known}`);
    });
  };

  const destinations = destinationEntries.flatMap((entry) => nameOf(entry) ?? []);
  const sources = sourceEntries.flatMap((entry) => nameOf(entry) ?? []);
  routeEntries.forEach((route, index) => {
    const at = `routes[${index}]`;
    if (Array.isArray(route.to)) {
      route.to.forEach((name, position) => {
        if (typeof name === 'string' && !destinations.includes(name)) {
          problems.push(`${at}.to[${position}]: unknown destination "${name}"${didYouMean(name, destinations)}`);
        }
      });
    }
    const wanted = isRecord(route.match) ? route.match.source : undefined;
    (Array.isArray(wanted) ? wanted : [wanted]).forEach((pattern: unknown, position) => {
      if (typeof pattern === 'string' && pattern !== '' && !sources.some(globMatcher(pattern))) {
        const where = Array.isArray(wanted) ? `${at}.match.source[${position}]` : `${at}.match.source`;
        problems.push(`${where}: no source is named "${pattern}"${didYouMean(pattern, sources)}`);
      }
    });
    checkIntervalNames(`${at}.muted_during`, route.muted_during);
    checkIntervalNames(`${at}.active_during`, route.active_during);
    if (isRecord(route.filter)) {
      try {
        compileFilter(route.filter, `${at}.filter`);
      } catch (error) {
        if (error instanceof FilterError) problems.push(`${error.path}: ${error.message}`);
        else throw error;
      }
    }
  });

  entriesOf(input, 'mutes').forEach((mute, index) => checkIntervalNames(`mutes[${index}].during`, mute.during));

  // `fallback:` names another destination, one without a fallback of its own (notify/fallback.ts).
  const withFallbacks = destinationEntries.flatMap((entry) => {
    const name = nameOf(entry);
    return name === undefined ? [] : [{ name, fallback: typeof entry.fallback === 'string' ? entry.fallback : undefined }];
  });
  for (const { index, problem } of fallbackProblems(withFallbacks)) {
    const fallback = withFallbacks[index]!.fallback!;
    const position = destinationEntries.findIndex((entry) => nameOf(entry) === withFallbacks[index]!.name);
    const hint = problem.startsWith('unknown destination') ? didYouMean(fallback, destinations) : '';
    problems.push(`destinations[${position}].fallback: ${problem}${hint}`);
  }

  if (typeof store === 'string') {
    const problem = storeProblem(store);
    if (problem) problems.push(`${isRecord(isRecord(input) ? input.store : undefined) ? 'store.url' : 'store'}: ${problem}`);
  }
  return problems;
}

/** What is wrong with a store URL, or null: `sqlite:<path>` or `postgres://…` (`postgresql://…`). */
function storeProblem(store: string): string | null {
  if (store.startsWith('sqlite:')) return null;
  if (!/^postgres(ql)?:\/\//.test(store)) return `"${store}" is not a store URL (use sqlite:./data/hookrelay.db or postgres://user:password@host:5432/database)`;
  let url: URL;
  try {
    url = new URL(store);
  } catch {
    return 'the PostgreSQL URL cannot be read (postgres://user:password@host:5432/database; a password with @ / : must be percent-encoded)';
  }
  if (url.hostname === '' && !url.searchParams.has('host')) return 'the PostgreSQL URL names no host (postgres://user:password@host:5432/database)';
  return null;
}
