import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.ts';
import { BUILTIN_TEMPLATES_DIR, TemplateRenderError, createTemplateEngine } from '../../src/templates/index.ts';
import { jsonErrorOffset } from '../../src/templates/json-error.ts';
import { context, templateDir, writeTemplate } from './support.ts';

function configProblems(action: () => unknown): readonly string[] {
  try {
    action();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const VALID = '{ "text": "{{title}}" }';

describe('prepare: what is wrong with a template, by file and line', () => {
  const originalCwd = process.cwd();
  afterEach(() => process.chdir(originalCwd));

  it('unknown helper → file (relative to the cwd), line and helper name', () => {
    const root = templateDir();
    const lines = ['{', ...Array.from({ length: 10 }, (_, i) => `  "f${i}": "{{title}}",`), '  "t": "{{trunc title 10}}"', '}'];
    writeTemplate(path.join(root, 'templates'), 'slack/custom', lines.join('\n'));
    process.chdir(root);
    const templates = createTemplateEngine({ dirs: ['templates'], version: '1' });
    expect(configProblems(() => templates.prepare('slack/custom', 'slack'))).toEqual([
      'templates/slack/custom.hbs:12: unknown helper "trunc"',
    ]);
  });

  it('unknown helpers inside sub-expressions and block helpers are all reported', () => {
    const dir = templateDir({
      'x/helpers': '{\n"a": "{{upper (shout title)}}",\n{{#each_pair data}}{{/each_pair}}\n"b": "{{lookup data \'x\'}}"\n}',
    });
    const file = path.join(dir, 'x/helpers.hbs');
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    expect(configProblems(() => templates.prepare('x/helpers', 'json'))).toEqual([
      `${file}:2: unknown helper "shout"`,
      `${file}:3: unknown helper "each_pair"`,
    ]);
  });

  it('a parse error → file and line of the problem', () => {
    const dir = templateDir({ 'x/broken': '{\n  "a": "{{title}}",\n  "b": "{{#if summary}}"\n}' });
    const [problem, ...rest] = configProblems(() =>
      createTemplateEngine({ dirs: [dir], version: '1' }).prepare('x/broken', 'json'),
    );
    expect(rest).toEqual([]);
    expect(problem).toMatch(new RegExp(`^${path.join(dir, 'x/broken.hbs')}:4: Parse error`));
  });

  it('mismatched blocks → file and line', () => {
    const dir = templateDir({ 'x/mismatch': '{\n\n"a": "{{#if title}}x{{/each}}"\n}' });
    const problems = configProblems(() => createTemplateEngine({ dirs: [dir], version: '1' }).prepare('x/mismatch', 'json'));
    expect(problems).toEqual([`${path.join(dir, 'x/mismatch.hbs')}:3: Parse error: if doesn't match each`]);
  });

  it('output that is not JSON for the sample event → file and the JSON error', () => {
    const dir = templateDir({ 'x/notjson': '{ "count": {{data.count}} }' });
    const problems = configProblems(() => createTemplateEngine({ dirs: [dir], version: '1' }).prepare('x/notjson', 'json'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`${path.join(dir, 'x/notjson.hbs')}: with a firing sample event, output is not valid JSON`);
    expect(problems[0]).toContain('{{json value}}');
  });

  it('a branch only a resolved event takes is checked too', () => {
    const dir = templateDir({ 'x/resolved': '{{#if (eq status "resolved")}}oops{{else}}{}{{/if}}' });
    const problems = configProblems(() => createTemplateEngine({ dirs: [dir], version: '1' }).prepare('x/resolved', 'json'));
    expect(problems[0]).toContain('with a resolved sample event, output is not valid JSON');
  });

  it('a branch only a group takes is checked too', () => {
    const dir = templateDir({ 'x/group': '{{#if (gt events.length 1)}}[{{#each events}}"{{title}}"{{/each}}]{{else}}[]{{/if}}' });
    const problems = configProblems(() => createTemplateEngine({ dirs: [dir], version: '1' }).prepare('x/group', 'json'));
    expect(problems[0]).toContain('with a sample group of 3 events, output is not valid JSON');
  });

  it('partials are refused (none are registered)', () => {
    const dir = templateDir({ 'x/partial': '{\n{{> footer}}\n}' });
    const problems = configProblems(() => createTemplateEngine({ dirs: [dir], version: '1' }).prepare('x/partial', 'json'));
    expect(problems).toEqual([`${path.join(dir, 'x/partial.hbs')}:2: partials ({{> name}}) are not supported`]);
  });

  it('the built-in templates pass their own checks', () => {
    const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '1' });
    expect(() => templates.prepare('slack/default', 'slack')).not.toThrow();
    expect(() => templates.prepare('pagerduty/default', 'json')).not.toThrow();
    expect(() => templates.prepare('http/envelope', 'json')).not.toThrow();
  });
});

describe('resolving names', () => {
  it('the user folder overrides the built-in one; other names fall through to it', () => {
    const user = templateDir({ 'slack/default': '{ "text": "custom {{title}}" }' });
    const templates = createTemplateEngine({ dirs: [user, BUILTIN_TEMPLATES_DIR], version: '1' });
    expect(templates.resolve('slack/default')).toBe(path.join(user, 'slack/default.hbs'));
    expect(templates.render('slack/default', 'slack', context({ title: 'Disk full' }))).toEqual({ text: 'custom Disk full' });
    expect(templates.resolve('http/envelope')).toBe(path.join(BUILTIN_TEMPLATES_DIR, 'http/envelope.hbs'));
  });

  it.each(['../secrets', 'slack/../../etc/passwd', '/etc/passwd', 'slack\\default', 'slack/default.hbs', '', 'a//b'])(
    'refuses the name %j',
    (name) => {
      const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '1' });
      expect(configProblems(() => templates.resolve(name))[0]).toContain('not a template name');
    },
  );

  it('a missing template → ConfigError naming it and where it looked', () => {
    const user = templateDir();
    const templates = createTemplateEngine({ dirs: [user], version: '1' });
    expect(configProblems(() => templates.prepare('slack/nope', 'slack'))).toEqual([
      `template "slack/nope": no slack/nope.hbs in ${user}`,
    ]);
  });
});

