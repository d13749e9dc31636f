import { describe, expect, it } from 'vitest';
import type { ConfigError } from '../../src/errors.ts';
import { BUILTIN_TEMPLATES_DIR, RENDER_LIMITS, RenderBudgetError, TemplateRenderError, createTemplateEngine } from '../../src/templates/index.ts';
import { context, templateDir } from './support.ts';

/** The reported payload: 58 keys, about 1.4 KB. */
const FIFTY_EIGHT_KEYS = Object.fromEntries(
  Array.from({ length: 58 }, (_, i) => [`metric_${String(i).padStart(2, '0')}`, `value of metric number ${i}`]),
);

/**
 * The reported template: four nested `{{#each}}` over the sender's keys (58⁴ ≈ 11.3 million
 * iterations). Small enough with start-up's sample event (7 keys) to pass `prepare`.
 */
const FOUR_NESTED_EACH =
  '{ "fields": "{{#each data}}{{#each @root.data}}{{#each @root.data}}{{#each @root.data}}' +
  '{{@key}}={{truncate this 20}}; {{/each}}{{/each}}{{/each}}{{/each}}" }';

function renderError(action: () => unknown): TemplateRenderError {
  try {
    action();
  } catch (error) {
    if (error instanceof TemplateRenderError) return error;
    throw error;
  }
  throw new Error('expected a TemplateRenderError');
}

function budgetError(error: TemplateRenderError): RenderBudgetError {
  expect(error.cause).toBeInstanceOf(RenderBudgetError);
  return error.cause as RenderBudgetError;
}

function engineWith(files: Record<string, string>) {
  return createTemplateEngine({ dirs: [templateDir(files), BUILTIN_TEMPLATES_DIR], version: '1' });
}

