/**
 * An event's data read from the store keeps the JSON text it was parsed from, so a template
 * that only embeds it (`{{json data}}`) writes that text instead of serialising the parsed value
 * again (issue 20). Only for values parsed here and never changed after: a WeakMap from the
 * parsed object to its text, so nothing is kept beyond the value itself.
 */
const texts = new WeakMap<object, string>();

/** JSON.parse, remembering the text of an object or array it returns. */
export function parseJsonText(text: string): unknown {
  const value = JSON.parse(text) as unknown;
  if (value !== null && typeof value === 'object') texts.set(value, text);
  return value;
}

/**
 * The JSON text `value` was parsed from (by parseJsonText), or undefined. Equivalent to
 * JSON.stringify(value) up to insignificant whitespace, number spelling and duplicate keys,
 * which any reader of the text (JSON.parse) sees as the same value.
 */
export function jsonTextOf(value: object): string | undefined {
  return texts.get(value);
}
