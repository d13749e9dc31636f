import { describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/events/event.ts';
import { escapeJsonText, escapeSlackText } from '../../src/templates/escape.ts';
import { type EscapeMode, createTemplateEngine } from '../../src/templates/index.ts';
import { context, templateDir, writeTemplate } from './support.ts';

const NOW = Date.parse('2026-04-23T18:33:00Z');
const dir = templateDir();
const templates = createTemplateEngine({ dirs: [dir], version: '1', now: () => NOW });
let counter = 0;

/** Renders `{ "v": <body> }`; body is e.g. `"{{truncate title 5}}"` or `{{json data}}`. */
function render(body: string, overrides: Partial<RelayEvent> = {}, mode: EscapeMode = 'json'): unknown {
  counter += 1;
  const name = `h/t${counter}`;
  writeTemplate(dir, name, `{ "v": ${body} }`);
  return (templates.render(name, mode, context(overrides)) as { v: unknown }).v;
}

describe('text helpers', () => {
  it('truncate: cuts on a code-point boundary, "…" only when cut', () => {
    expect(render('"{{truncate title 6}}"', { title: 'Disk full' })).toBe('Disk…');
    expect(render('"{{truncate title 9}}"', { title: 'Disk full' })).toBe('Disk full');
    expect(render('"{{truncate title 4}}"', { title: '🔥🔥🔥🔥🔥' })).toBe('🔥🔥🔥…');
  });

  it('upper, lower, capitalize, humanize', () => {
    expect(render('"{{upper severity}}"')).toBe('CRITICAL');
    expect(render('"{{lower title}}"', { title: 'DISK Full' })).toBe('disk full');
    expect(render('"{{capitalize severity}}"')).toBe('Critical');
    expect(render('"{{humanize type}}"')).toBe('QoS rebuffer spike');
    expect(render('"{{humanize \'HTTP_error-rateSpike\'}}"')).toBe('HTTP error rate spike');
  });

  it('join: list with a separator (", " by default)', () => {
    expect(render('"{{join data.list}}"', { data: { list: ['a', 1, true] } })).toBe('a, 1, true');
    expect(render('"{{join data.list \' / \'}}"', { data: { list: ['/api/v1/cart', '/api/v1/checkout'] } })).toBe('/api/v1/cart / /api/v1/checkout');
  });

  it('default: the fallback for missing or empty values only', () => {
    expect(render('"{{default data.region \'unknown\'}}"', { data: {} })).toBe('unknown');
    expect(render('"{{default data.region \'unknown\'}}"', { data: { region: '' } })).toBe('unknown');
    expect(render('{{json (default data.count 5)}}', { data: { count: 0 } })).toBe(0);
  });

  it('json: a JSON literal, null when missing, both {{…}} and {{{…}}}', () => {
    expect(render('{{json data}}', { data: { a: [1, 'x"y'] } })).toEqual({ a: [1, 'x"y'] });
    expect(render('{{{json data}}}', { data: { a: 'line\u2028' } })).toEqual({ a: 'line\u2028' });
    expect(render('{{json data.missing}}', { data: {} })).toBeNull();
    expect(render('"{{data}}"', { data: { a: 1 } })).toBe('{"a":1}');
  });
});

describe('numbers and durations', () => {
  it('number: thousands separators, optional decimals', () => {
    expect(render('"{{number data.n}}"', { data: { n: 24000 } })).toBe('24,000');
    expect(render('"{{number data.n 2}}"', { data: { n: 8.4 } })).toBe('8.40');
    expect(render('"{{number data.n 0}}"', { data: { n: 1234567.89 } })).toBe('1,234,568');
    expect(render('"{{number data.n}}"', { data: { n: 'n/a' } })).toBe('n/a');
  });

  it('duration: milliseconds as the two largest units', () => {
    expect(render('"{{duration data.ms}}"', { data: { ms: 450 } })).toBe('450ms');
    expect(render('"{{duration data.ms}}"', { data: { ms: 150_000 } })).toBe('2m 30s');
    expect(render('"{{duration data.ms}}"', { data: { ms: 3_600_000 } })).toBe('1h');
    expect(render('"{{duration data.ms}}"', { data: { ms: 273_600_000 } })).toBe('3d 4h');
  });
});

describe('time helpers', () => {
  it('time: UTC by default, iso/date/unix/relative forms', () => {
    expect(render('"{{time occurred_at}}"')).toBe('2026-04-23 18:28 UTC');
    expect(render('"{{time occurred_at \'iso\'}}"')).toBe('2026-04-23T18:28:00.000Z');
    expect(render('"{{time occurred_at \'date\'}}"')).toBe('2026-04-23');
    expect(render('{{time occurred_at "unix"}}')).toBe(1776968880);
    expect(render('"{{time occurred_at \'relative\'}}"')).toBe('5 minutes ago');
    expect(render('"{{time occurred_at \'relative\' now=received_at}}"')).toBe('just now');
    expect(render('"{{time data.t}}"', { data: { t: 1776968880 } })).toBe('2026-04-23 18:28 UTC');
    expect(render('"{{time data.t}}"', { data: { t: 'yesterday-ish' } })).toBe('yesterday-ish');
  });

  it('ago: relative to a given now, or the clock', () => {
    expect(render('"{{ago occurred_at}}"')).toBe('5 minutes ago');
    expect(render('"{{ago occurred_at data.now}}"', { data: { now: '2026-04-23T21:28:00Z' } })).toBe('3 hours ago');
    expect(render('"{{ago data.t}}"', { data: { t: '2026-04-25T18:33:00Z' } })).toBe('in 2 days');
  });

  it('slack_date: Slack date token with a UTC fallback, not escaped even in slack mode', () => {
    expect(render('"{{slack_date occurred_at}}"', {}, 'slack')).toBe(
      '<!date^1776968880^{date_short_pretty} {time}|2026-04-23 18:28 UTC>',
    );
    expect(render('"{{slack_date occurred_at \'{date_long}\'}}"', {}, 'slack')).toBe(
      '<!date^1776968880^{date_long}|2026-04-23 18:28 UTC>',
    );
    // Not a time: shown as text, escaped like any other.
    expect(render('"{{slack_date data.t}}"', { data: { t: '<!here>' } }, 'slack')).toBe('&lt;!here&gt;');
  });
});

describe('severity helpers', () => {
  it.each([
    ['critical', 'firing', ':red_circle:', '#E01E5A'],
    ['error', 'firing', ':large_orange_circle:', '#F2711C'],
    ['warning', 'firing', ':large_yellow_circle:', '#ECB22E'],
    ['info', 'firing', ':large_blue_circle:', '#36C5F0'],
    ['critical', 'resolved', ':white_check_mark:', '#2EB67D'],
  ] as const)('%s %s → %s %s', (severity, status, emoji, color) => {
    expect(render('"{{severity_emoji severity status}}"', { severity, status })).toBe(emoji);
    expect(render('"{{severity_color severity status}}"', { severity, status })).toBe(color);
  });

  it.each([
    ['critical', 'firing', '🔴', 'attention'],
    ['error', 'firing', '🟠', 'attention'],
    ['warning', 'firing', '🟡', 'warning'],
    ['info', 'firing', '🔵', 'accent'],
    ['critical', 'resolved', '✅', 'good'],
    ['bogus', 'firing', '⚪', 'default'],
  ] as const)('%s %s → %s, Adaptive Card colour %s (Teams, Discord, Google Chat, email)', (severity, status, icon, style) => {
    expect(render('"{{severity_icon severity status}}"', { severity: severity as RelayEvent['severity'], status })).toBe(icon);
    expect(render('"{{severity_style severity status}}"', { severity: severity as RelayEvent['severity'], status })).toBe(style);
  });

  it('without a status, a resolved event still shows its severity', () => {
    expect(render('"{{severity_emoji severity}}"', { severity: 'warning', status: 'resolved' })).toBe(':large_yellow_circle:');
  });
});

describe('comparisons and logic', () => {
  const yes = (expression: string, data: Record<string, unknown> = {}): unknown =>
    render(`"{{#if ${expression}}}yes{{else}}no{{/if}}"`, { data });

  it('eq ne gt gte lt lte', () => {
    expect(yes('(eq severity "critical")')).toBe('yes');
    expect(yes('(eq severity "info")')).toBe('no');
    expect(yes('(ne status "resolved")')).toBe('yes');
    expect(yes('(gt data.n 10000)', { n: 24000 })).toBe('yes');
    expect(yes('(gt data.n 10000)', { n: 9 })).toBe('no');
    expect(yes('(gte data.n 9)', { n: 9 })).toBe('yes');
    expect(yes('(lt data.n "10")', { n: 9 })).toBe('yes'); // numeric text compares as a number
    expect(yes('(lte data.n 8)', { n: 9 })).toBe('no');
  });

  it('and or not', () => {
    expect(yes('(and (eq severity "critical") (gt data.n 1))', { n: 2 })).toBe('yes');
    expect(yes('(and (eq severity "critical") (gt data.n 1))', { n: 0 })).toBe('no');
    expect(yes('(or (eq severity "info") data.list)', { list: [] })).toBe('no');
    expect(yes('(not data.list)', { list: [] })).toBe('yes');
    expect(render('"{{or data.name title}}"', { title: 'fallback', data: {} })).toBe('fallback');
  });
});

describe('escaping primitives', () => {
  it('JSON string escaping covers quotes, backslashes, control characters and U+2028/2029', () => {
    expect(escapeJsonText('a"b\\c\nd\u0001e\u2028f\u2029')).toBe('a\\"b\\\\c\\nd\\u0001e\\u2028f\\u2029');
  });

  it('Slack escaping: & < > and broadcast mentions, nothing else', () => {
    expect(escapeSlackText('<!here> & <@U1> *bold* @Channel @channels')).toBe(
      '&lt;!here&gt; &amp; &lt;@U1&gt; *bold* @\u200dChannel @\u200dchannels',
    );
  });
});
