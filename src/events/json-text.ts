/**
 * An event's data read from the store keeps the JSON text it was stored as, so a template that
 * only embeds it (`{{json data}}`) writes that text instead of serialising the parsed value again
 * (issue 20). The value is lazyJsonValue's: it holds its text itself.
 */

/** The key under which a lazy value gives its text without being parsed (a symbol: no JSON key can be it). */
const TEXT = Symbol('hookrelay.jsonText');

/**
 * The JSON text a lazy value (lazyJsonValue) was made from, or undefined for any other value.
 * Equivalent to JSON.stringify(value) up to insignificant whitespace, number spelling and
 * duplicate keys, which any reader of the text (JSON.parse) sees as the same value. Only for
 * values never changed after they were made.
 */
export function jsonTextOf(value: object): string | undefined {
  const own = (value as { readonly [TEXT]?: unknown })[TEXT];
  return typeof own === 'string' ? own : undefined;
}

/**
 * A lazy value's handler, one per value: every way of looking into the value fills its target
 * from the text first (once); from then on the target is the value, so the Proxy keeps every
 * invariant (freezing included) and reads as a plain parsed value. Before the first look the
 * target is an empty object or array: `typeof`, `Array.isArray` and the prototype are already
 * right. The text is kept here, and `jsonTextOf` asks for it under TEXT, rather than in WeakMaps
 * keyed by the value: an entry in a WeakMap per delivery is an ephemeron every minor GC walks
 * (issue 20: the drain's GC).
 */
class Lazy implements ProxyHandler<object> {
  readonly #text: string;
  #parsed = false;

  constructor(text: string) {
    this.#text = text;
  }

  /**
   * The target with the parsed value's own properties on it (defined, not assigned: a
   * `"__proto__"` key stays an own property, as JSON.parse makes it), parsed at the first look.
   */
  #read(target: object): object {
    if (!this.#parsed) {
      // Text that is not JSON throws here, at every look, as JSON.parse of it would.
      Object.defineProperties(target, Object.getOwnPropertyDescriptors(JSON.parse(this.#text) as object));
      this.#parsed = true;
    }
    return target;
  }

  get(target: object, key: string | symbol): unknown {
    return key === TEXT ? this.#text : Reflect.get(this.#read(target), key);
  }
  has(target: object, key: string | symbol): boolean {
    return Reflect.has(this.#read(target), key);
  }
  ownKeys(target: object): (string | symbol)[] {
    return Reflect.ownKeys(this.#read(target));
  }
  getOwnPropertyDescriptor(target: object, key: string | symbol): PropertyDescriptor | undefined {
    return Reflect.getOwnPropertyDescriptor(this.#read(target), key);
  }
  set(target: object, key: string | symbol, value: unknown): boolean {
    return Reflect.set(this.#read(target), key, value);
  }
  defineProperty(target: object, key: string | symbol, descriptor: PropertyDescriptor): boolean {
    return Reflect.defineProperty(this.#read(target), key, descriptor);
  }
  deleteProperty(target: object, key: string | symbol): boolean {
    return Reflect.deleteProperty(this.#read(target), key);
  }
  preventExtensions(target: object): boolean {
    return Reflect.preventExtensions(this.#read(target));
  }
  setPrototypeOf(target: object, prototype: object | null): boolean {
    return Reflect.setPrototypeOf(this.#read(target), prototype);
  }
}

/** JSON's insignificant whitespace (RFC 8259 §2). */
const JSON_WHITESPACE = new Set([' ', '\t', '\n', '\r']);

/**
 * The value of stored JSON text (an event's data as a claim reads it), parsed only when
 * something looks into it: a template that only embeds the data (`{{json data}}`: the http
 * envelope) or never reads it (most chat templates) costs no parse, where the parse and the
 * tree it builds were about a tenth of a delivery's work on the event loop (issue 20). An
 * object or array is a Proxy that reads as the parsed value in every way (property reads, `in`,
 * keys, `for…in`, JSON.stringify, Array.isArray), and whose text `jsonTextOf` gives. Not
 * for values that cross to another thread: a Proxy cannot be cloned. Text that does not begin
 * with `{` or `[` is parsed at once, as JSON.parse would parse it (and fail); an object or array
 * that is not JSON fails where it is read.
 */
export function lazyJsonValue(text: string): unknown {
  let at = 0;
  while (at < text.length && JSON_WHITESPACE.has(text.charAt(at))) at += 1;
  const first = text.charAt(at);
  if (first !== '{' && first !== '[') return JSON.parse(text) as unknown;
  return new Proxy(first === '[' ? [] : {}, new Lazy(text));
}
