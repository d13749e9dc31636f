import type { Logger } from 'pino';
import { findEgressRefusal } from '../destinations/http-client.ts';
import type { WebApiFetch } from './permissions.ts';

/**
 * Where Slack's `response_url`s live: `https://hooks.slack.com/commands/…`, `…/actions/…`
 * (Slack "Handling user interaction": responding with response_url), and the same on GovSlack,
 * which runs on its own domain, slack-gov.com (Slack "Get started using GovSlack").
 */
export const SLACK_RESPONSE_ORIGINS: readonly string[] = ['https://hooks.slack.com', 'https://hooks.slack-gov.com'];

/** A reply not posted within this is given up (and logged): the command itself is long answered. */
const REPLY_TIMEOUT_MS = 10_000;

export type ResponseUrlCheck = { readonly ok: true; readonly url: URL } | { readonly ok: false; readonly reason: string };

/**
 * The origins a reply may be posted to: Slack's own, plus that of `slack_app.api_url` — Slack's
 * Web API by default, or the Slack-compatible server (a fake one in tests) that the config
 * already trusts with every Web API call.
 */
export function responseOrigins(apiUrl: string): ReadonlySet<string> {
  return new Set([...SLACK_RESPONSE_ORIGINS, new URL(apiUrl).origin]);
}

/**
 * A `response_url` from a request is text from outside, however well signed: it is used only
 * when it is an http(s) URL, without credentials, on one of `origins` (scheme, host and port).
 */
export function checkResponseUrl(value: unknown, origins: ReadonlySet<string>): ResponseUrlCheck {
  if (typeof value !== 'string' || value === '') return { ok: false, reason: 'the request has no response_url' };
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { ok: false, reason: 'response_url is not a URL' };
  }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'response_url carries credentials' };
  if (!origins.has(url.origin)) {
    return { ok: false, reason: `response_url is on ${url.origin}, not on Slack's reply hosts (${[...origins].join(', ')})` };
  }
  return { ok: true, url };
}

/** The message posted to a response_url (Slack "Handling user interaction": message responses). */
export interface SlackReply {
  readonly response_type: 'ephemeral' | 'in_channel';
  readonly replace_original: boolean;
  readonly text: string;
}

/**
 * Posts replies to response_urls: only on `origins` and through `fetch` (the egress-guarded one,
 * so a reply host that resolves to a private address is refused like any destination). A reply
 * that cannot be sent is logged — with the host only, since the URL itself is a credential for
 * posting to that channel — and never fails the command.
 */
export function slackReplier(options: { origins: ReadonlySet<string>; fetch: WebApiFetch; logger: Logger }): (responseUrl: unknown, reply: SlackReply) => Promise<void> {
  const { origins, logger } = options;
  return async (responseUrl, reply) => {
    const checked = checkResponseUrl(responseUrl, origins);
    if (!checked.ok) {
      logger.warn({ reason: checked.reason }, `slack reply not sent: ${checked.reason}`);
      return;
    }
    const host = checked.url.host;
    try {
      const response = await options.fetch(checked.url.href, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(reply),
        // A redirect is not followed anywhere: it is an answer like any other that is not 2xx.
        redirect: 'manual',
        signal: AbortSignal.timeout(REPLY_TIMEOUT_MS),
      });
      await response.arrayBuffer().catch(() => undefined);
      if (!response.ok) logger.warn({ response_url_host: host, status: response.status }, `slack reply not sent: ${host} answered HTTP ${response.status}`);
    } catch (error) {
      const cause = (error as { cause?: unknown }).cause;
      const reason = findEgressRefusal(error)?.message ?? (cause instanceof Error ? cause.message : (error as Error).message);
      logger.warn({ response_url_host: host, reason }, `slack reply not sent: ${reason}`);
    }
  };
}
