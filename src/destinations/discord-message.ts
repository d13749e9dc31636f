import type { APIEmbed, APIEmbedField, RESTPostAPIWebhookWithTokenJSONBody } from 'discord-api-types/v10';
import { z } from 'zod';
import { ELLIPSIS, TemplateRenderError } from '../templates/index.ts';
import { formatPath } from '../util/objects.ts';
import type { Rendering } from './destination.ts';
import { cutPaths, cutToLimit, shrinkTextsToFit } from './text-budget.ts';
import type { TextSlot } from './text-budget.ts';

/**
 * Fits a rendered Discord webhook message to Discord's limits (Discord developer docs,
 * "Execute Webhook" and "Embed Limits"): too long is cut with a visible "…", never dropped.
 * Mentions are always off (`allowed_mentions: {"parse": []}`), whatever the template says, so
 * no text can ping @everyone, a role or a user.
 */

// "content: the message contents (up to 2000 characters)".
const MAX_CONTENT = 2000;
// Embed Limits: title 256, description 4096, up to 25 fields, field name 256, field value
// 1024, footer text 2048, author name 256; the sum of all of these in all embeds 6000; up to
// 10 embeds per message.
const MAX_TITLE = 256;
const MAX_DESCRIPTION = 4096;
const MAX_FIELDS = 25;
const MAX_FIELD_NAME = 256;
const MAX_FIELD_VALUE = 1024;
const MAX_FOOTER = 2048;
const MAX_AUTHOR = 256;
const MAX_EMBED_CHARACTERS = 6000;
const MAX_EMBEDS = 10;
// "username: override the default username of the webhook" (1 to 80 characters).
const MAX_USERNAME = 80;
// Discord refuses an empty field name or value; a zero-width space is the usual stand-in.
const EMPTY_FIELD = '\u200b';

