import { describe, expect, it } from 'vitest';
import { checkResponseUrl, responseOrigins } from '../../src/slack/response-url.ts';

const origins = responseOrigins('https://slack.com/api/');

describe('checkResponseUrl: Slack’s reply hosts only', () => {
  it.each([
    ['a slash command’s', 'https://hooks.slack.com/commands/T0001/1234/abcd'],
    ['a button’s', 'https://hooks.slack.com/actions/T0001/5678/efgh'],
    ['GovSlack’s', 'https://hooks.slack-gov.com/commands/T0001/1234/abcd'],
    ['the default api_url’s origin', 'https://slack.com/api/whatever'],
    ['an explicit default port', 'https://hooks.slack.com:443/actions/T/1/x'],
  ])('%s response_url is used', (_name, url) => {
    expect(checkResponseUrl(url, origins)).toMatchObject({ ok: true, url: new URL(url) });
  });

  it.each([
    ['plain http', 'http://hooks.slack.com/actions/T/1/x'],
    ['another port', 'https://hooks.slack.com:8443/actions/T/1/x'],
    ['a look-alike host', 'https://hooks.slack.com.example.net/actions/T/1/x'],
    ['a sub-domain', 'https://evil.hooks.slack.com/actions/T/1/x'],
    ['loopback', 'http://127.0.0.1:9000/response'],
    ['cloud metadata', 'http://169.254.169.254/latest/meta-data/'],
    ['credentials', 'https://user:secret@hooks.slack.com/actions/T/1/x'],
    ['not a URL', 'hooks.slack.com/actions/T/1/x'],
    ['empty', ''],
    ['missing', undefined],
    ['not text', 42],
  ])('%s → refused with a reason', (_name, url) => {
    const checked = checkResponseUrl(url, origins);
    expect(checked.ok).toBe(false);
    expect(checked.ok === false && checked.reason).toMatch(/response_url/);
  });

  it('slack_app.api_url pointing elsewhere (a Slack-compatible server) adds its origin, scheme and port included', () => {
    const custom = responseOrigins('http://127.0.0.1:4000/api/');
    expect(checkResponseUrl('http://127.0.0.1:4000/response/1', custom).ok).toBe(true);
    expect(checkResponseUrl('http://127.0.0.1:4001/response/1', custom).ok).toBe(false);
    expect(checkResponseUrl('https://hooks.slack.com/actions/T/1/x', custom).ok).toBe(true);
  });
});
