import express from 'express';
import type { ErrorRequestHandler, Express, NextFunction, Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import { HookrelayError } from '../errors.ts';
import type { Ingestor } from '../ingest/ingestor.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { InboundRequest } from '../sources/source.ts';
import type { StoreLifecycle } from '../store/store.ts';
import { errorHandler, toHookrelayError } from './errors.ts';
import { readRawBody } from './raw-body.ts';

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

/**
 * The request as sources see it. Node's own header object is used as it is when every value is
 * a string (Node joins repeated headers with ", " and keeps only `set-cookie` as a list): this is
 * per webhook, and a copy costs an object and its entries for nothing.
 */
function inboundRequest(request: Request): InboundRequest {
  let query = NO_QUERY;
  if (request.url.includes('?')) {
    const copy: Record<string, string | undefined> = {};
    for (const [name, value] of Object.entries(request.query)) {
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
 * What `response.status(status).json(body)` sends, the same headers byte for byte (express's
 * `json` and `send`, with ETag off), without what they do on the way: settings looked up,
 * the content type parsed and written again to add its charset, freshness checked. Every
 * webhook's answer goes through here.
 */
export function sendJson(response: Response, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.statusCode = status;
  response.setHeader('Content-Type', 'application/json; charset=utf-8');
  response.setHeader('Content-Length', Buffer.byteLength(text));
  response.end(text);
}

export function createHttpApp(options: HttpAppOptions): Express {
  const { ingestor, store, metrics, logger } = options;
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  app.set('query parser', 'simple');

  // Buffer → verify → parse (STYLE.md): the raw (decompressed) bytes are what the sender signed.
  const rawBody = readRawBody({ limit: BODY_LIMIT });
  // Refusals before the ingestor sees the request (unknown source, too large, aborted) are
  // logged and recorded like the ingestor's own; the ingestor records everything after.
  const refusedAtTheEdge: ErrorRequestHandler = (error, request, _response, next) => {
    const coded = toHookrelayError(error);
    if (coded) {
      const { source } = request.params as { source: string };
      const length = Number(request.get('content-length'));
      ingestor.refused(source, coded, {
        address: request.socket.remoteAddress ?? null,
        body: Buffer.isBuffer(request.body) ? request.body : null,
        body_bytes: Number.isSafeInteger(length) && length >= 0 ? length : 0,
      });
    }
    next(error);
  };
  app.post(
    '/hooks/:source',
    (request: Request, response: Response, next: NextFunction) => {
      const { source } = request.params as { source: string };
      // Unknown sources are refused before their body is read.
      if (ingestor.hasSource(source)) rawBody(request, response, next);
      else next(new HookrelayError('unknown_source', `no source is named "${source}"`));
    },
    refusedAtTheEdge,
    async (request: Request, response: Response) => {
      const { source } = request.params as { source: string };
      const reply = await ingestor.receive(source, inboundRequest(request), { address: request.socket.remoteAddress ?? null });
      sendJson(response, reply.status, reply.body);
    },
  );
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
  return app;
}
