import { describe, expect, it } from 'vitest';
import { fitDiscordMessage } from '../../src/destinations/discord-message.ts';
import { fitEmailMessage } from '../../src/destinations/email-message.ts';
import { fitGoogleChatMessage } from '../../src/destinations/google-chat-message.ts';
import { fitPagerDutyEvent } from '../../src/destinations/pagerduty-event.ts';
import { fitSlackMessage } from '../../src/destinations/slack-message.ts';
import { fitTeamsMessage } from '../../src/destinations/teams-message.ts';
import { fallbackView } from '../../src/notify/fallback.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine, sampleContext } from '../../src/templates/index.ts';
import type { TemplateContext } from '../../src/templates/index.ts';
import { relayEvent } from '../support/events.ts';

/**
 * A message a destination sends as the fallback of another whose circuit is open says so, in
 * every default template, and is still what the platform takes (each fitted and validated as
 * its destination does); without `fallback` nothing of it shows.
 */
const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '9.9.9' });
const MARKER = 'via fallback: PagerDuty destination `oncall` is unavailable';

function renderAll(context: TemplateContext): Record<string, string> {
  const incident: TemplateContext = {
    ...context,
    incident: { started_at: context.occurred_at, updates: 0, acknowledged_by: null, acknowledged_at: null, resolved: false, resolved_by: null, duration_ms: 0 },
  };
  return {
    slack: JSON.stringify(fitSlackMessage(templates.render('slack/default', 'slack', context), 'slack/default').message),
    'slack-bot': JSON.stringify(fitSlackMessage(templates.render('slack-bot/default', 'slack', incident), 'slack-bot/default').message),
    pagerduty: JSON.stringify(fitPagerDutyEvent(templates.render('pagerduty/default', 'json', context), 'pagerduty/default').event),
    http: JSON.stringify(templates.render('http/envelope', 'json', context)),
    teams: JSON.stringify(fitTeamsMessage(templates.render('teams/default', 'teams', context), 'teams/default').message),
    discord: JSON.stringify(fitDiscordMessage(templates.render('discord/default', 'discord', context), 'discord/default').message),
    google_chat: JSON.stringify(fitGoogleChatMessage(templates.render('google_chat/default', 'html', context), 'google_chat/default', 'thread').message),
    email: JSON.stringify(fitEmailMessage(templates.render('email/default', 'html', context), 'email/default', 'thread').message),
  };
}

describe('default templates: the fallback marker', () => {
  const event = relayEvent({ title: 'Disk full on db-1' });
  const base = sampleContext(event, { version: '9.9.9', destination: 'ops', delivery_id: 'dlv_01JFALLBACK' });
  const marked: TemplateContext = { ...base, fallback: fallbackView({ destination: 'oncall', delivery_id: 'dlv_01JORIGINAL' }, { name: 'oncall', type: 'pagerduty' }) };

  it('the marker reads as a user expects', () => {
    expect(marked.fallback?.marker).toBe(MARKER);
    expect(fallbackView({ destination: 'x', delivery_id: 'dlv_1' }, undefined).marker).toBe('via fallback: unknown destination `x` is unavailable');
  });

  it.each(Object.keys(renderAll(base)))('%s: a fallback copy says which destination is unavailable, with the title', (type) => {
    const output = renderAll(marked)[type]!;
    expect(output).toContain('via fallback');
    expect(output).toContain('oncall');
    expect(output).toContain('Disk full on db-1');
  });

  it.each(Object.keys(renderAll(base)))('%s: an ordinary message shows nothing of it', (type) => {
    expect(renderAll(base)[type]).not.toContain('via fallback');
  });
});
