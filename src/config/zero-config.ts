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

/** The chat destinations of zero-config mode: each variable adds one, which every event goes to. */
export const ZERO_CONFIG_CHAT_VARIABLES = [
  { variable: 'SLACK_WEBHOOK_URL', name: 'slack', type: 'slack', what: 'a Slack Incoming Webhook URL' },
  { variable: 'TEAMS_WEBHOOK_URL', name: 'teams', type: 'teams', what: 'a Teams Workflows webhook URL' },
  { variable: 'DISCORD_WEBHOOK_URL', name: 'discord', type: 'discord', what: 'a Discord channel webhook URL' },
  { variable: 'GOOGLE_CHAT_WEBHOOK_URL', name: 'google-chat', type: 'google_chat', what: 'a Google Chat space webhook URL' },
] as const;

/** The chats zero-config mode relays to, as their variables (`SLACK_WEBHOOK_URL`, …): those set. */
export function zeroConfigChats(env: Env): (typeof ZERO_CONFIG_CHAT_VARIABLES)[number][] {
  return ZERO_CONFIG_CHAT_VARIABLES.filter((chat) => env[chat.variable]);
}

/**
 * Zero-config mode (DESIGN.md): no file, only environment variables. Every source whose
 * secret is set relays to each chat whose webhook URL is set (SLACK_WEBHOOK_URL,
 * TEAMS_WEBHOOK_URL, DISCORD_WEBHOOK_URL, GOOGLE_CHAT_WEBHOOK_URL; one is needed); with PAGERDUTY_ROUTING_KEY, events of severity error or
 * critical also page (info and warning would page people for nothing), and every resolution
 * is sent so PagerDuty closes what it opened.
 */
export function zeroConfig(env: Env): Record<string, unknown> {
  const chats = zeroConfigChats(env);
  if (chats.length === 0) {
    const wanted = ZERO_CONFIG_CHAT_VARIABLES.map((chat) => `${chat.variable} (${chat.what})`).join(' or ');
    throw new ConfigError([
      `no config file (hookrelay.yaml, --config or HOOKRELAY_CONFIG) and no chat to relay to: set ${wanted}, or write a hookrelay.yaml`,
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

  const destinations: Record<string, unknown>[] = chats.map((chat) => ({ name: chat.name, type: chat.type, url: `\${${chat.variable}}` }));
  const routes: Record<string, unknown>[] = chats.map((chat) => ({ name: `all-to-${chat.name}`, to: [chat.name] }));
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
