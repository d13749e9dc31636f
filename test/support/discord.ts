import { FakeReceiver } from './receiver.ts';
import type { ReceivedRequest, Reply } from './receiver.ts';

interface Embed {
  title?: string;
  description?: string;
  color?: unknown;
  timestamp?: string;
  footer?: { text: string };
  author?: { name: string };
  fields?: Array<{ name: string; value: string; inline?: boolean }>;
}

/** A message as a Discord client would read it. */
export interface ReceivedDiscordMessage {
  content?: string;
  embeds?: Embed[];
  allowed_mentions?: { parse?: string[]; users?: string[]; roles?: string[] };
}

/**
 * What Discord's Execute Webhook would refuse (developer docs, "Execute Webhook" and "Embed
 * Limits"), written here from the docs: content ≤ 2000; ≤ 10 embeds; title ≤ 256, description
 * ≤ 4096, ≤ 25 fields, field name ≤ 256 and value ≤ 1024 (neither empty), footer ≤ 2048, author
 * ≤ 256, 6000 in all; colour an integer; an ISO 8601 timestamp. And what hookrelay promises on
 * top: mentions off (`allowed_mentions.parse` empty).
 */
export function discordProblems(request: ReceivedRequest): string[] {
  const problems: string[] = [];
  let message: ReceivedDiscordMessage;
  try {
    message = request.json();
  } catch {
    return ['not JSON'];
  }
  const over = (what: string, text: string | undefined, max: number): void => {
    if (text !== undefined && text.length > max) problems.push(`${what}: ${text.length} > ${max}`);
  };
  over('content', message.content, 2000);
  if (!message.content && !message.embeds?.length) problems.push('neither content nor embeds');
  if ((message.embeds?.length ?? 0) > 10) problems.push('more than 10 embeds');
  let total = 0;
  message.embeds?.forEach((embed, index) => {
    over(`embeds[${index}].title`, embed.title, 256);
    over(`embeds[${index}].description`, embed.description, 4096);
    over(`embeds[${index}].footer.text`, embed.footer?.text, 2048);
    over(`embeds[${index}].author.name`, embed.author?.name, 256);
    if ((embed.fields?.length ?? 0) > 25) problems.push(`embeds[${index}]: more than 25 fields`);
    embed.fields?.forEach((field, f) => {
      over(`embeds[${index}].fields[${f}].name`, field.name, 256);
      over(`embeds[${index}].fields[${f}].value`, field.value, 1024);
      if (!field.name || !field.value) problems.push(`embeds[${index}].fields[${f}]: empty name or value`);
      total += field.name.length + field.value.length;
    });
    if (embed.color !== undefined && (!Number.isInteger(embed.color) || (embed.color as number) < 0 || (embed.color as number) > 0xffffff)) problems.push(`embeds[${index}].color: not an integer colour`);
    if (embed.timestamp !== undefined && Number.isNaN(Date.parse(embed.timestamp))) problems.push(`embeds[${index}].timestamp: not ISO 8601`);
    total += (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
  });
  if (total > 6000) problems.push(`embeds: ${total} characters in all > 6000`);
  const mentions = message.allowed_mentions;
  if (mentions === undefined || (mentions.parse?.length ?? 1) !== 0) problems.push('mentions are not off (allowed_mentions.parse must be [])');
  return problems;
}

/** Discord's webhook endpoint on loopback: 204 for a valid message, 400 with Discord's error shape otherwise. */
export async function fakeDiscord(): Promise<FakeReceiver & { messages(): ReceivedDiscordMessage[] }> {
  const fake = await FakeReceiver.start();
  fake.respond((request): Reply => {
    const problems = discordProblems(request);
    return problems.length === 0
      ? { status: 204, headers: { 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '4', 'x-ratelimit-reset-after': '0.4' } }
      : { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 50035, message: 'Invalid Form Body', problems }) };
  });
  return Object.assign(fake, { messages: () => fake.requests.map((request) => request.json<ReceivedDiscordMessage>()) });
}
