import { describe, expect, it } from 'vitest';
import { globMatcher } from '../../src/routing/glob.ts';
import { Router, routeSchema } from '../../src/routing/routes.ts';
import type { RouteConfig } from '../../src/routing/routes.ts';
import type { Severity } from '../../src/events/event.ts';
import { relayEvent } from '../support/events.ts';

describe('globs', () => {
  it.each([
    ['qos.*', 'qos.rebuffer_spike', true],
    ['qos.*', 'qos.startup.regression', true],
    ['qos.*', 'qos', false],
    ['qos.*', 'billing.qos.x', false],
    ['qos.*', 'QOS.rebuffer_spike', false],
    ['qos.rebuffer_spike', 'qos.rebuffer_spike', true],
    ['qos.rebuffer_spike', 'qos.rebuffer_spikes', false],
    ['qos?rebuffer', 'qos.rebuffer', true],
    ['qos.rebuffer', 'qosXrebuffer', false],
    ['ingest.quota_??pct', 'ingest.quota_80pct', true],
    ['ingest.quota_??pct', 'ingest.quota_8pct', false],
    ['*_spike', 'qos.error_spike', true],
    ['*', '', true],
    ['Maha*', 'Maharashtra', true],
    ['Maha*', 'maharashtra', false],
    ['*.resolved', 'incident.resolved', true],
    ['a+b(c)[d]|e$^', 'a+b(c)[d]|e$^', true],
    ['a+b(c)*', 'aab(c)x', false],
    ['line*', 'line one\nline two', true],
    ['region-?', 'region-😀', true],
  ])('%s against %j → %s', (glob, value, expected) => {
    expect(globMatcher(glob)(value)).toBe(expected);
  });
});

/** Routes as written in YAML, through the schema (durations, defaults). */
const router = (routes: unknown[]) => new Router(routes.map((route) => routeSchema.parse(route) as RouteConfig));
const destinationsOf = (routes: Router, overrides: Parameters<typeof relayEvent>[0] = {}) =>
  routes.targets(relayEvent(overrides)).map((target) => target.destination);

describe('severity matchers', () => {
  const all: Severity[] = ['info', 'warning', 'error', 'critical'];
  const matching = (severity: unknown) => {
    const routes = router([{ to: ['d'], match: { severity } }]);
    return all.filter((candidate) => destinationsOf(routes, { severity: candidate }).length > 0);
  };

  it.each([
    ['>=warning', ['warning', 'error', 'critical']],
    ['>warning', ['error', 'critical']],
    ['critical', ['critical']],
    ['=info', ['info']],
    ['<error', ['info', 'warning']],
    ['<=error', ['info', 'warning', 'error']],
    ['>= error', ['error', 'critical']],
  ])('%s matches %j', (condition, expected) => {
    expect(matching(condition)).toEqual(expected);
  });

  it('a list matches exactly the severities listed', () => {
    expect(matching(['info', 'critical'])).toEqual(['info', 'critical']);
  });
});

describe('route matching', () => {
  it('match.type is a glob; a list of globs matches any of them', () => {
    const routes = router([
      { to: ['qos'], match: { type: 'qos.*' } },
      { to: ['money'], match: { type: ['billing.*', 'ingest.quota_exceeded'] } },
    ]);
    expect(destinationsOf(routes, { type: 'qos.error_spike' })).toEqual(['qos']);
    expect(destinationsOf(routes, { type: 'billing.churn_spike' })).toEqual(['money']);
    expect(destinationsOf(routes, { type: 'ingest.quota_exceeded' })).toEqual(['money']);
    expect(destinationsOf(routes, { type: 'ingest.quota_80pct' })).toEqual([]);
  });

  it('match.source and match.status must hold as well', () => {
    const routes = router([{ to: ['d'], match: { source: 'status*', status: 'resolved' } }]);
    expect(destinationsOf(routes, { source: 'statuspulse', status: 'resolved' })).toEqual(['d']);
    expect(destinationsOf(routes, { source: 'statuspulse', status: 'firing' })).toEqual([]);
    expect(destinationsOf(routes, { source: 'tapemetric', status: 'resolved' })).toEqual([]);
  });

  it('match and filter together: both must hold', () => {
    const routes = router([
      { to: ['d'], match: { type: 'qos.*', severity: '>=warning' }, filter: { 'data.affected_sessions': { $gte: 10000 } } },
    ]);
    expect(destinationsOf(routes, { severity: 'critical', data: { affected_sessions: 24000 } })).toEqual(['d']);
    expect(destinationsOf(routes, { severity: 'critical', data: { affected_sessions: 50 } })).toEqual([]);
    expect(destinationsOf(routes, { severity: 'info', data: { affected_sessions: 24000 } })).toEqual([]);
  });

  it('a route without match or filter takes every event', () => {
    expect(destinationsOf(router([{ to: ['d'] }]), { type: 'anything', severity: 'info' })).toEqual(['d']);
  });

  it('every matching route applies, not just the first', () => {
    const routes = router([
      { name: 'slack-all', to: ['slack'] },
      { name: 'page-critical', to: ['pagerduty'], match: { severity: 'critical' } },
      { name: 'audit-qos', to: ['audit'], match: { type: 'qos.*' } },
    ]);
    expect(destinationsOf(routes, { severity: 'critical', type: 'qos.rebuffer_spike' })).toEqual(['slack', 'pagerduty', 'audit']);
    expect(destinationsOf(routes, { severity: 'info', type: 'billing.churn_spike' })).toEqual(['slack']);
  });

  it('a destination named by two matching routes gets one delivery, from the first route', () => {
    const routes = router([
      { name: 'first', to: ['slack', 'pagerduty'] },
      { name: 'second', to: ['pagerduty', 'audit'] },
    ]);
    const targets = routes.targets(relayEvent());
    expect(targets.map((target) => [target.destination, target.route])).toEqual([
      ['slack', 'first'],
      ['pagerduty', 'first'],
      ['audit', 'second'],
    ]);
  });

  it('a destination named twice in one route gets one delivery', () => {
    expect(destinationsOf(router([{ to: ['slack', 'slack'] }]))).toEqual(['slack']);
  });

  it('unnamed routes are named by position', () => {
    const targets = router([{ to: ['a'], match: { severity: 'info' } }, { to: ['b'] }]).targets(relayEvent());
    expect(targets).toEqual([{ destination: 'b', route: 'route-2' }]);
  });

  it('grouped routes put events with the same group fields in the same group, others apart', () => {
    const routes = router([{ name: 'qos', to: ['slack'], group: { by: ['type', 'data.region'], wait: '30s', interval: '5m' } }]);
    const groupOf = (type: string, region: string) =>
      routes.targets(relayEvent({ type, data: { data: { region } } }))[0]?.group;
    const first = groupOf('qos.rebuffer_spike', 'Maharashtra');
    expect(first).toMatchObject({ wait_ms: 30_000, interval_ms: 300_000 });
    expect(groupOf('qos.rebuffer_spike', 'Maharashtra')?.key).toBe(first?.key);
    expect(groupOf('qos.rebuffer_spike', 'Kerala')?.key).not.toBe(first?.key);
    expect(groupOf('qos.error_spike', 'Maharashtra')?.key).not.toBe(first?.key);
  });
});
