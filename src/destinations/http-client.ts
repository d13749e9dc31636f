import { Agent, buildConnector, fetch as undiciFetch, request } from 'undici';
import type { DeliveryEffects } from '../store/store.ts';
import { EgressRefusedError, guardedLookup, refusedLiteral } from './egress.ts';

/**
 * Every connection goes through the guard, however it came about (a redirect included): names
 * through the guarded DNS lookup, and literal addresses, which never reach a lookup, here.
 */
function guardedConnector(): buildConnector.connector {
  const connect = buildConnector({ timeout: 5_000, lookup: guardedLookup });
  return (options, callback) => {
    const host = options.hostname.includes(':') && !options.hostname.startsWith('[') ? `[${options.hostname}]` : options.hostname;
    const refused = refusedLiteral(new URL(`${options.protocol}//${host}`));
    if (refused) {
      callback(refused, null);
      return;
    }
    connect(options, callback);
  };
}

/** How one attempt went, classified for the retry policy. */
export interface SendResult {
  /** success: 2xx. retry: 5xx, 408, 425, 429, timeouts, connection errors. permanent: other 4xx, refused egress. */
  readonly kind: 'success' | 'retry' | 'permanent';
  readonly status: number | null;
  /** The start of the response body, for the delivery log. */
  readonly body: string | null;
  /** From `Retry-After` (429/503), in ms. */
  readonly retry_after_ms: number | null;
  readonly rate_limited: boolean;
  /** Why it was not a success, in words. */
  readonly error: string | null;
  readonly latency_ms: number;
  /** What the send changed besides the request (a slack-bot message), recorded with the attempt. */
  readonly effects?: DeliveryEffects | null;
}

export interface HttpClientOptions {
  readonly allowPrivate: boolean;
  readonly userAgent: string;
  /** Reads `Retry-After` dates against this clock. */
  readonly now?: () => number;
}

export interface PostOptions {
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly timeoutMs: number;
  readonly method?: 'POST' | 'PUT';
}

const LOGGED_BODY_BYTES = 2_048;
/** Retryable 4xx: request timeout, too early, too many requests. */
const RETRYABLE_4XX = new Set([408, 425, 429]);

/** Worth another attempt: server errors, and request timeout / too early / too many requests. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || RETRYABLE_4XX.has(status);
}

/** `Retry-After: 120` or an HTTP date → ms from now; null when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return null;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1_000;
  // An HTTP-date starts with the day name (RFC 9110 §5.6.7); Date.parse alone would take "1.5" or "-1" for dates.
  if (!/^(Mon|Tue|Wed|Thu|Fri|Sat|Sun)/.test(trimmed)) return null;
  // It is always GMT, also in the asctime form that does not say so (Date.parse would read local time).
  const date = Date.parse(trimmed.endsWith('GMT') ? trimmed : `${trimmed} GMT`);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function describeNetworkError(error: unknown, timeoutMs: number): string {
  let cause: unknown = error;
  while (cause instanceof Error) {
    if (cause.name === 'TimeoutError' || (cause as { code?: string }).code === 'UND_ERR_HEADERS_TIMEOUT') {
      return `timed out after ${timeoutMs} ms`;
    }
    const code = (cause as { code?: string }).code;
    if (code && code !== 'UND_ERR_SOCKET' && !(cause.cause instanceof Error)) return `${code}: ${cause.message}`;
    if (!(cause.cause instanceof Error)) return cause.message;
    cause = cause.cause;
  }
  return String(error);
}

/** The egress guard's refusal somewhere in an error's causes (undici and SDKs wrap it). */
export function findEgressRefusal(error: unknown): EgressRefusedError | null {
  let cause: unknown = error;
  while (cause instanceof Error) {
    if (cause instanceof EgressRefusedError || (cause as { code?: string }).code === 'EGRESS_REFUSED') {
      return cause as EgressRefusedError;
    }
    cause = cause.cause;
  }
  return null;
}

/**
 * Outbound HTTP for every destination: undici with keep-alive, a hard timeout, the
 * egress guard at connect time, and one classification of what came back.
 */
export class HttpClient {
  readonly dispatcher: Agent;
  readonly #allowPrivate: boolean;
  readonly #userAgent: string;
  readonly #now: () => number;

  constructor(options: HttpClientOptions) {
    this.#allowPrivate = options.allowPrivate;
    this.#userAgent = options.userAgent;
    this.#now = options.now ?? Date.now;
    this.dispatcher = new Agent({
      keepAliveTimeout: 30_000,
      connections: 64,
      connect: options.allowPrivate ? { timeout: 5_000 } : guardedConnector(),
    });
  }

  async post(url: URL, options: PostOptions): Promise<SendResult> {
    const started = performance.now();
    const elapsed = (): number => Math.round(performance.now() - started);
    const refused = this.#allowPrivate ? null : refusedLiteral(url);
    if (refused) return failure('permanent', refused.message, elapsed());
    try {
      const response = await request(url, {
        method: options.method ?? 'POST',
        dispatcher: this.dispatcher,
        headers: { 'user-agent': this.#userAgent, 'content-type': 'application/json', ...options.headers },
        body: options.body,
        signal: AbortSignal.timeout(options.timeoutMs),
        headersTimeout: options.timeoutMs,
        bodyTimeout: options.timeoutMs,
      });
      const body = await readStart(response.body);
      const status = response.statusCode;
      const latency = elapsed();
      if (status >= 200 && status < 300) {
        return { kind: 'success', status, body, retry_after_ms: null, rate_limited: false, error: null, latency_ms: latency };
      }
      const retryable = retryableStatus(status);
      return {
        kind: retryable ? 'retry' : 'permanent',
        status,
        body,
        retry_after_ms: parseRetryAfter(response.headers['retry-after'], this.#now()),
        rate_limited: status === 429,
        error: `HTTP ${status}${body ? `: ${body.slice(0, 300)}` : ''}`,
        latency_ms: latency,
      };
    } catch (error) {
      const egress = findEgressRefusal(error);
      if (egress) return failure('permanent', egress.message, elapsed());
      return failure('retry', describeNetworkError(error, options.timeoutMs), elapsed());
    }
  }

  /** WHATWG fetch over the same guarded dispatcher, for SDKs that take a `fetch` (@slack/web-api). */
  readonly fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const refused = this.#allowPrivate ? null : refusedLiteral(url);
    if (refused) throw new TypeError('fetch failed', { cause: refused });
    const headers: Record<string, string> = { 'user-agent': this.#userAgent };
    new Headers(init?.headers).forEach((value, name) => (headers[name] = value));
    const response = await undiciFetch(url, {
      method: init?.method ?? 'GET',
      headers,
      body: (init?.body ?? null) as string | null,
      signal: init?.signal ?? null,
      // The caller's choice (@slack/web-api asks for 'error'); never silently followed.
      redirect: init?.redirect ?? 'manual',
      dispatcher: this.dispatcher,
    });
    return response as unknown as Response;
  };

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

/** An attempt that got no HTTP answer to classify (refused egress, network, our own errors). */
export function failure(kind: 'retry' | 'permanent', error: string, latency: number): SendResult {
  return { kind, status: null, body: null, retry_after_ms: null, rate_limited: false, error, latency_ms: latency };
}

async function readStart(body: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (size < LOGGED_BODY_BYTES) chunks.push(buffer);
    size += buffer.length;
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.length > LOGGED_BODY_BYTES ? `${text.slice(0, LOGGED_BODY_BYTES)}…` : text;
}
