import { z } from 'zod';
import { countSchema, durationSchema, nameSchema } from '../util/schemas.ts';
import { EVENT_STATUSES, SEVERITIES, SEVERITY_RANK, isSeverity } from '../events/event.ts';
import type { RelayEvent, Severity } from '../events/event.ts';
import { compileFilter } from './filter.ts';
import type { Predicate } from './filter.ts';
import { globMatcher } from './glob.ts';
import { eventField } from './path.ts';

/**
 * A route's noise rules (repeat interval, threshold), looked up by name when its delivery is
 * about to go out (config changes apply to waiting work). Declared here, with the routes that
 * carry them: the notification stage (src/notify/) reads them, routing never reads notify.
 */
export interface RouteRules {
  /** `repeat_interval` (ms) as configured, or undefined for the default. */
  readonly repeat_ms?: number | undefined;
  readonly threshold?: { readonly count: number; readonly within_ms: number } | undefined;
  /** `muted_during` / `active_during` (names of `time_intervals`); undefined when the route has neither. */
  readonly schedule?: RouteSchedule | undefined;
  /** The route groups its events: joining a group reads what the destination was told. */
  readonly grouped?: boolean | undefined;
}

/** When a route's deliveries may go out: never inside `muted_during`, only inside `active_during` (when given). */
export interface RouteSchedule {
  readonly route: string;
  readonly muted_during: readonly string[];
  readonly active_during: readonly string[];
}

const SEVERITY_CONDITION = /^(>=|<=|>|<|=)?\s*(critical|error|warning|info)$/;

