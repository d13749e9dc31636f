import type { Config } from '../config/schema.ts';
import type { RelayEvent } from '../events/event.ts';
import { compileMatchers } from '../mutes/matchers.ts';
import { silentLogger } from '../observability/logger.ts';
import { compileFilter } from '../routing/filter.ts';
import { eventField } from '../routing/path.ts';
import { compileRoute } from '../routing/routes.ts';
import type { RouteConfig, RouteTarget } from '../routing/routes.ts';
import { buildComponents } from '../runtime.ts';
import { formatDuration } from '../util/format.ts';
import { required } from './command.ts';
import { readConfig } from './offline-config.ts';
import { previewSource } from './preview-source.ts';
import { previewEvents, readEvent, renderFor } from './render-preview.ts';

/** `hookrelay routes test`, once its options are parsed: the result on stdout, as text or JSON. */
export async function runRoutesTest(values: { source?: string; event?: string; config?: string; json?: boolean }): Promise<number> {
  const sourceName = required(values.source, '--source');
  const eventFile = required(values.event, '--event');
  // Nothing is verified or sent: sources' secrets, destinations' addresses and the server's settings are not needed.
  const loaded = readConfig(
    values.config,
    { purpose: 'test routes', reads: ['sources', 'destinations', 'routes', 'inhibit', 'templates_dir'] },
    { zeroConfig: true },
  );
  const result = await testRoutes({ config: loaded.config, baseDir: loaded.baseDir, source: sourceName, eventFile });
  console.log(values.json ? JSON.stringify(result, null, 2) : describeResult(result));
  return 0;
}

/** One stage's verdict on a delivery, as far as the config alone can tell. */
export interface Decision {
  readonly rule: string;
  /** `hold`: not sent now; `unknown`: depends on the running server's state. */
  readonly outcome: 'hold' | 'unknown';
  readonly detail: string;
}

/**
 * A decision stage that can be judged offline (DESIGN.md: inhibit → mute → group / threshold →
 * repeat, evaluated when a delivery is about to be sent). Null when the rule does not apply to
 * this delivery. New rules in the config (threshold, repeat, inhibit) are new entries here.
 */
export interface OfflineRule {
  readonly name: string;
  decide(input: { readonly event: RelayEvent; readonly route: RouteConfig | undefined; readonly target: RouteTarget; readonly config: Config }): Decision | null;
}

export const OFFLINE_RULES: readonly OfflineRule[] = [
  {
    name: 'inhibit',
    decide: ({ event, config }) =>
      config.inhibit.length === 0 || event.status !== 'firing'
        ? null
        : {
            rule: 'inhibit',
            outcome: 'unknown',
            detail: `${config.inhibit.length} inhibit rule(s): held while a matching source event fires with equal fields; which fire is known to the running server`,
          },
  },
  {
    name: 'interval',
    decide: ({ route }) => {
      if (!route?.muted_during && !route?.active_during) return null;
      const parts = [
        ...(route.muted_during ? [`held while the time is in ${route.muted_during.join(' or ')} (muted_during)`] : []),
        ...(route.active_during ? [`held while it is outside ${route.active_during.join(' and ')} (active_during)`] : []),
      ];
      return { rule: 'interval', outcome: 'unknown', detail: `${parts.join('; ')}: decided when it is about to be sent` };
    },
  },
  {
    name: 'mute',
    decide: ({ event, config }) => {
      // The config's mutes are known offline; the ones made at run time live in the running server.
      const configured = config.mutes.find((mute) => compileMatchers(mute.matchers)(event));
      if (configured && !configured.during) return { rule: 'mute', outcome: 'hold', detail: `muted by ${configured.name} (${configured.reason}), a mute in the config` };
      if (configured) {
        return { rule: 'mute', outcome: 'unknown', detail: `muted by ${configured.name} (${configured.reason}) while the time is in ${configured.during!.join(' or ')}, a mute in the config` };
      }
      return { rule: 'mute', outcome: 'unknown', detail: 'an active mute would hold it; mutes live in the running server (GET /api/v1/mutes)' };
    },
  },
  {
    name: 'threshold',
    decide: ({ route }) =>
      route?.threshold
        ? {
            rule: 'threshold',
            outcome: 'hold',
            detail: `sent once ${route.threshold.count} events of its key arrive within ${formatDuration(route.threshold.within)}; a single event is held (below threshold 1/${route.threshold.count})`,
          }
        : null,
  },
  {
    name: 'repeat',
    decide: ({ event, route, config }) => {
      const resendsState = ['alertmanager', 'grafana'].includes(config.sources.find((source) => source.name === event.source)?.preset ?? '');
      const repeat = route?.repeat_interval ?? (resendsState ? 4 * 3_600_000 : undefined);
      return repeat === undefined
        ? null
        : { rule: 'repeat', outcome: 'unknown', detail: `not sent again unchanged within ${formatDuration(repeat)} of the last time it was (the notification log is the running server's)` };
    },
  },
  {
    name: 'group',
    decide: ({ event, route, target }) => {
      if (!target.group || !route?.group) return null;
      const values = route.group.by.map((path) => `${path}=${JSON.stringify(eventField(event, path) ?? null)}`).join(', ');
      return {
        rule: 'group',
        outcome: 'hold',
        detail: `grouped by ${values}: the group's first event waits ${formatDuration(target.group.wait_ms)}, then it is sent with the others at most every ${formatDuration(target.group.interval_ms)}`,
      };
    },
  },
];

