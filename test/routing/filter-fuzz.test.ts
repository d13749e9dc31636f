import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFilter, FilterError } from '../../src/routing/filter.ts';
import { relayEvent } from '../support/events.ts';

/**
 * Property-based tests of the route filter language (src/routing/filter.ts): whatever a config
 * holds, compiling either gives a predicate or throws FilterError (reported with its path at
 * config load), and a predicate never throws and answers quickly whatever the event holds.
 * `$regex` is compiled from the config only: nothing from a request becomes a pattern.
 */

const OPERATORS = ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$exists', '$regex', '$options', '$not', '$and', '$or', '$bogus'];
const PATHS = ['type', 'severity', 'title', 'data.region', 'data.count', 'data.tags', 'data.nested.deep', 'data.__proto__', 'data.constructor', 'missing', 'data.data.region'];

const scalar = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom('qos.rebuffer_spike', 'warning', 'Maharashtra', 'imsu', 'x*', '2026-04-23T18:28:00Z'),
);

/** JSON-like documents biased towards the filter language's own keys. */
const { filterDoc } = fc.letrec<{ filterDoc: unknown; value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom(...OPERATORS), fc.constantFrom(...PATHS)), tie('value'), { maxKeys: 4 }),
  ),
  filterDoc: fc.oneof(
    { depthSize: 'small' },
    fc.dictionary(fc.oneof(fc.constantFrom(...PATHS), fc.constantFrom('$and', '$or', '$not', '$nor')), tie('value'), { maxKeys: 4 }),
    tie('value'),
  ),
}));

/** Events whose fields hold anything a sender could send. */
const payload = fc.jsonValue({ maxDepth: 3 });
const eventArbitrary = fc.record({
  title: fc.string({ maxLength: 16 }),
  type: fc.string({ maxLength: 16 }),
  data: fc.oneof(payload, fc.record({ region: payload, count: payload, tags: payload, nested: payload, data: payload })),
});

describe('the filter language under arbitrary input (property-based)', () => {
  it('compiles or throws FilterError; a compiled filter never throws on any event', () => {
    fc.assert(
      fc.property(filterDoc, fc.array(eventArbitrary, { minLength: 1, maxLength: 4 }), (filter, events) => {
        let predicate: (event: unknown) => boolean;
        try {
          predicate = compileFilter(filter);
        } catch (error) {
          expect(error).toBeInstanceOf(FilterError);
          expect((error as FilterError).path).toMatch(/^filter/);
          return;
        }
        // (Worst cases have their own cost tests in glob.test.ts; a time bound on random filters
        // measured the machine: it failed with two suites running beside it.)
        for (const fields of events) {
          expect(typeof predicate(relayEvent(fields as Parameters<typeof relayEvent>[0]))).toBe('boolean');
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('$regex: any pattern text compiles or is a FilterError naming it; matching any value never throws', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 8 }), fc.option(fc.string({ maxLength: 4 })), fc.string({ maxLength: 16 }), (pattern, flags, value) => {
        const filter = flags === null ? { title: { $regex: pattern } } : { title: { $regex: pattern, $options: flags } };
        let predicate: (event: unknown) => boolean;
        try {
          predicate = compileFilter(filter);
        } catch (error) {
          expect(error).toBeInstanceOf(FilterError);
          expect((error as FilterError).path).toMatch(/^filter\.title\.\$(regex|options)$/);
          return;
        }
        expect(typeof predicate(relayEvent({ title: value }))).toBe('boolean');
      }),
      { numRuns: 3_000 },
    );
  });

  it('deeply nested $and/$or/$not filters (as deep as a config would be) compile and run', () => {
    let filter: unknown = { type: { $regex: '^qos\\.' } };
    for (let depth = 0; depth < 200; depth++) filter = depth % 3 === 0 ? { $not: filter } : depth % 3 === 1 ? { $and: [filter, { severity: { $ne: 'info' } }] } : { $or: [filter] };
    expect(typeof compileFilter(filter)(relayEvent({ type: 'qos.x', severity: 'warning' }))).toBe('boolean');
  });
});
