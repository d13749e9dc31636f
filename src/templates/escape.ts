import Handlebars from 'handlebars';
import { chargeHelperText } from './budget.ts';
import { jsonTextOf } from '../events/json-text.ts';
import { opensAtMost } from '../ingest/json-body.ts';
import { MAX_RENDER_DEPTH, nestsDeeperThan, withinRenderDepth } from './depth.ts';
import type { EscapeMode } from './types.ts';

/**
 * Text that is already safe Slack markup: a `<!date^…>` token, or text the `mrkdwn` / `plain`
 * helpers have already escaped. The escape step still JSON-escapes it (it is going into a JSON
 * string) but never Slack-escapes it again. A SafeString, so `{{{…}}}` prints it as it is.
 */
export class SlackMarkup extends Handlebars.SafeString {}

// JSON.stringify leaves U+2028/U+2029 raw; they are valid JSON but break JavaScript string
// literals and some line-based log tooling, so they are always written as \u escapes.
const LINE_SEPARATORS = /[\u2028\u2029]/g;

function escapeLineSeparators(json: string): string {
  // Most text has neither: a scan for each is cheaper than the replacing regular expression.
  if (!json.includes('\u2028') && !json.includes('\u2029')) return json;
  return json.replace(LINE_SEPARATORS, (char) => `\\u${char.charCodeAt(0).toString(16)}`);
}

/** JSON string-content escaping: the result can sit between `"` and `"` whatever `text` holds. */
export function escapeJsonText(text: string): string {
  // JSON.stringify escapes quotes, backslashes, control characters and lone surrogates.
  return escapeLineSeparators(JSON.stringify(text).slice(1, -1));
}

/**
 * The JSON literal of an event's data as read from the store: its stored text, unless it nests
 * too deep (toJsonLiteral then cuts it). A text with few brackets cannot, so a lazily parsed value
 * (lazyJsonValue) stays unparsed; one with more is judged on its value (which parses it).
 * Undefined for any other value.
 */
export function storedJsonLiteral(value: unknown): string | undefined {
  const text = value !== null && typeof value === 'object' ? jsonTextOf(value) : undefined;
  if (text !== undefined && (opensAtMost(text, MAX_RENDER_DEPTH) || !nestsDeeperThan(value, MAX_RENDER_DEPTH))) return escapeLineSeparators(text);
  return undefined;
}

/** A value serialised as JSON: `null` for undefined, functions and symbols; cut where it nests too deep. */
export function serializedJsonLiteral(value: unknown): string {
  return escapeLineSeparators(JSON.stringify(withinRenderDepth(value)) ?? 'null');
}

/** A JSON literal for any value: its stored text (storedJsonLiteral) or the value serialised. */
export function toJsonLiteral(value: unknown): string {
  return storedJsonLiteral(value) ?? serializedJsonLiteral(value);
}

// Slack turns plain `@channel`, `@here`, `@everyone` into broadcasts when link_names is on;
// a zero-width joiner after the `@` keeps the text looking the same without pinging anyone.
const BROADCAST_MENTION = /@(?=(?:channel|here|everyone))/gi;
const ZERO_WIDTH_JOINER = '\u200d';

/** Looks like a backtick but is a letter (MODIFIER LETTER GRAVE ACCENT), so it cannot open or end a code span. */
export const BACKTICK_LOOKALIKE = '\u02cb';

/**
 * Slack mrkdwn escaping ("Formatting text for app surfaces": escape `&`, `<`, `>`), so sender
 * text can never form `<!channel>`, `<@U123>` or `<http://…|label>`, plus neutralized
 * plain-text broadcast mentions. Backticks become a look-alike: Slack has no escape for them,
 * and one from a sender pairs with the nearest backtick on the line, which may be a template's
 * own code span (`` (`{{type}}`) ``), turning what follows into formatting.
 */
