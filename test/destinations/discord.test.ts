import MarkdownIt from 'markdown-it';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../src/config/load.ts';
import { renderPreview } from '../../src/cli/render-preview.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { decide } from '../../src/dispatch/retry-policy.ts';
import { ConfigError } from '../../src/errors.ts';
import { SAMPLE_EVENT, TemplateRenderError } from '../../src/templates/index.ts';
import { HOSTILE_TEXT } from '../../src/templates/sample-event.ts';
import { configuredDestination, deliverOnce, renderRefusal } from '../support/destinations.ts';
import { discordProblems, fakeDiscord } from '../support/discord.ts';
import { templateDir } from '../templates/support.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const WEBHOOK = '/api/webhooks/1234567890/T0k3n-s3cret_value';

const discord = (url: string, extra: Record<string, unknown> = {}, dirs: string[] = []): Destination =>
  configuredDestination({ name: 'ops-discord', type: 'discord', url, ...extra }, dirs);

async function started() {
  const fake = await fakeDiscord();
  cleanups.push(() => fake.close());
  return fake;
}

/** A custom template: `{{title}}` etc. put where the test wants, no truncation of its own. */
const custom = (source: string): string[] => [templateDir({ 'discord/custom': source })];

// Discord's markdown takes CommonMark's backslash escapes; rendered as CommonMark, escaped text shows as written.
const markdown = new MarkdownIt({ linkify: false });

