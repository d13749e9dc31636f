import type { RelayEvent } from '../events/event.ts';
import type { DigestView } from '../notify/digest.ts';
import type { FallbackView } from '../notify/fallback.ts';

/**
 * How `{{value}}` is escaped in a template.
 * - `json`: JSON string escaping (`"`, `\`, control characters), so output is valid JSON whatever the data holds.
 * - `slack`: Slack mrkdwn escaping (`&`, `<`, `>`, and broadcast mentions) and then JSON escaping,
 *   so text from a sender can never ping (`<!channel>`, `@here`, `<@U…>`) or forge a link.
 * - `teams`, `discord`: markdown escaping with backslashes (`*`, `_`, `[`, `]`, `<`, …, and
 *   headings and list markers at the start of a line), broadcast mentions broken, then JSON
 *   escaping; `teams` also breaks `{{`, which Teams reads as a date function.
 * - `html`: HTML escaping (`&`, `<`, `>`, `"`, `'`) and then JSON escaping (Google Chat card text).
 * `{{{value}}}` is never escaped (the template author's explicit choice).
 */
export type EscapeMode = 'json' | 'slack' | 'teams' | 'discord' | 'html';

/** Every escape mode, for what is registered per mode. */
export const ESCAPE_MODES: readonly EscapeMode[] = ['json', 'slack', 'teams', 'discord', 'html'];

/** How an incident stands, for destinations that keep one message per incident (slack-bot). */
export interface IncidentView {
  /** When its first event occurred. */
  readonly started_at: string;
  /** Events after the first. */
  readonly updates: number;
  readonly acknowledged_by: string | null;
  readonly acknowledged_at: string | null;
  readonly resolved: boolean;
  /** Who resolved it outside its own events ("Dana in PagerDuty", "PagerDuty"); null when its event did. */
  readonly resolved_by: string | null;
  /** From the first event to this one (how long it took to resolve, when resolved). */
  readonly duration_ms: number;
}

/** What every template sees: the event's fields at the top level, plus these. */
export interface TemplateContext extends RelayEvent {
  /** slack-bot destinations only. */
  readonly incident?: IncidentView;
  /** Routes with a threshold: how many events arrived within its window when it fired. */
  readonly threshold?: { readonly count: number; readonly within: string };
  /** The events of this notification: `[event]`, or the whole group for grouped routes and digests. */
  readonly events: readonly RelayEvent[];
  /**
   * Set when this destination sends it as the fallback of another whose circuit is open
   * (src/notify/fallback.ts): `marker` reads "via fallback: PagerDuty destination `oncall` is unavailable".
   */
  readonly fallback?: FallbackView;
  /** Set when the notification is a storm digest: count, the worst incidents, "+K more". */
  readonly digest?: DigestView;
  readonly hookrelay: {
    readonly version: string;
    readonly destination: string;
    readonly delivery_id: string;
  };
}

export interface TemplateEngine {
  /**
   * Compiles the named template once (cached) and checks it: parse errors, unknown helpers,
   * output that is not valid JSON for a sample event. Throws ConfigError naming the file and line.
   */
  prepare(name: string, mode: EscapeMode): void;
  /** Renders to a parsed JSON value. Throws TemplateRenderError (with the file name) on failure. */
  render(name: string, mode: EscapeMode, context: TemplateContext): unknown;
  /**
   * Renders to JSON text, as rendered: the same checks as `render` (it must parse), without
   * building the value again to write it out. Throws TemplateRenderError as `render` does.
   */
  renderText(name: string, mode: EscapeMode, context: TemplateContext): string;
  /** Absolute path of the file a template name resolves to (user folder first, then built-in). */
  resolve(name: string): string;
  /** What is valid but risky in the templates compiled so far (nested loops over sender data), as `file:line: message`. */
  warnings(): readonly string[];
}

export class TemplateRenderError extends Error {
  readonly template: string;
  /** What went wrong, without the template's name (the message is `<template>: <reason>`). */
  readonly reason: string;
  constructor(template: string, reason: string, options?: ErrorOptions) {
    super(`${template}: ${reason}`, options);
    this.name = 'TemplateRenderError';
    this.template = template;
    this.reason = reason;
  }
}
