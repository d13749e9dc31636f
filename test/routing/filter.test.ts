import { describe, expect, it } from 'vitest';
import { compileFilter, FilterError } from '../../src/routing/filter.ts';
import { eventField } from '../../src/routing/path.ts';
import { relayEvent } from '../support/events.ts';

/**
 * The Tapemetric example as a stored event: `data` is the sender's payload, which wraps
 * its own fields in an envelope (`data.data.region`).
 */
const event = relayEvent({
  severity: 'warning',
  occurred_at: '2026-04-23T18:28:00.000Z',
  data: {
    id: 'evt_abc123',
    type: 'qos.rebuffer_spike',
    tags: ['video', 'mobile'],
    counts: [3, 40],
    flag: false,
    nothing: null,
    data: { severity: 'critical', region: 'Maharashtra', current_rate: 8.4, affected_sessions: 24000, pop: 'ap-south-1' },
  },
});

const matches = (filter: unknown): boolean => compileFilter(filter)(event);

function filterErrorPath(filter: unknown): string {
  try {
    compileFilter(filter);
  } catch (error) {
    expect(error).toBeInstanceOf(FilterError);
    return (error as FilterError).path;
  }
  return expect.fail('the filter compiled');
}

describe('field operators', () => {
  it.each([
    ['a bare value means $eq', { severity: 'warning' }, { severity: 'critical' }],
    ['$eq', { severity: { $eq: 'warning' } }, { severity: { $eq: 'info' } }],
    ['$ne', { severity: { $ne: 'info' } }, { severity: { $ne: 'warning' } }],
    ['$gt', { 'data.affected_sessions': { $gt: 23999 } }, { 'data.affected_sessions': { $gt: 24000 } }],
    ['$gte', { 'data.affected_sessions': { $gte: 24000 } }, { 'data.affected_sessions': { $gte: 24001 } }],
    ['$lt', { 'data.current_rate': { $lt: 8.5 } }, { 'data.current_rate': { $lt: 8.4 } }],
    ['$lte', { 'data.current_rate': { $lte: 8.4 } }, { 'data.current_rate': { $lte: 8.3 } }],
    ['$in', { 'data.pop': { $in: ['eu-west-1', 'ap-south-1'] } }, { 'data.pop': { $in: ['eu-west-1'] } }],
    ['$nin', { 'data.pop': { $nin: ['eu-west-1'] } }, { 'data.pop': { $nin: ['ap-south-1', 'eu-west-1'] } }],
    ['$exists: true', { 'data.region': { $exists: true } }, { 'data.city': { $exists: true } }],
    ['$exists: false', { 'data.city': { $exists: false } }, { 'data.region': { $exists: false } }],
    ['$regex', { 'data.region': { $regex: '^Maha' } }, { 'data.region': { $regex: '^maha' } }],
    ['$regex with $options i', { 'data.region': { $regex: '^maha', $options: 'i' } }, { 'data.region': { $regex: '^kera', $options: 'i' } }],
    ['field-level $not', { 'data.affected_sessions': { $not: { $lt: 10000 } } }, { 'data.affected_sessions': { $not: { $gt: 10000 } } }],
    ['two operators on one field are both required', { 'data.current_rate': { $gt: 8, $lt: 9 } }, { 'data.current_rate': { $gt: 8, $lt: 8.4 } }],
    ['ISO timestamps compare as strings', { occurred_at: { $gte: '2026-04-23T00:00:00Z' } }, { occurred_at: { $gte: '2026-04-24' } }],
  ])('%s: the matching filter matches and the other does not', (_name, yes, no) => {
    expect(matches(yes)).toBe(true);
    expect(matches(no)).toBe(false);
  });

  it('$not over $regex', () => {
    expect(matches({ title: { $not: { $regex: '^Startup' } } })).toBe(true);
    expect(matches({ title: { $not: { $regex: '^Rebuffer' } } })).toBe(false);
  });

  it('$nin and $ne match a field that is missing (as in MongoDB)', () => {
    expect(matches({ 'data.city': { $nin: ['Pune'] } })).toBe(true);
    expect(matches({ 'data.city': { $ne: 'Pune' } })).toBe(true);
  });

  it('null: $eq null matches a missing field, $ne null only a present one (as in MongoDB)', () => {
    expect(matches({ 'data.city': null })).toBe(true);
    expect(matches({ 'data.nothing': { $eq: null } })).toBe(true);
    expect(matches({ 'data.city': { $ne: null } })).toBe(false);
    expect(matches({ 'data.region': { $ne: null } })).toBe(true);
    expect(matches({ 'data.region': { $in: [null] } })).toBe(false);
  });

  it('a false value exists and equals false', () => {
    expect(matches({ 'data.flag': { $exists: true } })).toBe(true);
    expect(matches({ 'data.flag': false })).toBe(true);
    expect(matches({ 'data.flag': 0 })).toBe(false);
  });
});

