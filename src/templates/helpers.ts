import Handlebars from 'handlebars';
import { ESCAPE_MODES, type EscapeMode } from './types.ts';
import {
  SlackMarkup,
  escapeForMode,
  escapeStringsFor,
  escapeSlackText,
  neutralizePlainText,
  slackCodeSpan,
  serializedJsonLiteral,
  storedJsonLiteral,
  toJsonLiteral,
  toText,
} from './escape.ts';
import { markStoredText } from './stored-texts.ts';
import {
  capitalize,
  formatDuration,
  formatNumber,
  formatRelative,
  formatUtc,
  formatUtcDate,
  humanize,
  toInstant,
  toNumber,
} from './format.ts';
import { truncateText } from './truncate.ts';
import { chargeHelperText, chargeIteration, checkBlockOutput } from './budget.ts';
import { lookupTable } from '../util/objects.ts';

type HandlebarsEnv = ReturnType<typeof Handlebars.create>;
type Helper = (args: unknown[], options: Handlebars.HelperOptions) => unknown;

/** What helpers read from the render's `@data`: the escape mode of the template being rendered. */
export interface RenderData {
  readonly escapeMode: EscapeMode;
  /** `@root`: the render's context (Handlebars sets it itself unless the runtime is prepared). */
  readonly root?: unknown;
}

/** Internal: every escaped `{{…}}` is rewritten into a call of one of these (see ast.ts). */
export const ESCAPE_HELPER: Readonly<Record<EscapeMode, string>> = {
  json: '__hookrelay_escape_json',
  slack: '__hookrelay_escape_slack',
  teams: '__hookrelay_escape_teams',
  discord: '__hookrelay_escape_discord',
  html: '__hookrelay_escape_html',
};

/**
 * Internal: what a whole `{{json …}}` mustache calls instead (ast.ts `renameWholeCalls`). It
 * writes what `json` writes, but a stored text as a mark while the render collects them
 * (stored-texts.ts); `json` inside a subexpression keeps giving the text to its caller.
 */
export const WHOLE_JSON_HELPER = '__hookrelay_json_whole';

/**
 * Helpers whose output is final whatever the mode: a SafeString, which the escape helper passes
 * through untouched, so a template calls them without it.
 */
export const FINAL_HELPERS: ReadonlySet<string> = new Set(['json']);

/** Handlebars' own helpers a template may use. `log` is left out: it would print to stdout. */
export const BUILTIN_HELPERS: readonly string[] = ['if', 'unless', 'each', 'with', 'lookup'];

const SEVERITY_EMOJI: Readonly<Record<string, string>> = lookupTable({
  critical: ':red_circle:',
  error: ':large_orange_circle:',
  warning: ':large_yellow_circle:',
  info: ':large_blue_circle:',
});
const RESOLVED_EMOJI = ':white_check_mark:';
const UNKNOWN_SEVERITY_EMOJI = ':white_circle:';

// Slack's brand palette, which reads well on light and dark themes.
const SEVERITY_COLOR: Readonly<Record<string, string>> = lookupTable({
  critical: '#E01E5A',
  error: '#F2711C',
  warning: '#ECB22E',
  info: '#36C5F0',
});
const RESOLVED_COLOR = '#2EB67D';
const UNKNOWN_SEVERITY_COLOR = '#9E9EA6';

// Unicode emoji for platforms without Slack's `:shortcodes:` (Teams, Discord, Google Chat, email).
const SEVERITY_ICON: Readonly<Record<string, string>> = lookupTable({ critical: '🔴', error: '🟠', warning: '🟡', info: '🔵' });
const RESOLVED_ICON = '✅';
const UNKNOWN_SEVERITY_ICON = '⚪';

// Adaptive Card colour names (TextBlock `color`, Container `style`).
const SEVERITY_STYLE: Readonly<Record<string, string>> = lookupTable({ critical: 'attention', error: 'attention', warning: 'warning', info: 'accent' });
const RESOLVED_STYLE = 'good';
const UNKNOWN_SEVERITY_STYLE = 'default';

/** Slack's `<!date^…>` default format ("Formatting text": date formatting). */
const SLACK_DATE_FORMAT = '{date_short_pretty} {time}';

function modeOf(options: Handlebars.HelperOptions): EscapeMode {
  const data = options.data as Partial<RenderData> | undefined;
  return data?.escapeMode ?? 'json';
}

/** `json`'s argument with the strings inside escaped for the render's mode. */
function jsonReady(value: unknown, options: Handlebars.HelperOptions): unknown {
  const prepared = escapeStringsFor(value, modeOf(options));
  return prepared instanceof Handlebars.SafeString ? prepared.toString() : prepared;
}

