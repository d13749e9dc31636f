/**
 * Where rendered output stops being JSON. V8's JSON.parse only sometimes says ("Unexpected
 * token 'o', "{ "ok": nope }" is not valid JSON" has no position), and a template author needs
 * the place to fix, so this small scanner finds the offset of the first error itself.
 */

const WHITESPACE = new Set([' ', '\t', '\n', '\r']);
const NUMBER = /-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;
// eslint-disable-next-line no-control-regex -- raw U+0000–U+001F are not allowed in JSON strings (RFC 8259 §7)
const STRING_BODY = /(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*/y;

class Stop extends Error {
  readonly offset: number;
  constructor(offset: number) {
    super('invalid JSON');
    this.offset = offset;
  }
}

/** Offset of the first character that makes `text` invalid JSON; null when it is valid. */
export function jsonErrorOffset(text: string): number | null {
  let at = 0;

  const skipWhitespace = (): void => {
    while (at < text.length && WHITESPACE.has(text[at] ?? '')) at += 1;
  };
  const expect = (char: string): void => {
    if (text[at] !== char) throw new Stop(at);
    at += 1;
  };
  const literal = (word: string): void => {
    if (!text.startsWith(word, at)) throw new Stop(at);
    at += word.length;
  };
  const string = (): void => {
    expect('"');
    STRING_BODY.lastIndex = at;
    STRING_BODY.exec(text);
    at = STRING_BODY.lastIndex;
    expect('"');
  };
  const value = (): void => {
    skipWhitespace();
    const char = text[at];
    if (char === '{') {
      at += 1;
      skipWhitespace();
      if (text[at] === '}') {
        at += 1;
        return;
      }
      for (;;) {
        skipWhitespace();
        string();
        skipWhitespace();
        expect(':');
        value();
        skipWhitespace();
        if (text[at] === ',') at += 1;
        else return expect('}');
      }
    }
    if (char === '[') {
      at += 1;
      skipWhitespace();
      if (text[at] === ']') {
        at += 1;
        return;
      }
      for (;;) {
        value();
        skipWhitespace();
        if (text[at] === ',') at += 1;
        else return expect(']');
      }
    }
    if (char === '"') return string();
    if (char === 't') return literal('true');
    if (char === 'f') return literal('false');
    if (char === 'n') return literal('null');
    NUMBER.lastIndex = at;
    if (NUMBER.exec(text) === null) throw new Stop(at);
    at = NUMBER.lastIndex;
  };

  try {
    value();
    skipWhitespace();
    return at === text.length ? null : at;
  } catch (error) {
    if (error instanceof Stop) return error.offset;
    throw error;
  }
}

/** 1-based line and column of an offset. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return { line, column: offset - before.lastIndexOf('\n') };
}
