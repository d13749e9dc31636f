import type { Agent } from 'undici';
import { ConfigError } from '../errors.ts';
import { localServerUrl } from '../http/listen-address.ts';
import { CommandFailed, UsageError } from './command.ts';
import type { OptionSpec } from './command.ts';

/** `--url`, for the commands that talk to a running server. */
export const URL_OPTION: OptionSpec = {
  type: 'string',
  short: 'u',
  value: 'URL',
  description: 'the running hookrelay (default: http://$HOST:$PORT; HOST 127.0.0.1 when unset, 0.0.0.0 or ::, PORT 3000); token from HOOKRELAY_ADMIN_TOKEN',
};

/** How long a server may take to answer; a test send waits for the destination (5 s timeout by default). */
const ANSWER_TIMEOUT_MS = 30_000;

/**
 * The admin API of a running server (`/api/v1`), for `deliveries`, `replay`, `send-test` and `mute`.
 * Every failure becomes a CommandFailed saying what to do about it: server not running,
 * token refused, admin API off, unknown name or id.
 */
export class AdminClient {
  readonly base: string;
  readonly #token: string;
  /** Made at the first request: a usage error or `--help` never loads undici (a fifth of a second). */
  #agent: Agent | null = null;

  constructor(url: string | undefined, env: Readonly<Record<string, string | undefined>>) {
    // Where `hookrelay serve` with the same HOST and PORT answers.
    const given = url ?? localServerUrl(env);
    if (typeof given !== 'string') throw new UsageError(`HOST: ${given.problem}`);
    let parsed: URL;
    try {
      parsed = new URL(given);
    } catch {
      throw new UsageError(`--url: "${given}" is not a URL (e.g. http://127.0.0.1:3000)`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new UsageError(`--url: "${given}" is not an http(s) URL`);
    this.base = parsed.href.replace(/\/+$/, '');
    const token = env.HOOKRELAY_ADMIN_TOKEN;
    if (!token) {
      throw new ConfigError(["HOOKRELAY_ADMIN_TOKEN is not set: set it to the server's admin token (admin.token in its config) to use the admin API"]);
    }
    this.#token = token;
  }

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value !== undefined) search.set(name, String(value));
    const suffix = search.size > 0 ? `?${search}` : '';
    return this.#call<T>('GET', `${path}${suffix}`);
  }

  async post<T>(path: string, body?: unknown): Promise<T> {
    return this.#call<T>('POST', path, body);
  }

  async delete<T>(path: string): Promise<T> {
    return this.#call<T>('DELETE', path);
  }

  async close(): Promise<void> {
    await this.#agent?.close();
  }

  async #call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const url = `${this.base}/api/v1${path}`;
    const headers: Record<string, string> = { authorization: `Bearer ${this.#token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const { Agent, request } = await import('undici');
    this.#agent ??= new Agent({ connect: { timeout: 5_000 }, headersTimeout: ANSWER_TIMEOUT_MS, bodyTimeout: ANSWER_TIMEOUT_MS });
    let response;
    try {
      response = await request(url, { method, dispatcher: this.#agent, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw new CommandFailed(`cannot reach hookrelay at ${this.base}: ${networkReason(error)} (is "hookrelay serve" running there? --url sets the address)`);
    }
    const text = await response.body.text();
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw new CommandFailed(`${this.base} answered ${method} ${path} with ${response.statusCode} and no JSON: is --url a hookrelay server?`);
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return answer as T;
    const { code, message } = (answer as { error?: { code?: string; message?: string } }).error ?? {};
    if (code === undefined || message === undefined) {
      throw new CommandFailed(`${this.base} answered ${method} ${path} with ${response.statusCode}: is --url a hookrelay server?`);
    }
    throw new AdminApiError(this.base, response.statusCode, code, message);
  }
}

/** A refusal from the admin API, in words: which token, which server, what was not found. */
export class AdminApiError extends CommandFailed {
  readonly status: number;
  readonly code: string;
  constructor(base: string, status: number, code: string, message: string) {
    super(
      code === 'unauthorized'
        ? `${base} refused the admin token in HOOKRELAY_ADMIN_TOKEN: ${message}`
        : code === 'admin_disabled'
          ? `the admin API is off at ${base}: ${message}`
          : message,
    );
    this.status = status;
    this.code = code;
  }
}

function networkReason(error: unknown): string {
  const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'no connection within 5 s';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return `no answer within ${ANSWER_TIMEOUT_MS / 1000} s`;
    default:
      return (error as Error).message || String(code);
  }
}