export interface RouteVerdict {
  readonly route: string;
  readonly matches: boolean;
  /** Why it does not match; or, when it does, destinations another route already took. */
  readonly notes: readonly string[];
  readonly to: readonly string[];
}

export interface DeliveryPlan {
  readonly destination: string;
  readonly type: string;
  readonly route: string;
  readonly decisions: readonly Decision[];
  /** `send` when nothing known offline holds it. */
  readonly verdict: 'send' | 'hold';
  readonly template: string;
  /** What the destination would be sent (parsed JSON), or why it cannot be rendered. */
  readonly request: unknown;
  readonly render_error?: string;
}

export interface EventRouting {
  readonly event: RelayEvent;
  readonly routes: readonly RouteVerdict[];
  readonly deliveries: readonly DeliveryPlan[];
}

export interface RoutesTestResult {
  /** Set when `--source` names a preset rather than a configured source: such webhooks get 404 today. */
  readonly note: string | null;
  readonly events: readonly EventRouting[];
}

/** Normalize with the source's preset, route with the real router, decide, render. Nothing is verified, sent or stored. */
export async function testRoutes(options: { config: Config; baseDir: string; source: string; eventFile: string; now?: number }): Promise<RoutesTestResult> {
  const { config } = options;
  const source = previewSource(options.source, undefined, { config, file: null, baseDir: options.baseDir });
  const events = previewEvents(source, readEvent(options.eventFile, source), options.now);
  // Nothing is sent, so destination addresses are not resolved or egress-checked here (`check` does that).
  const components = await buildComponents({ ...config, egress: { ...config.egress, allow_private: true } }, { baseDir: options.baseDir, logger: silentLogger() });
  try {
    const byName = new Map(components.destinations.map((destination) => [destination.name, destination]));
    const routeConfigs = new Map(config.routes.map((route, index) => [route.name ?? `route-${index + 1}`, route]));
    return {
      note: config.sources.some((configured) => configured.name === options.source)
        ? null
        : `no source of the config is named "${options.source}": webhooks to /hooks/${options.source} would get 404 (the event was normalized with the ${source.preset} preset)`,
      events: events.map((event) => {
        const targets = components.router.targets(event);
        const deliveries = targets.map((target): DeliveryPlan => {
          const destination = byName.get(target.destination)!;
          const route = routeConfigs.get(target.route);
          const decisions = OFFLINE_RULES.flatMap((rule) => rule.decide({ event, route, target, config }) ?? []);
          const plan = {
            destination: destination.name,
            type: destination.type,
            route: target.route,
            decisions,
            verdict: decisions.some((decision) => decision.outcome === 'hold') ? ('hold' as const) : ('send' as const),
            template: destination.template,
          };
          try {
            return { ...plan, request: renderFor(components.templates, destination, event) };
          } catch (error) {
            return { ...plan, request: null, render_error: (error as Error).message };
          }
        });
        return { event, routes: explainRoutes(config.routes, event, targets), deliveries };
      }),
    };
  } finally {
    await components.close();
  }
}

