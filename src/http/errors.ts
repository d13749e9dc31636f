import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import { HookrelayError } from '../errors.ts';
import { sendJson } from './send-json.ts';

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  limit?: number;
}

/** Seconds a sender is asked to wait when the store cannot take its webhook (503). */
export const STORE_RETRY_AFTER_S = 5;

/** The one place errors become HTTP: a coded JSON body and its status. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    replyWithError(error, request, response, logger);
  };
}

/**
 * The answer to an error, as errorHandler gives it (also for webhooks, which skip express): the
 * coded error's status and JSON body, or a logged 500. After the headers went, nothing can be
 * said: the connection is closed, as express's final handler does.
 */
export function replyWithError(error: unknown, request: IncomingMessage, response: ServerResponse, logger: Logger): void {
  if (response.headersSent) {
    request.socket.destroy();
    return;
  }
  const coded = toHookrelayError(error);
  if (coded) {
    // The store cannot take the request now (unreachable, or its queue is full): senders retry.
    if (coded.code === 'store_unavailable') response.setHeader('Retry-After', String(STORE_RETRY_AFTER_S));
    sendJson(response, coded.status, coded.toJSON());
    return;
  }
  logger.error({ err: error, method: request.method, path: (request.url ?? '').split('?')[0] }, 'request failed');
  sendJson(response, 500, { error: { code: 'internal', message: 'internal error; see the server log' } });
}

/** A coded error for what we raise and what the body parsers raise; null for anything else (a 500). */
export function toHookrelayError(error: unknown): HookrelayError | null {
  if (error instanceof HookrelayError) return error;
  const parserError = error as BodyParserError;
  switch (parserError?.type) {
    case 'entity.too.large':
      return new HookrelayError('payload_too_large', `the body is larger than the ${Math.round((parserError.limit ?? 0) / 1024)} KB limit`);
    case 'entity.parse.failed':
      return new HookrelayError('invalid_json', `the body is not valid JSON: ${parserError.message}`);
    case 'encoding.unsupported':
      return new HookrelayError('unsupported_encoding', parserError.message);
    case 'charset.unsupported':
    case 'request.size.invalid':
      return new HookrelayError('invalid_request', parserError.message);
    case 'request.aborted':
      return new HookrelayError('invalid_request', 'the request was aborted before its body arrived');
    default:
      return null;
  }
}
