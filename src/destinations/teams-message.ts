import { z } from 'zod';
import { formatPath } from '../util/objects.ts';
import { ELLIPSIS, TemplateRenderError } from '../templates/index.ts';
import { adaptiveCardProblems } from './adaptive-card.ts';
import type { Rendering } from './destination.ts';
import { cutPaths, fitLeadingItems, shrinkTextsToFit, textSlotsAt } from './text-budget.ts';
import type { TextSlot } from './text-budget.ts';

/**
 * Fits a rendered Adaptive Card into the message a Teams Workflows webhook takes ("Create
 * incoming webhooks with Workflows for Microsoft Teams"): too long is cut with a visible "…",
 * never dropped, and a card Microsoft's Adaptive Cards library finds invalid is refused here,
 * since Teams would answer 202 and show nothing.
 */

// "The message size limit is 28 KB" (Teams webhook limits): read as 28,000 bytes of the whole
// request body, envelope included.
export const MAX_TEAMS_MESSAGE_BYTES = 28_000;
// "Teams … supports Adaptive Cards version 1.5 and earlier; in Workflows posts, cards above 1.4
// may not display" (Teams Adaptive Card reference): the newest version hookrelay sends.
const MAX_CARD_VERSION = [1, 4] as const;
export const ADAPTIVE_CARD_CONTENT_TYPE = 'application/vnd.microsoft.card.adaptive';
// Properties whose text a reader sees (TextBlock and TextRun text, Fact title and value,
// action titles, fallback and image alt text): the ones shortened to fit.
const TEXT_KEYS = new Set(['text', 'title', 'value', 'fallbackText', 'altText']);
// Texts are cut down to this before elements are left out: a card of many short lines keeps
// them whole (and fewer of them) rather than every one cut to "…".
const MIN_CUT_TEXT = 200;

const versionSchema = z
  .string()
  .regex(/^\d+\.\d+$/, 'must be a version such as "1.4"')
  .refine((version) => {
    const [major, minor] = version.split('.').map(Number) as [number, number];
    return major < MAX_CARD_VERSION[0] || (major === MAX_CARD_VERSION[0] && minor <= MAX_CARD_VERSION[1]);
  }, `Teams Workflows may not display cards above version ${MAX_CARD_VERSION.join('.')}`);

const cardSchema = z.looseObject({
  type: z.literal('AdaptiveCard', 'must be "AdaptiveCard" (the template renders the card; hookrelay wraps it in the message)'),
  version: versionSchema,
  body: z.array(z.looseObject({ type: z.string().min(1, 'an element needs a type') })).optional(),
  actions: z.array(z.looseObject({ type: z.string().min(1, 'an action needs a type') })).optional(),
});

export type AdaptiveCard = z.infer<typeof cardSchema>;

/** What a Teams Workflows webhook takes: one message with the card as its attachment. */
export interface TeamsMessage {
  type: 'message';
  attachments: [{ contentType: typeof ADAPTIVE_CARD_CONTENT_TYPE; contentUrl: null; content: AdaptiveCard }];
}

export interface FittedTeamsMessage {
  readonly message: TeamsMessage;
  /** Paths in the card that were cut, e.g. `body[1].facts[0].value`, `body` (elements left out). */
  readonly truncated: string[];
}

function messageBytes(message: TeamsMessage): number {
  return Buffer.byteLength(JSON.stringify(message), 'utf8');
}

function omittedNote(count: number): { type: string; [key: string]: unknown } {
  return { type: 'TextBlock', text: `${ELLIPSIS} and ${count} more element${count === 1 ? '' : 's'} (Teams' 28 KB message limit)`, wrap: true, isSubtle: true };
}

/**
 * Validates a rendered template as an Adaptive Card (version 1.4 or lower, valid to Microsoft's
 * Adaptive Cards library) and fits the Teams message around it into 28 KB: the longest texts are
 * shortened first; a card still too large loses its last body elements, with a line saying how
 * many. Throws TemplateRenderError naming what is wrong. Does not modify `payload`.
 */
export function fitTeamsMessage(payload: unknown, template = 'teams card'): FittedTeamsMessage {
  const invalid = (reason: string): TemplateRenderError => new TemplateRenderError(template, `not a valid Adaptive Card: ${reason}`);
  const parsed = cardSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw invalid(`${formatPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
  }
  const problems = adaptiveCardProblems(parsed.data);
  if (problems.length > 0) throw invalid(problems.join('; '));

  const original = parsed.data;
  const body = original.body ?? [];
  const message: TeamsMessage = { type: 'message', attachments: [{ contentType: ADAPTIVE_CARD_CONTENT_TYPE, contentUrl: null, content: structuredClone(original) }] };
  const fits = (): boolean => messageBytes(message) <= MAX_TEAMS_MESSAGE_BYTES;
  const truncated: string[] = [];
  const withBody = (kept: number): TextSlot[] => {
    const card = kept === body.length ? structuredClone(original) : { ...structuredClone(original), body: [...structuredClone(body.slice(0, kept)), omittedNote(body.length - kept)] };
    message.attachments[0].content = card;
    return textSlotsAt(card, TEXT_KEYS);
  };
  let slots = textSlotsAt(message.attachments[0].content, TEXT_KEYS);
  if (!shrinkTextsToFit(slots, fits, MIN_CUT_TEXT)) {
    // Large for its number of elements: the first body elements that fit, and a line saying how many were left out.
    const fitted = fitLeadingItems(body.length, withBody, fits, MIN_CUT_TEXT);
    if (fitted === null) throw invalid(`over Teams' 28 KB message limit (${messageBytes(message)} bytes) even with every text cut`);
    slots = fitted;
    if (body.length > 0) truncated.push('body');
  }
  truncated.push(...cutPaths(slots));
  return { message, truncated };
}

/** Teams cards: markdown escaping for Adaptive Card text, validated and fitted into the Workflows message. */
export const teamsRendering: Rendering = { mode: 'teams', fit: (payload, template) => fitTeamsMessage(payload, template).message };
