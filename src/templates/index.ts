/**
 * The templates layer: Handlebars templates that render an event to the JSON a destination
 * takes, escaped per template so sender text can never break the JSON or ping a Slack channel.
 */
import { fileURLToPath } from 'node:url';

export * from './types.ts';
export { createTemplateEngine, type TemplateEngineOptions } from './engine.ts';
export { RENDER_LIMITS, RenderBudgetError, formatSize, type RenderLimits } from './budget.ts';
export { SAMPLE_EVENT, sampleContext } from './sample-event.ts';
export { ELLIPSIS, truncateText, truncateToLength } from './truncate.ts';

/** The project's own `templates/` folder (slack/default, pagerduty/default, http/envelope, teams/default, discord/default, google_chat/default, email/default). */
export const BUILTIN_TEMPLATES_DIR: string = fileURLToPath(new URL('../../templates', import.meta.url));
