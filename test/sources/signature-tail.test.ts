/**
 * A signature that is right except in one byte — its last above all — is refused by every
 * scheme (Slack's: slack-signature.test.ts). A verifier that compared only a prefix of the digest (a mutation that once passed the
 * whole suite) would accept these.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { alertmanagerPreset } from '../../src/sources/alertmanager.ts';
import { hmacPreset } from '../../src/sources/hmac.ts';
import { standardWebhooksPreset } from '../../src/sources/standard-webhooks.ts';
import { statuspulsePreset } from '../../src/sources/statuspulse.ts';
import { statussentryPreset } from '../../src/sources/statussentry.ts';
import { tapePreset } from '../../src/sources/tape.ts';
import { tapemetricPreset } from '../../src/sources/tapemetric.ts';
import { inbound, NOW_MS, NOW_SECONDS, testDeps, verdictCode } from './support.ts';

const BODY = '{"id":"evt_tail","type":"qos.rebuffer_spike","created_at":"2026-04-23T18:28:00Z","data":{"severity":"critical"}}';

/** The digest with byte `index` changed; every other byte is right. */
function flipped(digest: Buffer, index: number): Buffer {
  const copy = Buffer.from(digest);
  copy[index]! ^= 0x01;
  return copy;
}

const mac = (algorithm: string, key: string | Buffer, content: string): Buffer => createHmac(algorithm, key).update(content).digest();

/** The positions worth trying: the last byte (the mutation), the first, and the one just past 8 bytes. */
const positions = (length: number): number[] => [length - 1, length - 2, 8, 0];

interface Scheme {
  readonly name: string;
  /** The right digest for BODY at NOW. */
  readonly digest: Buffer;
  /** Verifies a request carrying `digest` (encoded as the sender would); 'ok' or the refusal code. */
  verify(digest: Buffer): string;
}

const tapemetric = () => tapemetricPreset.create(tapemetricPreset.schema.parse({ name: 'tm', preset: 'tapemetric', secrets: ['tm-secret'] }), testDeps());
const statuspulse = () => statuspulsePreset.create(statuspulsePreset.schema.parse({ name: 'sp', preset: 'statuspulse', secrets: ['sp-secret'] }), testDeps());
const statussentry = () => statussentryPreset.create(statussentryPreset.schema.parse({ name: 'ss', preset: 'statussentry', secrets: ['ss-secret'] }), testDeps());
const hmacHex = () => hmacPreset.create(hmacPreset.schema.parse({ name: 'ci', preset: 'hmac', header: 'X-Signature', secrets: ['ci-secret'] }), testDeps());
const hmacBase64 = () => hmacPreset.create(
  hmacPreset.schema.parse({ name: 'ci', preset: 'hmac', header: 'X-Signature', algorithm: 'sha512', encoding: 'base64', secrets: ['ci-secret'] }),
  testDeps(),
);
const STANDARD_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const standard = () => standardWebhooksPreset.create(
  standardWebhooksPreset.schema.parse({ name: 'billing', preset: 'standard-webhooks', secrets: [STANDARD_SECRET] }),
  testDeps(),
);
const STANDARD_KEY = Buffer.from(STANDARD_SECRET.slice('whsec_'.length), 'base64');

const SCHEMES: readonly Scheme[] = [
  {
    name: 'tapemetric (sha256= hex of the body)',
    digest: mac('sha256', 'tm-secret', BODY),
    verify: (digest) => verdictCode(tapemetric().verify(inbound(BODY, { 'X-Tapemetric-Signature': `sha256=${digest.toString('hex')}` }), NOW_MS)),
  },
  {
    name: 'statuspulse (hex of "<timestamp>.<body>")',
    digest: mac('sha256', 'sp-secret', `${NOW_SECONDS}.${BODY}`),
    verify: (digest) =>
      verdictCode(
        statuspulse().verify(inbound(BODY, { 'X-StatusPulse-Signature': digest.toString('hex'), 'X-StatusPulse-Timestamp': String(NOW_SECONDS) }), NOW_MS),
      ),
  },
  {
    name: 'statussentry (t=…,v1=hex)',
    digest: mac('sha256', 'ss-secret', `${NOW_SECONDS}.${BODY}`),
    verify: (digest) =>
      verdictCode(statussentry().verify(inbound(BODY, { 'X-StatusSentry-Signature': `t=${NOW_SECONDS},v1=${digest.toString('hex')}` }), NOW_MS)),
  },
  {
    name: 'hmac preset, hex sha256',
    digest: mac('sha256', 'ci-secret', BODY),
    verify: (digest) => verdictCode(hmacHex().verify(inbound(BODY, { 'X-Signature': digest.toString('hex') }), NOW_MS)),
  },
  {
    name: 'hmac preset, base64 sha512',
    digest: mac('sha512', 'ci-secret', BODY),
    verify: (digest) => verdictCode(hmacBase64().verify(inbound(BODY, { 'X-Signature': digest.toString('base64') }), NOW_MS)),
  },
  {
    name: 'standard-webhooks (v1,base64 of "id.timestamp.body")',
    digest: mac('sha256', STANDARD_KEY, `msg_tail.${NOW_SECONDS}.${BODY}`),
    verify: (digest) =>
      verdictCode(
        standard().verify(
          inbound(BODY, { 'webhook-id': 'msg_tail', 'webhook-timestamp': String(NOW_SECONDS), 'webhook-signature': `v1,${digest.toString('base64')}` }),
          NOW_MS,
        ),
      ),
  },
];

describe('a signature right except in one byte is refused, for every scheme', () => {
  describe.each(SCHEMES)('$name', (scheme) => {
    it('the right signature → ok (the check below is not vacuous)', () => {
      expect(scheme.verify(scheme.digest)).toBe('ok');
    });

    it.each(positions(scheme.digest.length))('byte %i changed → signature_mismatch', (index) => {
      expect(scheme.verify(flipped(scheme.digest, index))).toBe('signature_mismatch');
    });
  });
});

describe('a token right except in its last character is refused', () => {
  const TOKEN = 'token-0123456789abcdef';
  const almost = `${TOKEN.slice(0, -1)}${TOKEN.endsWith('f') ? 'e' : 'f'}`;

  it('tape ?token=', () => {
    const tape = tapePreset.create(tapePreset.schema.parse({ name: 'tape', preset: 'tape', token: TOKEN, api_key: 'key' }), testDeps());
    expect(verdictCode(tape.verify(inbound('{}', {}, { token: TOKEN }), NOW_MS))).toBe('ok');
    expect(verdictCode(tape.verify(inbound('{}', {}, { token: almost }), NOW_MS))).toBe('token_invalid');
  });

  it('alertmanager Authorization: Bearer', () => {
    const alertmanager = alertmanagerPreset.create(alertmanagerPreset.schema.parse({ name: 'am', preset: 'alertmanager', token: TOKEN }), testDeps());
    expect(verdictCode(alertmanager.verify(inbound('{}', { Authorization: `Bearer ${TOKEN}` }), NOW_MS))).toBe('ok');
    expect(verdictCode(alertmanager.verify(inbound('{}', { Authorization: `Bearer ${almost}` }), NOW_MS))).toBe('token_invalid');
  });
});
