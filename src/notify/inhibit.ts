import { z } from 'zod';
import type { RelayEvent } from '../events/event.ts';
import { compileRoute, routeSchema } from '../routing/routes.ts';
import { eventField } from '../routing/path.ts';

/** One side of an inhibit rule: the same `match` and `filter` a route has. */
const sideSchema = z
  .object({
    match: routeSchema.shape.match,
    filter: routeSchema.shape.filter,
  })
  .strict();

/**
 * `inhibit: [{ source: { match… }, target: { match… }, equal: [data.region] }]` (Alertmanager's
 * inhibit_rules): while an event matching `source` fires, firing events matching `target` whose
 * `equal` fields have the same values are held back.
 */
export const inhibitRuleSchema = z
  .object({
    source: sideSchema,
    target: sideSchema,
    /** Event paths that must be equal in source and target (`data.region`); none: any source holds any target. */
    equal: z.array(z.string().min(1)).default([]),
  })
  .strict();

export type InhibitRuleConfig = z.output<typeof inhibitRuleSchema>;

export interface InhibitRule {
  readonly targets: (event: RelayEvent) => boolean;
  /** The source event holding `target` back under this rule, among `firing`, or null. */
  inhibitor(target: RelayEvent, firing: readonly RelayEvent[]): RelayEvent | null;
}

const valueAt = (event: RelayEvent, path: string): string => JSON.stringify(eventField(event, path) ?? null);

export function compileInhibitRules(rules: readonly InhibitRuleConfig[]): InhibitRule[] {
  return rules.map((rule, index) => {
    const side = (config: InhibitRuleConfig['source'], name: string) =>
      compileRoute({ ...config, to: ['(inhibit)'] }, `inhibit[${index}].${name}`, index).matches;
    const isSource = side(rule.source, 'source');
    const isTarget = side(rule.target, 'target');
    return {
      targets: (event) => event.status === 'firing' && isTarget(event),
      inhibitor(target, firing) {
        const wanted = rule.equal.map((path) => valueAt(target, path));
        return (
          firing.find(
            (source) =>
              !(source.source === target.source && source.dedup_key === target.dedup_key) &&
              isSource(source) &&
              rule.equal.every((path, i) => valueAt(source, path) === wanted[i]),
          ) ?? null
        );
      },
    };
  });
}
