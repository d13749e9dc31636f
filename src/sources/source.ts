import type { Dispatcher } from 'undici';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { IncomingEvent } from '../events/event.ts';
import type { HookrelayError } from '../errors.ts';

/** One request as it reached `POST /hooks/:source`, before any parsing. */
export interface InboundRequest {
  /** Header names lower-cased. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The bytes the sender signed; never re-serialised. */
  readonly rawBody: Buffer;
}

export type Verdict = { readonly ok: true } | { readonly ok: false; readonly error: HookrelayError };

/** A protocol message that is answered directly and stores nothing (Tape's `hook.verify`). */
export interface HandshakeReply {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

/** A configured source: one entry of `sources:`. */
export interface Source {
  readonly name: string;
  readonly preset: string;
  /** Pure: headers, raw body, configured secrets and the injected clock (ms). */
  verify(request: InboundRequest, nowMs: number): Verdict;
  /** Maps the parsed JSON body onto events; throws HookrelayError('invalid_payload') when the body is not this sender's shape. */
  normalize(payload: unknown, request: InboundRequest): IncomingEvent[];
  /** Answers sender protocol messages that are not events; null for an ordinary event. */
  handshake?(payload: unknown, request: InboundRequest): Promise<HandshakeReply | null>;
  /** The headers (and query) a sender would send with this body: `hookrelay sign`. */
  sign(rawBody: Buffer, nowMs: number): SignedRequest;
}

export interface SignedRequest {
  readonly headers: Record<string, string>;
  readonly query?: Record<string, string>;
}

export interface SourceDeps {
  /** Shared undici dispatcher for calls a source makes itself (Tape's verify/validate). */
  readonly http: Dispatcher;
  readonly logger: Logger;
}

/**
 * A sender preset: its config schema (strict, including `name` and `preset`) and a factory.
 * Adding a sender is one new module that exports one of these, listed in `sources/index.ts`.
 */
export interface SourcePreset<Schema extends z.ZodType = z.ZodType> {
  readonly preset: string;
  readonly schema: Schema;
  create(config: z.output<Schema>, deps: SourceDeps): Source;
}
