// The AST types live in handlebars' global `hbs` namespace.
/// <reference types="handlebars" />
import { didYouMean } from '../util/did-you-mean.ts';
import { formatNumber } from '../util/format.ts';
import { RENDER_LIMITS, formatSize } from './budget.ts';

type Program = hbs.AST.Program;
type Statement = hbs.AST.Statement;
type Expression = hbs.AST.Expression;
type MustacheStatement = hbs.AST.MustacheStatement;
type BlockStatement = hbs.AST.BlockStatement;
type SubExpression = hbs.AST.SubExpression;
type PathExpression = hbs.AST.PathExpression;

/** One thing wrong with a template, at a line of its file. */
export interface TemplateProblem {
  readonly line: number;
  readonly message: string;
}

/** A call: `{{name …}}`, `{{#name …}}` or `(name …)`. */
type Call = MustacheStatement | BlockStatement | SubExpression;

function hasArguments(node: Call): boolean {
  return node.params.length > 0 || (node.hash !== undefined && node.hash.pairs.length > 0);
}

/** `name` when the path is a plain identifier (`json`), not `data.x`, `../x`, `@index` or `this`. */
function simpleName(path: PathExpression | hbs.AST.Literal): string | null {
  if (path.type !== 'PathExpression') return null;
  const p = path as PathExpression;
  return !p.data && p.depth === 0 && p.parts.length === 1 && p.original === p.parts[0] ? (p.parts[0] ?? null) : null;
}

function lineOf(node: hbs.AST.Node): number {
  return node.loc?.start.line ?? 0;
}

/**
 * Walks the whole template for what Handlebars would only notice while rendering (or never):
 * calls with arguments to a helper that is not registered, partials and decorators (hookrelay
 * registers none). A bare `{{name}}` is a lookup, so it is never a problem.
 */
export function findProblems(program: Program, callable: ReadonlySet<string>): TemplateProblem[] {
  const problems: TemplateProblem[] = [];

  const checkCall = (node: Call): void => {
    if (hasArguments(node)) {
      const name = simpleName(node.path);
      if (name === null || !callable.has(name)) {
        const shown = node.path.type === 'PathExpression' ? (node.path as PathExpression).original : String((node.path as hbs.AST.StringLiteral).original);
        problems.push({ line: lineOf(node), message: `unknown helper "${shown}"${didYouMean(shown, [...callable], { listKnown: false })}` });
      }
    }
    for (const param of node.params) checkExpression(param);
    for (const pair of node.hash?.pairs ?? []) checkExpression(pair.value);
  };

  const checkExpression = (node: Expression): void => {
    if (node.type === 'SubExpression') checkCall(node as SubExpression);
  };

  const checkProgram = (block: Program | undefined): void => {
    for (const statement of block?.body ?? []) checkStatement(statement);
  };

  const checkStatement = (node: Statement): void => {
    switch (node.type) {
      case 'MustacheStatement':
        checkCall(node as MustacheStatement);
        break;
      case 'BlockStatement': {
        const block = node as BlockStatement;
        checkCall(block);
        checkProgram(block.program);
        checkProgram(block.inverse);
        break;
      }
      case 'PartialStatement':
      case 'PartialBlockStatement':
        problems.push({ line: lineOf(node), message: 'partials ({{> name}}) are not supported' });
        break;
      case 'Decorator':
      case 'DecoratorBlock':
        problems.push({ line: lineOf(node), message: 'decorators ({{* name}}) are not supported' });
        break;
      default:
        break;
    }
  };

  checkProgram(program);
  return problems;
}

/**
 * The helpers a template can call: every simple name in call position (`{{name …}}`,
 * `{{#name}}`, `(name …)`, and a bare `{{name}}`, which Handlebars calls when such a helper
 * exists) that is one of `callable`. Parameters are lookups, never calls.
 */
export function calledHelpers(program: Program, callable: ReadonlySet<string>): Set<string> {
  const called = new Set<string>();
  const visitCall = (node: Call): void => {
    const name = simpleName(node.path);
    if (name !== null && callable.has(name)) called.add(name);
    for (const param of node.params) visitExpression(param);
    for (const pair of node.hash?.pairs ?? []) visitExpression(pair.value);
  };
  const visitExpression = (node: Expression): void => {
    if (node.type === 'SubExpression') visitCall(node as SubExpression);
  };
  const visitProgram = (block: Program | undefined): void => {
    for (const statement of block?.body ?? []) {
      if (statement.type === 'MustacheStatement') visitCall(statement as MustacheStatement);
      if (statement.type === 'BlockStatement') {
        const block = statement as BlockStatement;
        visitCall(block);
        visitProgram(block.program);
        visitProgram(block.inverse);
      }
    }
  };
  visitProgram(program);
  return called;
}

