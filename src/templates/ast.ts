// The AST types live in handlebars' global `hbs` namespace.
/// <reference types="handlebars" />
import { didYouMean } from '../util/did-you-mean.ts';

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

/** `{{"some key"}}` / `{{1}}` look up a property of that name, like a path would. */
function asPath(path: PathExpression | hbs.AST.Literal): PathExpression {
  if (path.type === 'PathExpression') return path as PathExpression;
  const literal = path as hbs.AST.StringLiteral;
  const key = String(literal.original);
  return { type: 'PathExpression', data: false, depth: 0, parts: [key], original: key, loc: path.loc } as PathExpression;
}
