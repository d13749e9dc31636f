import { createRequire } from 'node:module';
import type * as AdaptiveCards from 'adaptivecards';
import { FakeReceiver } from './receiver.ts';
import type { ReceivedRequest } from './receiver.ts';

const require = createRequire(import.meta.url);
const AC = require('adaptivecards/dist/adaptivecards.js') as typeof AdaptiveCards;

/** A card as a Teams client would read it. */
export interface ReceivedCard {
  readonly version: string;
  readonly body: Array<Record<string, unknown>>;
  readonly fallbackText?: string;
  readonly [key: string]: unknown;
}

/**
 * What a Teams Workflows webhook would take, checked as Microsoft documents it: a `message`
 * with one Adaptive Card attachment, version 1.4 or lower, at most 28 KB in all, a card
 * Microsoft's Adaptive Cards library parses and validates without a problem. Written here
 * with the library directly, independently of hookrelay's own check.
 */
export function teamsProblems(request: ReceivedRequest): string[] {
  const problems: string[] = [];
  if (Buffer.byteLength(request.body, 'utf8') > 28_000) problems.push(`message of ${Buffer.byteLength(request.body)} bytes, over 28 KB`);
  if (!String(request.headers['content-type']).startsWith('application/json')) problems.push('not application/json');
  let message: { type?: unknown; attachments?: Array<{ contentType?: unknown; content?: { type?: unknown; version?: unknown } }> };
  try {
    message = request.json();
  } catch {
    return [...problems, 'not JSON'];
  }
  if (message.type !== 'message') problems.push('type is not "message"');
  if (message.attachments?.length !== 1) return [...problems, 'not exactly one attachment'];
  const [attachment] = message.attachments;
  if (attachment!.contentType !== 'application/vnd.microsoft.card.adaptive') problems.push('contentType is not an Adaptive Card');
  const card = attachment!.content;
  if (card?.type !== 'AdaptiveCard') problems.push('content is not an AdaptiveCard');
  if (typeof card?.version !== 'string' || Number(card.version) > 1.4) problems.push(`card version ${String(card?.version)} above 1.4`);
  const parsed = new AC.AdaptiveCard();
  const context = new AC.SerializationContext();
  parsed.parse(card, context);
  for (let index = 0; index < context.eventCount; index++) problems.push(context.getEventAt(index).message);
  for (const event of parsed.validateProperties().validationEvents) problems.push(event.message);
  return problems;
}

/** Teams' Workflows webhook on loopback: 202 with an empty body for a valid message, 400 with the problems otherwise. */
export async function fakeTeams(): Promise<FakeReceiver & { cards(): ReceivedCard[] }> {
  const fake = await FakeReceiver.start();
  fake.respond((request) => {
    const problems = teamsProblems(request);
    return problems.length === 0 ? { status: 202 } : { status: 400, body: problems.join('; ') };
  });
  return Object.assign(fake, {
    cards: () => fake.requests.map((request) => request.json<{ attachments: [{ content: ReceivedCard }] }>().attachments[0].content),
  });
}
