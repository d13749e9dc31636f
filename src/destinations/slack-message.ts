import { z } from 'zod';
import { formatPath } from '../util/objects.ts';
import { ELLIPSIS, TemplateRenderError, truncateToLength } from '../templates/index.ts';
import type { Rendering } from './destination.ts';
import { cutPaths, cutToLimit, shrinkTextsToFit } from './text-budget.ts';
import type { TextSlot } from './text-budget.ts';

/**
 * Fits a rendered Slack message to Slack's limits (Block Kit reference, "Blocks" and
 * "Composition objects"): too long is cut with a visible "…", never dropped, so a message
 * Slack would reject with `invalid_blocks` is still delivered, readable.
 */

// Block Kit reference: "You can include up to 50 blocks in each message".
const MAX_BLOCKS = 50;
// Header block: "Maximum length for the text in this field is 150 characters."
const MAX_HEADER_TEXT = 150;
// Section block: text "Maximum length … is 3000 characters".
const MAX_SECTION_TEXT = 3000;
// Section block: fields "Maximum number of items is 10. Maximum length for the text in each item is 2000 characters."
const MAX_SECTION_FIELDS = 10;
const MAX_FIELD_TEXT = 2000;
// Context block: "Maximum number of items is 10."; text objects in general hold up to 3000.
const MAX_CONTEXT_ELEMENTS = 10;
const MAX_CONTEXT_TEXT = 3000;
// Slack refuses large block payloads well before the 40,000-character message limit; 12,000
// characters of serialized blocks is the budget hookrelay keeps to.
const MAX_BLOCKS_JSON = 12_000;
// Top-level `text` (fallback and notification text).
const MAX_TEXT = 3000;

const textObjectSchema = z.looseObject({
  type: z.enum(['plain_text', 'mrkdwn']),
  text: z.string(),
  emoji: z.boolean().optional(),
  verbatim: z.boolean().optional(),
});

const nonEmptyText = textObjectSchema.extend({ text: z.string().min(1, 'Slack rejects empty text') });

const headerBlockSchema = z.looseObject({
  type: z.literal('header'),
  text: nonEmptyText.extend({ type: z.literal('plain_text', 'a header takes plain_text only') }),
  block_id: z.string().optional(),
});

const sectionBlockSchema = z
  .looseObject({
    type: z.literal('section'),
    text: nonEmptyText.optional(),
    fields: z.array(nonEmptyText).min(1).optional(),
    block_id: z.string().optional(),
  })
  .refine((block) => block.text !== undefined || block.fields !== undefined, 'a section needs text or fields');

const contextElementSchema = z.union([
  textObjectSchema,
  z.looseObject({ type: z.literal('image'), image_url: z.string().optional(), alt_text: z.string() }),
]);

const contextBlockSchema = z.looseObject({
  type: z.literal('context'),
  elements: z.array(contextElementSchema).min(1, 'a context block needs at least one element'),
  block_id: z.string().optional(),
});

// Every other block type (divider, actions, image, rich_text, …) is passed through as it is.
const anyBlockSchema = z.looseObject({ type: z.string().min(1, 'a block needs a type') });

const attachmentSchema = z.looseObject({
  blocks: z.array(z.unknown()).optional(),
  color: z.string().optional(),
  fallback: z.string().optional(),
  text: z.string().optional(),
});

const messageSchema = z
  .looseObject({
    text: z.string().optional(),
    blocks: z.array(z.unknown()).optional(),
    attachments: z.array(attachmentSchema).optional(),
  })
  .refine(
    (message) => message.text !== undefined || message.blocks !== undefined || message.attachments !== undefined,
    'a Slack message needs "text" or "blocks"',
  );

export type SlackTextObject = z.infer<typeof textObjectSchema>;
export type SlackHeaderBlock = z.infer<typeof headerBlockSchema>;
export type SlackSectionBlock = z.infer<typeof sectionBlockSchema>;
export type SlackContextBlock = z.infer<typeof contextBlockSchema>;
/** Any block; header, section and context are checked in detail, the rest need a `type`. */
export type SlackBlock = SlackHeaderBlock | SlackSectionBlock | SlackContextBlock | z.infer<typeof anyBlockSchema>;

export interface SlackAttachment {
  blocks?: SlackBlock[];
  color?: string;
  fallback?: string;
  text?: string;
  [key: string]: unknown;
}

/** What a Slack Incoming Webhook (or chat.postMessage, plus its channel) takes. */
export interface SlackMessage {
  text?: string;
  blocks?: SlackBlock[];
  attachments?: SlackAttachment[];
  [key: string]: unknown;
}

export interface FittedSlackMessage {
  readonly message: SlackMessage;
  /** Paths that were cut, e.g. `blocks[0].text.text`, `blocks` (blocks omitted). */
  readonly truncated: string[];
}

function parseOrThrow<T>(schema: z.ZodType<T>, value: unknown, at: readonly PropertyKey[], template: string): T {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = formatPath([...at, ...(issue?.path ?? [])]);
  throw new TemplateRenderError(template, `not a valid Slack message: ${where}: ${issue?.message ?? 'invalid'}`);
}

function parseBlock(value: unknown, at: readonly PropertyKey[], template: string): SlackBlock {
  const type = value !== null && typeof value === 'object' ? (value as { type?: unknown }).type : undefined;
  switch (type) {
    case 'header':
      return parseOrThrow(headerBlockSchema, value, at, template);
    case 'section':
      return parseOrThrow(sectionBlockSchema, value, at, template);
    case 'context':
      return parseOrThrow(contextBlockSchema, value, at, template);
    default:
      return parseOrThrow(anyBlockSchema, value, at, template);
  }
}

function omittedNote(count: number, what: string): SlackTextObject {
  return { type: 'mrkdwn', text: `${ELLIPSIS} and ${count} more ${what} (Slack's limit)` };
}

