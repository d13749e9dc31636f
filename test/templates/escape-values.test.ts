/**
 * How template values become text, and how every string inside a value is Slack-escaped
 * (src/templates/escape.ts): what decides whether a sender's text can ping a channel or
 * break out of the JSON it is written into.
 */
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { escapeForMode, escapeSlackStrings, neutralizePlainText, SlackMarkup, toJsonLiteral, toText } from '../../src/templates/escape.ts';

const ZWJ = '\u200d';

describe('toText', () => {
  it.each([
    [null, ''],
    [undefined, ''],
    ['<b>', '<b>'],
    ['', ''],
    [new Handlebars.SafeString('<i>'), '<i>'],
    [{ a: 1, b: [true, null] }, '{"a":1,"b":[true,null]}'],
    [[1, 'x'], '[1,"x"]'],
    [0, '0'],
    [false, 'false'],
    [12.5, '12.5'],
  ])('%o → %j', (value, text) => {
    expect(toText(value)).toBe(text);
  });
});

describe('escapeSlackStrings', () => {
  it('escapes every string inside, keys and non-strings left alone, SafeStrings as they are, Dates as JSON would', () => {
    const value = {
      '<key>': '<!channel> & @here',
      list: ['a > b', 1, null, true, { deep: '<@U1>' }],
      safe: new Handlebars.SafeString('<!date^1^{date}|x>'),
      at: new Date(Date.UTC(2026, 3, 23, 18, 28)),
      none: null,
    };
    expect(escapeSlackStrings(value)).toEqual({
      '<key>': `&lt;!channel&gt; &amp; @${ZWJ}here`,
      list: ['a &gt; b', 1, null, true, { deep: '&lt;@U1&gt;' }],
      safe: '<!date^1^{date}|x>',
      at: '2026-04-23T18:28:00.000Z',
      none: null,
    });
  });

  it('a bare value: a string is escaped, anything else comes back as it is', () => {
    expect(escapeSlackStrings('<x>')).toBe('&lt;x&gt;');
    expect(escapeSlackStrings(null)).toBeNull();
    expect(escapeSlackStrings(undefined)).toBeUndefined();
    expect(escapeSlackStrings(7)).toBe(7);
  });
});

describe('plain_text and escape modes', () => {
  it('plain text keeps & and > but breaks < and broadcast mentions with an invisible joiner', () => {
    expect(neutralizePlainText('<!channel> & @everyone > @Here')).toBe(`<${ZWJ}!channel> & @${ZWJ}everyone > @${ZWJ}Here`);
  });

  it('a value lands as JSON string content: Slack-escaped in slack mode only; SlackMarkup JSON-escaped only', () => {
    expect(escapeForMode('"<x>"\n', 'slack')).toBe('\\"&lt;x&gt;\\"\\n');
    expect(escapeForMode('"<x>"\n', 'json')).toBe('\\"<x>\\"\\n');
    expect(escapeForMode(new SlackMarkup('<!date^1^{date}|"x">'), 'slack')).toBe('<!date^1^{date}|\\"x\\">');
    expect(escapeForMode(new Handlebars.SafeString('{"a":1}'), 'slack')).toBe('{"a":1}');
    expect(escapeForMode(null, 'slack')).toBe('');
    expect(toJsonLiteral(undefined)).toBe('null');
    expect(toJsonLiteral('a\u2028b')).toBe('"a\\u2028b"');
  });
});
