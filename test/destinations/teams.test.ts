import MarkdownIt from 'markdown-it';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../src/config/load.ts';
import { zeroConfigChats } from '../../src/config/zero-config.ts';
import { ConfigError } from '../../src/errors.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { MAX_TEAMS_MESSAGE_BYTES } from '../../src/destinations/teams-message.ts';
import { decide } from '../../src/dispatch/retry-policy.ts';
import { renderPreview } from '../../src/cli/render-preview.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { buildComponents } from '../../src/runtime.ts';
import { SAMPLE_EVENT, TemplateRenderError } from '../../src/templates/index.ts';
import { HOSTILE_TEXT } from '../../src/templates/sample-event.ts';
import { configuredDestination, deliverOnce, renderRefusal } from '../support/destinations.ts';
import { fakeTeams, teamsProblems } from '../support/teams.ts';
import type { ReceivedCard } from '../support/teams.ts';
import { templateDir } from '../templates/support.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const teams = (url: string, extra: Record<string, unknown> = {}, dirs: string[] = []): Destination =>
  configuredDestination({ name: 'ops-teams', type: 'teams', url, ...extra }, dirs);
const deliver = deliverOnce;

async function started() {
  const fake = await fakeTeams();
  cleanups.push(() => fake.close());
  return fake;
}

/** Teams renders card text as CommonMark markdown. */
const markdown = new MarkdownIt({ linkify: false });

