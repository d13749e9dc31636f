import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import Handlebars from 'handlebars';
import { ConfigError } from '../errors.ts';
import { calledHelpers, findNestedSenderLoops, findProblems, renameWholeCalls, rewriteEscapes } from './ast.ts';
import { RENDER_LIMITS, RenderBudgetError, checkOutput, withRenderBudget } from './budget.ts';
import { jsonErrorOffset, lineAndColumn } from './json-error.ts';
import { ESCAPE_HELPER, FINAL_HELPERS, WHOLE_JSON_HELPER, callableHelperNames, registerHelpers, type RenderData } from './helpers.ts';
import { prepareRuntime } from './prepared-runtime.ts';
import { hostileSampleContexts } from './sample-event.ts';
import { putStoredTextsIn, withStoredTexts } from './stored-texts.ts';
import { TemplateRenderError, type EscapeMode, type TemplateContext, type TemplateEngine } from './types.ts';
import { systemClock } from '../util/clock.ts';

export interface TemplateEngineOptions {
  /** Folders searched in order: the user's own first, then the built-in one. */
  readonly dirs: readonly string[];
  /** hookrelay's version, shown to templates as `hookrelay.version` in the sample event. */
  readonly version: string;
  /** Clock for relative times (`ago`, `time … "relative"`): the server's; the system clock by default. */
  readonly now?: () => number;
}

const TEMPLATE_EXTENSION = '.hbs';

// `slack/default`, `team-a/pagerduty_v2`: segments of letters, digits, `-` and `_`. No dots, so
// no `..`, no absolute paths, no backslashes: a name can only ever point inside a template folder.
const TEMPLATE_NAME = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_-]+)*$/;

// How much output to quote around a JSON error.
const SNIPPET_RADIUS = 40;

interface CompiledTemplate {
  readonly file: string;
  readonly render: Handlebars.TemplateDelegate;
  /** What Handlebars would build for each render, built once (prepared-runtime.ts); null: built per render. */
  readonly runtime: Handlebars.RuntimeOptions | null;
  /** Valid but risky (`file:line: message`), for `check` and the start-up log. */
  readonly warnings: readonly string[];
}

/** The file path as a user would type it: relative to the cwd when it is under it. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}

function isFile(file: string): boolean {
  try {
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Handlebars' parse errors span several lines (source excerpt, caret); a problem is one line. */
function describeParseError(error: unknown): { line: number; message: string } {
  const err = error as { message?: unknown; lineNumber?: unknown };
  const text = typeof err.message === 'string' ? err.message : String(error);
  const parseLine = /^Parse error on line (\d+):/.exec(text);
  if (parseLine !== null) {
    const lines = text.split('\n');
    const excerpt = (lines[1] ?? '').trim();
    const expecting = (lines[3] ?? '').trim();
    return { line: Number(parseLine[1]), message: `Parse error: ${expecting}${excerpt === '' ? '' : ` near "${excerpt}"`}` };
  }
  // Mismatched blocks: "if doesn't match each - 3:5".
  const line = typeof err.lineNumber === 'number' ? err.lineNumber : 0;
  return { line, message: `Parse error: ${text.replace(/ - \d+:\d+$/, '').replace(/\s*\n\s*/g, ' ')}` };
}