/** Each route: does it match, and if not, which of its conditions fails (each checked alone, with the router's own code). */
function explainRoutes(routes: readonly RouteConfig[], event: RelayEvent, targets: readonly RouteTarget[]): RouteVerdict[] {
  return routes.map((route, index) => {
    const name = route.name ?? `route-${index + 1}`;
    const at = `routes[${index}]`;
    const holds = (condition: Partial<RouteConfig>): boolean => compileRoute({ to: route.to, ...condition }, at, index).matches(event);
    const notes: string[] = [];
    const { match } = route;
    const shown = (value: string | readonly string[]): string => (typeof value === 'string' ? `"${value}"` : value.map((item) => `"${item}"`).join(' or '));
    if (match?.source !== undefined && !holds({ match: { source: match.source } })) notes.push(`source "${event.source}" is not ${shown(match.source)}`);
    if (match?.type !== undefined && !holds({ match: { type: match.type } })) notes.push(`type "${event.type}" does not match ${shown(match.type)}`);
    if (match?.severity !== undefined && !holds({ match: { severity: match.severity } })) notes.push(`severity is ${event.severity}, the route wants ${shown(match.severity)}`);
    if (match?.status !== undefined && !holds({ match: { status: match.status } })) notes.push(`status is ${event.status}, the route wants ${match.status}`);
    for (const [key, condition] of Object.entries(route.filter ?? {})) {
      if (compileFilter({ [key]: condition }, `${at}.filter`)(event)) continue;
      notes.push(
        key.startsWith('$')
          ? `filter ${key} ${JSON.stringify(condition)} does not hold`
          : `filter "${key}": ${JSON.stringify(condition)} does not hold (the event has ${JSON.stringify(eventField(event, key) ?? null)})`,
      );
    }
    const matches = notes.length === 0;
    if (matches) {
      for (const destination of route.to) {
        const taken = targets.find((target) => target.destination === destination);
        if (taken && taken.route !== name) notes.push(`"${destination}" gets one delivery, through route "${taken.route}"`);
      }
    }
    return { route: name, matches, notes, to: route.to };
  });
}

/** The result as a person reads it. */
export function describeResult(result: RoutesTestResult): string {
  const out: string[] = [];
  if (result.note) out.push(`note: ${result.note}`, '');
  result.events.forEach(({ event, routes, deliveries }, index) => {
    if (result.events.length > 1) out.push(`=== event ${index + 1} of ${result.events.length} ===`);
    out.push('Normalized event:', indent(JSON.stringify(event, null, 2)), '');
    out.push('Routes:');
    if (routes.length === 0) out.push('  (none configured)');
    for (const route of routes) {
      out.push(route.matches ? `  match     ${route.route} → ${route.to.join(', ')}` : `  no match  ${route.route}: ${route.notes.join('; ')}`);
      if (route.matches) for (const note of route.notes) out.push(`            ${note}`);
    }
    out.push('');
    if (deliveries.length === 0) {
      out.push('Deliveries: none — no route matches, so the event would be logged with a skipped delivery and sent nowhere.');
    } else {
      out.push('Deliveries:');
      for (const delivery of deliveries) {
        const verdict = delivery.verdict === 'hold' ? 'held' : 'sent now';
        out.push(`  ${delivery.destination} (${delivery.type}) via route ${delivery.route}: ${verdict}`);
        for (const decision of delivery.decisions) out.push(`    ${decision.rule}: ${decision.outcome === 'unknown' ? 'not known offline — ' : ''}${decision.detail}`);
        if (delivery.render_error) out.push(`    template ${delivery.template}: cannot render: ${delivery.render_error}`);
        else out.push(`    would send (template ${delivery.template}):`, indent(JSON.stringify(delivery.request, null, 2), 6));
      }
    }
    out.push('');
  });
  return out.join('\n').trimEnd();
}

const indent = (text: string, spaces = 2): string =>
  text
    .split('\n')
    .map((line) => ' '.repeat(spaces) + line)
    .join('\n');