/**
 * Rewrites every escaped `{{x …}}` into `{{{escapeHelper (x …)}}}` (or `{{{escapeHelper x}}}` for
 * a lookup), so escaping follows the template's mode without touching Handlebars' global
 * escapeExpression. `{{{raw}}}` is left as it is. Mutates and returns `program`, which must be
 * a fresh parse.
 */
export function rewriteEscapes(
  program: Program,
  escapeHelper: string,
  isHelper: (name: string) => boolean,
  /** Helpers whose output is final in every mode (the escape helper would pass it through): called as they are. */
  isFinal: (name: string) => boolean = () => false,
): Program {
  const visitProgram = (block: Program | undefined): void => {
    if (block === undefined) return;
    block.body = block.body.map((statement) => {
      if (statement.type === 'MustacheStatement') {
        const mustache = statement as MustacheStatement;
        return mustache.escaped ? escapedCall(mustache) : mustache;
      }
      if (statement.type === 'BlockStatement') {
        const block = statement as BlockStatement;
        visitProgram(block.program);
        visitProgram(block.inverse);
      }
      return statement;
    });
  };

  const escapedCall = (mustache: MustacheStatement): MustacheStatement => {
    const name = simpleName(mustache.path);
    const isCall = hasArguments(mustache) || (name !== null && isHelper(name));
    // `{{json x}}` is `{{{json x}}}`: one helper call per value instead of two.
    if (isCall && name !== null && isHelper(name) && isFinal(name)) return { ...mustache, escaped: false };
    const path = asPath(mustache.path);
    const argument: Expression = isCall
      ? ({ type: 'SubExpression', path, params: mustache.params, hash: mustache.hash, loc: mustache.loc } as SubExpression)
      : path;
    return {
      ...mustache,
      path: { type: 'PathExpression', data: false, depth: 0, parts: [escapeHelper], original: escapeHelper, loc: mustache.loc } as PathExpression,
      params: [argument],
      hash: undefined as unknown as hbs.AST.Hash,
      // The helper's output is final: Handlebars must not HTML-escape it.
      escaped: false,
    };
  };

  visitProgram(program);
  return program;
}

/**
 * Every whole mustache calling `from` (`{{from …}}` or `{{{from …}}}`, in any block) calls `to`
 * instead; calls inside subexpressions and block helpers are left as they are.
 */
export function renameWholeCalls(program: Program, from: string, to: string): Program {
  const visitProgram = (block: Program | undefined): void => {
    for (const statement of block?.body ?? []) {
      if (statement.type === 'MustacheStatement') {
        const mustache = statement as MustacheStatement;
        if (simpleName(mustache.path) === from) {
          mustache.path = { type: 'PathExpression', data: false, depth: 0, parts: [to], original: to, loc: mustache.path.loc } as PathExpression;
        }
      }
      if (statement.type === 'BlockStatement') {
        const block = statement as BlockStatement;
        visitProgram(block.program);
        visitProgram(block.inverse);
      }
    }
  };
  visitProgram(program);
  return program;
}

/** `{{"some key"}}` / `{{1}}` look up a property of that name, like a path would. */
function asPath(path: PathExpression | hbs.AST.Literal): PathExpression {
  if (path.type === 'PathExpression') return path as PathExpression;
  const literal = path as hbs.AST.StringLiteral;
  const key = String(literal.original);
  return { type: 'PathExpression', data: false, depth: 0, parts: [key], original: key, loc: path.loc } as PathExpression;
}

/**
 * What a value in a template is, as far as the size of a loop over it goes: the sender's
 * payload (`data`, and anything inside it), the notification's events (as many as a group or a
 * digest holds), one event, a storm digest, its bounded `worst` list, or something else.
 */
type ValueKind = 'sender' | 'events' | 'event' | 'digest' | 'worst' | 'other';

/** Loops over these grow with what senders send: nested, they multiply. */
const SENDER_SIZED: ReadonlySet<ValueKind> = new Set(['sender', 'events']);

function childKind(kind: ValueKind, key: string): ValueKind {
  switch (kind) {
    case 'sender':
      return 'sender';
    case 'event':
      return key === 'data' ? 'sender' : key === 'events' ? 'events' : key === 'digest' ? 'digest' : 'other';
    case 'digest':
      return key === 'worst' ? 'worst' : 'other';
    case 'events':
    case 'worst':
      return /^\d+$/.test(key) ? 'event' : 'other';
    default:
      return 'other';
  }
}