/** "at position 9 (line 1 column 10): Unexpected token …", plus the output around that place. */
function describeJsonError(error: unknown, output: string): string {
  const message = error instanceof Error ? error.message : String(error);
  const at = jsonErrorOffset(output);
  if (at === null) return `: ${message}`;
  const { line, column } = lineAndColumn(output, at);
  const snippet = output.slice(Math.max(0, at - SNIPPET_RADIUS), at + SNIPPET_RADIUS);
  // V8 repeats a long slice of the output in its message; the snippet says it better.
  const reason = message.replace(/, .*is not valid JSON$/s, '').replace(/ in JSON at position .*$/s, '');
  return `at position ${at} (line ${line} column ${column}): ${reason}; output there: ${JSON.stringify(snippet)}`;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Handlebars templates that render to JSON, escaped per template for its EscapeMode. Each
 * template is read, checked and compiled once per (name, mode) and kept for the life of the
 * process; editing a file takes a restart.
 */
export function createTemplateEngine(options: TemplateEngineOptions): TemplateEngine {
  // An isolated environment: our helpers never leak into (or depend on) the shared module.
  const now = options.now ?? systemClock.now;
  const env = Handlebars.create();
  registerHelpers(env, now);
  const callable = callableHelperNames();
  // By mode, then by name: a render looks its template up with the strings it was given, and
  // builds no key of its own (a key built per render is a new string to hash every time).
  const cache = new Map<EscapeMode, Map<string, CompiledTemplate>>();

  function resolve(name: string): string {
    if (!TEMPLATE_NAME.test(name)) {
      throw new ConfigError([
        `template "${name}": not a template name (use letters, digits, "-", "_" and "/", e.g. slack/default)`,
      ]);
    }
    for (const dir of options.dirs) {
      const file = path.resolve(dir, `${name}${TEMPLATE_EXTENSION}`);
      if (isFile(file)) return file;
    }
    const looked = options.dirs.map((dir) => displayPath(path.resolve(dir))).join(', ');
    throw new ConfigError([`template "${name}": no ${name}${TEMPLATE_EXTENSION} in ${looked || '(no template folders)'}`]);
  }

  /** Reads, checks and compiles; ConfigError for anything wrong with the file itself. */
  function compile(name: string, mode: EscapeMode): CompiledTemplate {
    let byName = cache.get(mode);
    if (byName === undefined) {
      byName = new Map();
      cache.set(mode, byName);
    }
    const cached = byName.get(name);
    if (cached !== undefined) return cached;

    const file = resolve(name);
    const shown = displayPath(file);
    let source: string;
    try {
      source = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError([`${shown}: cannot read: ${errorMessage(error)}`]);
    }

    let program: hbs.AST.Program;
    try {
      // Without whitespace processing: compile() does that once, on the rewritten tree.
      program = env.parseWithoutProcessing(source, { srcName: shown });
    } catch (error) {
      const { line, message } = describeParseError(error);
      throw new ConfigError([`${shown}:${line}: ${message}`]);
    }
    const problems = findProblems(program, callable);
    if (problems.length > 0) {
      throw new ConfigError(problems.map((problem) => `${shown}:${problem.line}: ${problem.message}`));
    }

    const warnings = findNestedSenderLoops(program).map((warning) => `${shown}:${warning.line}: ${warning.message}`);
    rewriteEscapes(program, ESCAPE_HELPER[mode], (helper) => callable.has(helper), (helper) => FINAL_HELPERS.has(helper));
    // Each render copies and wraps every helper of its environment (Handlebars' runtime setup):
    // a template gets an environment with only the helpers it calls, a few instead of dozens.
    const own = Handlebars.create();
    const called = calledHelpers(program, callable);
    renameWholeCalls(program, 'json', WHOLE_JSON_HELPER);
    registerHelpers(own, now, called, mode);
    let render: Handlebars.TemplateDelegate;
    try {
      // compile() is lazy and processes the tree it is given, so a copy is compiled eagerly
      // just to surface compiler errors (with their line) as ConfigError here.
      env.precompile(structuredClone(program), { noEscape: true });
      render = own.compile(program, { noEscape: true });
    } catch (error) {
      const { line, message } = describeParseError(error);
      throw new ConfigError([`${shown}:${line}: ${message}`]);
    }

    const compiled = { file, render, runtime: prepareRuntime(own, called), warnings };
    byName.set(name, compiled);
    return compiled;
  }

  /** Renders and parses; throws the reason as a plain Error (callers add the framing). */
  function renderJson(compiled: CompiledTemplate, mode: EscapeMode, context: TemplateContext): unknown {
    return parseOutput(renderOutput(compiled, mode, context));
  }

  /** The template's output, within the render budget; throws the reason as a plain Error. */
  function renderOutput(compiled: CompiledTemplate, mode: EscapeMode, context: TemplateContext): string {
    const { runtime } = compiled;
    let output: string;
    try {
      // The prepared runtime skips Handlebars' own `@root`: the data carries it.
      const data: RenderData = runtime === null ? { escapeMode: mode } : { escapeMode: mode, root: context };
      output = withRenderBudget(RENDER_LIMITS, () => compiled.render(context, runtime === null ? { data } : { ...runtime, data }));
      checkOutput(output, RENDER_LIMITS);
    } catch (error) {
      // Over budget is the reason itself ("output over 1 MB"), not a failure of Handlebars.
      if (error instanceof RenderBudgetError) throw error;
      throw new Error(`rendering failed: ${errorMessage(error)}`, { cause: error });
    }
    return output;
  }

  /** The output as a JSON value; output that is not JSON throws the reason as a plain Error. */
  function parseOutput(output: string): unknown {
    try {
      return JSON.parse(output) as unknown;
    } catch (error) {
      throw new Error(`output is not valid JSON ${describeJsonError(error, output)}`, { cause: error });
    }
  }

  /** `render` of the compiled template; what fails is a TemplateRenderError naming the template and its file. */
  function renderAs<T>(name: string, mode: EscapeMode, render: (compiled: CompiledTemplate) => T): T {
    let compiled: CompiledTemplate;
    try {
      compiled = compile(name, mode);
    } catch (error) {
      const reason = error instanceof ConfigError ? error.problems.join('; ') : errorMessage(error);
      throw new TemplateRenderError(name, reason, { cause: error });
    }
    try {
      return render(compiled);
    } catch (error) {
      throw new TemplateRenderError(name, `${errorMessage(error)} (${displayPath(compiled.file)})`, { cause: error });
    }
  }

  return {
    resolve,

    warnings() {
      // One file compiled for both escape modes is one set of warnings.
      const byFile = new Map([...cache.values()].flatMap((byName) => [...byName.values()]).map((compiled) => [compiled.file, compiled.warnings]));
      return [...byFile.values()].flat();
    },

    prepare(name, mode) {
      const compiled = compile(name, mode);
      const hookrelay = { version: options.version, destination: 'sample', delivery_id: '01JSAMPLEDELIVERY000000000' };
      for (const { label, context } of hostileSampleContexts(hookrelay)) {
        try {
          renderJson(compiled, mode, context);
        } catch (error) {
          // Over budget already with a small sample: no hint about quoting, the reason says it.
          const hint = error instanceof RenderBudgetError ? '' : ' (use {{json value}} for values outside quotes)';
          throw new ConfigError([`${displayPath(compiled.file)}: with ${label}, ${errorMessage(error)}${hint}`]);
        }
      }
    },

    render(name, mode, context) {
      return renderAs(name, mode, (compiled) => renderJson(compiled, mode, context));
    },

    renderText(name, mode, context) {
      return renderAs(name, mode, (compiled) => {
        // Checked with marks where stored texts go (stored-texts.ts says why that is the same check).
        const { value: marked, texts } = withStoredTexts(() => renderOutput(compiled, mode, context));
        if (texts.length === 0) {
          parseOutput(marked);
          return marked;
        }
        const output = putStoredTextsIn(marked, texts) ?? renderOutput(compiled, mode, context);
        checkOutput(output, RENDER_LIMITS);
        if (!isJson(marked)) parseOutput(output);
        return output;
      });
    },
  };
}