/** `#E01E5A` (what `{{severity_color}}` gives) or a number, as Discord's integer colour. */
const colorSchema = z.union(
  [
    z.number().int().min(0).max(0xffffff),
    z
      .string()
      .regex(/^#?[0-9a-f]{6}$/i)
      .transform((hex) => Number.parseInt(hex.replace('#', ''), 16)),
  ],
  { error: 'must be a colour such as "#E01E5A" or a number from 0 to 16777215' },
);

const fieldSchema = z.looseObject({ name: z.string(), value: z.string(), inline: z.boolean().optional() });

const embedSchema = z.looseObject({
  title: z.string().optional(),
  description: z.string().optional(),
  url: z.string().optional(),
  timestamp: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 time (use {{time occurred_at "iso"}})' }).optional(),
  color: colorSchema.optional(),
  footer: z.looseObject({ text: z.string(), icon_url: z.string().optional() }).optional(),
  author: z.looseObject({ name: z.string(), url: z.string().optional(), icon_url: z.string().optional() }).optional(),
  fields: z.array(fieldSchema).optional(),
});

const messageSchema = z
  .looseObject({
    content: z.string().optional(),
    username: z.string().optional(),
    avatar_url: z.string().optional(),
    embeds: z.array(embedSchema).optional(),
  })
  .refine((message) => (message.content ?? '') !== '' || (message.embeds?.length ?? 0) > 0, 'a Discord message needs "content" or "embeds"');

export type DiscordMessage = RESTPostAPIWebhookWithTokenJSONBody;

export interface FittedDiscordMessage {
  readonly message: DiscordMessage;
  /** Paths that were cut, e.g. `embeds[0].description`, `embeds[0].fields` (fields left out). */
  readonly truncated: string[];
}

/** Keeps the first `max - 1` items and adds `note(omitted)` in the last place, when there are more than `max`. */
function withOverflowNote<T>(items: readonly T[], max: number, note: (omitted: number) => T): T[] {
  if (items.length <= max) return [...items];
  return [...items.slice(0, max - 1), note(items.length - (max - 1))];
}

/** hookrelay's own "… and N more" notes: kept whole when the 6,000-character budget cuts texts. */
const overflowNotes = new WeakSet<object>();

function overflowNote<T extends object>(note: T): T {
  overflowNotes.add(note);
  return note;
}

function fitEmbed(embed: APIEmbed, at: string, truncated: string[]): TextSlot[] {
  const slots: TextSlot[] = [];
  if (overflowNotes.has(embed)) return slots;
  const own = embed as Record<string, unknown>;
  if (embed.title !== undefined) slots.push(cutToLimit(own, 'title', MAX_TITLE, `${at}.title`, truncated));
  if (embed.description !== undefined) slots.push(cutToLimit(own, 'description', MAX_DESCRIPTION, `${at}.description`, truncated));
  if (embed.footer !== undefined) slots.push(cutToLimit(embed.footer as unknown as Record<string, unknown>, 'text', MAX_FOOTER, `${at}.footer.text`, truncated));
  if (embed.author !== undefined) slots.push(cutToLimit(embed.author as unknown as Record<string, unknown>, 'name', MAX_AUTHOR, `${at}.author.name`, truncated));
  if (embed.fields !== undefined) {
    if (embed.fields.length > MAX_FIELDS) truncated.push(`${at}.fields`);
    embed.fields = withOverflowNote<APIEmbedField>(embed.fields, MAX_FIELDS, (omitted) => overflowNote({ name: ELLIPSIS, value: `and ${omitted} more fields (Discord's limit)` }));
    embed.fields.forEach((field, index) => {
      if (overflowNotes.has(field)) return;
      if (field.name === '') field.name = EMPTY_FIELD;
      if (field.value === '') field.value = EMPTY_FIELD;
      const own = field as unknown as Record<string, unknown>;
      slots.push(cutToLimit(own, 'name', MAX_FIELD_NAME, `${at}.fields[${index}].name`, truncated));
      slots.push(cutToLimit(own, 'value', MAX_FIELD_VALUE, `${at}.fields[${index}].value`, truncated));
    });
  }
  return slots;
}

function embedCharacters(embeds: readonly APIEmbed[]): number {
  let total = 0;
  for (const embed of embeds) {
    total += (embed.title?.length ?? 0) + (embed.description?.length ?? 0) + (embed.footer?.text.length ?? 0) + (embed.author?.name.length ?? 0);
    for (const field of embed.fields ?? []) total += field.name.length + field.value.length;
  }
  return total;
}

/**
 * Validates a rendered template as a Discord webhook message and fits it to Discord's limits:
 * each text to its own limit, at most 10 embeds and 25 fields each (the last place says how
 * many more there were), and all embeds' texts within 6,000 characters, longest first.
 * Colours may be written as `"#E01E5A"`. Throws TemplateRenderError naming the path. Does not
 * modify `payload`.
 */
export function fitDiscordMessage(payload: unknown, template = 'discord message'): FittedDiscordMessage {
  const parsed = messageSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TemplateRenderError(template, `not a valid Discord message: ${formatPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
  }
  const message = structuredClone(parsed.data) as DiscordMessage;
  const truncated: string[] = [];
  const own = message as Record<string, unknown>;
  if (message.content !== undefined) cutToLimit(own, 'content', MAX_CONTENT, 'content', truncated);
  if (message.username !== undefined) cutToLimit(own, 'username', MAX_USERNAME, 'username', truncated);
  if (message.embeds !== undefined) {
    if (message.embeds.length > MAX_EMBEDS) truncated.push('embeds');
    const embeds = withOverflowNote<APIEmbed>(message.embeds, MAX_EMBEDS, (omitted) => overflowNote({ description: `${ELLIPSIS} and ${omitted} more embeds (Discord's limit)` }));
    const slots = embeds.flatMap((embed, index) => fitEmbed(embed, `embeds[${index}]`, truncated));
    if (!shrinkTextsToFit(slots, () => embedCharacters(embeds) <= MAX_EMBED_CHARACTERS)) {
      throw new TemplateRenderError(template, `not a valid Discord message: embeds: over ${MAX_EMBED_CHARACTERS} characters even with every text cut`);
    }
    for (const path of cutPaths(slots)) if (!truncated.includes(path)) truncated.push(path);
    message.embeds = embeds;
  }
  // Never a ping, whatever the text or the template says (Discord "Allowed Mentions Object").
  message.allowed_mentions = { parse: [] };
  return { message, truncated };
}

/** Discord: markdown escaping, fitted to Discord's embed limits, mentions off. */
export const discordRendering: Rendering = { mode: 'discord', fit: (payload, template) => fitDiscordMessage(payload, template).message };
