/**
 * An event's data read from the store keeps its JSON text (src/events/json-text.ts): a template
 * that embeds it writes that text, and the request is what serialising the value would give.
 */
import { describe, expect, it } from 'vitest';
import { lazyJsonValue } from '../../src/events/json-text.ts';
import { toJsonLiteral } from '../../src/templates/escape.ts';
import { MAX_RENDER_DEPTH, TOO_DEEP } from '../../src/templates/depth.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { context } from './support.ts';

const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '1.2.3' });

describe('data kept as its JSON text', () => {
  it('{{json data}} writes the stored text as it is, line separators escaped', () => {
    const text = '{"region":  "Maharashtra", "note": "a\u2028b", "n": 1.0}';
    expect(toJsonLiteral(lazyJsonValue(text))).toBe('{"region":  "Maharashtra", "note": "a\\u2028b", "n": 1.0}');
    // A value not parsed from text (or a copy of one) is serialised as before.
    expect(toJsonLiteral({ ...(lazyJsonValue(text) as object) })).toBe('{"region":"Maharashtra","note":"a\\u2028b","n":1}');
  });

  it('the request is the same as from the parsed value, whatever the stored spelling', () => {
    const text = '{\n  "region": "Maharashtra",\n  "count": 1e2,\n  "list": [1, 2, {"deep": true}],\n  "dup": 1, "dup": 2\n}';
    const fromText = templates.render('http/envelope', 'json', context({ data: lazyJsonValue(text) }));
    const fromValue = templates.render('http/envelope', 'json', context({ data: JSON.parse(text) as unknown }));
    expect(JSON.stringify(fromText)).toBe(JSON.stringify(fromValue));
    expect((fromText as { payload: unknown }).payload).toEqual({ region: 'Maharashtra', count: 100, list: [1, 2, { deep: true }], dup: 2 });
  });

  it('data nested deeper than templates render is still cut, not written whole', () => {
    const deep = `${'['.repeat(MAX_RENDER_DEPTH + 5)}1${']'.repeat(MAX_RENDER_DEPTH + 5)}`;
    expect(toJsonLiteral(lazyJsonValue(deep))).toContain(JSON.stringify(TOO_DEEP));
  });
});
