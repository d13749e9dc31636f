import { describe, expect, it } from 'vitest';
import { hmacPreset } from '../../src/sources/hmac.ts';
import { hmac, inbound, NOW_MS, NOW_SECONDS, testDeps, thrownCode, verdictCode } from './support.ts';

const BODY = '{"event":"build.failed","id":"b_77","level":"error","title":"Build 77 failed","timestamp":"2026-04-23T18:00:00Z"}';
const SECRET = 'generic-secret';

function source(options: Record<string, unknown> = {}) {
  const config = hmacPreset.schema.parse({ name: 'ci', preset: 'hmac', header: 'X-Signature', secrets: [SECRET], ...options });
  return hmacPreset.create(config, testDeps());
}

function parseConfig(options: Record<string, unknown>) {
  return hmacPreset.schema.safeParse({ name: 'ci', preset: 'hmac', header: 'X-Signature', secrets: [SECRET], ...options });
}

describe('hmac verify', () => {
  it('defaults (hex sha256 of the body, no prefix) → ok', () => {
    expect(verdictCode(source().verify(inbound(BODY, { 'X-Signature': hmac('sha256', SECRET, BODY) }), NOW_MS))).toBe('ok');
  });

  it('header name is matched in any case', () => {
    const tapemetricLike = source({ header: 'x-SIGNATURE' });
    expect(verdictCode(tapemetricLike.verify(inbound(BODY, { 'X-Signature': hmac('sha256', SECRET, BODY) }), NOW_MS))).toBe('ok');
  });

  it('prefix sha256= → ok with the prefix, signature_malformed without it', () => {
    const prefixed = source({ prefix: 'sha256=' });
    const digest = hmac('sha256', SECRET, BODY);
    expect(verdictCode(prefixed.verify(inbound(BODY, { 'X-Signature': `sha256=${digest}` }), NOW_MS))).toBe('ok');
    expect(verdictCode(prefixed.verify(inbound(BODY, { 'X-Signature': digest }), NOW_MS))).toBe('signature_malformed');
  });

  it('base64 sha512 → ok', () => {
    const sha512 = source({ encoding: 'base64', algorithm: 'sha512' });
    const request = inbound(BODY, { 'X-Signature': hmac('sha512', SECRET, BODY, 'base64') });
    expect(verdictCode(sha512.verify(request, NOW_MS))).toBe('ok');
  });

  it('sha1 hex (GitHub-style legacy) → ok', () => {
    const sha1 = source({ algorithm: 'sha1', prefix: 'sha1=' });
    expect(verdictCode(sha1.verify(inbound(BODY, { 'X-Signature': `sha1=${hmac('sha1', SECRET, BODY)}` }), NOW_MS))).toBe('ok');
  });

  it('a sha256-length digest where sha512 is configured → signature_malformed', () => {
    const sha512 = source({ algorithm: 'sha512' });
    expect(verdictCode(sha512.verify(inbound(BODY, { 'X-Signature': hmac('sha256', SECRET, BODY) }), NOW_MS))).toBe('signature_malformed');
  });

  it('second secret (rotation) verifies', () => {
    const rotating = source({ secrets: ['first', SECRET] });
    expect(verdictCode(rotating.verify(inbound(BODY, { 'X-Signature': hmac('sha256', SECRET, BODY) }), NOW_MS))).toBe('ok');
  });

  it('missing header → signature_missing', () => {
    expect(verdictCode(source().verify(inbound(BODY), NOW_MS))).toBe('signature_missing');
  });

  it('tampered body byte → signature_mismatch', () => {
    const request = inbound(BODY.replace('77', '78'), { 'X-Signature': hmac('sha256', SECRET, BODY) });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_mismatch');
  });

  describe('signed: timestamp.body', () => {
    // Made in each test, not when the file is collected: a mutation tester switches mutants per test.
    const timestamped = { verify: (...args: Parameters<ReturnType<typeof source>['verify']>) => source({ signed: 'timestamp.body', timestamp_header: 'X-Timestamp', tolerance: '1m' }).verify(...args) };
    const at = (seconds: number) =>
      inbound(BODY, { 'X-Signature': hmac('sha256', SECRET, `${seconds}.${BODY}`), 'X-Timestamp': String(seconds) });

    it('fresh timestamp → ok', () => {
      expect(verdictCode(timestamped.verify(at(NOW_SECONDS - 30), NOW_MS))).toBe('ok');
    });

    it('stale timestamp → signature_expired', () => {
      expect(verdictCode(timestamped.verify(at(NOW_SECONDS - 61), NOW_MS))).toBe('signature_expired');
    });

    it('future timestamp beyond tolerance → signature_expired', () => {
      expect(verdictCode(timestamped.verify(at(NOW_SECONDS + 61), NOW_MS))).toBe('signature_expired');
    });

    it('missing timestamp header → signature_missing', () => {
      const request = inbound(BODY, { 'X-Signature': hmac('sha256', SECRET, `${NOW_SECONDS}.${BODY}`) });
      expect(verdictCode(timestamped.verify(request, NOW_MS))).toBe('signature_missing');
    });

    it('a body-only signature → signature_mismatch', () => {
      const request = inbound(BODY, { 'X-Signature': hmac('sha256', SECRET, BODY), 'X-Timestamp': String(NOW_SECONDS) });
      expect(verdictCode(timestamped.verify(request, NOW_MS))).toBe('signature_mismatch');
    });
  });
});

