import { parse as parseQueryString } from 'node:querystring';
import { z } from 'zod';
import { HookrelayError } from '../errors.ts';
import { formatPath } from '../util/objects.ts';

/**
 * A button click as hookrelay's handlers read it (Slack "block_actions payloads"): who clicked,
 * and at least one action with its id. Other fields are Slack's to add.
 */
const blockActionsSchema = z
  .object({
    type: z.literal('block_actions'),
    user: z.object({ id: z.string().min(1) }).loose(),
    actions: z.array(z.object({ action_id: z.string().min(1), value: z.string().optional() }).loose()).min(1, 'at least one action is required'),
    response_url: z.string().optional(),
  })
  .loose();

/** A slash command (Slack "Implementing slash commands": the form fields hookrelay reads). */
const slashCommandSchema = z
  .object({
    command: z.string().min(1),
    user_id: z.string().min(1),
    text: z.string().optional(),
    response_url: z.string().optional(),
  })
  .loose();

const invalid = (message: string): HookrelayError => new HookrelayError('invalid_payload', message);

function check(schema: z.ZodType, value: unknown, where: string): void {
  const parsed = schema.safeParse(value);
  if (parsed.success) return;
  const issue = parsed.error.issues[0]!;
  const path = formatPath([where, ...issue.path].filter((part) => part !== ''));
  throw invalid(`${path}: ${issue.message}`);
}

/**
 * A verified request to /slack/events is checked before Bolt dispatches it, read exactly as
 * Bolt's ExpressReceiver will read it (`parseRequestBody`: a form when the content type is
 * exactly `application/x-www-form-urlencoded`, its `payload` field as JSON; else JSON): a body
 * hookrelay's handlers could not use is 400 with what is wrong, never a 500 from a handler or
 * Bolt's 404 after three seconds without an answer.
 */
export function checkSlackRequestBody(rawBody: Buffer, contentType: string | undefined): void {
  const text = rawBody.toString('utf8');
  if (contentType !== 'application/x-www-form-urlencoded') {
    // JSON: Slack's Events API (`url_verification`). Bolt answers what it knows.
    try {
      JSON.parse(text);
    } catch (error) {
      throw new HookrelayError('invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
    }
    return;
  }
  const form = parseQueryString(text);
  if (typeof form.payload === 'string') {
    let payload: unknown;
    try {
      payload = JSON.parse(form.payload);
    } catch (error) {
      throw new HookrelayError('invalid_json', `payload: not valid JSON: ${(error as Error).message}`);
    }
    if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) throw invalid('payload: must be a JSON object');
    const type = (payload as { type?: unknown }).type;
    if (type !== 'block_actions') {
      throw invalid(`payload.type: ${JSON.stringify(type ?? null)} is not handled here; hookrelay answers slash commands and its buttons (block_actions)`);
    }
    check(blockActionsSchema, payload, 'payload');
    return;
  }
  // Slack's certificate check of a slash command's URL (Slack "Implementing slash commands"): Bolt answers it.
  if (form.ssl_check !== undefined) return;
  if (form.command === undefined) throw invalid('neither a slash command (command, user_id, …) nor an interaction (payload)');
  check(slashCommandSchema, form, '');
}