describe('array fields', () => {
  it('equality matches an element or the whole array', () => {
    expect(matches({ 'data.tags': 'mobile' })).toBe(true);
    expect(matches({ 'data.tags': ['video', 'mobile'] })).toBe(true);
    expect(matches({ 'data.tags': 'desktop' })).toBe(false);
    expect(matches({ 'data.tags': ['mobile', 'video'] })).toBe(false);
  });

  it('$in matches when any element is listed; $nin only when none is', () => {
    expect(matches({ 'data.tags': { $in: ['desktop', 'mobile'] } })).toBe(true);
    expect(matches({ 'data.tags': { $nin: ['desktop', 'mobile'] } })).toBe(false);
    expect(matches({ 'data.tags': { $nin: ['desktop'] } })).toBe(true);
  });

  it('comparisons match when any element satisfies them', () => {
    expect(matches({ 'data.counts': { $gt: 39 } })).toBe(true);
    expect(matches({ 'data.counts': { $gt: 40 } })).toBe(false);
  });

  it('$regex matches when any string element matches', () => {
    expect(matches({ 'data.tags': { $regex: '^mob' } })).toBe(true);
    expect(matches({ 'data.tags': { $regex: '^desk' } })).toBe(false);
  });

  it('a numeric segment picks an element', () => {
    expect(matches({ 'data.tags.1': 'mobile' })).toBe(true);
    expect(matches({ 'data.tags.0': 'mobile' })).toBe(false);
  });
});

describe('type mismatches never match', () => {
  it.each([
    ['a number field against a string bound', { 'data.affected_sessions': { $gt: '100' } }],
    ['a string field against a number bound', { 'data.region': { $lt: 10 } }],
    ['a number against the same digits as a string', { 'data.affected_sessions': '24000' }],
    ['a number field against $regex', { 'data.affected_sessions': { $regex: '24' } }],
    ['$in with the number as a string', { 'data.affected_sessions': { $in: ['24000'] } }],
    ['a missing field against $gt', { 'data.city': { $gt: '' } }],
    ['an object field against a string', { 'data.data': 'Maharashtra' }],
  ])('%s', (_name, filter) => {
    expect(matches(filter)).toBe(false);
  });
});

describe('logical operators', () => {
  it('$and needs every clause', () => {
    expect(matches({ $and: [{ severity: 'warning' }, { 'data.pop': 'ap-south-1' }] })).toBe(true);
    expect(matches({ $and: [{ severity: 'warning' }, { 'data.pop': 'eu-west-1' }] })).toBe(false);
  });

  it('$or needs one clause', () => {
    expect(matches({ $or: [{ severity: 'critical' }, { 'data.pop': 'ap-south-1' }] })).toBe(true);
    expect(matches({ $or: [{ severity: 'critical' }, { 'data.pop': 'eu-west-1' }] })).toBe(false);
  });

  it('top-level $not inverts a whole filter', () => {
    expect(matches({ $not: { severity: 'info' } })).toBe(true);
    expect(matches({ $not: { severity: 'warning', source: 'tapemetric' } })).toBe(false);
  });

  it('several keys of one filter are all required', () => {
    expect(matches({ source: 'tapemetric', severity: 'warning' })).toBe(true);
    expect(matches({ source: 'tapemetric', severity: 'critical' })).toBe(false);
  });

  it('an empty filter matches everything', () => {
    expect(matches({})).toBe(true);
  });
});

