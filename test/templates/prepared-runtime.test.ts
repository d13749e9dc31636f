/**
 * Templates render with the runtime Handlebars would build per render, built once
 * (src/templates/prepared-runtime.ts). What Handlebars' own setup gives a template must hold all
 * the same: `@root`, sections over lists (its blockHelperMissing hook), `lookup`, and its
 * refusal to read prototype properties such as `constructor`.
 */
import { describe, expect, it } from 'vitest';
import { createTemplateEngine } from '../../src/templates/index.ts';
import { context, templateDir } from './support.ts';

function render(source: string, mode: 'json' | 'slack' = 'json', title = 'Disk full'): unknown {
  const templates = createTemplateEngine({ dirs: [templateDir({ 'x/t': source })], version: '1' });
  return templates.render('x/t', mode, context({ title, id: 'evt_1' }));
}

describe('a prepared runtime renders as Handlebars does', () => {
  it('@root is the context, also inside a block', () => {
    expect(render('{ "a": {{json @root.hookrelay.delivery_id}}, "b": [{{#each events}}{{json @root.title}}{{/each}}] }')).toEqual({ a: 'dlv_1', b: ['Disk full'] });
  });

  it('a section over a list renders once per item (Handlebars calls each through its blockHelperMissing hook)', () => {
    expect(render('{ "ids": [{{#events}}{{json id}}{{/events}}], "t": "{{#hookrelay}}{{destination}}{{/hookrelay}}" }')).toEqual({ ids: ['evt_1'], t: 'ops-slack' });
  });

  it('lookup reads a field by name', () => {
    expect(render('{ "d": {{json (lookup hookrelay "destination")}} }')).toEqual({ d: 'ops-slack' });
  });

  it('prototype properties stay out of reach: constructor, __proto__ and methods are empty', () => {
    expect(render('{ "c": {{json constructor}}, "p": {{json __proto__}}, "e": {{json events.constructor}}, "m": "{{title.toString}}" }')).toEqual({ c: null, p: null, e: null, m: '' });
  });

  it('own data is read as it is, escaped for the mode', () => {
    expect(render('{ "text": "{{title}} ({{id}})" }', 'slack', 'Disk <full>')).toEqual({ text: 'Disk &lt;full&gt; (evt_1)' });
  });
});
