/**
 * An http body is checked to be JSON with marks where stored texts go, and the texts are put in
 * after (src/templates/stored-texts.ts): what goes out, and every error, must be what checking the
 * whole output gives.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { lazyJsonValue } from '../../src/events/json-text.ts';
import { RENDER_LIMITS } from '../../src/templates/budget.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { markStoredText, putStoredTextsIn, withStoredTexts } from '../../src/templates/stored-texts.ts';
import { context, templateDir } from './support.ts';

afterEach(() => vi.restoreAllMocks());

/** What renderText gives: the body, or the error's message. */
function outcome(render: () => string): { body: string } | { error: string } {
  try {
    return { body: render() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

// Places a template may put `{{json data}}`: where a value goes, and where it does not.
const PLACES = [
  '{"payload": {{json data}} }',
  '[{{json data}}, {{json data}}]',
  '{"a": [1, {{json data}}], "b": {"c": {{{json data}}} }}',
  '{"inside": "{{json data}}"}',
  '"[{{json data}}]"',
  '{ {{json data}}: 1}',
  '{"a": {{json data}} {{json data}} }',
  '{{json data}}',
  '{"n": {{json data.n}}, "whole": {{json data}} }',
  '{"sub": {{json (json data)}} }',
  '{"each": [{{#each events}}{{#if @index}},{{/if}}{{json data}}{{/each}}]}',
  '{"if": {{#if data}}{{json data}}{{else}}null{{/if}} }',
  'not json {{json data}}',
];

const DATA = fc.oneof(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 4 }), fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }));

describe('an http body checked with marks for its stored texts', () => {
  const names = Object.fromEntries(PLACES.map((source, index) => [`http/place-${index}`, source]));
  const templates = createTemplateEngine({ dirs: [templateDir(names), BUILTIN_TEMPLATES_DIR], version: '1.2.3' });

  it('gives the body or the error that checking the whole output gives, wherever the template puts the text', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(names)), DATA, fc.boolean(), (name, data, spaced) => {
        const text = JSON.stringify(data, null, spaced ? 1 : undefined);
        const ofData = (value: unknown) => context({ data: value }, [{ ...context({ data: value }) }] as never);
        const withText = outcome(() => templates.renderText(name, 'json', ofData(lazyJsonValue(text))));
        // `render` checks the whole output, the text in it, and gives the value it parses to.
        const whole = outcome(() => JSON.stringify(templates.render(name, 'json', ofData(lazyJsonValue(text)))));
        if ('error' in whole) {
          expect(whole.error).toContain('output is not valid JSON');
          expect(withText).toEqual(whole);
        } else {
          expect('body' in withText && JSON.stringify(JSON.parse(withText.body))).toBe(whole.body);
        }
        // Compact, the body is what the value gives when serialised (no stored text at all).
        if (!spaced) expect(withText).toEqual(outcome(() => templates.renderText(name, 'json', ofData(JSON.parse(text) as unknown))));
        // Where a value goes, written as it is stored.
        if (name === 'http/place-0') expect(withText).toEqual({ body: `{"payload": ${text} }` });
      }),
      { numRuns: 400 },
    );
  });

  it('a text that is only JSON inside a string is found by checking the whole output', () => {
    // `"[[]]"` is a string; with a mark in it, it would not be JSON.
    expect(templates.renderText('http/place-4', 'json', context({ data: lazyJsonValue('[]') }))).toBe('"[[]]"');
    expect(templates.renderText('http/place-3', 'json', context({ data: lazyJsonValue('{}') }))).toBe('{"inside": "{}"}');
  });

  it('says where output that is not JSON breaks, with the text in it', () => {
    const error = outcome(() => templates.renderText('http/place-6', 'json', context({ data: lazyJsonValue('{"k": 1}') })));
    expect(error).toEqual({ error: expect.stringContaining('output is not valid JSON at position 15 (line 1 column 16)') as unknown });
    expect(error).toEqual({ error: expect.stringContaining(String.raw`output there: "{\"a\": {\"k\": 1} {\"k\": 1} }"`) as unknown });
  });

  it('judges the size limit on the body with its texts in', () => {
    const big = `{"blob": "${'x'.repeat(RENDER_LIMITS.output_bytes - 20)}"}`;
    expect(big.length).toBeLessThan(RENDER_LIMITS.output_bytes);
    expect(outcome(() => templates.renderText('http/envelope', 'json', context({ data: lazyJsonValue(big) })))).toEqual({
      error: expect.stringContaining('output over 1 MB') as unknown,
    });
    // Without the envelope around it, the same text fits.
    expect(templates.renderText('http/place-7', 'json', context({ data: lazyJsonValue(big) }))).toBe(big);
  });

  it('does not parse the stored text, alone or in the output', () => {
    const text = '{"region": "Maharashtra", "marker": "only-in-the-payload"}';
    const parse = JSON.parse.bind(JSON);
    const seen: string[] = [];
    vi.spyOn(JSON, 'parse').mockImplementation((value: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
      seen.push(value);
      return parse(value, reviver) as unknown;
    });
    const body = templates.renderText('http/envelope', 'json', context({ data: lazyJsonValue(text) }));
    expect(body).toContain(`"payload": ${text}`);
    expect(seen).toHaveLength(1);
    expect(seen.filter((value) => value.includes('only-in-the-payload'))).toEqual([]);
  });

  it('text that looks like a mark, from a sender or a template, is written as it is', () => {
    const lookalike = '["hookrelay:00000000000000000000000000000000:0"]';
    const fromSender = templates.renderText('http/place-9', 'json', context({ data: lazyJsonValue(`{"m": ${JSON.stringify(lookalike)}}`) }));
    expect(fromSender).toBe(`{"sub": ${JSON.stringify(`{"m": ${JSON.stringify(lookalike)}}`)} }`);
    const own = createTemplateEngine({ dirs: [templateDir({ 'http/own': `{"m": ${lookalike}, "d": {{json data}} }` })], version: '1.2.3' });
    expect(own.renderText('http/own', 'json', context({ data: lazyJsonValue('[1]') }))).toBe(`{"m": ${lookalike}, "d": [1] }`);
  });
});

describe('marks', () => {
  it('stand for the texts of their own render, in order; outside one the text is written', () => {
    expect(markStoredText('[1]')).toBe('[1]');
    const { value, texts } = withStoredTexts(() => `${markStoredText('[1]')},${markStoredText('{"a":2}')}`);
    expect(texts).toEqual(['[1]', '{"a":2}']);
    expect(value).not.toContain('[1]');
    expect(JSON.parse(`[${value}]`)).toHaveLength(2);
    expect(putStoredTextsIn(value, texts)).toBe('[1],{"a":2}');
  });

  it('that are not this render’s are refused, not guessed at', () => {
    const { value } = withStoredTexts(() => `${markStoredText('[1]')} ${markStoredText('[2]')}`);
    expect(putStoredTextsIn(value, ['[1]'])).toBeNull();
    expect(putStoredTextsIn(value.slice(0, -3), ['[1]', '[2]'])).toBeNull();
    expect(putStoredTextsIn(value.replace(':1"', ':01"'), ['[1]', '[2]'])).toBeNull();
  });
});
