import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import type { Env } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

const SLACK = 'https://hooks.slack.com/services/T000/B000/XXXX';
const fromEnv = (env: Env) => loadConfig({ file: null, env: { SLACK_WEBHOOK_URL: SLACK, ...env } }).config;

describe('zero-config: the grafana, github and stripe presets', () => {
  it.each([
    ['GRAFANA_SECRET', 'grafana', { secrets: ['value-1'] }],
    ['GRAFANA_TOKEN', 'grafana', { token: ['value-1'] }],
    ['GITHUB_WEBHOOK_SECRET', 'github', { secrets: ['value-1'] }],
    ['STRIPE_WEBHOOK_SECRET', 'stripe', { secrets: ['value-1'] }],
    ['PAGERDUTY_WEBHOOK_SECRET', 'pagerduty', { secrets: ['value-1'] }],
  ])('%s adds the %s source at /hooks/%s', (variable, preset, credentials) => {
    expect(fromEnv({ [variable]: 'value-1' }).sources).toEqual([expect.objectContaining({ name: preset, preset, ...credentials })]);
  });

  it('GRAFANA_SECRET with GRAFANA_TIMESTAMP_HEADER → the signature must carry that timestamp header', () => {
    const [grafana] = fromEnv({ GRAFANA_SECRET: 's', GRAFANA_TIMESTAMP_HEADER: 'X-Grafana-Alerting-Signature-Timestamp' }).sources;
    expect(grafana).toMatchObject({ preset: 'grafana', secrets: ['s'], timestamp_header: 'X-Grafana-Alerting-Signature-Timestamp' });
  });

  it('GRAFANA_SECRET and GRAFANA_TOKEN → one grafana source checking both', () => {
    const sources = fromEnv({ GRAFANA_SECRET: 's', GRAFANA_TOKEN: 't' }).sources;
    expect(sources).toEqual([expect.objectContaining({ preset: 'grafana', secrets: ['s'], token: ['t'] })]);
  });

  it('GRAFANA_TIMESTAMP_HEADER alone adds nothing (it only qualifies the secret)', () => {
    expect(fromEnv({ GRAFANA_TIMESTAMP_HEADER: 'X-Ts' }).sources).toEqual([]);
  });

  it('a bad GRAFANA_TIMESTAMP_HEADER → an error naming the variable, not the generated path', () => {
    let thrown: unknown = null;
    try {
      fromEnv({ GRAFANA_SECRET: 's', GRAFANA_TIMESTAMP_HEADER: 'not a header' });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).problems.join('\n')).toContain('GRAFANA_TIMESTAMP_HEADER');
  });
});
