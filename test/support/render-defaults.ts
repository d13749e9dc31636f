import { fitDiscordMessage } from '../../src/destinations/discord-message.ts';
import { fitGoogleChatMessage } from '../../src/destinations/google-chat-message.ts';
import { fitEmailMessage } from '../../src/destinations/email-message.ts';
import { fitPagerDutyEvent } from '../../src/destinations/pagerduty-event.ts';
import { fitSlackMessage } from '../../src/destinations/slack-message.ts';
import { fitTeamsMessage } from '../../src/destinations/teams-message.ts';
import type { RelayEvent } from '../../src/events/event.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine, sampleContext } from '../../src/templates/index.ts';
import type { TemplateContext } from '../../src/templates/index.ts';

const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '9.9.9' });

/**
 * Renders an event the way each destination type does with its default template(s), fitted
 * to that destination's limits: slack, slack-bot (card and thread reply), pagerduty, http, teams, discord, google_chat, email.
 * Throws what the dispatcher would record as a permanent rendering failure.
 */
export function renderEveryDefault(event: RelayEvent): Record<string, unknown> {
  const base = sampleContext(event, { version: '9.9.9', destination: 'dest', delivery_id: 'dlv_01JRENDER' });
  const incident: TemplateContext = {
    ...base,
    incident: { started_at: event.occurred_at, updates: 1, acknowledged_by: 'alice', acknowledged_at: event.occurred_at, resolved: event.status === 'resolved', resolved_by: null, duration_ms: 60_000 },
  };
  return {
    slack: fitSlackMessage(templates.render('slack/default', 'slack', base), 'slack/default').message,
    'slack-bot': fitSlackMessage(templates.render('slack-bot/default', 'slack', incident), 'slack-bot/default').message,
    'slack-bot reply': fitSlackMessage(templates.render('slack-bot/reply', 'slack', incident), 'slack-bot/reply').message,
    pagerduty: fitPagerDutyEvent(templates.render('pagerduty/default', 'json', base), 'pagerduty/default'),
    http: templates.render('http/envelope', 'json', base),
    teams: fitTeamsMessage(templates.render('teams/default', 'teams', base), 'teams/default').message,
    discord: fitDiscordMessage(templates.render('discord/default', 'discord', base), 'discord/default').message,
    google_chat: fitGoogleChatMessage(templates.render('google_chat/default', 'html', base), 'google_chat/default', 'thread').message,
    email: fitEmailMessage(templates.render('email/default', 'html', base), 'email/default', 'thread').message,
  };
}