describe('hmac config', () => {
  it('signed: timestamp.body without timestamp_header → error at timestamp_header', () => {
    expect(parseConfig({ signed: 'timestamp.body' }).error?.issues[0]?.path).toEqual(['timestamp_header']);
  });

  it('timestamp_header with a body-only signature → error at timestamp_header', () => {
    expect(parseConfig({ timestamp_header: 'X-Timestamp' }).error?.issues[0]?.path).toEqual(['timestamp_header']);
  });

  it('an unknown algorithm → error at algorithm', () => {
    expect(parseConfig({ algorithm: 'md5' }).error?.issues[0]?.path).toEqual(['algorithm']);
  });

  it('no header → error at header', () => {
    const result = hmacPreset.schema.safeParse({ name: 'ci', preset: 'hmac', secrets: [SECRET] });
    expect(result.error?.issues[0]?.path).toEqual(['header']);
  });

  it('a header name with a space → error at header', () => {
    expect(parseConfig({ header: 'X Signature' }).error?.issues[0]?.path).toEqual(['header']);
  });

  it('defaults: hex, sha256, body, 5m tolerance, the default resolved values', () => {
    const config = parseConfig({});
    expect(config.data).toMatchObject({
      prefix: '',
      encoding: 'hex',
      algorithm: 'sha256',
      signed: 'body',
      tolerance: 300_000,
      resolved_values: ['resolved', 'ok', 'up', 'operational', 'closed'],
    });
  });
});

describe('hmac normalize', () => {
  it('default paths find event, id, level, title, time', () => {
    const payload = JSON.parse(BODY) as unknown;
    const [event] = source().normalize(payload, inbound(BODY));
    expect(event).toEqual({
      external_id: 'b_77',
      type: 'build.failed',
      severity: 'error',
      status: 'firing',
      title: 'Build 77 failed',
      summary: '',
      dedup_key: 'event:b_77',
      occurred_at: '2026-04-23T18:00:00.000Z',
      data: payload,
    });
    expect(event?.data).toBe(payload);
  });

  it('id_header is the external id when present', () => {
    const withIdHeader = source({ id_header: 'X-Delivery' });
    const [event] = withIdHeader.normalize(JSON.parse(BODY), inbound(BODY, { 'X-Delivery': 'dlv_1' }));
    expect(event?.external_id).toBe('dlv_1');
  });

  it('severity_map overrides the built-in table', () => {
    const mapped = source({ severity_map: { error: 'critical' } });
    expect(mapped.normalize(JSON.parse(BODY), inbound(BODY))[0]?.severity).toBe('critical');
  });

  it('a string body → invalid_payload', () => {
    expect(thrownCode(() => source().normalize('build failed', inbound('"build failed"')))).toBe('invalid_payload');
  });
});

describe('hmac: what the config check says, the signer, and the timestamp as the event time', () => {
  it('config errors explain the rule', () => {
    expect(parseConfig({ signed: 'timestamp.body' }).error?.issues[0]).toMatchObject({ code: 'custom', message: 'required when signed is "timestamp.body"' });
    expect(parseConfig({ timestamp_header: 'X-Timestamp' }).error?.issues[0]).toMatchObject({
      code: 'custom',
      message: 'only used with signed: "timestamp.body" (a body-only signature does not cover the timestamp)',
    });
    expect(parseConfig({ signed: 'timestamp.body', timestamp_header: 'X-Timestamp' }).success).toBe(true);
  });

  it('sign() sends JSON with the headers an independent signer computes', () => {
    const plain = source().sign!(Buffer.from(BODY), NOW_MS);
    expect(plain.headers).toEqual({ 'Content-Type': 'application/json', 'X-Signature': hmac('sha256', SECRET, BODY) });
    const timestamped = source({ signed: 'timestamp.body', timestamp_header: 'X-Timestamp' }).sign!(Buffer.from(BODY), NOW_MS);
    expect(timestamped.headers).toEqual({
      'Content-Type': 'application/json',
      'X-Timestamp': String(NOW_SECONDS),
      'X-Signature': hmac('sha256', SECRET, `${NOW_SECONDS}.${BODY}`),
    });
  });

  it('without a time or type in the payload: the signed timestamp is the event time, and the type is "webhook"', () => {
    const body = '{"title":"Deploy finished"}';
    const timestamped = source({ signed: 'timestamp.body', timestamp_header: 'X-Timestamp' });
    const [event] = timestamped.normalize(JSON.parse(body), inbound(body, { 'X-Timestamp': String(NOW_SECONDS - 60) }));
    expect(event).toMatchObject({ type: 'webhook', occurred_at: new Date(NOW_MS - 60_000).toISOString() });
    // A body-only source never reads a header it does not verify.
    const [unsigned] = source().normalize(JSON.parse(body), inbound(body, { 'X-Timestamp': String(NOW_SECONDS - 60) }));
    expect(unsigned?.occurred_at).not.toBe(new Date(NOW_MS - 60_000).toISOString());
  });
});
