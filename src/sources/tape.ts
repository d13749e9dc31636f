/**
 * Tape (no-code database), per its "Webhook" API reference (seed 002). Tape signs nothing, so the
 * hook URL carries a secret token (`POST /hooks/tape?token=…`), compared in constant time.
 *
 * Registration handshake: after `verify/request`, Tape POSTs `{"hook_id", "type": "hook.verify", "code"}`
 * to the hook; the receiver proves it got it by calling
 * `POST {api_url}/v1/hook/{hook_id}/verify/validate {"code"}` with basic auth `<api_key>:`.
 * `handshake()` does that call and answers the request; nothing is stored.
 *
 * Events: `record.create`, `record.update`, `record.delete`, each `{hook_id, record_id, type}`.
 * Tape sends no event id (external_id null) and no time (occurred_at is the receive time).
 *
 * Severity:
 *
 * | type                                      | severity | status |
 * |-------------------------------------------|----------|--------|
 * | record.create, record.update, record.delete | info   | firing |
 * | any other type                            | info     | firing |
 */
import { request as httpRequest } from 'undici';
import { z } from 'zod';
import { HookrelayError } from '../errors.ts';
import type { IncomingEvent, Severity } from '../events/event.ts';
import { nameSchema, tokenListSchema, urlSchema } from '../util/schemas.ts';
import { ACCEPTED, firstOf, rejected, tokenMatches } from './signature.ts';
import { isRecord, lookupTable } from '../util/objects.ts';
import { parsePayload } from './fields.ts';
import type { HandshakeReply, InboundRequest, Source, SourceDeps, SourcePreset, Verdict } from './source.ts';

export const TAPE_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  'record.create': 'info',
  'record.update': 'info',
  'record.delete': 'info',
});

/** Past tense for titles: "Record 100 created". */
const RECORD_VERBS: Readonly<Record<string, string>> = lookupTable({
  'record.create': 'created',
  'record.update': 'updated',
  'record.delete': 'deleted',
});

export const DEFAULT_TAPE_API_URL = 'https://api.tapeapp.com';
/** Tape drops hooks that do not answer within 5 s (Tape doc, "Error handling"); our call must fit inside. */
const VALIDATE_TIMEOUT_MS = 5_000;

export const tapeSchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('tape'),
  token: tokenListSchema,
  /** A Tape user API key: needed only to answer the `hook.verify` handshake. */
  api_key: z.string().min(1, 'api_key may not be empty').optional(),
  api_url: urlSchema.default(DEFAULT_TAPE_API_URL),
});
export type TapeConfig = z.output<typeof tapeSchema>;

export function verifyTapeToken(tokens: readonly string[], request: InboundRequest): Verdict {
  const given = request.query['token'];
  if (given === undefined || given === '') {
    return rejected('token_missing', 'the ?token= query parameter is required (Tape hooks carry their secret in the URL)');
  }
  return tokenMatches(tokens, given)
    ? ACCEPTED
    : rejected('token_invalid', 'the ?token= query parameter does not match any configured token');
}

const hookIdSchema = z.union([z.number().int().nonnegative(), z.string().regex(/^[A-Za-z0-9_-]+$/)]);

const handshakeSchema = z.looseObject({
  type: z.literal('hook.verify'),
  code: z.string().min(1),
  hook_id: hookIdSchema,
});

const eventSchema = z.looseObject({ type: z.string().min(1) });
const recordEventSchema = z.looseObject({
  type: z.string(),
  hook_id: hookIdSchema.optional(),
  record_id: z.union([z.number(), z.string().min(1)]),
});

/** `{api_url}/v1/hook/{id}/verify/validate`, keeping any path prefix of `api_url`. */
function validateUrl(apiUrl: string, hookId: string | number): URL {
  const base = apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`;
  return new URL(`v1/hook/${encodeURIComponent(String(hookId))}/verify/validate`, base);
}

async function answerHookVerify(config: TapeConfig, deps: SourceDeps, payload: unknown): Promise<HandshakeReply | null> {
  if (!isRecord(payload) || payload['type'] !== 'hook.verify') return null;
  const { code, hook_id: hookId } = parsePayload('Tape hook.verify', handshakeSchema, payload);
  if (config.api_key === undefined) {
    throw new HookrelayError(
      'handshake_failed',
      `Tape asked to verify hook ${hookId}, but source "${config.name}" has no api_key: ` +
        'set api_key to a Tape API key so hookrelay can call verify/validate',
    );
  }
  const url = validateUrl(config.api_url, hookId);
  let statusCode: number;
  let answer: string;
  try {
    const response = await httpRequest(url, {
      method: 'POST',
      dispatcher: deps.http,
      headers: {
        'content-type': 'application/json',
        // Basic auth with the API key as user and an empty password (`curl -u KEY:` in the Tape doc).
        authorization: `Basic ${Buffer.from(`${config.api_key}:`).toString('base64')}`,
      },
      body: JSON.stringify({ code }),
      signal: AbortSignal.timeout(VALIDATE_TIMEOUT_MS),
    });
    statusCode = response.statusCode;
    answer = await response.body.text();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new HookrelayError('handshake_failed', `could not reach Tape at ${url.origin} to validate hook ${hookId}: ${reason}`, {
      cause: error,
    });
  }
  if (statusCode < 200 || statusCode > 299) {
    throw new HookrelayError(
      'handshake_failed',
      `Tape answered ${statusCode} to verify/validate for hook ${hookId}: ${answer.slice(0, 300) || '(empty body)'}`,
    );
  }
  deps.logger.info({ source: config.name, hook_id: hookId }, 'Tape hook verified');
  return { status: 200, body: { verified: true, hook_id: hookId } };
}

function normalizeTape(payload: unknown): IncomingEvent[] {
  const { type } = parsePayload('Tape', eventSchema, payload);
  const verb = RECORD_VERBS[type];
  if (verb === undefined) {
    // Not a record event (a type Tape adds later): still relayed, as information.
    return [
      {
        external_id: null,
        type,
        severity: TAPE_SEVERITY[type] ?? 'info',
        status: 'firing',
        title: `Tape ${type}`,
        summary: '',
        dedup_key: `tape:${type}`,
        occurred_at: null,
        data: payload,
      },
    ];
  }
  const event = parsePayload('Tape', recordEventSchema, payload);
  return [
    {
      external_id: null,
      type,
      severity: TAPE_SEVERITY[type] ?? 'info',
      status: 'firing',
      title: `Record ${event.record_id} ${verb}`,
      summary: event.hook_id === undefined ? `record ${event.record_id}` : `record ${event.record_id} · hook ${event.hook_id}`,
      dedup_key: `record:${event.record_id}`,
      occurred_at: null,
      data: payload,
    },
  ];
}

export const tapePreset: SourcePreset<typeof tapeSchema> = {
  preset: 'tape',
  schema: tapeSchema,
  create(config: TapeConfig, deps: SourceDeps): Source {
    return {
      name: config.name,
      preset: 'tape',
      verify: (request) => verifyTapeToken(config.token, request),
      normalize: normalizeTape,
      handshake: (payload) => answerHookVerify(config, deps, payload),
      sign() {
        // What Tape sends (Tape doc, "Incoming request"): no signature, the token is in the URL.
        return {
          headers: { 'Content-Type': 'application/json;charset=utf-8', 'User-Agent': 'Tape Webhook' },
          query: { token: firstOf(config.token, 'token') },
        };
      },
    };
  },
};
