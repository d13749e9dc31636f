/**
 * A claimed event's data is parsed only when something looks into it (lazyJsonValue in
 * src/events/json-text.ts): a delivery whose template only embeds the data sends its stored text
 * without a parse, and everything that does look into it sees exactly the parsed value.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import { jsonTextOf, lazyJsonValue } from '../../src/events/json-text.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { eventField } from '../../src/routing/path.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';
import { MAX_RENDER_DEPTH, TOO_DEEP } from '../../src/templates/depth.ts';
import { toJsonLiteral } from '../../src/templates/escape.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { ManualClock } from '../support/clock.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { context, templateDir } from '../templates/support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-lazy-json-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const TEMPLATES = {
  // Reads into the data: a field, a nested field, a list, a key test.
  'http/reads': '{"region": {{json data.region}}, "first": {{json data.items.[0].name}}, "names": [{{#each data.items}}{{#if @index}}, {{/if}}{{json name}}{{/each}}], "has": {{#if data.region}}true{{else}}false{{/if}} }',
};

function destination(template: string) {
  const templates = createTemplateEngine({ dirs: [templateDir(TEMPLATES), BUILTIN_TEMPLATES_DIR], version: 'test' });
  return createDestination({ name: 'out', type: 'http', url: 'http://127.0.0.1:9/hook', template } as Parameters<typeof createDestination>[0], {
    http: new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' }),
    templates,
    version: 'test',
    logger: silentLogger(),
    store: () => ({}) as Store,
  });
}

/** The texts JSON.parse is called with from now on. */
function parsesOf(): string[] {
  const parse = JSON.parse.bind(JSON);
  const seen: string[] = [];
  vi.spyOn(JSON, 'parse').mockImplementation((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    seen.push(text);
    return parse(text, reviver) as unknown;
  });
  return seen;
}