describe('compiling once', () => {
  it('keeps the compiled template: editing the file takes a new engine (a restart)', () => {
    const dir = templateDir({ 'x/cached': '{ "v": "first" }' });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    templates.prepare('x/cached', 'json');
    writeTemplate(dir, 'x/cached', '{ "v": "second" }');
    expect(templates.render('x/cached', 'json', context())).toEqual({ v: 'first' });
    expect(createTemplateEngine({ dirs: [dir], version: '1' }).render('x/cached', 'json', context())).toEqual({ v: 'second' });
  });

  it('keeps the compiled template even when the file is deleted', () => {
    const dir = templateDir({ 'x/gone': '{ "v": 1 }' });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    expect(templates.render('x/gone', 'json', context())).toEqual({ v: 1 });
    rmSync(path.join(dir, 'x/gone.hbs'));
    expect(templates.render('x/gone', 'json', context())).toEqual({ v: 1 });
  });

  it('caches per escape mode: the same file renders differently in slack and json mode', () => {
    const dir = templateDir({ 'x/modes': VALID });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    expect(templates.render('x/modes', 'json', context({ title: 'a<b' }))).toEqual({ text: 'a<b' });
    expect(templates.render('x/modes', 'slack', context({ title: 'a<b' }))).toEqual({ text: 'a&lt;b' });
  });
});

