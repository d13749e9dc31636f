import { ErrorCode } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import { EgressRefusedError } from '../../src/destinations/egress.ts';
import { classify } from '../../src/destinations/slack-bot.ts';

/** Shaped like @slack/web-api's coded errors: classify reads the code and its fields. */
const http = (statusCode: number) => Object.assign(new Error(`HTTP ${statusCode}`), { code: ErrorCode.HTTPError, statusCode });
const platform = (error: string) => Object.assign(new Error(error), { code: ErrorCode.PlatformError, data: { ok: false, error } });

describe('slack-bot: Slack Web API failures classified', () => {
  it('HTTP statuses follow the same rule as every other destination (5xx, 408, 425, 429 retry)', () => {
    expect([500, 503, 408, 425, 429].map((status) => classify(http(status), 1).kind)).toEqual(['retry', 'retry', 'retry', 'retry', 'retry']);
    expect([400, 403, 404].map((status) => classify(http(status), 1).kind)).toEqual(['permanent', 'permanent', 'permanent']);
  });

  it('ratelimited waits Retry-After; channel_not_found and invalid_auth are permanent and said plainly', () => {
    const limited = classify(Object.assign(new Error('rl'), { code: ErrorCode.RateLimitedError, retryAfter: 7 }), 1);
    expect(limited).toMatchObject({ kind: 'retry', rate_limited: true, retry_after_ms: 7_000 });
    expect(classify(platform('channel_not_found'), 1)).toMatchObject({ kind: 'permanent', error: expect.stringMatching(/^channel_not_found: .*invite the bot/) });
    expect(classify(platform('invalid_auth'), 1)).toMatchObject({ kind: 'permanent', error: expect.stringContaining('token') });
    expect(classify(platform('internal_error'), 1).kind).toBe('retry');
  });

  it('a refused egress anywhere in the causes is permanent; other network errors retry', () => {
    const refused = Object.assign(new Error('request failed'), {
      code: ErrorCode.RequestError,
      original: new TypeError('fetch failed', { cause: new EgressRefusedError('10.0.0.1', '10.0.0.1') }),
    });
    expect(classify(refused, 1)).toMatchObject({ kind: 'permanent', error: expect.stringContaining('allow_private') });
    const reset = Object.assign(new Error('request failed'), { code: ErrorCode.RequestError, original: new Error('ECONNRESET') });
    expect(classify(reset, 1).kind).toBe('retry');
  });
});
