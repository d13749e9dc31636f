import { describe, expect, it } from 'vitest';
import { fitSlackMessage, type SlackMessage } from '../../src/destinations/slack-message.ts';
import { BUILTIN_TEMPLATES_DIR, TemplateRenderError, createTemplateEngine } from '../../src/templates/index.ts';
import { context, templateDir } from './support.ts';

interface Text {
  type: string;
  text: string;
}
interface Block {
  type: string;
  text?: Text;
  fields?: Text[];
  elements?: Text[];
}

/** Slack's Block Kit limits, checked independently of the code under test. */
function expectWithinSlackLimits(message: SlackMessage): void {
  const blocks = (message.blocks ?? []) as Block[];
  expect(blocks.length).toBeLessThanOrEqual(50);
  expect(JSON.stringify(blocks).length).toBeLessThanOrEqual(12_000);
  expect((message.text ?? '').length).toBeLessThanOrEqual(3000);
  for (const block of blocks) {
    if (block.type === 'header') expect(block.text?.text.length).toBeLessThanOrEqual(150);
    if (block.type === 'section') {
      expect(block.text?.text.length ?? 0).toBeLessThanOrEqual(3000);
      expect(block.fields?.length ?? 0).toBeLessThanOrEqual(10);
      for (const field of block.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(2000);
    }
    if (block.type === 'context') expect(block.elements?.length).toBeLessThanOrEqual(10);
  }
}

function renderError(action: () => unknown): TemplateRenderError {
  try {
    action();
  } catch (error) {
    if (error instanceof TemplateRenderError) return error;
    throw error;
  }
  throw new Error('expected a TemplateRenderError');
}

const section = (text: string): Block => ({ type: 'section', text: { type: 'mrkdwn', text } });

describe('fitSlackMessage: too long is cut with "…", never dropped', () => {
  it('a 50 KB title through slack/default: header, text and blocks within limits, cut visibly', () => {
    const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '1' });
    const huge = 'Disk full on db-1 '.repeat(3000); // ~54 KB
    const rendered = templates.render('slack/default', 'slack', context({ title: huge, summary: huge }));
    const { message, truncated } = fitSlackMessage(rendered);
    expectWithinSlackLimits(message);
    const blocks = message.blocks as Block[];
    expect(blocks[0]?.text?.text.startsWith(':red_circle: Disk full on db-1')).toBe(true);
    expect(blocks[0]?.text?.text.endsWith('…')).toBe(true);
    expect(blocks[2]?.text?.text.endsWith('…')).toBe(true);
    expect(message.text?.endsWith('… (tapemetric)')).toBe(true);
    expect(truncated).toEqual([]); // slack/default truncates in the template already
  });

  it('a 50 KB title in a user template that does not truncate: the fitter cuts each text to its limit', () => {
    const dir = templateDir({
      'slack/raw': `{ "text": "{{title}}", "blocks": [
        { "type": "header", "text": { "type": "plain_text", "text": "{{plain title}}" } },
        { "type": "section", "text": { "type": "mrkdwn", "text": "{{title}}" } } ] }`,
    });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    const rendered = templates.render('slack/raw', 'slack', context({ title: 'é<b>'.repeat(12_500) })); // 50 KB
    const { message, truncated } = fitSlackMessage(rendered);
    expectWithinSlackLimits(message);
    const blocks = message.blocks as Block[];
    expect(blocks[0]?.text?.text).toHaveLength(150);
    expect(blocks[1]?.text?.text).toHaveLength(3000 - 3); // backed off a half-written &gt;
    expect(blocks[1]?.text?.text.startsWith('é&lt;b&gt;é')).toBe(true);
    expect(message.text).toHaveLength(3000 - 3);
    expect([message.text, blocks[0]?.text?.text, blocks[1]?.text?.text].every((text) => text?.endsWith('…'))).toBe(true);
    expect(truncated).toEqual(['text', 'blocks[0].text.text', 'blocks[1].text.text']);
  });

  it('200 fields from a user template: 9 kept plus a note saying how many more', () => {
    const dir = templateDir({
      'slack/fields':
        '{ "blocks": [ { "type": "section", "fields": [ {{#each data.items}}{{#if @index}},{{/if}}{ "type": "mrkdwn", "text": "*{{name}}*\\n{{value}}" }{{/each}} ] } ] }',
    });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    const items = Array.from({ length: 200 }, (_, i) => ({ name: `metric_${i}`, value: 'v'.repeat(2500) }));
    const { message, truncated } = fitSlackMessage(templates.render('slack/fields', 'slack', context({ data: { items } })));
    expectWithinSlackLimits(message);
    const fields = (message.blocks as Block[])[0]?.fields ?? [];
    expect(fields).toHaveLength(10);
    expect(fields[0]?.text.startsWith('*metric_0*\n')).toBe(true);
    expect(fields[9]?.text).toBe("… and 191 more fields (Slack's limit)");
    expect(fields[0]?.text.endsWith('…')).toBe(true);
    expect(truncated).toContain('blocks[0].fields');
  });

  it('60 blocks → the first 49 and a context block saying 11 were left out', () => {
    const blocks = Array.from({ length: 60 }, (_, i) => section(`block ${i}`));
    const { message, truncated } = fitSlackMessage({ text: 'many', blocks });
    expectWithinSlackLimits(message);
    const fitted = message.blocks as Block[];
    expect(fitted).toHaveLength(50);
    expect(fitted[48]?.text?.text).toBe('block 48');
    expect(fitted[49]).toEqual({ type: 'context', elements: [{ type: 'mrkdwn', text: "… and 11 more blocks (Slack's limit)" }] });
    expect(truncated).toContain('blocks');
  });

  it('over 12,000 characters of blocks: the longest texts shrink first, short ones stay whole', () => {
    const blocks = [section('short and whole'), section('a'.repeat(2900)), section('b'.repeat(2900)), ...Array.from({ length: 5 }, () => section('c'.repeat(2500)))];
    const { message, truncated } = fitSlackMessage({ text: 'x', blocks });
    expectWithinSlackLimits(message);
    const texts = (message.blocks as Block[]).map((block) => block.text?.text ?? '');
    expect(texts[0]).toBe('short and whole');
    expect(texts.slice(1).every((text) => text.endsWith('…'))).toBe(true);
    // Water-filling: the cut texts end up (about) equally long.
    const lengths = texts.slice(1).map((text) => text.length);
    expect(Math.max(...lengths) - Math.min(...lengths)).toBeLessThanOrEqual(1);
    expect(truncated).not.toContain('blocks[0].text.text');
    expect(truncated).toContain('blocks[1].text.text');
  });

  it('cuts mrkdwn before a half-written entity or link token, not inside it', () => {
    const fit = (text: string): string => (fitSlackMessage({ blocks: [section(text)] }).message.blocks as Block[])[0]?.text?.text ?? '';
    expect(fit(`${'a'.repeat(2996)}&amp; tail`)).toBe(`${'a'.repeat(2996)}…`);
    expect(fit(`${'a'.repeat(2990)} <!date^1776968880^{date}|x> tail`)).toBe(`${'a'.repeat(2990)}…`);
    // A whole entity before the cut stays.
    expect(fit(`${'a'.repeat(2990)} &amp; <!date^1^{date}|x>`)).toBe(`${'a'.repeat(2990)} &amp;…`);
  });

  it('never splits an emoji (surrogate pair) when cutting', () => {
    const text = `${'a'.repeat(148)}🔥🔥🔥`;
    const { message } = fitSlackMessage({ blocks: [{ type: 'header', text: { type: 'plain_text', text } }] });
    const header = (message.blocks as Block[])[0]?.text?.text ?? '';
    expect(header.length).toBeLessThanOrEqual(150);
    expect(header).toBe(`${'a'.repeat(148)}…`);
  });

  it('top-level text over 3000 characters is cut', () => {
    const { message, truncated } = fitSlackMessage({ text: 'y'.repeat(5000) });
    expect(message.text).toHaveLength(3000);
    expect(message.text?.endsWith('…')).toBe(true);
    expect(truncated).toEqual(['text']);
  });

  it('attachment blocks are fitted the same way', () => {
    const { message, truncated } = fitSlackMessage({
      attachments: [{ color: '#E01E5A', blocks: [{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(400) } }] }],
    });
    const header = (message.attachments?.[0]?.blocks as Block[] | undefined)?.[0]?.text?.text ?? '';
    expect(header).toHaveLength(150);
    expect(message.attachments?.[0]?.color).toBe('#E01E5A');
    expect(truncated).toEqual(['attachments[0].blocks[0].text.text']);
  });

  it('does not modify what it was given', () => {
    const payload = { text: 'z'.repeat(4000), blocks: [section('s'.repeat(4000))] };
    const copy = structuredClone(payload);
    fitSlackMessage(payload);
    expect(payload).toEqual(copy);
  });

  it('passes unknown block types and extra keys through', () => {
    const payload = { text: 'x', unfurl_links: false, blocks: [{ type: 'divider' }, { type: 'actions', elements: [{ type: 'button' }] }] };
    expect(fitSlackMessage(payload)).toEqual({ message: payload, truncated: [] });
  });
});

