import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SEVERITIES } from '../events/event.ts';
import { ELLIPSIS, TemplateRenderError, truncateToLength } from '../templates/index.ts';
import { formatPath } from '../util/objects.ts';

/**
 * Fits a rendered PagerDuty Events API v2 event (PagerDuty "Send an Alert Event" reference)
 * to PagerDuty's rules: too long is cut with a visible "…", never dropped.
 */

// "dedup_key … Maximum of 255 characters."
const MAX_DEDUP_KEY = 255;
// "payload.summary … Maximum of 1024 characters."
const MAX_SUMMARY = 1024;
// "The maximum size of an event is 512 KB"; the destination adds routing_key afterwards, so
// a little room is kept for it.
const MAX_EVENT_BYTES = 512 * 1024 - 1024;
// Hex digits of the full key's SHA-256 kept after a cut dedup key, so two long keys that share
// a prefix still name different incidents (and a resolve still matches its trigger).
const DEDUP_HASH_LENGTH = 16;

export const PAGERDUTY_EVENT_ACTIONS = ['trigger', 'acknowledge', 'resolve'] as const;
export type PagerDutyEventAction = (typeof PAGERDUTY_EVENT_ACTIONS)[number];

const payloadSchema = z.looseObject({
  summary: z.string().optional(),
  source: z.string().optional(),
  severity: z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` }).optional(),
  timestamp: z.string().optional(),
  component: z.string().optional(),
  group: z.string().optional(),
  class: z.string().optional(),
  custom_details: z.unknown().optional(),
});

const eventSchema = z
  .looseObject({
    event_action: z.enum(PAGERDUTY_EVENT_ACTIONS, { error: `must be one of ${PAGERDUTY_EVENT_ACTIONS.join(', ')}` }),
    dedup_key: z.string().min(1, 'may not be empty').optional(),
    payload: payloadSchema.optional(),
    client: z.string().optional(),
    client_url: z.string().optional(),
    links: z.array(z.looseObject({ href: z.string(), text: z.string().optional() })).optional(),
    images: z.array(z.looseObject({ src: z.string(), href: z.string().optional(), alt: z.string().optional() })).optional(),
  })
  .superRefine((event, ctx) => {
    if (event.event_action === 'trigger') {
      // A trigger opens an incident: PagerDuty requires summary, source and severity.
      if (event.payload === undefined) {
        ctx.addIssue({ code: 'custom', path: ['payload'], message: 'required for trigger' });
        return;
      }
      for (const key of ['summary', 'source', 'severity'] as const) {
        const value = event.payload[key];
        if (value === undefined || value === '') {
          ctx.addIssue({ code: 'custom', path: ['payload', key], message: 'required for trigger' });
        }
      }
    } else if (event.dedup_key === undefined) {
      ctx.addIssue({ code: 'custom', path: ['dedup_key'], message: `required for ${event.event_action}` });
    }
  });

export type PagerDutyPayload = z.infer<typeof payloadSchema>;
/** An Events API v2 event without routing_key (the pagerduty destination adds it). */
export type PagerDutyEvent = z.infer<typeof eventSchema>;

export interface FittedPagerDutyEvent {
  readonly event: PagerDutyEvent;
  /** Paths that were cut: `dedup_key`, `payload.summary`, `payload.custom_details`. */
  readonly truncated: string[];
}

function eventBytes(event: PagerDutyEvent): number {
  return Buffer.byteLength(JSON.stringify(event), 'utf8');
}

/** Deterministic, so the resolve for a cut key still matches its trigger. */
function shortenDedupKey(key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, DEDUP_HASH_LENGTH);
  return `${truncateToLength(key, MAX_DEDUP_KEY - DEDUP_HASH_LENGTH)}${hash}`;
}

/**
 * custom_details too big for the event: replaced by its JSON text, cut to the largest prefix
 * that fits (binary search on length), and a note saying so.
 */
function shrinkCustomDetails(event: PagerDutyEvent, payload: PagerDutyPayload): boolean {
  const full = JSON.stringify(payload.custom_details) ?? 'null';
  const note = `custom_details was ${Buffer.byteLength(full, 'utf8')} bytes of JSON, over PagerDuty's 512 KB event limit; cut to fit (ends in "${ELLIPSIS}")`;
  const withPrefix = (length: number): void => {
    payload.custom_details = { note, truncated_json: truncateToLength(full, length) };
  };
  let low = 0;
  let high = full.length;
  withPrefix(low);
  if (eventBytes(event) > MAX_EVENT_BYTES) return false;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    withPrefix(middle);
    if (eventBytes(event) <= MAX_EVENT_BYTES) low = middle;
    else high = middle - 1;
  }
  withPrefix(low);
  return true;
}

/**
 * Validates a rendered template as a PagerDuty event and fits it to PagerDuty's limits.
 * Invalid output (unknown event_action or severity, a trigger without summary/source/severity,
 * a resolve without dedup_key) throws TemplateRenderError naming the path.
 * Does not modify `payload`.
 */
export function fitPagerDutyEvent(value: unknown, template = 'pagerduty event'): FittedPagerDutyEvent {
  const parsed = eventSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TemplateRenderError(
      template,
      `not a valid PagerDuty event: ${formatPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`,
    );
  }
  const event: PagerDutyEvent = parsed.data;
  const truncated: string[] = [];

  if (event.dedup_key !== undefined && event.dedup_key.length > MAX_DEDUP_KEY) {
    event.dedup_key = shortenDedupKey(event.dedup_key);
    truncated.push('dedup_key');
  }
  const payload = event.payload;
  if (payload?.summary !== undefined && payload.summary.length > MAX_SUMMARY) {
    payload.summary = truncateToLength(payload.summary, MAX_SUMMARY);
    truncated.push('payload.summary');
  }
  // null details (a sender payload of null) are simply absent to PagerDuty.
  if (payload !== undefined && payload.custom_details === null) delete payload.custom_details;

  if (eventBytes(event) > MAX_EVENT_BYTES) {
    if (payload === undefined || payload.custom_details === undefined || !shrinkCustomDetails(event, payload)) {
      throw new TemplateRenderError(template, `not a valid PagerDuty event: over PagerDuty's 512 KB limit (${eventBytes(event)} bytes)`);
    }
    truncated.push('payload.custom_details');
  }
  return { event, truncated };
}
