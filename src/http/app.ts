import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import { HookrelayError } from '../errors.ts';
import type { Ingestor } from '../ingest/ingestor.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { InboundRequest } from '../sources/source.ts';
import type { StoreLifecycle } from '../store/store.ts';
import { errorHandler, replyWithError, toHookrelayError } from './errors.ts';
import { readRawBody } from './raw-body.ts';
import { sendJson } from './send-json.ts';

/**
 * Senders' bodies are small; anything above this (on the wire, or once decompressed) is
 * refused with 413 before it is buffered in full.
 */
export const BODY_LIMIT = 1024 * 1024;

export interface HttpAppOptions {
  readonly ingestor: Ingestor;
  readonly store: Pick<StoreLifecycle, 'ping'>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly version: string;
  /** Further routers by mount path: `/api/v1`, `/slack/events`, … */
  readonly mounts: ReadonlyArray<readonly [string, Router]>;
}

const NO_QUERY: Readonly<Record<string, string | undefined>> = Object.freeze({});

/** A request as the webhook path reads it: express's, or node's own on the fast path (`body`: the buffered bytes). */
type HookRequest = IncomingMessage & { body?: unknown };

/**
 * The request as sources see it. Node's own header object is used as it is when every value is
 * a string (Node joins repeated headers with ", " and keeps only `set-cookie` as a list): this is
 * per webhook, and a copy costs an object and its entries for nothing. The query is parsed as
 * express's "simple" parser does (node:querystring), and only when the URL has one.
 */
function inboundRequest(request: HookRequest): InboundRequest {
  let query = NO_QUERY;
  const url = request.url ?? '';
  const mark = url.indexOf('?');
  if (mark !== -1) {
    const copy: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(parseQuery(url.slice(mark + 1)))) {
      copy[name] = Array.isArray(value) ? String(value[0]) : typeof value === 'string' ? value : undefined;
    }
    query = copy;
  }
  let headers: Record<string, string | undefined> = request.headers as Record<string, string | undefined>;
  for (const name in request.headers) {
    if (typeof request.headers[name] === 'string') continue;
    headers = {};
    for (const [each, value] of Object.entries(request.headers)) headers[each] = Array.isArray(value) ? value.join(', ') : value;
    break;
  }
  return { headers, query, rawBody: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0) };
}

/**
 * `POST /hooks/<name>` as senders are given it: a name as sources are named (nameSchema), no
 * trailing slash, no escapes, then the query if any. These skip express (its request and response
 * prototypes swapped in per request, the router's matching): every webhook comes this way.
 * Anything else on /hooks/ (another method, `/HOOKS/x`, `/hooks/x/`, an escaped name) goes
 * through express's route below, which answers it as before.
 */
const PLAIN_HOOK = /^\/hooks\/([a-z0-9][a-z0-9_.-]{0,63})(?:\?|$)/i;

export function createHttpApp(options: HttpAppOptions): RequestListener {
  const { ingestor, store, metrics, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  // Buffer → verify → parse (STYLE.md): the raw (decompressed) bytes are what the sender signed.
  const rawBody = readRawBody({ limit: BODY_LIMIT });
  // Refusals before the ingestor sees the request (unknown source, too large, aborted) are
  // logged and recorded like the ingestor's own; the ingestor records everything after.
  const refuseAtTheEdge = (source: string, error: unknown, request: HookRequest): void => {
    const coded = toHookrelayError(error);
    if (!coded) return;
    const length = Number(request.headers['content-length']);
    ingestor.refused(source, coded, {
      address: request.socket.remoteAddress ?? null,
      body: Buffer.isBuffer(request.body) ? request.body : null,
      body_bytes: Number.isSafeInteger(length) && length >= 0 ? length : 0,
    });
  };
  /** Reads, verifies and commits one webhook, then answers; `fail` answers a refusal. */
  const receiveHook = (source: string, request: HookRequest, response: ServerResponse, fail: (error: unknown) => void): void => {
    // Unknown sources are refused before their body is read.
    if (!ingestor.hasSource(source)) {
      const error = new HookrelayError('unknown_source', `no source is named "${source}"`);
      refuseAtTheEdge(source, error, request);
      fail(error);
      return;
    }
    rawBody(request, response, (error?: unknown) => {
      if (error !== undefined) {
        refuseAtTheEdge(source, error, request);
        fail(error);
        return;
      }
      // As express would, a throw on the way is answered (500), never left to end the process.
      let inbound: InboundRequest;
      try {
        inbound = inboundRequest(request);
      } catch (thrown) {
        fail(thrown);
        return;
      }
      ingestor
        .receive(source, inbound, { address: request.socket.remoteAddress ?? null })
        .then((reply) => sendJson(response, reply.status, reply.body))
        .catch(fail);
    });
  };
  app.post('/hooks/:source', (request: Request, response: Response, next: NextFunction) => {
    receiveHook((request.params as { source: string }).source, request, response, next);
  });
  app.all('/hooks/:source', (_request, response) => {
    response.set('Allow', 'POST').status(405).json({ error: { code: 'method_not_allowed', message: 'webhooks are POSTed' } });
  });

  app.get('/healthz', (_request, response) => {
    response.json({ status: 'ok', version: options.version });
  });
  app.get('/readyz', async (_request, response) => {
    try {
      await store.ping();
      response.json({ status: 'ready' });
    } catch (error) {
      response.status(503).json({ status: 'unavailable', error: (error as Error).message });
    }
  });
  // The queue gauges read the store at most every few seconds (Metrics' cache), not per scrape.
  app.get('/metrics', async (_request, response) => {
    response.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  for (const [path, router] of options.mounts) app.use(path, router);

  app.use((request, _response, next) => {
    next(new HookrelayError('not_found', `no route ${request.method} ${request.path}`));
  });
  app.use(errorHandler(logger));
  return (request, response) => {
    const hook = request.method === 'POST' ? PLAIN_HOOK.exec(request.url ?? '') : null;
    if (hook === null) {
      app(request, response);
      return;
    }
    const fail = (error: unknown): void => replyWithError(error, request, response, logger);
    try {
      receiveHook(hook[1]!, request, response, fail);
    } catch (thrown) {
      fail(thrown);
    }
  };
}