describe('render errors', () => {
  it('output that is not JSON for this event → TemplateRenderError with the name and position', () => {
    const dir = templateDir({ 'x/picky': '{{#if (eq source "tapemetric")}}{ "ok": true }{{else}}{ "ok": nope }{{/if}}' });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    templates.prepare('x/picky', 'json');
    let caught: unknown;
    try {
      templates.render('x/picky', 'json', context({ source: 'statuspulse' }));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TemplateRenderError);
    expect((caught as TemplateRenderError).template).toBe('x/picky');
    expect((caught as Error).message).toMatch(/^x\/picky: output is not valid JSON at position 8 \(line 1 column 9\): Unexpected token 'o'; output there: .*nope/);
  });

  it('renderText: the output as rendered, its spacing and number forms kept; output that is not JSON fails as render does', () => {
    const dir = templateDir({ 'x/text': '{\n  "title": {{json title}},\n  "ratio": 1.50,\n  "ok": true\n}\n', 'x/picky': '{{#if (eq source "tapemetric")}}{ "ok": true }{{else}}{ "ok": nope }{{/if}}' });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    expect(templates.renderText('x/text', 'json', context({ title: 'a "b"' }))).toBe('{\n  "title": "a \\"b\\"",\n  "ratio": 1.50,\n  "ok": true\n}\n');
    expect(templates.renderText('x/picky', 'json', context({ source: 'tapemetric' }))).toBe('{ "ok": true }');
    expect(() => templates.renderText('x/picky', 'json', context({ source: 'statuspulse' }))).toThrow(/^x\/picky: output is not valid JSON at position 8 .*nope/);
    expect(() => templates.renderText('x/picky', 'json', context({ source: 'statuspulse' }))).toThrow(TemplateRenderError);
    expect(() => templates.renderText('slack/nope', 'json', context())).toThrow(TemplateRenderError);
  });

  it('a missing template at render time → TemplateRenderError, not a crash', () => {
    const templates = createTemplateEngine({ dirs: [templateDir()], version: '1' });
    expect(() => templates.render('slack/nope', 'slack', context())).toThrow(TemplateRenderError);
  });

  it('a helper misused at run time → TemplateRenderError', () => {
    const dir = templateDir({ 'x/each': '{ "v": "{{#each}}{{/each}}" }' });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    expect(() => templates.render('x/each', 'json', context())).toThrow(/x\/each: rendering failed: Must pass iterator/);
  });
});

describe('where output stops being JSON', () => {
  it.each([
    ['{ "a": 1 }', null],
    ['[1, "x", true, null, {"b": -2.5e3}]', null],
    ['{ "a": 1, }', 10],
    ['{ "a": "line\nbreak" }', 12],
    ['{ "a": 1 } extra', 11],
    ['', 0],
  ])('%j → %s', (text, offset) => {
    expect(jsonErrorOffset(text)).toBe(offset);
    // Agrees with JSON.parse on validity.
    expect(() => JSON.parse(text)).toSatisfy((parse: () => unknown) => {
      try {
        parse();
        return offset === null;
      } catch {
        return offset !== null;
      }
    });
  });
});

describe('Handlebars features keep working under the escaping rewrite', () => {
  it('block params, else-if chains, whitespace control, @key and {{this}}', () => {
    const dir = templateDir({
      'x/features': `{
        "list": [{{#each events as |e i|}}{{#if i}},{{/if}}"{{e.title}}"{{/each}}],
        "chain": "{{#if (eq severity "info")}}i{{else if (eq severity "critical")}}c {{~ title ~}} !{{else}}o{{/if}}",
        "keys": "{{#each data}}{{@key}};{{/each}}",
        "this": "{{#with source}}{{this}}{{/with}}"
      }`,
    });
    const templates = createTemplateEngine({ dirs: [dir], version: '1' });
    templates.prepare('x/features', 'slack');
    expect(templates.render('x/features', 'slack', context({ title: '<T>', data: { '<k>': 1 } }))).toEqual({
      list: ['&lt;T&gt;'],
      chain: 'c&lt;T&gt;!',
      keys: '&lt;k&gt;;',
      this: 'tapemetric',
    });
  });
});