/** Per-block limits; returns the texts that may be shortened further. */
function fitBlock(block: SlackBlock, path: string, truncated: string[]): TextSlot[] {
  const slots: TextSlot[] = [];
  // Cut to the block's own limit, and kept for the whole-message budget.
  const fit = (owner: SlackTextObject, max: number, at: string): void => {
    slots.push(cutToLimit(owner, 'text', max, at, truncated, owner.type === 'mrkdwn'));
  };

  if (block.type === 'header') {
    const header = block as SlackHeaderBlock;
    fit(header.text, MAX_HEADER_TEXT, `${path}.text.text`);
  } else if (block.type === 'section') {
    const section = block as SlackSectionBlock;
    if (section.text !== undefined) {
      fit(section.text, MAX_SECTION_TEXT, `${path}.text.text`);
    }
    if (section.fields !== undefined) {
      if (section.fields.length > MAX_SECTION_FIELDS) {
        const omitted = section.fields.length - (MAX_SECTION_FIELDS - 1);
        section.fields = [...section.fields.slice(0, MAX_SECTION_FIELDS - 1), omittedNote(omitted, 'fields')];
        truncated.push(`${path}.fields`);
      }
      section.fields.forEach((field, index) => {
        fit(field, MAX_FIELD_TEXT, `${path}.fields[${index}].text`);
      });
    }
  } else if (block.type === 'context') {
    const context = block as SlackContextBlock;
    if (context.elements.length > MAX_CONTEXT_ELEMENTS) {
      const omitted = context.elements.length - (MAX_CONTEXT_ELEMENTS - 1);
      context.elements = [...context.elements.slice(0, MAX_CONTEXT_ELEMENTS - 1), omittedNote(omitted, 'items')];
      truncated.push(`${path}.elements`);
    }
    context.elements.forEach((element, index) => {
      if (element.type === 'plain_text' || element.type === 'mrkdwn') {
        const text = element as SlackTextObject;
        fit(text, MAX_CONTEXT_TEXT, `${path}.elements[${index}].text`);
      }
    });
  }
  return slots;
}

function blocksSize(blocks: readonly SlackBlock[]): number {
  return JSON.stringify(blocks).length;
}

/** Shrinks the longest texts first until the serialized blocks fit the budget. */
function shrinkToBudget(blocks: readonly SlackBlock[], slots: readonly TextSlot[]): boolean {
  return shrinkTextsToFit(slots, () => blocksSize(blocks) <= MAX_BLOCKS_JSON);
}

/** Validates and fits one list of blocks (the message's or an attachment's). */
function fitBlocks(values: readonly unknown[], at: string, template: string, truncated: string[]): SlackBlock[] {
  let blocks = values.map((value, index) => parseBlock(value, [at, index], template));

  let omitted = 0;
  if (blocks.length > MAX_BLOCKS) {
    omitted = blocks.length - (MAX_BLOCKS - 1);
    blocks = blocks.slice(0, MAX_BLOCKS - 1);
    truncated.push(at);
  }
  const withNote = (kept: SlackBlock[]): SlackBlock[] =>
    omitted === 0 ? kept : [...kept, { type: 'context', elements: [omittedNote(omitted, 'blocks')] }];

  const slotsByBlock = blocks.map((block, index) => fitBlock(block, `${at}[${index}]`, truncated));
  const slotsOf = (count: number): TextSlot[] => slotsByBlock.slice(0, count).flat();
  let result = withNote(blocks);

  // Last resort, for blocks that are large without any text to shorten (long image URLs,
  // rich_text): leave trailing blocks out, with the note saying how many.
  while (!shrinkToBudget(result, slotsOf(blocks.length)) && blocks.length > 1) {
    blocks = blocks.slice(0, -1);
    omitted += 1;
    if (!truncated.includes(at)) truncated.push(at);
    result = withNote(blocks);
  }
  if (blocksSize(result) > MAX_BLOCKS_JSON) {
    throw new TemplateRenderError(template, `not a valid Slack message: ${at}: more than ${MAX_BLOCKS_JSON} characters even after truncation`);
  }
  for (const path of cutPaths(slotsOf(blocks.length))) if (!truncated.includes(path)) truncated.push(path);
  return result;
}

/**
 * Validates a rendered template as a Slack message and fits it to Slack's limits.
 * Structurally invalid output (not an object, no text and no blocks, a block without a
 * type, a header that is not plain_text …) throws TemplateRenderError naming the path.
 * Does not modify `payload`.
 */
export function fitSlackMessage(payload: unknown, template = 'slack message'): FittedSlackMessage {
  const truncated: string[] = [];
  const parsed = parseOrThrow(messageSchema, payload, [], template);
  const message: SlackMessage = { ...parsed } as SlackMessage;

  if (parsed.text !== undefined) {
    const text = truncateToLength(parsed.text, MAX_TEXT, { markup: true });
    if (text !== parsed.text) truncated.push('text');
    message.text = text;
  }
  if (parsed.blocks !== undefined) {
    message.blocks = fitBlocks(parsed.blocks, 'blocks', template, truncated);
  }
  if (parsed.attachments !== undefined) {
    message.attachments = parsed.attachments.map((attachment, index): SlackAttachment => {
      if (attachment.blocks === undefined) return attachment as SlackAttachment;
      return { ...attachment, blocks: fitBlocks(attachment.blocks, `attachments[${index}].blocks`, template, truncated) };
    });
  }
  return { message, truncated };
}

/** Slack's templates (slack, slack-bot): mrkdwn escaping, fitted to Block Kit's limits. */
export const slackRendering: Rendering = { mode: 'slack', fit: (payload, template) => fitSlackMessage(payload, template).message };