/** Handlebars' idea of truthy (`{{#if}}`): empty arrays are false too. */
function isTruthy(value: unknown): boolean {
  return Array.isArray(value) ? value.length > 0 : Boolean(value);
}

function isResolved(status: unknown): boolean {
  return toText(status).toLowerCase() === 'resolved';
}

function compare(a: unknown, b: unknown): number {
  const x = toNumber(a);
  const y = toNumber(b);
  if (x !== null && y !== null) return x - y;
  // Text compares as text, which also orders ISO 8601 timestamps correctly.
  const left = toText(a);
  const right = toText(b);
  return left < right ? -1 : left > right ? 1 : 0;
}

/** A helper `(severity, status)` → the table's entry for the severity, `resolved` when the status is resolved. */
function bySeverity(table: Readonly<Record<string, string>>, resolved: string, unknown: string): Helper {
  return ([severity, status]) => (isResolved(status) ? resolved : (table[toText(severity).toLowerCase()] ?? unknown));
}

/** Keeps SlackMarkup marked, so `{{truncate (mrkdwn x) 100}}` is not escaped twice. */
function sameKind(value: unknown, text: string): string | SlackMarkup {
  return value instanceof SlackMarkup ? new SlackMarkup(text) : text;
}

/**
 * Every helper a template may call. docs/templates.md lists them from these comments; `prepare`
 * refuses a template that calls anything else. Values that are missing never throw: a
 * helper given nothing returns empty text (or `null` for `json`).
 */
