/** Shapes of parsed JSON, shared by config, sources, routing and templates. */

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The value at a dotted path (`data.severity`, `alerts.0.status`), or undefined. Own properties
 * only: `data.constructor` is not a field of a sender's payload.
 */
export function valueAtPath(root: unknown, path: string): unknown {
  let current = root;
  for (const key of path.split('.')) {
    if (Array.isArray(current) && /^\d+$/.test(key)) current = current[Number(key)];
    else if (isRecord(current) && Object.hasOwn(current, key)) current = current[key];
    else return undefined;
  }
  return current;
}

/** `['routes', 1, 'to', 0]` → `routes[1].to[0]`, for error messages. */
export function formatPath(path: readonly PropertyKey[], empty = '(top level)'): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? String(segment) : `.${String(segment)}`;
  }
  return text || empty;
}

/**
 * A table looked up with text from outside (a sender's type or conclusion, a header): it has no
 * prototype, so "toString", "constructor" or "__proto__" find nothing rather than a function of
 * Object.prototype (with noUncheckedIndexedAccess, every lookup may miss).
 */
export function lookupTable<T>(entries: Readonly<Record<string, T>>): Readonly<Record<string, T>> {
  return Object.freeze(Object.assign(Object.create(null) as Record<string, T>, entries));
}
