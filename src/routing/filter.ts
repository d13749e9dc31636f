import { isRecord } from '../util/objects.ts';
import { eventField } from './path.ts';

/**
 * Route filters: a MongoDB-style query over the dotted paths of an event
 * (`{ "data.affected_sessions": { $gte: 10000 } }`). Operators: $eq $ne $gt $gte $lt $lte
 * $in $nin $exists $regex (with $options) $and $or $not. A bare value means $eq.
 * Compiled once at config load; mistakes are reported with their path.
 */
export type Predicate = (event: unknown) => boolean;

export class FilterError extends Error {
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.name = 'FilterError';
    this.path = path;
  }
}

const FIELD_OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$regex', '$options', '$not'];


function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const keysA = Object.keys(a);
  const keysB = Object.keys(b);
  return (
    keysA.length === keysB.length &&
    keysA.every((key) => deepEqual((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]))
  );
}

/**
 * Equality as in MongoDB: an array field matches when it equals the operand or contains it,
 * and null matches a missing field, so `{ $ne: null }` means "is set".
 */
function equals(field: unknown, operand: unknown): boolean {
  if (deepEqual(field, operand) || (operand === null && field === undefined)) return true;
  return Array.isArray(field) && field.some((item) => deepEqual(item, operand));
}

/** Numbers compare with numbers and strings with strings (ISO timestamps order correctly); anything else never matches. */
function compare(field: unknown, operand: number | string, test: (order: number) => boolean): boolean {
  const one = (value: unknown): boolean => {
    if (typeof operand === 'number' && typeof value === 'number') return test(value - operand);
    if (typeof operand === 'string' && typeof value === 'string') return test(value < operand ? -1 : value > operand ? 1 : 0);
    return false;
  };
  return Array.isArray(field) ? field.some(one) : one(field);
}

function comparable(path: string, operand: unknown): number | string {
  if (typeof operand === 'number' || typeof operand === 'string') return operand;
  throw new FilterError(path, 'expected a number or a string');
}

function list(path: string, operand: unknown): unknown[] {
  if (Array.isArray(operand)) return operand;
  throw new FilterError(path, 'expected a list');
}

function compileFieldCondition(field: string, condition: unknown, at: string): (value: unknown) => boolean {
  const isOperatorObject = isRecord(condition) && Object.keys(condition).some((key) => key.startsWith('$'));
  if (!isOperatorObject) return (value) => equals(value, condition);

  const tests: Array<(value: unknown) => boolean> = [];
  const entries = Object.entries(condition);
  for (const [operator, operand] of entries) {
    const path = `${at}.${operator}`;
    if (!FIELD_OPERATORS.includes(operator)) {
      throw new FilterError(path, `unknown operator (use ${FIELD_OPERATORS.filter((op) => op !== '$options').join(' ')})`);
    }
    switch (operator) {
      case '$eq':
        tests.push((value) => equals(value, operand));
        break;
      case '$ne':
        tests.push((value) => !equals(value, operand));
        break;
      case '$gt': {
        const bound = comparable(path, operand);
        tests.push((value) => compare(value, bound, (order) => order > 0));
        break;
      }
      case '$gte': {
        const bound = comparable(path, operand);
        tests.push((value) => compare(value, bound, (order) => order >= 0));
        break;
      }
      case '$lt': {
        const bound = comparable(path, operand);
        tests.push((value) => compare(value, bound, (order) => order < 0));
        break;
      }
      case '$lte': {
        const bound = comparable(path, operand);
        tests.push((value) => compare(value, bound, (order) => order <= 0));
        break;
      }
      case '$in': {
        const options = list(path, operand);
        tests.push((value) => options.some((option) => equals(value, option)));
        break;
      }
      case '$nin': {
        const options = list(path, operand);
        tests.push((value) => !options.some((option) => equals(value, option)));
        break;
      }
      case '$exists':
        if (typeof operand !== 'boolean') throw new FilterError(path, 'expected true or false');
        tests.push((value) => (value !== undefined) === operand);
        break;
      case '$regex': {
        if (typeof operand !== 'string') throw new FilterError(path, 'expected a regular expression as a string');
        const flags = condition.$options;
        if (flags !== undefined && (typeof flags !== 'string' || !/^[imsu]*$/.test(flags))) {
          throw new FilterError(`${at}.$options`, 'expected some of the flags i, m, s, u');
        }
        let pattern: RegExp;
        try {
          pattern = new RegExp(operand, flags as string | undefined);
        } catch (error) {
          throw new FilterError(path, `invalid regular expression: ${(error as Error).message}`);
        }
        tests.push((value) =>
          Array.isArray(value)
            ? value.some((item) => typeof item === 'string' && pattern.test(item))
            : typeof value === 'string' && pattern.test(value),
        );
        break;
      }
      case '$options':
        if (!('$regex' in condition)) throw new FilterError(path, '$options needs $regex');
        break;
      case '$not': {
        if (!isRecord(operand)) throw new FilterError(path, 'expected an operator expression, e.g. { $gt: 5 }');
        const inner = compileFieldCondition(field, operand, path);
        tests.push((value) => !inner(value));
        break;
      }
    }
  }
  return (value) => tests.every((test) => test(value));
}

function compileClauses(operand: unknown, at: string): Predicate[] {
  if (!Array.isArray(operand) || operand.length === 0) throw new FilterError(at, 'expected a non-empty list of filters');
  return operand.map((clause, index) => compileFilter(clause, `${at}[${index}]`));
}

export function compileFilter(filter: unknown, at = 'filter'): Predicate {
  if (!isRecord(filter)) throw new FilterError(at, 'expected a mapping of field paths to conditions');
  const tests: Predicate[] = [];
  for (const [key, condition] of Object.entries(filter)) {
    const path = `${at}.${key}`;
    if (key === '$and') {
      const clauses = compileClauses(condition, path);
      tests.push((event) => clauses.every((clause) => clause(event)));
    } else if (key === '$or') {
      const clauses = compileClauses(condition, path);
      tests.push((event) => clauses.some((clause) => clause(event)));
    } else if (key === '$not') {
      const inner = compileFilter(condition, path);
      tests.push((event) => !inner(event));
    } else if (key.startsWith('$')) {
      throw new FilterError(path, 'unknown top-level operator (use $and, $or, $not, or a field path)');
    } else {
      const test = compileFieldCondition(key, condition, path);
      tests.push((event) => test(eventField(event, key)));
    }
  }
  return (event) => tests.every((test) => test(event));
}