/** What a reader sees of a card's text: its markdown rendered, tags dropped, entities read. */
const shown = (text: string): string =>
  markdown
    .renderInline(text)
    .replace(/<[^>]*>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');

/** Every text a reader sees on the card (TextBlock text, fact titles and values), as shown. */
const textsOf = (card: ReceivedCard): string[] => rawTextsOf(card).map(shown);
const rawTextsOf = (value: unknown, key = ''): string[] => {
  if (typeof value === 'string') return ['text', 'title', 'value'].includes(key) ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((item) => rawTextsOf(item));
  if (value !== null && typeof value === 'object') return Object.entries(value).flatMap(([name, item]) => rawTextsOf(item, name));
  return [];
};

describe('teams destination', () => {
  it('the sample alert reaches Teams as a valid Adaptive Card 1.4 message, answered 202', async () => {
    const fake = await started();
    const { result } = await deliver(teams(fake.url('/workflows/abc/triggers/manual/paths/invoke?sig=S3CRET')), SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'success', status: 202 });
    expect(fake.requests[0]!.path).toBe('/workflows/abc/triggers/manual/paths/invoke?sig=S3CRET');
    const [card] = fake.cards();
    expect(card!.version).toBe('1.4');
    expect(textsOf(card!)).toEqual(expect.arrayContaining([`🔴 ${SAMPLE_EVENT.title}`, 'Severity', '🔴 Critical', 'tapemetric', SAMPLE_EVENT.summary]));
    expect(card!.fallbackText).toBe(`🔴 ${SAMPLE_EVENT.title} (tapemetric)`);
  });

  it('a resolved alert is marked resolved, in green', async () => {
    const fake = await started();
    await deliver(teams(fake.url('/hook')), { ...SAMPLE_EVENT, status: 'resolved' });
    const [card] = fake.cards();
    expect(card!.body[0]).toMatchObject({ type: 'Container', style: 'good' });
    expect(textsOf(card!)).toContain(`✅ Resolved: ${SAMPLE_EVENT.title}`);
  });

  it('hostile sender text shows as the text it is: no link, no formatting, no heading, no list, no @everyone, no Teams date function', async () => {
    const fake = await started();
    const hostile = '**bold** _it_ ~~gone~~ `code` [click me](http://evil.example) <at>Dana</at> @everyone {{DATE(2026-04-23T18:28:00Z, SHORT)}}\n# Heading\n- item\n1. first\n> quote';
    const { result } = await deliver(teams(fake.url('/hook')), { ...SAMPLE_EVENT, title: 'Title', summary: `${hostile} ${HOSTILE_TEXT}` });
    expect(result.kind).toBe('success');
    const summary = rawTextsOf(fake.cards()[0]).find((text) => text.includes('Heading'))!;
    const html = markdown.render(summary);
    expect(html).not.toMatch(/<(a|strong|em|s|code|h1|ul|ol|li|blockquote)\b/);
    expect(shown(summary)).toContain('**bold** _it_ ~~gone~~ `code` [click me](http://evil.example) <at>Dana</at> @\u200deveryone {\u200d{DATE(2026-04-23T18:28:00Z, SHORT)}}\n# Heading\n- item\n1. first\n> quote');
  });

  it('a long summary is cut by the default template with a visible "…"', async () => {
    const fake = await started();
    await deliver(teams(fake.url('/hook')), { ...SAMPLE_EVENT, summary: `start ${'word '.repeat(2_000)}` });
    const summary = textsOf(fake.cards()[0]!).find((text) => text.startsWith('start '))!;
    expect(summary).toHaveLength(4_000);
    expect(summary.endsWith('…')).toBe(true);
  });

  it('a card over 28 KB is cut, longest text first, with a visible "…", never dropped', async () => {
    const fake = await started();
    const dir = templateDir({
      'teams/full': '{ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "TextBlock", "text": "{{title}}" }, { "type": "TextBlock", "text": "{{summary}}", "wrap": true }] }',
    });
    const { result, body } = await deliver(teams(fake.url('/hook'), { template: 'teams/full' }, [dir]), { ...SAMPLE_EVENT, summary: `start ${'wörd '.repeat(60_000)}` });
    expect(result.kind).toBe('success');
    expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MAX_TEAMS_MESSAGE_BYTES);
    expect(Buffer.byteLength(body)).toBeGreaterThan(MAX_TEAMS_MESSAGE_BYTES - 100);
    const [title, summary] = textsOf(fake.cards()[0]!);
    expect(title).toBe(SAMPLE_EVENT.title);
    expect(summary!.startsWith('start wörd')).toBe(true);
    expect(summary!.endsWith('…')).toBe(true);
  });

  it('a card of thousands of elements keeps the first ones that fit and says how many were left out', async () => {
    const fake = await started();
    const dir = templateDir({
      'teams/long': '{ "type": "AdaptiveCard", "version": "1.4", "body": [{{#each data.lines}}{{#if @index}},{{/if}}{ "type": "TextBlock", "text": "{{this}}", "wrap": true }{{/each}}] }',
    });
    const lines = Array.from({ length: 3_000 }, (_, index) => `line ${index}`);
    const { result } = await deliver(teams(fake.url('/hook'), { template: 'teams/long' }, [dir]), { ...SAMPLE_EVENT, data: { lines } });
    expect(result.kind).toBe('success');
    const texts = textsOf(fake.cards()[0]!);
    expect(texts[0]).toBe('line 0');
    expect(texts.at(-1)).toMatch(/^… and \d+ more elements \(Teams' 28 KB message limit\)$/);
    const omitted = Number(/and (\d+) more/.exec(texts.at(-1)!)![1]);
    expect(texts.length - 1 + omitted).toBe(3_000);
  });

  it.each([
    ['an unknown element type', '{ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "Bogus" }] }', /Unknown element type "Bogus"/],
    ['an invalid property value', '{ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "TextBlock", "text": "x", "color": "purple" }] }', /Invalid value "purple" for property "color"/],
    ['a card above 1.4', '{ "type": "AdaptiveCard", "version": "1.5", "body": [] }', /version: Teams Workflows may not display cards above version 1\.4/],
    ['the whole message instead of the card', '{ "type": "message", "attachments": [] }', /type: must be "AdaptiveCard"/],
    ['an action without its url', '{ "type": "AdaptiveCard", "version": "1.4", "actions": [{ "type": "Action.OpenUrl", "title": "Open" }] }', /Property "url" must be set/],
  ])('%s is refused before sending, with the reason', async (_what, card, reason) => {
    const destination = teams('http://127.0.0.1:9/hook', { template: 'teams/bad' }, [templateDir({ 'teams/bad': card })]);
    const thrown = await renderRefusal(destination, SAMPLE_EVENT);
    expect(thrown).toBeInstanceOf(TemplateRenderError);
    expect((thrown as Error).message).toMatch(/^teams\/bad: not a valid Adaptive Card: /);
    expect((thrown as Error).message).toMatch(reason);
  });

  it('check and start-up warn when the template makes a card Teams could not show of the sample event', async () => {
    const dir = templateDir({ 'teams/bogus': '{ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "Bogus", "text": "{{title}}" }] }' });
    const config = parseConfigText(JSON.stringify({ templates_dir: dir, destinations: [{ name: 't', type: 'teams', url: 'https://prod-1.westeurope.logic.azure.com/workflows/x', template: 'teams/bogus' }] }), { HOOKRELAY_ALLOW_PRIVATE: '1' });
    const components = await buildComponents(config, { baseDir: process.cwd(), logger: silentLogger() });
    try {
      expect(components.warnings).toEqual([
        'destinations[0].template: with the sample event, teams/bogus: not a valid Adaptive Card: Unknown element type "Bogus". Fallback will be used if present.',
      ]);
    } finally {
      await components.close();
    }
  });

  it('429 with Retry-After: retried after what Teams asked, not counted against its health', async () => {
    const fake = await started();
    fake.respond(() => ({ status: 429, headers: { 'retry-after': '30' }, body: '' }));
    const { result } = await deliver(teams(fake.url('/hook')), SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'retry', status: 429, retry_after_ms: 30_000, rate_limited: true });
    expect(decide({ schedule: [1_000, 2_000], disable_after: 5 }, 1, result, 1_000_000)).toEqual({ outcome: 'retry', next_attempt_at: 1_030_000, health: 'neutral' });
  });

  it('the fake refuses what Teams could not show (so the tests above mean something)', async () => {
    const request = (body: unknown) => ({ method: 'POST', path: '/', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), at: 0, json: <T>() => body as T });
    const card = (content: unknown) => ({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content }] });
    expect(teamsProblems(request(card({ type: 'AdaptiveCard', version: '1.4', body: [{ type: 'TextBlock', text: 'ok' }] })))).toEqual([]);
    expect(teamsProblems(request(card({ type: 'AdaptiveCard', version: '1.4', body: [{ type: 'Bogus' }] })))).not.toEqual([]);
    expect(teamsProblems(request(card({ type: 'AdaptiveCard', version: '1.5', body: [] })))).not.toEqual([]);
    expect(teamsProblems(request(card({ type: 'AdaptiveCard', version: '1.4', body: [{ type: 'TextBlock', text: 'x'.repeat(30_000) }] })))).not.toEqual([]);
  });
});