export function escapeSlackText(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/`/g, BACKTICK_LOOKALIKE)
    .replace(BROADCAST_MENTION, `@${ZERO_WIDTH_JOINER}`);
}

// Markdown characters that open or close formatting anywhere on a line (CommonMark
// "Backslash escapes": any ASCII punctuation may be escaped): emphasis, code, strike-through,
// spoilers and tables (`|`), links (`[text](url)`: without its brackets there is no link),
// autolinks, tags and quotes (`<`, `>`), and the escape character itself.
const MARKDOWN_INLINE = /[\\`*_~[\]<>|]/g;
// Block markers that only count at the start of a line: headings and list items (quotes'
// `>` is escaped everywhere already).
const MARKDOWN_LINE_START = /^([ \t]*)([#+-]|\d+[.)])(?=[ \t]|$)/gm;

/**
 * Markdown escaping with backslashes (CommonMark §2.4), for Teams (Adaptive Card TextBlock
 * markdown) and Discord: sender text can never forge a link, a heading or formatting, and
 * broadcast mentions (`@everyone`, `@here`) are broken with an invisible joiner.
 */
export function escapeMarkdownText(text: string): string {
  return text
    .replace(MARKDOWN_INLINE, '\\$&')
    .replace(MARKDOWN_LINE_START, (_line, indent: string, marker: string) => `${indent}${marker.replace(/[#+\-.)]$/, '\\$&')}`)
    .replace(BROADCAST_MENTION, `@${ZERO_WIDTH_JOINER}`);
}

/**
 * Teams: markdown escaping, and `{{` broken with an invisible joiner, since Teams reads
 * `{{DATE(…)}}` and `{{TIME(…)}}` in card text as its own date functions.
 */
export function escapeTeamsText(text: string): string {
  return escapeMarkdownText(text).replace(/\{(?=\{)/g, `{${ZERO_WIDTH_JOINER}`);
}

/**
 * HTML text escaping (`&`, `<`, `>`, `"`, `'`): Google Chat card text takes a subset of HTML
 * (`<b>`, `<a href>`, `<font color>`), so sender text must never be markup there.
 */
export function escapeHtmlText(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** What each mode does to text before JSON escaping (null: nothing). */
const TEXT_ESCAPE: Readonly<Record<EscapeMode, ((text: string) => string) | null>> = {
  json: null,
  slack: escapeSlackText,
  teams: escapeTeamsText,
  discord: escapeMarkdownText,
  html: escapeHtmlText,
};

/**
 * An inline code span for Slack mrkdwn around any text: escaped as all mrkdwn (backticks
 * included, which would end the span), and line breaks become spaces since Slack's spans do
 * not cross lines. Empty text gives an empty string (two backticks would show as such).
 */
export function slackCodeSpan(text: string): string {
  if (text === '') return '';
  return `\`${escapeSlackText(text).replace(/\r\n|[\r\n\u2028\u2029]/g, ' ')}\``;
}

/**
 * Text for Slack `plain_text` objects, which show `&lt;` literally, so no entity escaping.
 * Slack does not parse mentions there, but the text may be copied into a mrkdwn field, so
 * `<` and broadcast mentions are broken with an invisible joiner all the same.
 */
export function neutralizePlainText(text: string): string {
  return text.replace(/</g, `<${ZERO_WIDTH_JOINER}`).replace(BROADCAST_MENTION, `@${ZERO_WIDTH_JOINER}`);
}

/**
 * How a template value reads as text: empty for null/undefined, objects and arrays as compact
 * JSON (instead of Handlebars' `[object Object]`), SafeStrings as their content.
 */
export function toText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (value instanceof Handlebars.SafeString) return value.toString();
  if (typeof value === 'object') {
    const json = JSON.stringify(withinRenderDepth(value)) ?? '';
    // Paid from the render's budget: a template can ask for the same big object again and again.
    chargeHelperText(json.length);
    return json;
  }
  return String(value);
}

/**
 * Every string inside a JSON-like value, escaped for the mode (object keys are left alone). Cut
 * at MAX_RENDER_DEPTH first, so the recursion below is bounded.
 */
export function escapeStringsFor(value: unknown, mode: EscapeMode): unknown {
  const escape = TEXT_ESCAPE[mode];
  return escape === null ? value : escapeStrings(withinRenderDepth(value), escape);
}

function escapeStrings(value: unknown, escape: (text: string) => string): unknown {
  if (typeof value === 'string') return escape(value);
  if (value instanceof Handlebars.SafeString) return value.toString();
  if (Array.isArray(value)) return value.map((item) => escapeStrings(item, escape));
  if (value !== null && typeof value === 'object') {
    const source = value as Record<string, unknown>;
    // toJSON first (Dates), as JSON.stringify would.
    if (typeof source.toJSON === 'function') return escapeStrings((source.toJSON as () => unknown)(), escape);
    return Object.fromEntries(Object.entries(source).map(([key, item]) => [key, escapeStrings(item, escape)]));
  }
  return value;
}

/**
 * What every `{{value}}` of a template goes through (the engine rewrites each escaped mustache
 * into a call of this). A plain SafeString (`json` output) is trusted verbatim, SlackMarkup is
 * JSON-escaped only, anything else is escaped for the mode.
 */
export function escapeForMode(value: unknown, mode: EscapeMode): string {
  if (value instanceof SlackMarkup) return escapeJsonText(value.toString());
  if (value instanceof Handlebars.SafeString) return value.toString();
  const text = toText(value);
  const escape = TEXT_ESCAPE[mode];
  return escapeJsonText(escape === null ? text : escape(text));
}
