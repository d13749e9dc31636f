/**
 * The shared verification helpers (src/sources/signature.ts): what a sender reads when a request
 * is refused, the edges of the tolerance window, and the format checks that run before any
 * comparison. A sender debugging a 401 has only these messages to go on.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  base64Length,
  checkTolerance,
  decodeBase64Digest,
  describeSignatureFormat,
  firstOf,
  parseFlexibleTimestamp,
  tokenMatches,
  verifyHeaderSignature,
} from '../../src/sources/signature.ts';
import type { HeaderSignatureScheme } from '../../src/sources/signature.ts';
import type { Verdict } from '../../src/sources/source.ts';
import { inbound, NOW_MS, NOW_SECONDS, verdictCode } from './support.ts';

const BODY = '{"id":"evt_1"}';
const PREFIXED_HEX: HeaderSignatureScheme = { header: 'X-Sig', prefix: 'sha256=', encoding: 'hex', algorithm: 'sha256', mismatchHint: 'is the secret the one shown in Acme?' };
const BARE_BASE64: HeaderSignatureScheme = { header: 'X-Sig', prefix: '', encoding: 'base64', algorithm: 'sha512' };
const TIMESTAMPED: HeaderSignatureScheme = { ...PREFIXED_HEX, mismatchHint: undefined, timestamp: { header: 'X-Time', toleranceMs: 300_000 } };

const message = (verdict: Verdict): string => (verdict.ok ? 'ok' : verdict.error.message);
const hex = (content: string, secret = 's3cret'): string => createHmac('sha256', secret).update(content).digest('hex');

describe('what a refused sender reads', () => {
  it('the expected format, never a value', () => {
    expect(describeSignatureFormat(PREFIXED_HEX)).toBe('X-Sig must be "sha256=" followed by 64 hex characters (HMAC-SHA256)');
    expect(describeSignatureFormat(BARE_BASE64)).toBe('X-Sig must be 88 base64 characters (HMAC-SHA512)');
    expect(message(verifyHeaderSignature(PREFIXED_HEX, ['s3cret'], inbound(BODY, { 'X-Sig': 'nope' }), NOW_MS))).toBe(describeSignatureFormat(PREFIXED_HEX));
  });

  it('a missing header, and a mismatch with what was signed and the sender hint', () => {
    expect(message(verifyHeaderSignature(PREFIXED_HEX, ['s3cret'], inbound(BODY), NOW_MS))).toBe('the X-Sig header is required');
    const wrong = verifyHeaderSignature(PREFIXED_HEX, ['s3cret'], inbound(BODY, { 'X-Sig': `sha256=${hex(BODY, 'other')}` }), NOW_MS);
    expect(message(wrong)).toBe('X-Sig does not match an HMAC-SHA256 of the raw body with any configured secret; is the secret the one shown in Acme?');
  });

  it('timestamped schemes name the timestamp header in every refusal', () => {
    const signed = (headers: Record<string, string>) => verifyHeaderSignature(TIMESTAMPED, ['s3cret'], inbound(BODY, headers), NOW_MS);
    expect(message(signed({ 'X-Sig': `sha256=${hex(BODY)}` }))).toBe('the X-Time header is required: X-Sig signs "<X-Time>.<body>"');
    expect(message(signed({ 'X-Sig': `sha256=${hex(BODY)}`, 'X-Time': 'yesterday' }))).toBe('X-Time must be unix seconds, unix milliseconds or an ISO 8601 time with a zone');
    expect(message(signed({ 'X-Sig': `sha256=${hex(BODY)}`, 'X-Time': String(NOW_SECONDS) }))).toBe(
      'X-Sig does not match an HMAC-SHA256 of "<X-Time>.<body>" with any configured secret',
    );
    expect(verdictCode(signed({ 'X-Sig': `sha256=${hex(`${NOW_SECONDS}.${BODY}`)}`, 'X-Time': String(NOW_SECONDS) }))).toBe('ok');
  });

  it('a stale or future timestamp says by how much, and which way', () => {
    expect(message(checkTolerance('X-Time', NOW_MS - 360_000, NOW_MS, 300_000))).toBe(
      "X-Time is 6m old; at most 5m is allowed (a replayed request, or the sender's clock is behind)",
    );
    expect(message(checkTolerance('X-Time', NOW_MS + 360_000, NOW_MS, 300_000))).toBe("X-Time is 6m in the future; at most 5m is allowed (the sender's clock is ahead)");
  });
});

describe('format before comparison', () => {
  it('the right digest behind another prefix is malformed, not accepted', () => {
    const request = inbound(BODY, { 'X-Sig': `sha512=${hex(BODY)}` });
    expect(verdictCode(verifyHeaderSignature(PREFIXED_HEX, ['s3cret'], request, NOW_MS))).toBe('signature_malformed');
  });

  it('base64 digests: padding optional; the URL-safe alphabet, a wrong length or stray padding is malformed', () => {
    const digest = createHmac('sha512', 's3cret').update(BODY).digest();
    const standard = digest.toString('base64');
    expect(decodeBase64Digest(standard, 64)).toEqual(digest);
    expect(decodeBase64Digest(standard.replace(/=+$/, ''), 64)).toEqual(digest);
    expect(decodeBase64Digest(digest.toString('base64url'), 64)).toBeNull();
    expect(decodeBase64Digest(standard.slice(4), 64)).toBeNull();
    expect(decodeBase64Digest(`${standard}==`, 64)).toBeNull();
    expect(decodeBase64Digest(`A${standard.replace(/=+$/, '')}`, 64)).toBeNull();
    expect(base64Length(64)).toBe(88);
    expect(base64Length(32)).toBe(44);
  });
});

describe('the tolerance window', () => {
  it('exactly the tolerance away is still fresh, in both directions; a millisecond more is not', () => {
    expect(checkTolerance('X-Time', NOW_MS - 300_000, NOW_MS, 300_000)).toEqual({ ok: true });
    expect(checkTolerance('X-Time', NOW_MS + 300_000, NOW_MS, 300_000)).toEqual({ ok: true });
    expect(verdictCode(checkTolerance('X-Time', NOW_MS - 300_001, NOW_MS, 300_000))).toBe('signature_expired');
    expect(verdictCode(checkTolerance('X-Time', NOW_MS + 300_001, NOW_MS, 300_000))).toBe('signature_expired');
  });

  it('timestamps: seconds below 1e11, milliseconds from there; ISO 8601 only with a zone', () => {
    expect(parseFlexibleTimestamp('99999999999')).toBe(99_999_999_999_000);
    expect(parseFlexibleTimestamp('100000000000')).toBe(100_000_000_000);
    expect(parseFlexibleTimestamp('2026-04-23T18:28:00Z')).toBe(NOW_MS);
    expect(parseFlexibleTimestamp('2026-04-23T18:28:00')).toBeNull();
    expect(parseFlexibleTimestamp('April 23, 2026')).toBeNull();
    expect(parseFlexibleTimestamp('2026-04-23')).toBeNull();
  });
});

describe('tokens and secrets', () => {
  it('tokens compare whole, whatever their length', () => {
    expect(tokenMatches(['abc', 'token-1'], 'token-1')).toBe(true);
    expect(tokenMatches(['token-1'], 'token-')).toBe(false);
    expect(tokenMatches(['token-1'], 'token-12')).toBe(false);
    expect(tokenMatches(['ü'], 'ü')).toBe(true);
  });

  it('signing needs a configured secret', () => {
    expect(firstOf(['a', 'b'], 'secret')).toBe('a');
    expect(() => firstOf([], 'secret')).toThrow('no secret configured');
  });
});
