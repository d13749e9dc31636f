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
 * The JSON text `value` was parsed from (by parseJsonText or lazyJsonValue), or undefined.
 * Equivalent to JSON.stringify(value) up to insignificant whitespace, number spelling and
 * duplicate keys, which any reader of the text (JSON.parse) sees as the same value.
 */
export function jsonTextOf(value: object): string | undefined {
  return texts.get(value);
}

/** A lazy value's text, and the value once something looked into it (a Proxy's target holds them). */
const SOURCE = Symbol('json text');
type Lazy = { [SOURCE]: { readonly text: string; value: object | null } };

function parsed(target: Lazy): object {
  const source = target[SOURCE];
  source.value ??= parseJsonText(source.text) as object;
  return source.value;
}

/**
 * Every way of looking into the value parses it first (once) and then reads the parsed value.
 * The target is an empty object or array only so that `typeof`, `Array.isArray` and the
 * prototype are right before the parse; what it holds is the text (under a symbol no trap
 * reports).
 */
const LAZY: ProxyHandler<Lazy> = {
  get: (target, key) => Reflect.get(parsed(target), key),
  has: (target, key) => Reflect.has(parsed(target), key),
  ownKeys: (target) => Reflect.ownKeys(parsed(target)),
  getOwnPropertyDescriptor: (target, key) => Reflect.getOwnPropertyDescriptor(parsed(target), key),
  set: (target, key, value) => Reflect.set(parsed(target), key, value),
  defineProperty: (target, key, descriptor) => Reflect.defineProperty(parsed(target), key, descriptor),
  deleteProperty: (target, key) => Reflect.deleteProperty(parsed(target), key),
};

/** JSON's insignificant whitespace (RFC 8259 §2). */
const JSON_WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * The value of stored JSON text (an event's data as a claim reads it), parsed only when
 * something looks into it: a template that only embeds the data (`{{json data}}`: the http
 * envelope) or never reads it (most chat templates) costs no parse, where the parse and the
 * tree it builds were about a tenth of a delivery's work on the event loop (issue 20). An
 * object or array is a Proxy that reads as the parsed value in every way (property reads, `in`,
 * keys, `for…in`, JSON.stringify, Array.isArray), and whose text `jsonTextOf` gives. Not
 * for values that cross to another thread: a Proxy cannot be cloned. Text whose value is not an
 * object or an array (or is not JSON) is parsed at once, as JSON.parse would.
 */
export function lazyJsonValue(text: string): unknown {
  let at = 0;
  while (at < text.length && JSON_WHITESPACE.has(text.charAt(at))) at += 1;
  const first = text.charAt(at);
  if (first !== '{' && first !== '[') return parseJsonText(text);
  const source = { text, value: null };
  const target: Lazy = first === '[' ? Object.assign([], { [SOURCE]: source }) : { [SOURCE]: source };
  const value = new Proxy(target, LAZY);
  texts.set(value, text);
  return value;
}
