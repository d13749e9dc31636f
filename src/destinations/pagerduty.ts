import { z } from 'zod';
import { urlSchema } from '../util/schemas.ts';
import type { DestinationType, Rendering } from './destination.ts';
import { commonDestinationKeys, limitsOf, templateRenderer } from './destination.ts';
import { fitPagerDutyEvent } from './pagerduty-event.ts';

/** Events API v2 events: JSON escaping, validated and fitted to PagerDuty's limits. */
const rendering: Rendering = { mode: 'json', fit: (payload, template) => fitPagerDutyEvent(payload, template).event };

const schema = z
  .object({
    ...commonDestinationKeys,
    type: z.literal('pagerduty'),
    routing_key: z.string().min(1, 'routing_key may not be empty'),
    /** Events API v2 endpoint; overridable for tests and EU accounts. */
    url: urlSchema.default('https://events.pagerduty.com/v2/enqueue'),
    // One PagerDuty event per incident is the norm (its own grouping folds alerts): a digest
    // would page for an incident nobody resolves. Priority (critical first) still applies.
    storm: z
      .undefined({ error: 'PagerDuty takes one event per incident (dedup_key): storm digests are not sent to PagerDuty; remove storm' })
      .optional(),
  })
  .strict();

/**
 * PagerDuty Events API v2: `trigger` on firing, `resolve` on resolved, with the
 * event's dedup_key, so one incident opens and closes. 120 events/min per routing key
 * (PagerDuty "Rate limits"). The routing key is added at send time and never logged.
 */
export const pagerDutyDestination: DestinationType<typeof schema> = {
  type: 'pagerduty',
  schema,
  rendering,
  create(config, deps) {
    const url = new URL(config.url);
    const template = config.template ?? 'pagerduty/default';
    const limits = limitsOf(config, { concurrency: 2, rate: { max: 20, per_ms: 10_000 } });
    return {
      name: config.name,
      type: 'pagerduty',
      template,
      limits,
      auto_enable: config.auto_enable !== false,
      stateful: true,
      urls: [url],
      ...templateRenderer(deps, template, rendering),
      // Events API v2 "acknowledge": only event_action and the trigger's dedup_key (PagerDuty
      // "Send an Alert Event"); fitted like a trigger, so a cut key still names the same incident.
      acknowledge(dedupKey) {
        return JSON.stringify(fitPagerDutyEvent({ event_action: 'acknowledge', dedup_key: dedupKey }).event);
      },
      send(request) {
        const event = JSON.parse(request.body) as Record<string, unknown>;
        const body = JSON.stringify({ ...event, routing_key: config.routing_key });
        return deps.http.post(url, { headers: {}, body, timeoutMs: limits.timeout_ms });
      },
    };
  },
};
