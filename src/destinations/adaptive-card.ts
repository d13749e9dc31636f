import { createRequire } from 'node:module';
import type * as AdaptiveCards from 'adaptivecards';

// The package's ES build imports its own files without extensions, which Node's ESM loader
// refuses; its UMD bundle is the same code as one CommonJS file.
const require = createRequire(import.meta.url);
let library: typeof AdaptiveCards | null = null;
/** Loaded at the first card, so a process without a Teams destination never holds it. */
function adaptiveCards(): typeof AdaptiveCards {
  return (library ??= require('adaptivecards/dist/adaptivecards.js') as typeof AdaptiveCards);
}

/**
 * What Microsoft's own Adaptive Cards library finds wrong with a card: everything its parser
 * reports (unknown element types, invalid property values) and everything `validateProperties`
 * does (a required property missing, duplicate ids, an unsupported version), one line each.
 * Hints and deprecations are not problems. Teams answers 202 to a card it cannot show and only
 * says so in the flow's run history, so a card is checked here before it is sent.
 */
export function adaptiveCardProblems(card: unknown): string[] {
  const { AdaptiveCard, SerializationContext, ValidationEvent } = adaptiveCards();
  const harmless = new Set([ValidationEvent.Hint, ValidationEvent.Deprecated]);
  const parsed = new AdaptiveCard();
  const context = new SerializationContext();
  parsed.parse(card, context);
  const events: AdaptiveCards.IValidationEvent[] = [];
  for (let index = 0; index < context.eventCount; index++) events.push(context.getEventAt(index));
  events.push(...parsed.validateProperties().validationEvents);
  return events.filter((event) => !harmless.has(event.event)).map((event) => event.message);
}