function helpers(now: () => number): Record<string, Helper> {
  return {
    /** `{{json value}}` → the value as a JSON literal (`null` when missing), not escaped again. In slack, teams, discord and html mode the strings inside are escaped for the platform. */
    json: ([value], options) => new Handlebars.SafeString(toJsonLiteral(jsonReady(value, options))),

    /** `{{mrkdwn text}}` → Slack mrkdwn escaping on demand (for json-mode templates that build Slack text); never escaped twice. */
    mrkdwn: ([value]) => (value instanceof SlackMarkup ? value : new SlackMarkup(escapeSlackText(toText(value)))),

    /** `{{code text}}` → an inline code span in Slack mrkdwn (`` `text` ``) that sender text cannot end: backticks inside become `ˋ`, line breaks spaces. */
    code: ([value]) => new SlackMarkup(slackCodeSpan(toText(value))),

    /** `{{plain text}}` → text for Slack `plain_text` fields (headers, buttons), which show `&lt;` literally: JSON escaping only, mentions and `<` still neutralized. */
    plain: ([value]) => new SlackMarkup(neutralizePlainText(toText(value))),

    /** `{{truncate text 150}}` → at most 150 characters (code points), "…" appended only when cut. */
    truncate: ([value, max]) => {
      const limit = toNumber(max);
      if (limit === null) return value;
      return sameKind(value, truncateText(toText(value), Math.max(1, Math.trunc(limit))));
    },

    /**
     * `{{time occurred_at}}` → `2026-04-23 18:28 UTC`. Second argument picks the form:
     * `"utc"` (default), `"iso"` (`2026-04-23T18:28:00.000Z`), `"date"` (`2026-04-23`),
     * `"unix"` (epoch seconds), `"relative"` (`5 minutes ago`; from `now=` or the render time).
     * Text that is not a time is shown as it is.
     */
    time: ([value, form], options) => {
      const date = toInstant(value);
      if (date === null) return value ?? '';
      switch (typeof form === 'string' ? form : 'utc') {
        case 'iso':
          return date.toISOString();
        case 'date':
          return formatUtcDate(date);
        case 'unix':
          return Math.floor(date.getTime() / 1000);
        case 'relative':
          return formatRelative(date, toInstant(options.hash.now)?.getTime() ?? now());
        default:
          return formatUtc(date);
      }
    },

    /** `{{ago occurred_at}}` / `{{ago occurred_at received_at}}` → `5 minutes ago`, relative to the second argument or the render time. */
    ago: ([value, reference]) => {
      const date = toInstant(value);
      if (date === null) return value ?? '';
      return formatRelative(date, toInstant(reference)?.getTime() ?? now());
    },

    /**
     * `{{slack_date occurred_at}}` → Slack's `<!date^1776968880^{date_short_pretty} {time}|2026-04-23 18:28 UTC>`,
     * shown in each reader's own time zone. Optional second argument: another Slack date format.
     * Emits `<…>` on purpose, so it is exempt from slack escaping.
     */
    slack_date: ([value, format]) => {
      const date = toInstant(value);
      if (date === null) return value ?? '';
      // `|`, `^`, `<`, `>` would end or break the token.
      const pattern = typeof format === 'string' && format !== '' ? format.replace(/[|^<>]/g, '') : SLACK_DATE_FORMAT;
      return new SlackMarkup(`<!date^${Math.floor(date.getTime() / 1000)}^${pattern}|${formatUtc(date)}>`);
    },

    /** `{{number 24000}}` → `24,000`; `{{number 8.4 2}}` → `8.40`. Non-numbers are shown as they are. */
    number: ([value, decimals]) => {
      const n = toNumber(value);
      if (n === null) return value ?? '';
      return formatNumber(n, { decimals: toNumber(decimals) ?? undefined });
    },

    /** `{{severity_emoji severity status}}` → `:red_circle:` critical, `:large_orange_circle:` error, `:large_yellow_circle:` warning, `:large_blue_circle:` info; `:white_check_mark:` when status is resolved. */
    severity_emoji: bySeverity(SEVERITY_EMOJI, RESOLVED_EMOJI, UNKNOWN_SEVERITY_EMOJI),

    /** `{{severity_color severity status}}` → a hex colour for attachment bars: critical `#E01E5A`, error `#F2711C`, warning `#ECB22E`, info `#36C5F0`, resolved `#2EB67D`. */
    severity_color: bySeverity(SEVERITY_COLOR, RESOLVED_COLOR, UNKNOWN_SEVERITY_COLOR),

    /** `{{severity_icon severity status}}` → a Unicode emoji, for Teams, Discord, Google Chat and email: 🔴 critical, 🟠 error, 🟡 warning, 🔵 info; ✅ when status is resolved. */
    severity_icon: bySeverity(SEVERITY_ICON, RESOLVED_ICON, UNKNOWN_SEVERITY_ICON),

    /** `{{severity_style severity status}}` → an Adaptive Card colour for Teams: `attention` critical and error, `warning`, `accent` info, `good` when resolved. */
    severity_style: bySeverity(SEVERITY_STYLE, RESOLVED_STYLE, UNKNOWN_SEVERITY_STYLE),

    /** `(eq a b)` → true when strictly equal. */
    eq: ([a, b]) => a === b,
    /** `(ne a b)` → true when not strictly equal. */
    ne: ([a, b]) => a !== b,
    /** `(gt a b)` → a > b; numbers (and numeric text) compare as numbers, anything else as text. */
    gt: ([a, b]) => compare(a, b) > 0,
    /** `(gte a b)` → a ≥ b, compared like `gt`. */
    gte: ([a, b]) => compare(a, b) >= 0,
    /** `(lt a b)` → a < b, compared like `gt`. */
    lt: ([a, b]) => compare(a, b) < 0,
    /** `(lte a b)` → a ≤ b, compared like `gt`. */
    lte: ([a, b]) => compare(a, b) <= 0,
    /** `(and a b …)` → the first falsy argument, or the last one (so it works in `#if` and as a value). */
    and: (args) => args.find((arg) => !isTruthy(arg)) ?? args[args.length - 1],
    /** `(or a b …)` → the first truthy argument, or the last one: `{{or data.name title}}`. */
    or: (args) => args.find(isTruthy) ?? args[args.length - 1],
    /** `(not a)` → true when a is falsy (empty arrays included). */
    not: ([value]) => !isTruthy(value),

    /** `{{default value "n/a"}}` → value, or the fallback when it is missing or empty text. */
    default: ([value, fallback]) => (value === undefined || value === null || value === '' ? fallback : value),

    /** `{{upper text}}` → upper case. */
    upper: ([value]) => sameKind(value, toText(value).toUpperCase()),
    /** `{{lower text}}` → lower case. */
    lower: ([value]) => sameKind(value, toText(value).toLowerCase()),
    /** `{{capitalize text}}` → first letter upper case: `critical` → `Critical`. */
    capitalize: ([value]) => sameKind(value, capitalize(toText(value))),

    /** `{{join list ", "}}` → items joined by the separator (default `, `). */
    join: ([list, separator]) => {
      const sep = typeof separator === 'string' ? separator : ', ';
      if (!Array.isArray(list)) return toText(list);
      // The separators alone can be far more than either argument (a long one, a long list): paid before they are built.
      chargeHelperText(sep.length * Math.max(0, list.length - 1));
      return list.map(toText).join(sep);
    },

    /** `{{humanize type}}` → `qos.rebuffer_spike` becomes `QoS rebuffer spike` (common acronyms kept). */
    humanize: ([value]) => humanize(toText(value)),

    /** `{{duration ms}}` → milliseconds as `450ms`, `2m 30s`, `1h`, `3d 4h`. */
    duration: ([value]) => {
      const ms = toNumber(value);
      return ms === null ? (value ?? '') : formatDuration(ms);
    },
  };
}

