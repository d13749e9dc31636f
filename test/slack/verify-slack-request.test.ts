import { describe, expect, it } from 'vitest';
import { HookrelayError } from '../../src/errors.ts';
import { SLACK_TOLERANCE_MS, SeenSignatures, verifySlackRequest } from '../../src/slack/verify-slack-request.ts';
import { slackSignature } from '../support/slack.ts';

// Slack "Verifying requests from Slack": the documented example request and its signature.
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TIMESTAMP = 1531420618;
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
const SIGNED_AT = TIMESTAMP * 1_000;

const headers = (signature = SIGNATURE, timestamp = String(TIMESTAMP)) => ({ 'x-slack-signature': signature, 'x-slack-request-timestamp': timestamp });

function codeOf(run: () => unknown): string | null {
  try {
    run();
    return null;
  } catch (error) {
    if (error instanceof HookrelayError) return error.code;
    throw error;
  }
}

describe('verifySlackRequest', () => {
  it("accepts Slack's documented example (known-answer vector)", () => {
    expect(verifySlackRequest(headers(), Buffer.from(BODY), SECRET, SIGNED_AT + 1_000)).toEqual({
      signature: SIGNATURE.slice(3),
      expires_at: SIGNED_AT + SLACK_TOLERANCE_MS,
    });
  });

  it.each([
    ['4 min 59 s late', SIGNED_AT + SLACK_TOLERANCE_MS - 1_000, null],
    ['4 min 59 s early (clock drift)', SIGNED_AT - SLACK_TOLERANCE_MS + 1_000, null],
    ['6 min late', SIGNED_AT + 6 * 60_000, 'signature_expired'],
    ['timestamp 6 min in the future', SIGNED_AT - 6 * 60_000, 'signature_expired'],
    ['timestamp 1 day in the future', SIGNED_AT - 86_400_000, 'signature_expired'],
    ['timestamp 1 year in the future', SIGNED_AT - 365 * 86_400_000, 'signature_expired'],
  ])('%s → %s', (_name, now, code) => {
    expect(codeOf(() => verifySlackRequest(headers(), Buffer.from(BODY), SECRET, now))).toBe(code);
  });

  it('a signature right except in its last byte → signature_mismatch', () => {
    const last = SIGNATURE.at(-1) === '0' ? '1' : '0';
    expect(codeOf(() => verifySlackRequest(headers(SIGNATURE.slice(0, -1) + last), Buffer.from(BODY), SECRET, SIGNED_AT))).toBe('signature_mismatch');
  });

  it('a changed body or another secret → signature_mismatch', () => {
    expect(codeOf(() => verifySlackRequest(headers(), Buffer.from(BODY.replace('foobar', 'foobaz')), SECRET, SIGNED_AT))).toBe('signature_mismatch');
    expect(codeOf(() => verifySlackRequest(headers(), Buffer.from(BODY), 'another-secret', SIGNED_AT))).toBe('signature_mismatch');
  });

  it.each([
    [{}, 'signature_missing'],
    [{ 'x-slack-signature': SIGNATURE }, 'signature_missing'],
    [headers('v1=' + SIGNATURE.slice(3)), 'signature_malformed'],
    [headers(SIGNATURE + '00'), 'signature_malformed'],
    [headers(SIGNATURE.toUpperCase()), 'signature_malformed'],
    [headers(SIGNATURE, '1531420618.5'), 'signature_malformed'],
    [headers(SIGNATURE, '-1'), 'signature_malformed'],
    [headers(SIGNATURE, '99999999999999999999'), 'signature_malformed'],
  ])('bad headers %j → %s', (given, code) => {
    expect(codeOf(() => verifySlackRequest(given, Buffer.from(BODY), SECRET, SIGNED_AT))).toBe(code);
  });

  it('our independent signer agrees with the vector', () => {
    expect(slackSignature(SECRET, TIMESTAMP, BODY)).toBe(SIGNATURE);
  });
});

describe('SeenSignatures', () => {
  const request = (n: number, signedAt = SIGNED_AT) => ({ signature: n.toString(16).padStart(64, '0'), expires_at: signedAt + SLACK_TOLERANCE_MS });

  it('refuses the same signature within its window, and forgets it once the window is over', () => {
    const seen = new SeenSignatures();
    seen.admit(request(1), SIGNED_AT);
    expect(codeOf(() => seen.admit(request(1), SIGNED_AT + 1_000))).toBe('signature_replayed');
    expect(codeOf(() => seen.admit(request(1), SIGNED_AT + SLACK_TOLERANCE_MS))).toBe('signature_replayed');
    seen.admit(request(2), SIGNED_AT + 1_000);
    // After the window the verifier refuses it as expired; the memory need not hold it.
    seen.admit(request(3, SIGNED_AT + 10 * 60_000), SIGNED_AT + 10 * 60_000);
    expect(seen.size).toBe(1);
  });

  it('is bounded: when full of live signatures it refuses new ones (503) rather than forget one', () => {
    const seen = new SeenSignatures(3);
    for (const n of [1, 2, 3]) seen.admit(request(n), SIGNED_AT);
    expect(codeOf(() => seen.admit(request(4), SIGNED_AT))).toBe('store_unavailable');
    expect(codeOf(() => seen.admit(request(1), SIGNED_AT))).toBe('signature_replayed');
    // Once they expire there is room again.
    seen.admit(request(5, SIGNED_AT + 11 * 60_000), SIGNED_AT + 11 * 60_000);
    expect(seen.size).toBe(1);
  });
});