describe('mistakes are refused at compile time with their path', () => {
  it.each([
    ['an unknown operator', { 'data.region': { $like: 'x' } }, 'filter.data.region.$like'],
    ['$in not a list', { 'data.pop': { $in: 'ap-south-1' } }, 'filter.data.pop.$in'],
    ['$nin not a list', { 'data.pop': { $nin: 3 } }, 'filter.data.pop.$nin'],
    ['a regular expression that does not compile', { title: { $regex: '(' } }, 'filter.title.$regex'],
    ['$regex not a string', { title: { $regex: 5 } }, 'filter.title.$regex'],
    ['$options with g', { title: { $regex: 'x', $options: 'g' } }, 'filter.title.$options'],
    ['$options without $regex', { title: { $options: 'i' } }, 'filter.title.$options'],
    ['$gt with a list', { 'data.counts': { $gt: [1] } }, 'filter.data.counts.$gt'],
    ['$exists not a boolean', { title: { $exists: 'yes' } }, 'filter.title.$exists'],
    ['field-level $not with a bare value', { title: { $not: 'x' } }, 'filter.title.$not'],
    ['$and not a list', { $and: { severity: 'x' } }, 'filter.$and'],
    ['$or empty', { $or: [] }, 'filter.$or'],
    ['a nested mistake', { $or: [{ severity: 'x' }, { title: { $foo: 1 } }] }, 'filter.$or[1].title.$foo'],
    ['a mistake under field-level $not', { title: { $not: { $foo: 1 } } }, 'filter.title.$not.$foo'],
    ['an unknown top-level operator', { $nor: [{ severity: 'x' }] }, 'filter.$nor'],
    ['a filter that is not a mapping', ['severity'], 'filter'],
  ])('%s', (_name, filter, path) => {
    expect(filterErrorPath(filter)).toBe(path);
  });
});

describe('dotted paths and the data. envelope rule', () => {
  const plain = relayEvent({ data: { region: 'Kerala', data: { region: 'Maharashtra' } } });
  const wrapped = relayEvent({ data: { id: 'evt_1', data: { region: 'Maharashtra', nested: { depth: 2 } } } });

  it('only the payload\'s own fields exist: data.constructor does not', () => {
    expect(eventField(plain, 'data.constructor')).toBeUndefined();
    expect(compileFilter({ 'data.toString': { $exists: true } })(plain)).toBe(false);
  });

  it('data.<path> is the payload field when the payload has it', () => {
    expect(eventField(plain, 'data.region')).toBe('Kerala');
  });

  it("data.<path> finds the field inside the sender's envelope when the payload has no such field", () => {
    expect(eventField(wrapped, 'data.region')).toBe('Maharashtra');
    expect(eventField(wrapped, 'data.nested.depth')).toBe(2);
  });

  it('data.data.<path> still reaches the envelope explicitly', () => {
    expect(eventField(plain, 'data.data.region')).toBe('Maharashtra');
  });

  it('normalized fields are read from the event, not the payload', () => {
    expect(eventField(wrapped, 'severity')).toBe(wrapped.severity);
    expect(eventField(relayEvent({ data: { severity: 'low' } }), 'severity')).toBe('critical');
  });

  it('a path through a scalar or a missing field is undefined', () => {
    expect(eventField(wrapped, 'data.id.length')).toBeUndefined();
    expect(eventField(wrapped, 'data.nowhere.deep')).toBeUndefined();
    expect(eventField(relayEvent({ data: 'text' }), 'data.region')).toBeUndefined();
  });

  it('filters use the envelope rule too', () => {
    expect(compileFilter({ 'data.region': 'Maharashtra' })(wrapped)).toBe(true);
    expect(compileFilter({ 'data.region': 'Maharashtra' })(plain)).toBe(false);
  });
});
