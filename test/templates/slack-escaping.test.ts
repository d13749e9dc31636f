import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { fitSlackMessage } from '../../src/destinations/slack-message.ts';
import { HOSTILE, context, event, stringsIn, templateDir } from './support.ts';

interface Rendered {
  text: string;
  blocks: { type: string; text?: { type: string; text: string }; fields?: { text: string }[]; elements?: { text: string }[] }[];
}

const engine = () => createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '1.2.3' });

/** The ways sender text could ping someone or make a link; `<!date^` is ours (slack_date). */
function expectNothingThatPings(strings: string[]): void {
  for (const text of strings) {
    expect(text.replace(/<!date\^\d+\^[^|<>]*\|[^<>]*>/g, '')).not.toMatch(/<!|<@|<#|<http/);
    expect(text).not.toMatch(/@(channel|here|everyone)/i);
  }
}

describe('slack/default with hostile sender text', () => {
  const hostile = context(
    {
      title: `Disk full ${HOSTILE}`,
      summary: `Summary ${HOSTILE}`,
      type: `qos.spike ${HOSTILE}`,
      source: 'tapemetric',
      dedup_key: `key ${HOSTILE}`,
      data: { note: HOSTILE },
    },
    [event({ title: `first ${HOSTILE}` }), event({ title: `second ${HOSTILE}` })],
  );

  it('renders valid JSON in which nothing from the sender can ping or link', () => {
    const output = engine().render('slack/default', 'slack', hostile);
    expectNothingThatPings(stringsIn(output));
  });

  it('shows the sender text escaped for mrkdwn (&lt; …) in mrkdwn fields', () => {
    const output = engine().render('slack/default', 'slack', hostile) as Rendered;
    const summary = output.blocks.find((block) => block.type === 'section' && block.text?.text.startsWith('Summary'));
    expect(summary?.text?.text).toContain('&lt;!channel&gt;');
    expect(summary?.text?.text).toContain('&lt;http://evil.example|click me&gt;');
    expect(summary?.text?.text).toContain('quote " backslash \\ newline \n tab');
    expect(summary?.text?.text).toContain('line-sep \u2028 para-sep \u2029 emoji 🔥👩‍💻');
  });

  it('keeps the header (plain_text) readable: no &lt; entities, emoji intact', () => {
    const output = engine().render('slack/default', 'slack', hostile) as Rendered;
    const header = output.blocks[0];
    expect(header?.type).toBe('header');
    expect(header?.text?.type).toBe('plain_text');
    expect(header?.text?.text).toMatch(/^:red_circle: Disk full /);
    expect(header?.text?.text).not.toContain('&lt;');
    expect(header?.text?.text).not.toContain('&amp;');
  });

  it('still emits the Slack date token from slack_date', () => {
    const output = engine().render('slack/default', 'slack', hostile) as Rendered;
    const contextBlock = output.blocks.find((block) => block.type === 'context');
    expect(contextBlock?.elements?.[0]?.text).toContain(
      '<!date^1776968880^{date_short_pretty} {time}|2026-04-23 18:28 UTC>',
    );
  });

  it('keeps U+2028/U+2029 from sender text as characters (valid JSON, nothing lost)', () => {
    const dir = templateDir({ 'slack/raw': '{ "text": "{{title}}" }' });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    const output = templates.render('slack/raw', 'slack', context({ title: 'a\u2028b\u2029c' })) as { text: string };
    expect(output.text).toBe('a\u2028b\u2029c');
  });

  it('fits Slack limits after fitting, hostile text and all', () => {
    const { message } = fitSlackMessage(engine().render('slack/default', 'slack', hostile));
    expectNothingThatPings(stringsIn(message));
  });
});

describe('escape modes in user templates', () => {
  const dir = templateDir({
    'custom/slack': `{
      "text": "{{title}}",
      "json": {{json data}},
      "json_raw": {{{json data}}},
      "mrkdwn": "{{mrkdwn title}}",
      "plain": "{{plain title}}",
      "when": "{{slack_date occurred_at}}",
      "upper": "{{upper title}}"
    }`,
    'custom/json': `{
      "text": "{{title}}",
      "mrkdwn": "{{mrkdwn title}}",
      "json": {{json data}},
      "when": "{{slack_date occurred_at}}"
    }`,
    'custom/triple': '{ "text": "{{{title}}}" }',
  });
  const templates = createTemplateEngine({ dirs: [dir], version: '1' });
  const hostile = context({ title: '<!here> & "x"', data: { note: '<@U1> @channel' } });

  it('slack mode: every way of printing sender text is escaped, nothing double-escaped', () => {
    const output = templates.render('custom/slack', 'slack', hostile) as Record<string, unknown>;
    expect(output.text).toBe('&lt;!here&gt; &amp; "x"');
    expect(output.json).toEqual({ note: '&lt;@U1&gt; @\u200dchannel' });
    expect(output.json_raw).toEqual({ note: '&lt;@U1&gt; @\u200dchannel' });
    expect(output.mrkdwn).toBe('&lt;!here&gt; &amp; "x"');
    expect(output.plain).toBe('<\u200d!here> & "x"');
    expect(output.when).toBe('<!date^1776968880^{date_short_pretty} {time}|2026-04-23 18:28 UTC>');
    expect(output.upper).toBe('&lt;!HERE&gt; &amp; "X"');
    expectNothingThatPings(stringsIn({ ...output, when: '' }));
  });

  it('json mode: JSON escaping only, mrkdwn on demand', () => {
    const output = templates.render('custom/json', 'json', hostile) as Record<string, unknown>;
    expect(output.text).toBe('<!here> & "x"');
    expect(output.mrkdwn).toBe('&lt;!here&gt; &amp; "x"');
    expect(output.json).toEqual({ note: '<@U1> @channel' });
    expect(output.when).toBe('<!date^1776968880^{date_short_pretty} {time}|2026-04-23 18:28 UTC>');
  });

  it('{{{raw}}} stays raw (the author asked for it)', () => {
    const output = templates.render('custom/triple', 'slack', context({ title: '<b> & co' })) as { text: string };
    expect(output.text).toBe('<b> & co');
  });

  it('prepare refuses {{{raw}}} sender text in a string: hostile text would break the JSON', () => {
    expect(() => templates.prepare('custom/triple', 'slack')).toThrow(/custom\/triple\.hbs: .*not valid JSON/);
  });

  it('leaves the shared Handlebars module alone', () => {
    expect(Handlebars.helpers.json).toBeUndefined();
    expect(Handlebars.helpers.slack_date).toBeUndefined();
    expect(Handlebars.compile('{{x}}')({ x: '<b>' })).toBe('&lt;b&gt;');
  });
});

/**
 * How Slack reads inline code in mrkdwn: from a backtick to the next backtick on the same line;
 * everything else is prose (where `*`, `_`, `~` format). Returns the spans' contents.
 */
function codeSpansAsSlackReadsThem(text: string): string[] {
  const spans: string[] = [];
  let open = -1;
  for (let at = 0; at < text.length; at++) {
    if (text[at] === '\n') open = -1;
    else if (text[at] === '`') {
      if (open === -1) open = at;
      else {
        spans.push(text.slice(open + 1, at));
        open = -1;
      }
    }
  }
  return spans;
}

describe('backticks in sender text (code spans in the default Slack templates)', () => {
  const type = 'deploy`*not code* <!channel>`_x_';
  const dedupKey = 'key`one\nnext` line';
  const rendered = engine().render('slack/default', 'slack', context({ type, dedup_key: dedupKey })) as Rendered;
  const fields = rendered.blocks.flatMap((block) => block.fields ?? []).map((field) => field.text);

  it('the type stays inside its one code span, a look-alike in place of each backtick', () => {
    const field = fields.find((text) => text.startsWith('*Type*'))!;
    expect(codeSpansAsSlackReadsThem(field)).toEqual(['deployˋ*not code* &lt;!channel&gt;ˋ_x_']);
    expect(field.endsWith('`)')).toBe(true);
    // The humanized type before it is prose: its backticks are look-alikes too, or one would pair with ours.
    expect([...field].filter((char) => char === '`')).toHaveLength(2);
  });

  it('the dedup key stays inside its one code span, line break and all', () => {
    const field = fields.find((text) => text.startsWith('*Dedup key*'))!;
    expect(codeSpansAsSlackReadsThem(field)).toEqual(['keyˋone nextˋ line']);
  });

  it('the {{code}} helper gives user templates the same span, and nothing for empty text', () => {
    const dir = templateDir({ 'slack/code': '{ "text": "a {{code title}} b", "empty": "{{code missing}}" }' });
    const output = createTemplateEngine({ dirs: [dir], version: '1' }).render('slack/code', 'slack', context({ title: '``x`\r\ny <b>' })) as Record<string, string>;
    expect(output.text).toBe('a `ˋˋxˋ y &lt;b&gt;` b');
    expect(codeSpansAsSlackReadsThem(output.text!)).toEqual(['ˋˋxˋ y &lt;b&gt;']);
    expect(output.empty).toBe('');
  });
});