describe('a claimed event’s data', () => {
  it('is sent by the http envelope as its stored text without being parsed', async () => {
    const clock = new ManualClock();
    const store = await SqliteStore.open(join(scratch, 'envelope.db'), { clock, inThread: true });
    try {
      await store.syncDestinations(['out']);
      const event = relayEvent({ data: { region: 'Maharashtra', items: [{ name: 'edge-1' }], ratio: 1.5 } });
      await store.ingest(batchOf(event, ['out'], clock.now()));
      const stored = JSON.stringify(event.data);
      const envelope = destination('http/envelope');
      const parsed = parsesOf();
      const [claimed] = (await store.claim('out', { limit: 1, now: clock.now(), lease_ms: 60_000, owner: 'lane' })).deliveries;
      expect(jsonTextOf(claimed!.event.data as object)).toBe(stored);
      const body = await envelope.render({ ...context(), ...claimed!.event, events: claimed!.events });
      // From the claim to the wire the payload is never parsed: not alone, and not in the output,
      // which is checked once with a mark where the payload goes (src/templates/stored-texts.ts).
      expect(parsed).not.toContain(stored);
      expect(parsed.filter((text) => text.includes(event.id))).toHaveLength(1);
      expect(parsed.filter((text) => text.includes('edge-1'))).toEqual([]);
      expect(body).toContain(`"payload": ${stored}`);
      expect(JSON.parse(body)).toMatchObject({ event: { id: event.id }, payload: event.data });
    } finally {
      await store.close();
    }
  });

  it('is parsed once when a template reads into it, and reads as the parsed value', async () => {
    const text = '{"region": "Maharashtra", "items": [{"name": "edge-1"}, {"name": "edge-2"}]}';
    const data = lazyJsonValue(text);
    const plain = JSON.parse(text) as unknown;
    const reads = destination('http/reads');
    const parsed = parsesOf();
    const render = async (value: unknown): Promise<string> => reads.render(context({ data: value }));
    const fromLazy = await render(data);
    expect(parsed.filter((each) => each === text)).toHaveLength(1);
    expect(fromLazy).toBe(await render(plain));
    expect(JSON.parse(fromLazy)).toEqual({ region: 'Maharashtra', first: 'edge-1', names: ['edge-1', 'edge-2'], has: true });
    // Looked into again: no second parse.
    await render(data);
    expect(parsed.filter((each) => each === text)).toHaveLength(1);
  });

  it('answers every way of reading a value as the parsed value does', () => {
    const object = fc.dictionary(fc.string(), fc.jsonValue());
    fc.assert(
      fc.property(fc.oneof(object, fc.array(fc.jsonValue())), fc.boolean(), (value, spaced) => {
        const text = spaced ? ` \n${JSON.stringify(value, null, 2)}\t` : JSON.stringify(value);
        const lazy = lazyJsonValue(text) as Record<string, unknown>;
        const plain = JSON.parse(text) as Record<string, unknown>;
        expect(typeof lazy).toBe('object');
        expect(Array.isArray(lazy)).toBe(Array.isArray(plain));
        expect(Object.getPrototypeOf(lazy)).toBe(Object.getPrototypeOf(plain));
        expect(JSON.stringify(lazy)).toBe(JSON.stringify(plain));
        expect(Object.keys(lazy)).toEqual(Object.keys(plain));
        const keys: string[] = [];
        for (const key in lazy) keys.push(key);
        expect(keys).toEqual(Object.keys(plain));
        for (const key of Object.keys(plain)) {
          expect(key in lazy).toBe(true);
          expect(Object.prototype.hasOwnProperty.call(lazy, key)).toBe(true);
          expect(lazy[key]).toEqual(plain[key]);
          expect(eventField({ data: lazy }, `data.${key}`)).toEqual(eventField({ data: plain }, `data.${key}`));
        }
        expect('no such key' in lazy).toBe('no such key' in plain);
        expect(lazy).toEqual(plain);
        expect(structuredClone({ ...lazy })).toEqual({ ...plain });
        if (Array.isArray(plain)) expect((lazy as unknown as unknown[]).map((item) => item)).toEqual(plain);
        // Its text is what a template embeds, written as stored.
        expect(toJsonLiteral(lazy)).toBe(text.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029'));
      }),
      { numRuns: 300 },
    );
  });

  it('that is not an object or an array is parsed at once, and text that is not JSON fails as JSON.parse does', () => {
    expect(lazyJsonValue(' "Maharashtra" ')).toBe('Maharashtra');
    expect(lazyJsonValue('1.50')).toBe(1.5);
    expect(lazyJsonValue('null')).toBeNull();
    expect(() => lazyJsonValue('nope')).toThrow(SyntaxError);
    // An object or array that is not JSON fails where it is read, at every read, as JSON.parse would.
    const broken = lazyJsonValue('{"region": ') as Record<string, unknown>;
    expect(() => broken.region).toThrow(SyntaxError);
    expect(() => Object.keys(broken)).toThrow(SyntaxError);
  });

  it('nested deeper than templates render is cut when embedded; with few brackets, judged without a parse', () => {
    const deep = `${'['.repeat(MAX_RENDER_DEPTH + 5)}1${']'.repeat(MAX_RENDER_DEPTH + 5)}`;
    expect(toJsonLiteral(lazyJsonValue(deep))).toContain(JSON.stringify(TOO_DEEP));
    // Many brackets, shallow (inside strings, or side by side): judged on the value, written as stored.
    const wide = JSON.stringify({ list: Array.from({ length: MAX_RENDER_DEPTH * 2 }, () => []), note: '['.repeat(MAX_RENDER_DEPTH * 2) });
    expect(toJsonLiteral(lazyJsonValue(wide))).toBe(wide);
    // As many brackets as could nest MAX_RENDER_DEPTH deep, and no more: not parsed.
    const few = JSON.stringify({ list: Array.from({ length: MAX_RENDER_DEPTH - 2 }, () => []) });
    const parsed = parsesOf();
    expect(toJsonLiteral(lazyJsonValue(few))).toBe(few);
    expect(parsed).toEqual([]);
  });

  it('can be frozen, sealed and shown as a parsed value can', () => {
    for (const text of ['{"region": "Maharashtra", "__proto__": {"x": 1}}', '[1, {"a": [2]}]', '{}', '[]']) {
      const plain = JSON.parse(text) as object;
      expect(Object.isFrozen(Object.freeze(lazyJsonValue(text) as object))).toBe(true);
      expect(Object.isSealed(Object.seal(lazyJsonValue(text) as object))).toBe(true);
      const frozen = Object.freeze(lazyJsonValue(text) as object);
      expect(JSON.stringify(frozen)).toBe(JSON.stringify(plain));
      expect(Object.getOwnPropertyNames(frozen)).toEqual(Object.getOwnPropertyNames(plain));
      // Once read, util.inspect (console.log, test diffs) shows the data, as for the parsed value.
      const read = lazyJsonValue(text) as object;
      void Object.keys(read);
      expect(inspect(read)).toBe(inspect(plain));
    }
  });
});
