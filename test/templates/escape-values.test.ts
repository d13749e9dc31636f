/**
 * How template values become text, and how every string inside a value is Slack-escaped
 * (src/templates/escape.ts): what decides whether a sender's text can ping a channel or
 * break out of the JSON it is written into.
 */
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { escapeForMode, escapeHtmlText, escapeMarkdownText, escapeStringsFor, escapeTeamsText, neutralizePlainText, SlackMarkup, toJsonLiteral, toText } from '../../src/templates/escape.ts';
import { truncateToLength } from '../../src/templates/truncate.ts';

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

describe('escapeStringsFor (slack)', () => {
  it('escapes every string inside, keys and non-strings left alone, SafeStrings as they are, Dates as JSON would', () => {
    const value = {
      '<key>': '<!channel> & @here',
      list: ['a > b', 1, null, true, { deep: '<@U1>' }],
      safe: new Handlebars.SafeString('<!date^1^{date}|x>'),
      at: new Date(Date.UTC(2026, 3, 23, 18, 28)),
      none: null,
    };
    expect(escapeStringsFor(value, 'slack')).toEqual({
      '<key>': `&lt;!channel&gt; &amp; @${ZWJ}here`,
      list: ['a &gt; b', 1, null, true, { deep: '&lt;@U1&gt;' }],
      safe: '<!date^1^{date}|x>',
      at: '2026-04-23T18:28:00.000Z',
      none: null,
    });
  });

  it('a bare value: a string is escaped, anything else comes back as it is', () => {
    expect(escapeStringsFor('<x>', 'slack')).toBe('&lt;x&gt;');
    expect(escapeStringsFor(null, 'slack')).toBeNull();
    expect(escapeStringsFor(undefined, 'slack')).toBeUndefined();
    expect(escapeStringsFor(7, 'slack')).toBe(7);
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

describe('markdown escaping (teams, discord)', () => {
  it('every character that formats, links, quotes or tags is escaped with a backslash; broadcasts are broken', () => {
    expect(escapeMarkdownText('**b** _i_ ~~s~~ `c` ||spoiler|| [x](http://e.example) <@123> > q \\ @everyone @here')).toBe(
      `\\*\\*b\\*\\* \\_i\\_ \\~\\~s\\~\\~ \\\`c\\\` \\|\\|spoiler\\|\\| \\[x\\](http://e.example) \\<@123\\> \\> q \\\\ @${ZWJ}everyone @${ZWJ}here`,
    );
  });

  it('headings and list markers only at the start of a line; the same characters elsewhere stay as they are', () => {
    expect(escapeMarkdownText('# h\n  - item\n+ plus\n12. twelve\n3) three\nC# and 8.4% - fine')).toBe('\\# h\n  \\- item\n\\+ plus\n12\\. twelve\n3\\) three\nC# and 8.4% - fine');
  });

  it('teams also breaks "{{", which Teams reads as a date function', () => {
    expect(escapeTeamsText('{{DATE(2026-04-23T18:28:00Z, SHORT)}}')).toBe(`{${ZWJ}{DATE(2026-04-23T18:28:00Z, SHORT)}}`);
  });

  it('a mode escapes values and the strings inside {{json}} alike', () => {
    expect(escapeForMode('[x](y)', 'discord')).toBe('\\\\[x\\\\](y)');
    expect(escapeStringsFor({ a: ['*b*'] }, 'teams')).toEqual({ a: ['\\*b\\*'] });
    expect(escapeStringsFor({ a: ['*b*'] }, 'json')).toEqual({ a: ['*b*'] });
  });

  it('a cut never ends on the backslash of an escape (which would escape the "…")', () => {
    expect(truncateToLength('abc\\*def', 5, { markup: true })).toBe('abc…');
    expect(truncateToLength('ab\\\\cdef', 5, { markup: true })).toBe('ab\\\\…');
  });
});

describe('html escaping (google_chat)', () => {
  it('&, <, >, " and \' become entities, in values and inside {{json}} alike', () => {
    expect(escapeHtmlText(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
    expect(escapeForMode('<b>', 'html')).toBe('&lt;b&gt;');
    expect(escapeStringsFor({ a: ['<b>'] }, 'html')).toEqual({ a: ['&lt;b&gt;'] });
  });

  it('a cut never ends inside an entity', () => {
    expect(truncateToLength('ab &quot;x', 9, { markup: true })).toBe('ab…');
  });
});