/** The names a template may call: ours and Handlebars' builtins. */
export function callableHelperNames(): ReadonlySet<string> {
  return new Set([...Object.keys(helpers(() => 0)), ...BUILTIN_HELPERS]);
}

/**
 * Handlebars' own helpers that its runtime needs whatever a template calls: the two `…Missing`
 * hooks, and `each`, which `blockHelperMissing` calls for a section over a list (`{{#events}}`).
 */
const RUNTIME_HELPERS: ReadonlySet<string> = new Set(['helperMissing', 'blockHelperMissing', 'each']);

/**
 * Registers the helpers and the internal escape helpers on an isolated environment: every one,
 * or for one template (`only`: the helpers it calls, `mode`: its escape mode) just those it can
 * reach. Handlebars copies and wraps every helper of the environment on each render, so each
 * one a template cannot call is work per delivery.
 */
export function registerHelpers(env: HandlebarsEnv, now: () => number, only?: ReadonlySet<string>, mode?: EscapeMode): void {
  env.unregisterHelper('log');
  if (only !== undefined) {
    for (const name of Object.keys(env.helpers)) if (!only.has(name) && !RUNTIME_HELPERS.has(name)) env.unregisterHelper(name);
  }
  for (const [name, helper] of Object.entries(helpers(now))) {
    if (only !== undefined && !only.has(name)) continue;
    const readsArguments = !ARGUMENTS_NOT_READ.has(name);
    env.registerHelper(name, (...all: unknown[]) => {
      // Handlebars passes its options object last.
      const options = all.pop() as Handlebars.HelperOptions;
      // A helper's work grows with the text it reads and writes (values it turns into text are
      // paid by toText): all of it is paid from the render's budget.
      let text = 0;
      if (readsArguments) for (const arg of all) text += textLength(arg);
      const result = helper(all, options);
      chargeHelperText(text + textLength(result));
      return result;
    });
  }
  if (only === undefined || only.has('json')) {
    // `{{json value}}` as Handlebars calls it, (value, options); with no value or more than one,
    // (options) or (value, …, options). What it returns is final: a whole mustache of a final
    // helper is written unescaped (rewriteEscapes), so plain text, no SafeString, is enough.
    env.registerHelper(WHOLE_JSON_HELPER, (value: unknown, ...rest: unknown[]) => {
      const options = (rest.length === 0 ? value : rest[rest.length - 1]) as Handlebars.HelperOptions;
      const ready = jsonReady(rest.length === 0 ? undefined : value, options);
      const stored = storedJsonLiteral(ready);
      const literal = stored ?? serializedJsonLiteral(ready);
      // Paid as `json` is: the text it reads and the text it writes, a stored text in full.
      let read = rest.length === 0 ? 0 : textLength(value);
      for (let at = 0; at < rest.length - 1; at++) read += textLength(rest[at]);
      chargeHelperText(read + literal.length);
      return stored === undefined ? literal : markStoredText(stored);
    });
  }
  meterEach(env);
  for (const escapeMode of mode === undefined ? ESCAPE_MODES : [mode]) {
    env.registerHelper(ESCAPE_HELPER[escapeMode], (value: unknown) => {
      const escaped = escapeForMode(value, escapeMode);
      chargeHelperText(escaped.length);
      return escaped;
    });
  }
}

/**
 * Helpers that never walk the text of their arguments: they compare or pick them (`eq`, `or`,
 * `default`, …), or read at most their limit (`truncate`). Only what they return is paid, so
 * `{{truncate title 200}}` of a huge title costs 200 characters, not the title.
 */
const ARGUMENTS_NOT_READ: ReadonlySet<string> = new Set(['truncate', 'eq', 'ne', 'and', 'or', 'not', 'default']);

function textLength(value: unknown): number {
  if (typeof value === 'string') return value.length;
  return value instanceof Handlebars.SafeString ? value.toString().length : 0;
}

/**
 * Handlebars' own `{{#each}}`, with every iteration paid from the render's budget and the
 * block's output checked as it grows: nested loops over sender data multiply, and must stop
 * while they run, not once they have built it all.
 */
function meterEach(env: HandlebarsEnv): void {
  const each = env.helpers.each as Handlebars.HelperDelegate;
  env.registerHelper('each', function (this: unknown, list: unknown, options?: Handlebars.HelperOptions): unknown {
    // `{{#each}}` without a list: Handlebars' own helper says what is wrong.
    if (typeof options?.fn !== 'function') return each.call(this, list, options);
    const body = options.fn;
    let built = 0;
    const fn = (value: unknown, frame?: Handlebars.RuntimeOptions): string => {
      chargeIteration();
      const output = body(value, frame);
      built += output.length;
      checkBlockOutput(built);
      return output;
    };
    return each.call(this, list, { ...options, fn });
  });
}