const oneOrMany = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const routeSchema = z
  .object({
    name: nameSchema.optional(),
    match: z
      .object({
        /** Source name(s), globs allowed. */
        source: oneOrMany.optional(),
        /** Event type glob(s): `qos.*`. */
        type: oneOrMany.optional(),
        /** `">=warning"`, `"critical"`, or a list of severities. */
        severity: z
          .union([
            z.string().regex(SEVERITY_CONDITION, `must be a severity (${SEVERITIES.join(', ')}), optionally after >=, >, <=, <`),
            z.array(z.enum(SEVERITIES)).min(1),
          ])
          .optional(),
        status: z.enum(EVENT_STATUSES).optional(),
      })
      .strict()
      .optional(),
    /** MongoDB-style conditions on dotted event paths; see routing/filter.ts. */
    filter: z.record(z.string(), z.unknown()).optional(),
    to: z.array(z.string().min(1)).min(1, 'a route needs at least one destination'),
    /** Alertmanager-style grouping: one notification per group, at most every `interval`. */
    group: z
      .object({
        by: z.array(z.string().min(1)).min(1),
        wait: durationSchema.default(30_000),
        interval: durationSchema.default(300_000),
      })
      .strict()
      .optional(),
    /**
     * An unchanged alert (same dedup key and status) is not sent again to a destination within
     * this long (Alertmanager's repeat_interval). Default 4h for senders that re-send whole
     * states (alertmanager); off for others unless set here.
     */
    repeat_interval: durationSchema.optional(),
    /** Fire once at least `count` matching events (per group key, else per dedup key) arrived within `within`. */
    threshold: z.object({ count: countSchema(2), within: durationSchema }).strict().optional(),
    /** Names of `time_intervals`: while the time is in one, deliveries are held (logged muted). */
    muted_during: z.array(z.string().min(1)).min(1).optional(),
    /** Names of `time_intervals`: deliveries go out only while the time is in one of them. */
    active_during: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

export type RouteConfig = z.output<typeof routeSchema>;

export interface RouteTarget {
  readonly destination: string;
  readonly route: string;
  /** For routes with a threshold: what it counts by (the group key, else the dedup key). */
  readonly rule_key?: string | null;
  /** For grouped routes: the group this event joins. */
  readonly group?: { readonly key: string; readonly wait_ms: number; readonly interval_ms: number };
}

interface CompiledRoute {
  readonly name: string;
  readonly matches: Predicate;
  readonly to: readonly string[];
  readonly group: RouteConfig['group'];
  readonly rules: RouteRules;
}

function anyGlob(patterns: string | string[]): (value: string) => boolean {
  const matchers = (Array.isArray(patterns) ? patterns : [patterns]).map(globMatcher);
  return (value) => matchers.some((match) => match(value));
}

function severityTest(condition: string | readonly Severity[]): (severity: Severity) => boolean {
  if (Array.isArray(condition)) return (severity) => condition.includes(severity);
  const [, operator = '=', name] = SEVERITY_CONDITION.exec(condition as string) ?? [];
  if (!isSeverity(name)) return () => false;
  const bound = SEVERITY_RANK[name];
  const compare: Record<string, (rank: number) => boolean> = {
    '>=': (rank) => rank >= bound,
    '>': (rank) => rank > bound,
    '<=': (rank) => rank <= bound,
    '<': (rank) => rank < bound,
    '=': (rank) => rank === bound,
  };
  const test = compare[operator] ?? compare['=']!;
  return (severity) => test(SEVERITY_RANK[severity]);
}

/** Compiles one route; filter mistakes throw FilterError with a path under `at`. */
export function compileRoute(config: RouteConfig, at: string, index: number): CompiledRoute {
  const tests: Predicate[] = [];
  const { match } = config;
  if (match?.source !== undefined) {
    const source = anyGlob(match.source);
    tests.push((event) => source((event as RelayEvent).source));
  }
  if (match?.type !== undefined) {
    const type = anyGlob(match.type);
    tests.push((event) => type((event as RelayEvent).type));
  }
  if (match?.severity !== undefined) {
    const severity = severityTest(match.severity);
    tests.push((event) => severity((event as RelayEvent).severity));
  }
  if (match?.status !== undefined) {
    const status = match.status;
    tests.push((event) => (event as RelayEvent).status === status);
  }
  if (config.filter !== undefined) tests.push(compileFilter(config.filter, `${at}.filter`));
  const name = config.name ?? `route-${index + 1}`;
  const scheduled = config.muted_during !== undefined || config.active_during !== undefined;
  return {
    name,
    matches: (event) => tests.every((test) => test(event)),
    to: config.to,
    group: config.group,
    rules: {
      repeat_ms: config.repeat_interval,
      threshold: config.threshold ? { count: config.threshold.count, within_ms: config.threshold.within } : undefined,
      schedule: scheduled ? { route: name, muted_during: config.muted_during ?? [], active_during: config.active_during ?? [] } : undefined,
      grouped: config.group !== undefined,
    },
  };
}

/** Every matching route applies; a destination named by several routes gets one delivery (the first route's). */
export class Router {
  readonly #routes: readonly CompiledRoute[];

  readonly #byName: ReadonlyMap<string, CompiledRoute>;

  constructor(routes: readonly RouteConfig[]) {
    this.#routes = routes.map((route, index) => compileRoute(route, `routes[${index}]`, index));
    this.#byName = new Map(this.#routes.map((route) => [route.name, route]));
  }

  /** A route's noise rules, for the notification stage; undefined for a route no longer configured. */
  rules(name: string): RouteRules | undefined {
    return this.#byName.get(name)?.rules;
  }

  /** The routes' `muted_during` / `active_during` (those that have them). */
  schedules(): RouteSchedule[] {
    return this.#routes.flatMap((route) => route.rules.schedule ?? []);
  }

  targets(event: RelayEvent): RouteTarget[] {
    const targets: RouteTarget[] = [];
    const seen = new Set<string>();
    for (const route of this.#routes) {
      if (!route.matches(event)) continue;
      for (const destination of route.to) {
        if (seen.has(destination)) continue;
        seen.add(destination);
        const group = route.group ? groupKey(route.name, route.group.by, event) : null;
        const ruleKey = route.rules.threshold ? (group ?? event.dedup_key) : null;
        targets.push({
          destination,
          route: route.name,
          ...(ruleKey !== null ? { rule_key: ruleKey } : {}),
          ...(route.group && group !== null ? { group: { key: group, wait_ms: route.group.wait, interval_ms: route.group.interval } } : {}),
        });
      }
    }
    return targets;
  }
}

function groupKey(route: string, by: readonly string[], event: RelayEvent): string {
  const values = by.map((path) => {
    const value = eventField(event, path);
    return value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  });
  return JSON.stringify([route, ...values]);
}