describe('render budget: a template cannot freeze the relay', () => {
  // Without the budget this render takes about a minute and gigabytes of memory on a test
  // machine: the test timeout (vitest's default) is the guard, the assertions say why it stopped.
  it('four nested {{#each}} over a 58-key payload (the reported case) → stops with "output over 1 MB"', () => {
    expect(JSON.stringify(FIFTY_EIGHT_KEYS).length).toBeGreaterThan(1_400);
    const templates = engineWith({ 'http/x': FOUR_NESTED_EACH });
    templates.prepare('http/x', 'json');
    const error = renderError(() => templates.render('http/x', 'json', context({ data: FIFTY_EIGHT_KEYS })));
    expect(error.template).toBe('http/x');
    expect(error.reason).toMatch(/^output over 1 MB \(.*http\/x\.hbs\)$/);
    const budget = budgetError(error);
    expect(budget.code).toBe('render_budget_exceeded');
    expect(budget.kind).toBe('output');
    expect(budget.limit).toBe(1024 * 1024);
  });

  it('a template over budget with the sample event already → refused at start-up, with the reason', () => {
    const templates = engineWith({ 'http/loud': FOUR_NESTED_EACH.replace('{{truncate this 20}}', '{{this}}') });
    let problems: readonly string[] = [];
    try {
      templates.prepare('http/loud', 'json');
    } catch (error) {
      problems = (error as ConfigError).problems;
    }
    expect(problems).toEqual([expect.stringMatching(/http\/loud\.hbs: with a firing sample event, output over 1 MB$/)]);
  });

  it('nested loops that output nothing → stop at the iteration budget', () => {
    const templates = engineWith({
      'http/quiet': '{ "n": 1 {{#each data}}{{#each @root.data}}{{#each @root.data}}{{#each @root.data}}{{/each}}{{/each}}{{/each}}{{/each}} }',
    });
    const error = renderError(() => templates.render('http/quiet', 'json', context({ data: FIFTY_EIGHT_KEYS })));
    expect(error.reason).toMatch(/^over 100,000 iterations of \{\{#each\}\}/);
    expect(budgetError(error)).toMatchObject({ kind: 'iterations', limit: RENDER_LIMITS.iterations });
  });

  it('a helper called on a big value inside a loop, output or not → stops at the helper text budget', () => {
    const templates = engineWith({ 'http/busy': '{ "n": "{{#each data}}{{#if (upper @root.summary)}}.{{/if}}{{/each}}" }' });
    const error = renderError(() =>
      templates.render('http/busy', 'json', context({ summary: 's'.repeat(400_000), data: FIFTY_EIGHT_KEYS })),
    );
    expect(error.reason).toMatch(/^helpers read or wrote over 16 MB of text/);
    expect(budgetError(error)).toMatchObject({ kind: 'helper_text', limit: RENDER_LIMITS.helper_text });
  });

  it('the same object turned into text again and again is paid each time', () => {
    const big = Object.fromEntries(Array.from({ length: 58 }, (_, i) => [`k${i}`, 'v'.repeat(10_000)]));
    const templates = engineWith({ 'http/again': '{ "n": "{{#each data}}{{#if (eq (lower @root.data) "x")}}.{{/if}}{{/each}}" }' });
    const error = renderError(() => templates.render('http/again', 'json', context({ data: big })));
    expect(budgetError(error).kind).toBe('helper_text');
  });

  it('join with a long separator over a long list is refused before it is built', () => {
    const templates = engineWith({ 'http/join': '{ "j": "{{join data.list data.sep}}" }' });
    const data = { list: Array.from({ length: 20_000 }, () => ''), sep: '-'.repeat(1_000) };
    const error = renderError(() => templates.render('http/join', 'json', context({ data })));
    expect(budgetError(error).kind).toBe('helper_text');
  });

  it('output over 1 MB without any loop → the same reason', () => {
    const templates = engineWith({});
    const error = renderError(() =>
      templates.render('http/envelope', 'json', context({ data: { blob: 'b'.repeat(RENDER_LIMITS.output_bytes) } })),
    );
    expect(error.reason).toMatch(/^output over 1 MB/);
  });

  it('bytes are counted, not characters: 400,000 three-byte characters are over 1 MB', () => {
    const templates = engineWith({});
    const error = renderError(() => templates.render('http/envelope', 'json', context({ data: { text: '€'.repeat(400_000) } })));
    expect(error.reason).toMatch(/^output over 1 MB/);
  });

  it('what real events need still renders: a 900 KB payload, a 700 KB one to PagerDuty, 50,000 iterations twice', () => {
    const templates = engineWith({ 'http/loop': '{ "n": [{{#each data.rows}}{{#if @index}},{{/if}}{{@index}}{{/each}}] }' });
    const envelope = templates.render('http/envelope', 'json', context({ data: { blob: 'b'.repeat(900_000) } })) as { payload: { blob: string } };
    expect(envelope.payload.blob).toHaveLength(900_000);
    const page = templates.render('pagerduty/default', 'json', context({ data: { blob: 'b'.repeat(700_000) } })) as { payload: { custom_details: { blob: string } } };
    expect(page.payload.custom_details.blob).toHaveLength(700_000);
    // The budget is per render: the second render starts from nothing.
    const rows = Array.from({ length: 50_000 }, (_, i) => i);
    for (let round = 0; round < 2; round++) {
      const rendered = templates.render('http/loop', 'json', context({ data: { rows } })) as { n: number[] };
      expect(rendered.n).toHaveLength(50_000);
    }
  });

  it('truncate reads only what it keeps: 40 events with 900 KB titles, each cut to 200, render', () => {
    const templates = engineWith({ 'http/titles': '{ "t": [{{#each events}}{{#if @index}},{{/if}}"{{truncate title 200}}"{{/each}}] }' });
    const huge = Array.from({ length: 40 }, (_, i) => ({ ...context().events[0]!, id: `evt_${i}`, title: 't'.repeat(900_000) }));
    const rendered = templates.render('http/titles', 'json', { ...context(), events: huge }) as { t: string[] };
    expect(rendered.t).toHaveLength(40);
    expect(rendered.t[0]).toHaveLength(200);
  });

  it('{{#each}} without a list still says what is wrong', () => {
    const templates = engineWith({ 'x/each': '{ "a": "{{#each}}{{/each}}" }' });
    expect(() => templates.render('x/each', 'json', context())).toThrow(/x\/each: rendering failed: Must pass iterator/);
  });
});

describe('nested loops over sender data: a warning at compile time', () => {
  const warningsOf = (source: string): readonly string[] => {
    const templates = engineWith({ 'http/t': source });
    templates.prepare('http/t', 'json');
    return templates.warnings();
  };

  it('the reported template → one warning at the outer loop, with the depth', () => {
    const [warning, ...rest] = warningsOf(FOUR_NESTED_EACH);
    expect(rest).toEqual([]);
    expect(warning).toMatch(/http\/t\.hbs:1: \{\{#each data\}\} holds 4 levels of \{\{#each\}\} over sender data: the iterations multiply \(58 keys a level: 11,316,496\); a render stops at 100,000 iterations or 1 MB of output, and its delivery fails$/);
  });

  it.each([
    ['a list inside each item of a sender list', '{{#each data.alerts}}{{#each labels}}{{/each}}{{/each}}'],
    ['block params', '{{#each data.alerts as |alert|}}{{#each alert.labels}}{{/each}}{{/each}}'],
    ['the sender data of every event of a group', '{{#each events}}{{#each data}}{{/each}}{{/each}}'],
    ['back up to the root', '{{#each data}}{{#each ../data}}{{/each}}{{/each}}'],
    ['through {{#with}}', '{{#with data}}{{#each this}}{{#each @root.events}}{{/each}}{{/each}}{{/with}}'],
    ['inside an {{#if}}', '{{#each data}}{{#if @first}}{{#each (lookup @root.data "x")}}{{/each}}{{/if}}{{/each}}'],
  ])('%s → warned', (_, loops) => {
    expect(warningsOf(`{ "a": "${loops}" }`)).toEqual([expect.stringMatching(/holds 2 levels of \{\{#each\}\} over sender data/)]);
  });

  it.each([
    ['one loop', '{{#each data}}{{@key}}{{/each}}'],
    ['two loops one after the other', '{{#each data}}{{/each}}{{#each events}}{{/each}}'],
    ['the digest\'s worst few (at most 20) with their data', '{{#each digest.worst}}{{#each data}}{{/each}}{{/each}}'],
    ['a loop in the {{else}} of another (runs when it is empty)', '{{#each data}}{{else}}{{#each events}}{{/each}}{{/each}}'],
    ['a loop inside {{#with}} inside a loop, over no list', '{{#each data}}{{#with @root.hookrelay}}{{#each this}}{{/each}}{{/with}}{{/each}}'],
  ])('%s → no warning', (_, loops) => {
    expect(warningsOf(`{ "a": "${loops}" }`)).toEqual([]);
  });

  it('the built-in templates → none', () => {
    const templates = engineWith({});
    for (const [name, mode] of [['slack/default', 'slack'], ['slack-bot/default', 'slack'], ['slack-bot/reply', 'slack'], ['pagerduty/default', 'json'], ['http/envelope', 'json']] as const) {
      templates.prepare(name, mode);
    }
    expect(templates.warnings()).toEqual([]);
  });
});
