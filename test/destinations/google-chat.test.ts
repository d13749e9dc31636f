import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, loadConfigToRead, parseConfigText } from '../../src/config/load.ts';
import { renderPreview } from '../../src/cli/render-preview.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { MAX_GOOGLE_CHAT_MESSAGE_BYTES } from '../../src/destinations/google-chat-message.ts';
import { decide } from '../../src/dispatch/retry-policy.ts';
import { ConfigError } from '../../src/errors.ts';
import { SAMPLE_EVENT, TemplateRenderError } from '../../src/templates/index.ts';
import { HOSTILE_TEXT } from '../../src/templates/sample-event.ts';
import { configuredDestination, deliverOnce, renderRefusal } from '../support/destinations.ts';
import { fakeGoogleChat, googleChatProblems } from '../support/google-chat.ts';
import type { ReceivedChatMessage } from '../support/google-chat.ts';
import { templateDir } from '../templates/support.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const WEBHOOK = '/v1/spaces/AAAA/messages?key=K3y-secret&token=T0ken-secret';

const chat = (url: string, extra: Record<string, unknown> = {}, dirs: string[] = []): Destination =>
  configuredDestination({ name: 'ops-chat', type: 'google_chat', url, ...extra }, dirs);

async function started() {
  const fake = await fakeGoogleChat();
  cleanups.push(() => fake.close());
  return fake;
}

const widgetTexts = (message: ReceivedChatMessage): string[] =>
  message.cardsV2!.flatMap((entry) => entry.card.sections!.flatMap((section) => section.widgets.map((widget) => Object.values(widget)[0]!.text ?? '')));

