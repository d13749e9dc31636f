import type { Logger } from 'pino';
import { z } from 'zod';
import { countSchema, durationSchema, flagSchema, nameSchema } from '../util/schemas.ts';
import type { RelayEvent } from '../events/event.ts';
import { DEFAULT_STORM } from '../notify/digest.ts';
import type { StormConfig } from '../notify/digest.ts';
import type { EscapeMode, TemplateContext, TemplateEngine } from '../templates/types.ts';
import type { StoreViews } from '../store/store.ts';
import type { HttpClient, SendResult } from './http-client.ts';

export interface OutboundRequest {
  readonly delivery_id: string;
  /** 1 for the first attempt; `Retry-Attempt: n` goes on attempt n + 1. */
  readonly attempt: number;
  /** The rendered body, exactly as logged and as replayed. */
  readonly body: string;
  readonly event: RelayEvent;
  /** Every event of the request, `event` first (a grouped batch or digest has several). */
  readonly events?: readonly RelayEvent[];
}

export interface DestinationLimits {
  readonly concurrency: number;
  /** At most `max` requests started per `per_ms` window; null for no rate limit. */
  readonly rate: { readonly max: number; readonly per_ms: number } | null;
  readonly timeout_ms: number;
}

/** A configured destination: one entry of `destinations:`. */
export interface Destination {
  readonly name: string;
  readonly type: string;
  readonly template: string;
  readonly limits: DestinationLimits;
  /**
   * Holds incident state by dedup key (PagerDuty incidents, slack-bot messages): an event older
   * than one already delivered for its incident is not sent (a late trigger would re-open a
   * resolved incident). Fire-and-forget destinations (slack, http) take every event.
   */
  readonly stateful?: boolean;
  /**
   * Per-incident order (default true): at most one delivery of an incident in flight here, later
   * events wait behind an earlier one still being retried. Only `http` may opt out.
   */
  readonly ordered?: boolean;
  /** People read it (a chat, email): a destination that stops or comes back is told there. */
  readonly read_by_people?: boolean;
  /** Circuit breaker: probe and resume by itself when disabled (default true); false waits for a person. */
  readonly auto_enable?: boolean;
  /**
   * Storm digests: when waiting work would take longer than `horizon_ms` to send at the rate
   * limit, each group's waiting events go out as one digest. Absent/null: never (PagerDuty).
   */
  readonly storm?: StormConfig | null;
  /** Another destination that takes what this one would send while its circuit is open (src/notify/fallback.ts). */
  readonly fallback?: string;
  /** Redraws the incident's message from its stored state (after an acknowledgement). */
  refreshIncident?(dedupKey: string): Promise<void>;
  /** Where it sends, for the egress check at config load. */
  readonly urls: readonly URL[];
  /** The config key they come from, as a problem names it (default `url`; email's `smtp.host`). */
  readonly urls_key?: string;
  /** Compiles and checks the template (start-up). Throws ConfigError. */
  prepare(): void;
  /** The request body for this event, validated and fitted to the destination's limits. Throws TemplateRenderError. */
  render(context: TemplateContext): string | Promise<string>;
  /** One attempt. Never throws for delivery failures: they come back classified. */
  send(request: OutboundRequest): Promise<SendResult>;
  /**
   * Destinations that can acknowledge an incident (PagerDuty): the request body that acknowledges
   * the incident with this dedup key, sent as a delivery like any other (durable, retried, logged).
   */
  acknowledge?(dedupKey: string): string;
}

export interface DestinationDeps {
  readonly http: HttpClient;
  /** The store, once open (destinations that keep state of their own, like slack-bot's incident messages). */
  readonly store: () => Pick<StoreViews, 'view'>;
  readonly templates: TemplateEngine;
  readonly version: string;
  readonly logger: Logger;
}

/** How a type's templates are escaped, and what makes their output what the service takes. */
export interface Rendering {
  readonly mode: EscapeMode;
  /**
   * The rendered template as sent: validated and fitted to the service's limits, with what the
   * destination adds from the context (a thread key). Throws TemplateRenderError naming `template`.
   * Absent: any JSON, and the body is the template's output as rendered.
   */
  fit?(payload: unknown, template: string, context: TemplateContext): unknown;
}

export interface DestinationType<Schema extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly schema: Schema;
  /** Used by the destination itself, `hookrelay render` and `routes test` alike. */
  readonly rendering: Rendering;
  create(config: z.output<Schema>, deps: DestinationDeps): Destination;
}