describe('discord destination', () => {
  it('the sample alert: one embed coloured by severity, the key fields, a timestamp; mentions off; answered 204', async () => {
    const fake = await started();
    const { result } = await deliverOnce(discord(fake.url(WEBHOOK)), SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'success', status: 204 });
    const [message] = fake.messages();
    expect(message!.allowed_mentions).toEqual({ parse: [] });
    const [embed] = message!.embeds!;
    expect(embed).toMatchObject({ title: `🔴 Rebuffer spike in Maharashtra: 8.4% (baseline 3.1%)`, color: 0xe01e5a, timestamp: '2026-04-23T18:28:00.000Z' });
    expect(embed!.fields!.map((field) => [field.name, field.value])).toEqual(
      expect.arrayContaining([['Severity', '🔴 Critical'], ['Source', 'tapemetric'], ['Status', 'Firing']]),
    );
  });

  it.each([
    ['warning', 'firing', 0xecb22e],
    ['info', 'firing', 0x36c5f0],
    ['critical', 'resolved', 0x2eb67d],
  ] as const)('%s %s → colour %s', async (severity, status, color) => {
    const fake = await started();
    await deliverOnce(discord(fake.url(WEBHOOK)), { ...SAMPLE_EVENT, severity, status });
    expect(fake.messages()[0]!.embeds![0]!.color).toBe(color);
  });

  it('hostile sender text shows as written: no ping, no mention, no link, no formatting, no heading or quote', async () => {
    const fake = await started();
    const hostile = '@everyone @here <@123456789> <@&987> <#555> <t:1700000000:R> **bold** __under__ ~~gone~~ ||spoiler|| `code` [click me](http://evil.example)\n# Heading\n> quote\n- item';
    const { result } = await deliverOnce(discord(fake.url(WEBHOOK)), { ...SAMPLE_EVENT, title: 'Title', summary: `${hostile} ${HOSTILE_TEXT}` });
    expect(result.kind).toBe('success');
    const [message] = fake.messages();
    expect(message!.allowed_mentions).toEqual({ parse: [] });
    const description = message!.embeds![0]!.description!;
    expect(markdown.render(description)).not.toMatch(/<(a|strong|em|s|code|h1|ul|li|blockquote)\b/);
    expect(description).toContain('\\<@123456789\\> \\<@&987\\> \\<#555\\> \\<t:1700000000:R\\>');
    expect(description).toContain('@\u200deveryone @\u200dhere');
    expect(description).toContain('\\*\\*bold\\*\\* \\_\\_under\\_\\_ \\~\\~gone\\~\\~ \\|\\|spoiler\\|\\| \\`code\\` \\[click me\\](http://evil.example)\n\\# Heading\n\\> quote\n\\- item');
  });

  it('every limit is kept with a visible "…": content 2,000, title 256, description 4,096, 25 fields of 1,024, 10 embeds, 6,000 in all', async () => {
    const fake = await started();
    const dirs = custom(`{
      "content": "{{summary}}",
      "embeds": [{{#each data.embeds}}{{#if @index}},{{/if}}{
        "title": "{{../title}}", "description": "{{../summary}}", "color": "#E01E5A",
        "fields": [{{#each ../data.fields}}{{#if @index}},{{/if}}{ "name": "{{this}}", "value": "{{../../data.value}}" }{{/each}}]
      }{{/each}}]
    }`);
    const event = { ...SAMPLE_EVENT, title: "T".repeat(1_000), summary: `start ${"s".repeat(5_000)}`, data: { value: "v".repeat(1_500), embeds: Array.from({ length: 12 }, (_, i) => i), fields: Array.from({ length: 30 }, (_, i) => `field ${i}`) } };
    const { result } = await deliverOnce(discord(fake.url(WEBHOOK), { template: 'discord/custom' }, dirs), event);
    expect(result).toMatchObject({ kind: 'success', status: 204 });
    const [message] = fake.messages();
    expect(message!.content).toHaveLength(2_000);
    expect(message!.content!.endsWith('…')).toBe(true);
    expect(message!.embeds).toHaveLength(10);
    expect(message!.embeds![9]!.description).toBe("… and 3 more embeds (Discord's limit)");
    const [first] = message!.embeds!;
    expect(first!.fields).toHaveLength(25);
    expect(first!.fields![24]).toEqual({ name: '…', value: "and 6 more fields (Discord's limit)" });
    expect(first!.title!.endsWith('…')).toBe(true);
    expect(first!.description!.startsWith('start ')).toBe(true);
  });

  it('invalid output is refused before sending, naming the place', async () => {
    const refusal = async (template: string) => (await renderRefusal(discord(`http://127.0.0.1:9${WEBHOOK}`, { template: 'discord/custom' }, custom(template)), SAMPLE_EVENT))!;
    expect(await refusal('{ "embeds": [] }')).toBeInstanceOf(TemplateRenderError);
    expect((await refusal('{ "embeds": [] }')).message).toMatch(/not a valid Discord message: \(top level\): a Discord message needs "content" or "embeds"/);
    expect((await refusal('{ "embeds": [{ "title": "x", "color": "red" }] }')).message).toMatch(/embeds\[0\]\.color: must be a colour such as "#E01E5A" or a number/);
    expect((await refusal('{ "embeds": [{ "title": "x", "timestamp": "yesterday" }] }')).message).toMatch(/embeds\[0\]\.timestamp: must be an ISO 8601 time/);
  });

  it("a template's own allowed_mentions cannot turn pings on", async () => {
    const fake = await started();
    const dirs = custom('{ "content": "@everyone {{title}}", "allowed_mentions": { "parse": ["everyone", "roles", "users"] } }');
    await deliverOnce(discord(fake.url(WEBHOOK), { template: 'discord/custom' }, dirs), SAMPLE_EVENT);
    expect(fake.messages()[0]!.allowed_mentions).toEqual({ parse: [] });
  });

  it("429: waits Discord's retry_after from the JSON body (fractional seconds), not the rounded Retry-After; neutral to health", async () => {
    const fake = await started();
    fake.respond(() => ({
      status: 429,
      headers: { 'content-type': 'application/json', 'retry-after': '2', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': '1.337', 'x-ratelimit-scope': 'user' },
      body: JSON.stringify({ message: 'You are being rate limited.', retry_after: 1.337, global: false }),
    }));
    const destination = discord(fake.url(WEBHOOK));
    const { result } = await deliverOnce(destination, SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'retry', status: 429, retry_after_ms: 1_337, rate_limited: true });
    expect(decide({ schedule: [30_000], disable_after: 5 }, 1, result, 1_000_000)).toEqual({ outcome: 'retry', next_attempt_at: 1_001_337, health: 'neutral' });
    // Until then nothing more is sent (Discord bans addresses that keep hitting its limits).
    const again = await deliverOnce(destination, SAMPLE_EVENT, { attempt: 2 });
    expect(again.result).toMatchObject({ kind: 'retry', status: null, rate_limited: true });
    expect(again.result.retry_after_ms).toBeGreaterThan(1_000);
    expect(again.result.retry_after_ms).toBeLessThanOrEqual(1_337);
    expect(fake.requests).toHaveLength(1);
  });

  it('X-RateLimit-Remaining: 0 on a success: the next message waits X-RateLimit-Reset-After', async () => {
    const fake = await started();
    fake.respond(() => ({ status: 204, headers: { 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset-after': '30.5' } }));
    const destination = discord(fake.url(WEBHOOK));
    expect((await deliverOnce(destination, SAMPLE_EVENT)).result.kind).toBe('success');
    const next = (await deliverOnce(destination, SAMPLE_EVENT)).result;
    expect(next).toMatchObject({ kind: 'retry', rate_limited: true });
    expect(next.retry_after_ms).toBeGreaterThan(29_000);
    expect(next.retry_after_ms).toBeLessThanOrEqual(30_500);
    expect(fake.requests).toHaveLength(1);
  });

  it('the fake refuses what Discord would (so the tests above mean something)', () => {
    const request = (body: unknown) => ({ method: 'POST', path: WEBHOOK, headers: {}, body: JSON.stringify(body), at: 0, json: <T>() => body as T });
    const off = { allowed_mentions: { parse: [] } };
    expect(discordProblems(request({ content: 'ok', ...off }))).toEqual([]);
    expect(discordProblems(request({ content: 'ok' }))).not.toEqual([]);
    expect(discordProblems(request({ content: 'x'.repeat(2_001), ...off }))).not.toEqual([]);
    expect(discordProblems(request({ embeds: [{ title: 'x'.repeat(257) }], ...off }))).not.toEqual([]);
    expect(discordProblems(request({ embeds: [{ description: 'x'.repeat(4_000) }, { description: 'x'.repeat(2_001) }], ...off }))).not.toEqual([]);
    expect(discordProblems(request({ embeds: [{ title: 't', color: '#E01E5A' }], ...off }))).not.toEqual([]);
  });
});

describe('discord config', () => {
  const problemsOf = (url: string): string[] => {
    try {
      parseConfigText(JSON.stringify({ destinations: [{ name: 'd', type: 'discord', url }] }), {});
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };

  it('a webhook URL is taken; anything else says what a Discord webhook URL looks like', () => {
    expect(problemsOf('https://discord.com/api/webhooks/123/abc-DEF_g')).toEqual([]);
    expect(problemsOf('https://discord.com/api/v10/webhooks/123/abc')).toEqual([]);
    expect(problemsOf('https://discord.com/channels/1/2')).toEqual([expect.stringMatching(/^destinations\[0\]\.url: not a Discord webhook URL \(https:\/\/discord\.com\/api\/webhooks\/<id>\/<token>/)]);
    expect(problemsOf('https://discord.com/api/webhooks/123/abc/slack')).toEqual([expect.stringMatching(/^destinations\[0\]\.url: ends in \/slack or \/github/)]);
  });

  it('zero-config: DISCORD_WEBHOOK_URL alone relays every event to Discord', () => {
    const { config } = loadConfig({ file: null, env: { DISCORD_WEBHOOK_URL: 'https://discord.com/api/webhooks/1/t' } });
    expect(config.destinations).toEqual([expect.objectContaining({ name: 'discord', type: 'discord' })]);
    expect(config.routes).toEqual([expect.objectContaining({ to: ['discord'] })]);
  });
});

describe('hookrelay render --template discord/default', () => {
  it('previews the message as sent: integer colour, mentions off', async () => {
    const output = (await renderPreview({ template: 'discord/default', source: 'tapemetric', sample: true, loaded: null })) as Record<string, unknown>;
    expect(output).toMatchObject({ allowed_mentions: { parse: [] }, embeds: [{ color: 0xe01e5a }] });
  });
});