describe('fitSlackMessage: structurally invalid output names the path', () => {
  it.each([
    ['not an object', 'just text', '(top level)'],
    ['no text and no blocks', { username: 'bot' }, '(top level): a Slack message needs "text" or "blocks"'],
    ['a block without type', { blocks: [{ type: 'divider' }, { text: 'x' }] }, 'blocks[1].type'],
    ['a header in mrkdwn', { blocks: [{ type: 'header', text: { type: 'mrkdwn', text: 'x' } }] }, 'blocks[0].text.type'],
    ['an empty section', { blocks: [{ type: 'section' }] }, 'blocks[0]: a section needs text or fields'],
    ['empty section text', { blocks: [section('')] }, 'blocks[0].text.text: Slack rejects empty text'],
    ['a field without text', { blocks: [{ type: 'section', fields: [{ type: 'mrkdwn' }] }] }, 'blocks[0].fields[0].text'],
    ['blocks not a list', { blocks: { type: 'divider' } }, 'blocks'],
    ['an attachment block without type', { attachments: [{ blocks: [{}] }] }, 'attachments[0].blocks[0].type'],
  ])('%s', (_, payload, where) => {
    const error = renderError(() => fitSlackMessage(payload, 'slack/custom'));
    expect(error.template).toBe('slack/custom');
    expect(error.message).toContain(`slack/custom: not a valid Slack message: ${where}`);
  });
});
