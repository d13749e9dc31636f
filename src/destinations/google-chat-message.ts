import { z } from 'zod';
import { ELLIPSIS, TemplateRenderError } from '../templates/index.ts';
import { formatPath, isRecord } from '../util/objects.ts';
import type { Rendering } from './destination.ts';
import { threadKeyOf } from './incident-thread.ts';
import { cutPaths, fitLeadingItems, shrinkTextsToFit, textSlotsAt } from './text-budget.ts';

/**
 * Fits a rendered Google Chat message (Chat API `spaces.messages.create`: `text` plus
 * `cardsV2`) into Chat's limit and puts it in its incident's thread: too long is cut with a
 * visible "…", never dropped.
 */

// "The maximum message size, including text and cards, is 32,000 bytes" (spaces.messages.create).
export const MAX_GOOGLE_CHAT_MESSAGE_BYTES = 32_000;
// Texts are cut down to this before widgets are left out.
const MIN_CUT_TEXT = 200;
// What a reader sees: message text, widget texts and labels, card and section headers.
const TEXT_KEYS = new Set(['text', 'title', 'subtitle', 'topLabel', 'bottomLabel', 'header']);
// Card widgets (Google Workspace card reference, "Widget"): each widget is exactly one of these.
const WIDGET_TYPES = [
  'textParagraph',
  'decoratedText',
  'image',
  'buttonList',
  'divider',
  'grid',
  'columns',
  'chipList',
  'carousel',
  'selectionInput',
  'textInput',
  'dateTimePicker',
] as const;

const widgetSchema = z.looseObject({}).superRefine((widget, context) => {
  const kinds = Object.keys(widget).filter((key) => (WIDGET_TYPES as readonly string[]).includes(key));
  if (kinds.length !== 1) {
    context.addIssue({ code: 'custom', message: `a widget is exactly one of ${WIDGET_TYPES.join(', ')}${kinds.length > 1 ? ` (this one is ${kinds.join(' and ')})` : ''}` });
  }
  const paragraph = widget.textParagraph;
  if (paragraph !== undefined && !(isRecord(paragraph) && typeof paragraph.text === 'string')) {
    context.addIssue({ code: 'custom', path: ['textParagraph', 'text'], message: 'a textParagraph needs text' });
  }
  const decorated = widget.decoratedText;
  if (decorated !== undefined && !(isRecord(decorated) && typeof decorated.text === 'string')) {
    context.addIssue({ code: 'custom', path: ['decoratedText', 'text'], message: 'a decoratedText needs text' });
  }
});

const sectionSchema = z.looseObject({
  header: z.string().optional(),
  widgets: z.array(widgetSchema).min(1, 'a section needs at least one widget'),
});

const cardSchema = z.looseObject({
  header: z.looseObject({ title: z.string().min(1, 'a card header needs a title'), subtitle: z.string().optional() }).optional(),
  sections: z.array(sectionSchema).optional(),
});

const messageSchema = z
  .looseObject({
    text: z.string().optional(),
    cardsV2: z.array(z.looseObject({ cardId: z.string().min(1, 'each card needs a cardId'), card: cardSchema })).optional(),
  })
  .refine((message) => (message.text ?? '') !== '' || (message.cardsV2?.length ?? 0) > 0, 'a Google Chat message needs "text" or "cardsV2"');

type ParsedMessage = z.infer<typeof messageSchema>;

/** What a Google Chat space webhook takes. */
export interface GoogleChatMessage extends ParsedMessage {
  thread: { threadKey: string };
}

export interface FittedGoogleChatMessage {
  readonly message: GoogleChatMessage;
  /** Paths that were cut, e.g. `cardsV2[0].card.sections[0].widgets[1].textParagraph.text`, `cardsV2` (widgets left out). */
  readonly truncated: string[];
}

function messageBytes(message: GoogleChatMessage): number {
  return Buffer.byteLength(JSON.stringify(message), 'utf8');
}

/** Every widget's place, in reading order. */
function widgetPlaces(message: ParsedMessage): Array<[card: number, section: number, widget: number]> {
  return (message.cardsV2 ?? []).flatMap((entry, card) =>
    (entry.card.sections ?? []).flatMap((section, index) => section.widgets.map((_, widget): [number, number, number] => [card, index, widget])),
  );
}

/** The message with only its first `kept` widgets, and a paragraph saying how many more there were. */
function withLeadingWidgets(original: ParsedMessage, threadKey: string, kept: number): GoogleChatMessage {
  const message: GoogleChatMessage = { ...structuredClone(original), thread: { threadKey } };
  const places = widgetPlaces(original);
  const note = { textParagraph: { text: `${ELLIPSIS} and ${places.length - kept} more (Google Chat's 32,000-byte message limit)` } };
  const [card, section] = places[Math.max(0, kept - 1)] ?? [0, 0];
  let seen = 0;
  for (const [index, entry] of (message.cardsV2 ?? []).entries()) {
    // In reading order, as widgetPlaces counts them.
    const sections = (entry.card.sections ?? []).map((item) => ({ ...item, widgets: item.widgets.filter(() => seen++ < kept) }));
    if (index === card) sections[section]?.widgets.push(note);
    entry.card.sections = sections.filter((item) => item.widgets.length > 0);
  }
  return message;
}

/**
 * Validates a rendered template as a Google Chat message (`text` and/or `cardsV2`, each widget
 * one known kind) and fits it into 32,000 bytes with the incident's thread key: longest texts
 * cut first; a message still too large keeps its first widgets and says how many more there
 * were. Throws TemplateRenderError naming the path. Does not modify `payload`.
 */
export function fitGoogleChatMessage(payload: unknown, template: string, threadKey: string): FittedGoogleChatMessage {
  const invalid = (reason: string): TemplateRenderError => new TemplateRenderError(template, `not a valid Google Chat message: ${reason}`);
  const parsed = messageSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`${formatPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
  }
  const original = parsed.data;
  let message: GoogleChatMessage = { ...structuredClone(original), thread: { threadKey } };
  const fits = (): boolean => messageBytes(message) <= MAX_GOOGLE_CHAT_MESSAGE_BYTES;
  const truncated: string[] = [];
  let slots = textSlotsAt(message, TEXT_KEYS);
  if (!shrinkTextsToFit(slots, fits, MIN_CUT_TEXT)) {
    const places = widgetPlaces(original).length;
    const fitted = fitLeadingItems(places, (kept) => textSlotsAt((message = withLeadingWidgets(original, threadKey, kept)), TEXT_KEYS), fits, MIN_CUT_TEXT);
    if (fitted === null) throw invalid(`over Google Chat's 32,000-byte limit (${messageBytes(message)} bytes) even with every text cut`);
    slots = fitted;
    if (places > 0) truncated.push('cardsV2');
  }
  truncated.push(...cutPaths(slots));
  return { message, truncated };
}

/** Google Chat: HTML escaping (card text takes HTML), fitted into 32,000 bytes, in the incident's thread. */
export const googleChatRendering: Rendering = {
  mode: 'html',
  fit: (payload, template, context) => fitGoogleChatMessage(payload, template, threadKeyOf(context)).message,
};