/** Card text as Chat shows it: the allowed tags are markup, entities are characters. */
const shown = (html: string): string => html.replace(/<[^>]*>/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

describe('google_chat destination', () => {
  it('the sample alert: notification text and a card, posted to the incident thread with REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD', async () => {
    const fake = await started();
    const { result } = await deliverOnce(chat(fake.url(WEBHOOK)), SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'success', status: 200 });
    const [request] = fake.requests;
    expect(request!.path).toBe('/v1/spaces/AAAA/messages?key=K3y-secret&token=T0ken-secret&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
    const [message] = fake.messages();
    expect(message!.text).toBe(`🔴 ${SAMPLE_EVENT.title} (tapemetric)`);
    expect(message!.cardsV2![0]!.card.header).toEqual({ title: `🔴 ${SAMPLE_EVENT.title}`, subtitle: 'tapemetric · Critical' });
    expect(widgetTexts(message!).map(shown)).toEqual(expect.arrayContaining(['Firing', '🔴 Critical', SAMPLE_EVENT.summary]));
  });

  it("each incident's messages share one thread; another incident gets its own", async () => {
    const fake = await started();
    const destination = chat(fake.url(WEBHOOK));
    await deliverOnce(destination, SAMPLE_EVENT);
    await deliverOnce(destination, { ...SAMPLE_EVENT, status: 'resolved' });
    await deliverOnce(destination, { ...SAMPLE_EVENT, dedup_key: 'tapemetric:qos.rebuffer_spike:Kerala' });
    expect(fake.threadOf(0)).toBe(fake.threadOf(1));
    expect(fake.threadOf(2)).not.toBe(fake.threadOf(0));
    expect(fake.messages()[1]!.text).toBe(`✅ Resolved: ${SAMPLE_EVENT.title} (tapemetric)`);
  });

  it('hostile sender text: no markup or link in the card, no @all mention in the text', async () => {
    const fake = await started();
    const hostile = '<a href="http://evil.example">click</a> <b>bold</b> <font color="#ff0000">red</font> <users/all> &amp; \'q\'';
    const { result } = await deliverOnce(chat(fake.url(WEBHOOK)), { ...SAMPLE_EVENT, title: hostile, summary: `${hostile} ${HOSTILE_TEXT}` });
    expect(result.kind).toBe('success');
    const [message] = fake.messages();
    const summary = widgetTexts(message!).find((text) => text.includes('click'))!;
    expect(summary).not.toMatch(/<[a-z/]/i);
    expect(shown(summary).startsWith(hostile)).toBe(true);
    expect(message!.text).not.toContain('<users/all>');
    expect(message!.text).toContain('<\u200dusers/all>');
  });

  it('a message over 32,000 bytes is cut, longest text first, with a visible "…"; too many widgets keep the first and say how many more', async () => {
    const fake = await started();
    const long = await deliverOnce(chat(fake.url(WEBHOOK), { template: 'google_chat/full' }, [templateDir({
      'google_chat/full': '{ "text": "{{title}}", "cardsV2": [{ "cardId": "c", "card": { "sections": [{ "widgets": [{ "textParagraph": { "text": "{{summary}}" } }] }] } }] }',
    })]), { ...SAMPLE_EVENT, summary: `start ${'wörd '.repeat(20_000)}` });
    expect(long.result.kind).toBe('success');
    expect(Buffer.byteLength(long.body)).toBeLessThanOrEqual(MAX_GOOGLE_CHAT_MESSAGE_BYTES);
    expect(widgetTexts(fake.messages()[0]!)[0]!.endsWith('…')).toBe(true);

    const many = await deliverOnce(chat(fake.url(WEBHOOK), { template: 'google_chat/many' }, [templateDir({
      'google_chat/many': '{ "cardsV2": [{ "cardId": "c", "card": { "sections": [{ "widgets": [{{#each data.lines}}{{#if @index}},{{/if}}{ "decoratedText": { "text": "{{this}}" } }{{/each}}] }] } }] }',
    })]), { ...SAMPLE_EVENT, data: { lines: Array.from({ length: 3_000 }, (_, index) => `line ${index}`) } });
    expect(many.result.kind).toBe('success');
    const texts = widgetTexts(fake.messages()[1]!);
    expect(texts[0]).toBe('line 0');
    const omitted = Number(/^… and (\d+) more \(Google Chat's 32,000-byte message limit\)$/.exec(texts.at(-1)!)![1]);
    expect(texts.length - 1 + omitted).toBe(3_000);
  });

  it('invalid output is refused before sending, naming the place', async () => {
    const refusal = async (template: string) => (await renderRefusal(chat(`http://127.0.0.1:9${WEBHOOK}`, { template: 'google_chat/bad' }, [templateDir({ 'google_chat/bad': template })]), SAMPLE_EVENT))!;
    expect(await refusal('{ "text": "" }')).toBeInstanceOf(TemplateRenderError);
    expect((await refusal('{ "text": "" }')).message).toMatch(/not a valid Google Chat message: \(top level\): a Google Chat message needs "text" or "cardsV2"/);
    expect((await refusal('{ "cardsV2": [{ "cardId": "c", "card": { "sections": [{ "widgets": [{ "paragraph": { "text": "x" } }] }] } }] }')).message).toMatch(
      /cardsV2\[0\]\.card\.sections\[0\]\.widgets\[0\]: a widget is exactly one of textParagraph, decoratedText/,
    );
    expect((await refusal('{ "cardsV2": [{ "card": { "sections": [] } }] }')).message).toMatch(/cardsV2\[0\]\.cardId: /);
  });

  it('429 with Retry-After: retried when Chat says, neutral to health', async () => {
    const fake = await started();
    fake.respond(() => ({ status: 429, headers: { 'retry-after': '20', 'content-type': 'application/json' }, body: '{"error":{"code":429,"status":"RESOURCE_EXHAUSTED"}}' }));
    const { result } = await deliverOnce(chat(fake.url(WEBHOOK)), SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'retry', status: 429, retry_after_ms: 20_000, rate_limited: true });
    expect(decide({ schedule: [1_000], disable_after: 5 }, 1, result, 0)).toEqual({ outcome: 'retry', next_attempt_at: 20_000, health: 'neutral' });
  });

  it('the fake refuses what Chat would (so the tests above mean something)', () => {
    const request = (body: unknown, path = `${WEBHOOK}&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD`) => ({ method: 'POST', path, headers: {}, body: JSON.stringify(body), at: 0, json: <T>() => body as T });
    expect(googleChatProblems(request({ text: 'ok', thread: { threadKey: 'k' } }))).toEqual([]);
    expect(googleChatProblems(request({ text: 'ok', thread: { threadKey: 'k' } }, WEBHOOK))).not.toEqual([]);
    expect(googleChatProblems(request({ text: 'ok' }))).not.toEqual([]);
    expect(googleChatProblems(request({ text: 'x'.repeat(32_001), thread: { threadKey: 'k' } }))).not.toEqual([]);
  });
});

describe('google_chat config', () => {
  const problemsOf = (url: string): string[] => {
    try {
      parseConfigText(JSON.stringify({ destinations: [{ name: 'c', type: 'google_chat', url }] }), {});
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };

  it('a space webhook URL is taken; anything else says what one looks like', () => {
    expect(problemsOf('https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=t')).toEqual([]);
    expect(problemsOf('https://chat.google.com/room/AAAA')).toEqual([expect.stringMatching(/^destinations\[0\]\.url: not a Google Chat space webhook URL \(https:\/\/chat\.googleapis\.com\/v1\/spaces\/<space>\/messages/)]);
  });

  it('zero-config: GOOGLE_CHAT_WEBHOOK_URL alone relays every event to the space', () => {
    const { config } = loadConfig({ file: null, env: { GOOGLE_CHAT_WEBHOOK_URL: 'https://chat.googleapis.com/v1/spaces/AAAA/messages?key=k&token=t' } });
    expect(config.destinations).toEqual([expect.objectContaining({ name: 'google-chat', type: 'google_chat' })]);
    expect(config.routes).toEqual([expect.objectContaining({ to: ['google-chat'] })]);
  });

  it('render works offline with the webhook URLs unset (their stand-in passes the URL checks), showing the thread key', async () => {
    const file = join(templateDir(), 'hookrelay.yaml');
    writeFileSync(file, [
      'sources: [ { name: tapemetric, preset: tapemetric, secrets: [ "${TAPEMETRIC_SECRET}" ] } ]',
      'destinations:',
      '  - { name: ops-chat, type: google_chat, url: "${GOOGLE_CHAT_WEBHOOK_URL}" }',
      '  - { name: ops-discord, type: discord, url: "${DISCORD_WEBHOOK_URL}" }',
      '  - { name: ops-teams, type: teams, url: "${TEAMS_WEBHOOK_URL}" }',
      'routes: [ { to: [ ops-chat, ops-discord, ops-teams ] } ]',
    ].join('\n'));
    const { loaded, notes } = loadConfigToRead({ file, env: {}, reader: { purpose: 'render', reads: ['sources', 'destinations', 'templates_dir'] } });
    expect(notes).toEqual(expect.arrayContaining([expect.stringContaining('GOOGLE_CHAT_WEBHOOK_URL, which is not set')]));
    const output = (await renderPreview({ template: 'google_chat/default', source: 'tapemetric', sample: true, loaded })) as Record<string, unknown>;
    expect(output).toMatchObject({ text: expect.stringContaining('🔴'), thread: { threadKey: expect.stringMatching(/^hookrelay-[0-9a-f]{32}$/) } });
  });
});
