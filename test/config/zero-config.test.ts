import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Env } from '../../src/config/load.ts';
import { ZERO_CONFIG_SENDER_VARIABLES } from '../../src/config/zero-config.ts';
import { ConfigError } from '../../src/errors.ts';
import { Router } from '../../src/routing/routes.ts';
import { relayEvent } from '../support/events.ts';

const SLACK = 'https://hooks.slack.com/services/T000/B000/XXXX';

/** Zero-config: no file, only the environment. */
const fromEnv = (env: Env) => loadConfig({ file: null, env }).config;

describe('zero-config (no config file)', () => {
  it.each(ZERO_CONFIG_SENDER_VARIABLES)('%s alone adds one sender (what `check` tells a user with none to set)', (variable) => {
    const value = variable === 'STRIPE_WEBHOOK_SECRET' ? 'whsec_c2VjcmV0' : 'value';
    expect(fromEnv({ SLACK_WEBHOOK_URL: SLACK, [variable]: value }).sources).toHaveLength(1);
  });

  it('no SLACK_WEBHOOK_URL → a ConfigError telling the user to set it or write hookrelay.yaml', () => {
    let thrown: unknown = null;
    try {
      fromEnv({ TAPEMETRIC_SECRET: 's' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).problems).toEqual([expect.stringMatching(/SLACK_WEBHOOK_URL.*hookrelay\.yaml/)]);
  });

  it('SLACK_WEBHOOK_URL alone → one Slack destination with that URL, every event routed to it', () => {
    const config = fromEnv({ SLACK_WEBHOOK_URL: SLACK });
    expect(config.destinations).toEqual([expect.objectContaining({ type: 'slack', url: SLACK })]);
    expect(config.sources).toEqual([]);
    expect(config.admin).toBeUndefined();
    const router = new Router(config.routes);
    expect(router.targets(relayEvent({ severity: 'info' })).map((target) => target.destination)).toEqual([config.destinations[0]!.name]);
  });

  it.each([
    ['TAPEMETRIC_SECRET', 'tapemetric', { secrets: ['value-1'] }],
    ['STATUSPULSE_SECRET', 'statuspulse', { secrets: ['value-1'] }],
    ['STATUSSENTRY_SECRET', 'statussentry', { secrets: ['value-1'] }],
    ['TAPE_URL_TOKEN', 'tape', { token: ['value-1'] }],
  ])('%s adds the %s source with that secret', (variable, preset, secret) => {
    const config = fromEnv({ SLACK_WEBHOOK_URL: SLACK, [variable]: 'value-1' });
    expect(config.sources).toEqual([expect.objectContaining({ name: preset, preset, ...secret })]);
  });

  it('several secrets → several sources', () => {
    const config = fromEnv({ SLACK_WEBHOOK_URL: SLACK, TAPEMETRIC_SECRET: 'a', STATUSSENTRY_SECRET: 'b' });
    expect(config.sources.map((source) => source.preset).sort()).toEqual(['statussentry', 'tapemetric']);
  });

  describe('PAGERDUTY_ROUTING_KEY', () => {
    const config = fromEnv({ SLACK_WEBHOOK_URL: SLACK, PAGERDUTY_ROUTING_KEY: 'R0UT1NGKEY' });
    const router = new Router(config.routes);
    const pagerduty = config.destinations.find((destination) => destination.type === 'pagerduty');
    const slack = config.destinations.find((destination) => destination.type === 'slack');
    const paged = (overrides: Parameters<typeof relayEvent>[0]) =>
      router.targets(relayEvent(overrides)).some((target) => target.destination === pagerduty?.name);

    it('adds a PagerDuty destination with the routing key', () => {
      expect(pagerduty).toMatchObject({ routing_key: 'R0UT1NGKEY' });
    });

    it.each(['critical', 'error'] as const)('a firing %s event pages and goes to Slack', (severity) => {
      const targets = router.targets(relayEvent({ severity, status: 'firing' })).map((target) => target.destination);
      expect(targets.sort()).toEqual([pagerduty!.name, slack!.name].sort());
    });

    it.each(['warning', 'info'] as const)('a firing %s event does not page', (severity) => {
      expect(paged({ severity, status: 'firing' })).toBe(false);
    });

    it.each(['warning', 'info', 'critical'] as const)('a resolved %s event is sent to PagerDuty (so incidents close)', (severity) => {
      expect(paged({ severity, status: 'resolved' })).toBe(true);
    });
  });

  it('with PAGERDUTY_WEBHOOK_SECRET, PagerDuty\'s own events go to Slack but are never paged back into PagerDuty', () => {
    const config = fromEnv({ SLACK_WEBHOOK_URL: SLACK, PAGERDUTY_ROUTING_KEY: 'R0UT1NGKEY', PAGERDUTY_WEBHOOK_SECRET: 'pd-secret' });
    const router = new Router(config.routes);
    const targets = (overrides: Parameters<typeof relayEvent>[0]) => router.targets(relayEvent(overrides)).map((target) => target.destination).sort();
    expect(targets({ source: 'pagerduty', severity: 'critical', status: 'firing' })).toEqual(['slack']);
    expect(targets({ source: 'pagerduty', severity: 'critical', status: 'resolved' })).toEqual(['slack']);
    expect(targets({ source: 'github', severity: 'critical', status: 'firing' })).toEqual(['pagerduty', 'slack']);
  });

  it('HOOKRELAY_ADMIN_TOKEN turns the admin API on with that token', () => {
    expect(fromEnv({ SLACK_WEBHOOK_URL: SLACK, HOOKRELAY_ADMIN_TOKEN: 'adm1n-token-0123456789' }).admin).toEqual({ token: 'adm1n-token-0123456789' });
  });

  it('HOOKRELAY_ALLOW_PRIVATE=1 sets egress.allow_private', () => {
    expect(fromEnv({ SLACK_WEBHOOK_URL: SLACK }).egress.allow_private).toBe(false);
    expect(fromEnv({ SLACK_WEBHOOK_URL: SLACK, HOOKRELAY_ALLOW_PRIVATE: '1' }).egress.allow_private).toBe(true);
  });

  it('HOOKRELAY_DATA_DIR moves the default SQLite store', () => {
    expect(fromEnv({ SLACK_WEBHOOK_URL: SLACK }).store).toBe('sqlite:data/hookrelay.db');
    expect(fromEnv({ SLACK_WEBHOOK_URL: SLACK, HOOKRELAY_DATA_DIR: '/srv/hookrelay' }).store).toBe('sqlite:/srv/hookrelay/hookrelay.db');
  });

  it('a SLACK_WEBHOOK_URL that is not a URL → a ConfigError', () => {
    expect(() => fromEnv({ SLACK_WEBHOOK_URL: 'hooks.slack.com/services/x' })).toThrow(ConfigError);
  });
  it('a bad value names the environment variable, not a path of the generated config', () => {
    try {
      loadConfig({ file: null, env: { SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T/B/X', TAPEMETRIC_SECRET: 's' } });
      expect.unreachable('a bad SLACK_WEBHOOK_URL must be refused');
    } catch (error) {
      expect((error as ConfigError).problems).toEqual(['SLACK_WEBHOOK_URL: must be an http(s) URL']);
    }
  });
});