/** Keys every destination type accepts besides its own. */
export const commonDestinationKeys = {
  name: nameSchema,
  /** Template name, e.g. `slack/compact` (user folder first, then the built-in ones). */
  template: z.string().optional(),
  /** Requests in flight at once. */
  concurrency: countSchema(1, 256).optional(),
  /** At most `max` requests per `per`: `{ max: 3, per: 3s }`. */
  rate: z.object({ max: countSchema(1), per: durationSchema }).strict().optional(),
  /** Per-attempt timeout (default 5s). */
  timeout: durationSchema.optional(),
  /** When disabled after `retry.disable_after` failures: probe and resume by itself (default) or wait for `enable`. */
  auto_enable: flagSchema.optional(),
  /** While this destination's circuit is open, what it would send goes to this destination instead (src/notify/fallback.ts). */
  fallback: nameSchema.optional(),
  /** Storm digests: `{ horizon: 5m, worst: 5 }`, or `false` to send every event on its own however long it takes. */
  storm: z
    .preprocess(
      // `false` (or "false" from ${VAR}) is off, kept as null; anything else must be the object.
      (value) => (value === false || value === 'false' ? null : value),
      z.object({ horizon: durationSchema.optional(), worst: countSchema(1, 20).optional() }).strict().nullable(),
    )
    .optional(),
};

/** Destinations without a rate limit cannot measure a horizon: `storm` there needs `rate`. */
export function requireRateForStorm(config: { rate?: unknown; storm?: unknown }, ctx: z.RefinementCtx): void {
  if (config.storm !== undefined && config.storm !== null && config.rate === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['storm'],
      message: 'storm needs a rate limit (rate: { max, per }): the horizon is measured at the rate the destination is sent to',
    });
  }
}

export interface CommonDestinationConfig {
  name: string;
  template?: string | undefined;
  concurrency?: number | undefined;
  rate?: { max: number; per: number } | undefined;
  timeout?: number | undefined;
  auto_enable?: boolean | undefined;
  fallback?: string | undefined;
  /** null: `storm: false`. */
  storm?: { horizon?: number | undefined; worst?: number | undefined } | null | undefined;
}

/** The destination's storm settings: its own, else `fallback` (the type's default; null: off unless configured). */
export function stormOf(config: CommonDestinationConfig, fallback: StormConfig | null): StormConfig | null {
  if (config.storm === null) return null;
  if (config.storm === undefined) return fallback;
  return { horizon_ms: config.storm.horizon ?? DEFAULT_STORM.horizon_ms, worst: config.storm.worst ?? DEFAULT_STORM.worst };
}

export function limitsOf(
  config: CommonDestinationConfig,
  defaults: { concurrency: number; rate: { max: number; per_ms: number } | null },
): DestinationLimits {
  return {
    concurrency: config.concurrency ?? defaults.concurrency,
    rate: config.rate ? { max: config.rate.max, per_ms: config.rate.per } : defaults.rate,
    timeout_ms: config.timeout ?? 5_000,
  };
}

/** Any JSON, sent as rendered (http, and templates of no destination type). */
export const jsonRendering: Rendering = { mode: 'json' };

/** Renders through the engine with the type's escaping; its fit step validates and truncates. */
export function templateRenderer(deps: DestinationDeps, template: string, rendering: Rendering): Pick<Destination, 'prepare' | 'render'> {
  return {
    prepare: () => deps.templates.prepare(template, rendering.mode),
    render: (context) => {
      const { fit, mode } = rendering;
      // As rendered: parsed to check it, never written out again (issue 20).
      if (!fit) return deps.templates.renderText(template, mode, context);
      return JSON.stringify(fit(deps.templates.render(template, mode, context), template, context));
    },
  };
}

/**
 * A chat posted to through one secret webhook URL (slack, teams, …): the rendered body POSTed
 * as it is, one at a time by default, and storms collapsed into digests (people read a channel)
 * unless `storm: false`. `send` replaces the plain POST for a chat that answers in its own way.
 */
export function chatWebhookDestination(
  config: CommonDestinationConfig & { type: string; url: string },
  deps: DestinationDeps,
  options: {
    readonly template: string;
    readonly rendering: Rendering;
    readonly rate: { max: number; per_ms: number };
    readonly send?: (url: URL, request: OutboundRequest, limits: DestinationLimits) => Promise<SendResult>;
  },
): Destination {
  const url = new URL(config.url);
  const template = config.template ?? options.template;
  const limits = limitsOf(config, { concurrency: 1, rate: options.rate });
  const post = (request: OutboundRequest): Promise<SendResult> => deps.http.post(url, { headers: {}, body: request.body, timeoutMs: limits.timeout_ms });
  return {
    name: config.name,
    type: config.type,
    template,
    limits,
    auto_enable: config.auto_enable !== false,
    storm: stormOf(config, DEFAULT_STORM),
    read_by_people: true,
    urls: [url],
    ...templateRenderer(deps, template, options.rendering),
    send: options.send ? (request) => options.send!(url, request, limits) : post,
  };
}
