/** `data.region` → the value at that dotted path of an event, or undefined. Arrays take numeric segments. */
export function valueAtPath(root: unknown, path: string): unknown {
  let value = root;
  for (const segment of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}