/** What `{{#each}}` over a value of this kind binds `this` to. */
function elementKind(kind: ValueKind): ValueKind {
  return kind === 'sender' ? 'sender' : kind === 'events' || kind === 'worst' ? 'event' : 'other';
}

/** A block that changes the context (`each`, `with`), with its block params (`as |value key|`). */
interface Scope {
  readonly context: ValueKind;
  readonly params: ReadonlyMap<string, ValueKind>;
}

/** The outermost loop over sender data with another nested inside, and how deep the nest goes. */
interface LoopNest {
  readonly line: number;
  readonly shown: string;
  levels: number;
}

/**
 * `{{#each}}` nested inside `{{#each}}` where both loop over what senders control (the
 * payload's keys and lists, or the notification's events): the iterations multiply — four
 * levels over a 58-key payload are 11 million. Valid, so a warning, once per outermost loop.
 */
export function findNestedSenderLoops(program: Program): TemplateProblem[] {
  const nests: LoopNest[] = [];
  // Innermost last; the root context is the event.
  const scopes: Scope[] = [{ context: 'event', params: new Map() }];

  const kindOf = (node: Expression): ValueKind => {
    if (node.type === 'SubExpression') {
      const call = node as SubExpression;
      const first = call.params[0];
      // `(lookup data "x")` is inside what it looks in.
      return simpleName(call.path) === 'lookup' && first !== undefined ? childKind(kindOf(first), 'x') : 'other';
    }
    if (node.type !== 'PathExpression') return 'other';
    const path = node as PathExpression;
    let parts = path.parts;
    let kind: ValueKind;
    if (path.data) {
      // `@root.data`; other `@` variables (`@key`, `@index`) are never lists.
      if (parts[0] !== 'root') return 'other';
      kind = 'event';
      parts = parts.slice(1);
    } else {
      const scope = scopes[Math.max(0, scopes.length - 1 - path.depth)]!;
      const param = path.depth === 0 && parts.length > 0 ? scopes.findLast((each) => each.params.has(parts[0]!))?.params.get(parts[0]!) : undefined;
      if (param !== undefined) {
        kind = param;
        parts = parts.slice(1);
      } else {
        kind = scope.context;
      }
    }
    for (const part of parts) kind = childKind(kind, part);
    return kind;
  };

  const visitProgram = (block: Program | undefined, open: LoopNest | null, depth: number): void => {
    for (const statement of block?.body ?? []) {
      if (statement.type !== 'BlockStatement') continue;
      const node = statement as BlockStatement;
      const name = simpleName(node.path);
      const first = node.params[0];
      if ((name === 'each' || name === 'with') && first !== undefined) {
        const kind = kindOf(first);
        let nest = open;
        let levels = depth;
        if (name === 'each' && SENDER_SIZED.has(kind)) {
          levels += 1;
          if (nest === null) {
            const shown = first.type === 'PathExpression' ? (first as PathExpression).original : 'a list';
            nest = { line: lineOf(node), shown, levels: 1 };
          } else if (levels > nest.levels) {
            if (nest.levels === 1) nests.push(nest);
            nest.levels = levels;
          }
        }
        const context = name === 'each' ? elementKind(kind) : kind;
        const names = node.program.blockParams ?? [];
        const params = new Map<string, ValueKind>();
        if (names[0] !== undefined) params.set(names[0], context);
        if (names[1] !== undefined) params.set(names[1], 'other');
        scopes.push({ context, params });
        visitProgram(node.program, nest, levels);
        scopes.pop();
        visitProgram(node.inverse, open, depth);
        continue;
      }
      visitProgram(node.program, open, depth);
      visitProgram(node.inverse, open, depth);
    }
  };

  visitProgram(program, null, 0);
  if (nests.length === 0) return [];
  // formatNumber, not toLocaleString: Intl's first use pages ~4.6 MB of the node binary's ICU
  // data in, and this runs for every template at start (docs/operating.md#memory).
  const limits = `${formatNumber(RENDER_LIMITS.iterations)} iterations or ${formatSize(RENDER_LIMITS.output_bytes)} of output`;
  return nests.map((nest) => ({
    line: nest.line,
    message:
      `{{#each ${nest.shown}}} holds ${nest.levels} levels of {{#each}} over sender data: the iterations multiply ` +
      `(58 keys a level: ${formatNumber(58 ** nest.levels)}); a render stops at ${limits}, and its delivery fails`,
  }));
}