describe('teams config', () => {
  const problemsOf = (yaml: string, env: Record<string, string> = {}): string[] => {
    try {
      parseConfigText(yaml, env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };

  it('an Office 365 connector URL is refused with what to use instead', () => {
    expect(problemsOf('destinations: [{ name: t, type: teams, url: "https://contoso.webhook.office.com/webhookb2/x/IncomingWebhook/y/z" }]')).toEqual([
      expect.stringMatching(/^destinations\[0\]\.url: an Office 365 connector URL: connectors are retired; .*Workflows/),
    ]);
  });

  it('no url, or not a URL, is said plainly', () => {
    expect(problemsOf('destinations: [{ name: t, type: teams }]')).toEqual([expect.stringMatching(/^destinations\[0\]\.url: /)]);
    expect(problemsOf('destinations: [{ name: t, type: teams, url: "not a url" }]')).toEqual(['destinations[0].url: must be an http(s) URL']);
  });

  it('zero-config: TEAMS_WEBHOOK_URL alone relays every event to Teams', () => {
    const { config } = loadConfig({ file: null, env: { TEAMS_WEBHOOK_URL: 'https://prod-1.westeurope.logic.azure.com/workflows/x?sig=S3CRET' } });
    expect(config.destinations).toEqual([expect.objectContaining({ name: 'teams', type: 'teams', url: 'https://prod-1.westeurope.logic.azure.com/workflows/x?sig=S3CRET' })]);
    expect(config.routes).toEqual([expect.objectContaining({ name: 'all-to-teams', to: ['teams'] })]);
  });

  it('zero-config says which chats it relays to (the start-up line named SLACK_WEBHOOK_URL whatever was set)', () => {
    expect(zeroConfigChats({ TEAMS_WEBHOOK_URL: 'https://x.example/workflows/1' }).map((chat) => chat.variable)).toEqual(['TEAMS_WEBHOOK_URL']);
    expect(zeroConfigChats({ SLACK_WEBHOOK_URL: 'https://x', DISCORD_WEBHOOK_URL: 'https://y' }).map((chat) => chat.variable)).toEqual(['SLACK_WEBHOOK_URL', 'DISCORD_WEBHOOK_URL']);
  });

  it('zero-config without any chat URL names both variables', () => {
    expect(() => loadConfig({ file: null, env: {} })).toThrow(/SLACK_WEBHOOK_URL .*or TEAMS_WEBHOOK_URL/);
  });
});

describe('hookrelay render --template teams/default', () => {
  it('previews the message exactly as sent: the envelope around the fitted card', async () => {
    const output = (await renderPreview({ template: 'teams/default', source: 'tapemetric', sample: true, loaded: null })) as Record<string, unknown>;
    expect(output).toMatchObject({ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', content: { type: 'AdaptiveCard', version: '1.4' } }] });
  });
});
