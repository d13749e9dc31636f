import { formatPath } from '../util/objects.ts';

/**
 * `${VAR}` in any string value is replaced from the environment; `${VAR:-fallback}` uses the
 * fallback when VAR is unset or empty; `$${` is a literal `${`. Done on parsed values, so a
 * secret full of YAML syntax cannot change the document's structure.
 */
const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

export interface InterpolationProblem {
  readonly path: string;
  readonly variable: string;
}

/**
 * What to put in place of a variable that is unset (and has no fallback) at `path`, whose
 * string is `text`; undefined when it is a problem. Commands that work offline (render, sign)
 * use it for values they never read, such as the admin token.
 */
export type StandIn = (path: readonly PropertyKey[], variable: string, text: string) => string | undefined;

export function interpolate(
  value: unknown,
  env: Readonly<Record<string, string | undefined>>,
  problems: InterpolationProblem[],
  path: PropertyKey[] = [],
  standIn?: StandIn,
): unknown {
  if (typeof value === 'string') {
    return value.replace(REFERENCE, (whole, name: string | undefined, fallback: string | undefined) => {
      if (whole === '$${') return '${';
      const found = env[name as string];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      const stood = standIn?.(path, name as string, value);
      if (stood !== undefined) return stood;
      problems.push({ path: formatPath(path), variable: name as string });
      return '';
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => interpolate(item, env, problems, [...path, index], standIn));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolate(item, env, problems, [...path, key], standIn)]),
    );
  }
  return value;
}
