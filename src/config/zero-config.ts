import { ConfigError } from '../errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The variables that each add a sender in zero-config mode (any one of them is enough). */
export const ZERO_CONFIG_SENDER_VARIABLES = [
  'TAPEMETRIC_SECRET',
  'STATUSPULSE_SECRET',
  'STATUSSENTRY_SECRET',
  'TAPE_URL_TOKEN',
  'ALERTMANAGER_TOKEN',
  'GRAFANA_SECRET',
  'GRAFANA_TOKEN',
  'GITHUB_WEBHOOK_SECRET',
  'STRIPE_WEBHOOK_SECRET',
  'PAGERDUTY_WEBHOOK_SECRET',
] as const;

/**
 * Zero-config mode (DESIGN.md): no file, only environment variables. Every source whose
 * secret is set relays to SLACK_WEBHOOK_URL; with PAGERDUTY_ROUTING_KEY, events of
 * severity error or critical also page (info and warning would page people for nothing),
 * and every resolution is sent so PagerDuty closes what it opened.
 */
export function zeroConfig(env: Env): Record<string, unknown> {
  const slack = env.SLACK_WEBHOOK_URL;
  if (!slack) {
    throw new ConfigError([
      'no config file (hookrelay.yaml, --config or HOOKRELAY_CONFIG) and SLACK_WEBHOOK_URL is not set: set SLACK_WEBHOOK_URL to an Incoming Webhook URL, or write a hookrelay.yaml',
    ]);
  }
  const sources: Record<string, unknown>[] = [];
  const secret = (variable: string): string[] => [`\${${variable}}`];
  if (env.TAPEMETRIC_SECRET) sources.push({ name: 'tapemetric', preset: 'tapemetric', secrets: secret('TAPEMETRIC_SECRET') });
  if (env.STATUSPULSE_SECRET) sources.push({ name: 'statuspulse', preset: 'statuspulse', secrets: secret('STATUSPULSE_SECRET') });
  if (env.STATUSSENTRY_SECRET) sources.push({ name: 'statussentry', preset: 'statussentry', secrets: secret('STATUSSENTRY_SECRET') });
  if (env.TAPE_URL_TOKEN) {
    sources.push({
      name: 'tape',
      preset: 'tape',
      token: '${TAPE_URL_TOKEN}',
      ...(env.TAPE_API_KEY ? { api_key: '${TAPE_API_KEY}' } : {}),
      ...(env.TAPE_API_URL ? { api_url: '${TAPE_API_URL}' } : {}),
    });
  }
  if (env.ALERTMANAGER_TOKEN) sources.push({ name: 'alertmanager', preset: 'alertmanager', token: '${ALERTMANAGER_TOKEN}' });
  if (env.GRAFANA_SECRET || env.GRAFANA_TOKEN) {
    sources.push({
      name: 'grafana',
      preset: 'grafana',
      ...(env.GRAFANA_SECRET ? { secrets: secret('GRAFANA_SECRET') } : {}),
      // Only when the contact point sets a Timestamp Header too: then requests must carry it.
      ...(env.GRAFANA_SECRET && env.GRAFANA_TIMESTAMP_HEADER ? { timestamp_header: '${GRAFANA_TIMESTAMP_HEADER}' } : {}),
      ...(env.GRAFANA_TOKEN ? { token: '${GRAFANA_TOKEN}' } : {}),
    });
  }
  if (env.GITHUB_WEBHOOK_SECRET) sources.push({ name: 'github', preset: 'github', secrets: secret('GITHUB_WEBHOOK_SECRET') });
  if (env.STRIPE_WEBHOOK_SECRET) sources.push({ name: 'stripe', preset: 'stripe', secrets: secret('STRIPE_WEBHOOK_SECRET') });
  // PagerDuty's own webhooks: acknowledgements and resolutions of incidents hookrelay paged come back to their Slack cards.
  if (env.PAGERDUTY_WEBHOOK_SECRET) sources.push({ name: 'pagerduty', preset: 'pagerduty', secrets: secret('PAGERDUTY_WEBHOOK_SECRET') });

  const destinations: Record<string, unknown>[] = [{ name: 'slack', type: 'slack', url: '${SLACK_WEBHOOK_URL}' }];
  const routes: Record<string, unknown>[] = [{ name: 'all-to-slack', to: ['slack'] }];
  if (env.PAGERDUTY_ROUTING_KEY) {
    destinations.push({
      name: 'pagerduty',
      type: 'pagerduty',
      routing_key: '${PAGERDUTY_ROUTING_KEY}',
      ...(env.PAGERDUTY_URL ? { url: '${PAGERDUTY_URL}' } : {}),
    });
    // Resolutions go too, whatever their severity, or incidents would stay open in PagerDuty.
    const pageable = { $or: [{ severity: { $in: ['error', 'critical'] } }, { status: 'resolved' }] };
    routes.push({
      name: 'page-on-errors',
      // PagerDuty's own webhooks are never paged back into PagerDuty.
      filter: env.PAGERDUTY_WEBHOOK_SECRET ? { $and: [{ source: { $ne: 'pagerduty' } }, pageable] } : pageable,
      to: ['pagerduty'],
    });
  }
  return {
    sources,
    destinations,
    routes,
    ...(env.HOOKRELAY_ADMIN_TOKEN ? { admin: { token: '${HOOKRELAY_ADMIN_TOKEN}' } } : {}),
    ...(env.SLACK_SIGNING_SECRET ? { slack_app: { signing_secret: '${SLACK_SIGNING_SECRET}' } } : {}),
  };
}
