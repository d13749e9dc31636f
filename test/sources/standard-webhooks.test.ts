import { describe, expect, it } from 'vitest';
import { standardWebhooksPreset } from '../../src/sources/standard-webhooks.ts';
import { newStandardSecret, signStandardWebhooks, standardWebhooksKey } from '../../src/util/standard-webhooks.ts';
import { hmac, inbound, NOW_MS, NOW_SECONDS, testDeps, thrownCode, verdictCode } from './support.ts';

// The known-answer vector of the Standard Webhooks spec and reference libraries.
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};
const VECTOR_NOW_MS = VECTOR.timestamp * 1_000;

function source(options: Record<string, unknown> = {}) {
  const config = standardWebhooksPreset.schema.parse({
    name: 'billing',
    preset: 'standard-webhooks',
    secrets: [VECTOR.secret],
    ...options,
  });
  return standardWebhooksPreset.create(config, testDeps());
}

function vectorRequest(signature = VECTOR.signature, overrides: Record<string, string> = {}) {
  return inbound(VECTOR.body, {
    'webhook-id': VECTOR.id,
    'webhook-timestamp': String(VECTOR.timestamp),
    'webhook-signature': signature,
    ...overrides,
  });
}

/** An independent signer: base64 HMAC-SHA256 of `${id}.${timestamp}.${body}` with the given key bytes. */
function sign(key: Buffer | string, id: string, timestamp: number, body: string): string {
  return `v1,${hmac('sha256', key, `${id}.${timestamp}.${body}`, 'base64')}`;
}

const WHSEC_KEY = Buffer.from(VECTOR.secret.slice('whsec_'.length), 'base64');

describe('standard-webhooks verify', () => {
  it('the spec known-answer vector → ok', () => {
    expect(verdictCode(source().verify(vectorRequest(), VECTOR_NOW_MS))).toBe('ok');
  });

  it('several signatures, one valid → ok', () => {
    const other = sign('some other key', VECTOR.id, VECTOR.timestamp, VECTOR.body);
    expect(verdictCode(source().verify(vectorRequest(`${other} ${VECTOR.signature}`), VECTOR_NOW_MS))).toBe('ok');
  });

  it('other versions (v1a) are ignored → ok when a v1 matches', () => {
    const request = vectorRequest(`v1a,${'A'.repeat(86)}== ${VECTOR.signature}`);
    expect(verdictCode(source().verify(request, VECTOR_NOW_MS))).toBe('ok');
  });

  it('second secret (rotation) verifies', () => {
    const verdict = source({ secrets: ['whsec_' + Buffer.from('new key bytes').toString('base64'), VECTOR.secret] }).verify(
      vectorRequest(),
      VECTOR_NOW_MS,
    );
    expect(verdictCode(verdict)).toBe('ok');
  });

  it('a secret without whsec_ is used as its raw UTF-8 bytes', () => {
    const request = inbound(VECTOR.body, {
      'webhook-id': VECTOR.id,
      'webhook-timestamp': String(NOW_SECONDS),
      'webhook-signature': sign('plain-text-secret', VECTOR.id, NOW_SECONDS, VECTOR.body),
    });
    expect(verdictCode(source({ secrets: ['plain-text-secret'] }).verify(request, NOW_MS))).toBe('ok');
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('missing %s → signature_missing', (header) => {
    const request = vectorRequest();
    const headers = { ...(request.headers as Record<string, string>) };
    delete headers[header];
    expect(verdictCode(source().verify(inbound(VECTOR.body, headers), VECTOR_NOW_MS))).toBe('signature_missing');
  });

  it('only other versions, no v1 → signature_malformed', () => {
    expect(verdictCode(source().verify(vectorRequest(`v2,${VECTOR.signature.slice(3)}`), VECTOR_NOW_MS))).toBe('signature_malformed');
  });

  it('a signature without a version prefix → signature_malformed', () => {
    expect(verdictCode(source().verify(vectorRequest(VECTOR.signature.slice(3)), VECTOR_NOW_MS))).toBe('signature_malformed');
  });

  it('a v1 signature that is not 32 bytes of base64 → signature_malformed', () => {
    expect(verdictCode(source().verify(vectorRequest('v1,bm90IGEgc2lnbmF0dXJl'), VECTOR_NOW_MS))).toBe('signature_malformed');
  });

  it('webhook-timestamp in milliseconds → signature_malformed (the spec says seconds)', () => {
    const request = vectorRequest(VECTOR.signature, { 'webhook-timestamp': `${VECTOR.timestamp}000` });
    expect(verdictCode(source().verify(request, VECTOR_NOW_MS))).toBe('signature_malformed');
  });

  it('stale timestamp → signature_expired', () => {
    expect(verdictCode(source().verify(vectorRequest(), VECTOR_NOW_MS + 301_000))).toBe('signature_expired');
  });

  it('future timestamp beyond tolerance → signature_expired', () => {
    expect(verdictCode(source().verify(vectorRequest(), VECTOR_NOW_MS - 301_000))).toBe('signature_expired');
  });

  it('tampered body byte → signature_mismatch', () => {
    const request = vectorRequest();
    const tampered = inbound('{"test": 2432232315}', request.headers as Record<string, string>);
    expect(verdictCode(source().verify(tampered, VECTOR_NOW_MS))).toBe('signature_mismatch');
  });

  it('webhook-id changed after signing → signature_mismatch', () => {
    expect(verdictCode(source().verify(vectorRequest(VECTOR.signature, { 'webhook-id': 'msg_other' }), VECTOR_NOW_MS))).toBe(
      'signature_mismatch',
    );
  });

  it('the independent signer agrees with the vector (guards the test itself)', () => {
    expect(sign(WHSEC_KEY, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it('signStandardWebhooks reproduces the known-answer vector', () => {
    const headers = signStandardWebhooks(standardWebhooksKey(VECTOR.secret), VECTOR.id, Buffer.from(VECTOR.body), VECTOR_NOW_MS);
    expect(headers).toEqual({
      'webhook-id': VECTOR.id,
      'webhook-timestamp': String(VECTOR.timestamp),
      'webhook-signature': VECTOR.signature,
    });
  });
});

describe('standard-webhooks config', () => {
  it('a whsec_ secret that is not base64 → config error at secrets[0]', () => {
    const result = standardWebhooksPreset.schema.safeParse({ name: 'b', preset: 'standard-webhooks', secrets: ['whsec_not base64!'] });
    expect(result.error?.issues[0]?.path).toEqual(['secrets', 0]);
  });

  it('fields: a key that is not a known field → config error', () => {
    const result = standardWebhooksPreset.schema.safeParse({
      name: 'b',
      preset: 'standard-webhooks',
      secrets: ['s'],
      fields: { colour: 'data.colour' },
    });
    expect(result.error?.issues[0]?.path).toEqual(['fields']);
  });
});

describe('standard-webhooks normalize (generic fields)', () => {
  const request = vectorRequest();

  it('default paths: id, type, severity, title, summary, created_at', () => {
    const payload = {
      id: 'evt_1',
      type: 'invoice.payment_failed',
      severity: 'high',
      title: 'Payment failed for ACME',
      description: 'Card declined, 3rd attempt',
      created_at: '2026-04-23T18:00:00Z',
      data: { amount: 4200 },
    };
    const [event, ...rest] = source().normalize(payload, request);
    expect(rest).toHaveLength(0);
    expect(event).toEqual({
      external_id: VECTOR.id,
      type: 'invoice.payment_failed',
      severity: 'error',
      status: 'firing',
      title: 'Payment failed for ACME',
      summary: 'Card declined, 3rd attempt',
      dedup_key: `event:${VECTOR.id}`,
      occurred_at: '2026-04-23T18:00:00.000Z',
      data: payload,
    });
    expect(event?.data).toBe(payload);
  });

  it('configured fields, severity_map and resolved_values are followed', () => {
    const billing = source({
      fields: { type: 'kind', severity: 'data.prio', status: 'data.state', title: 'data.headline', dedup_key: 'data.ticket', occurred_at: 'at' },
      severity_map: { P1: 'critical' },
      resolved_values: ['done'],
    });
    const payload = { kind: 'ticket', at: 1714000000, data: { prio: 'P1', state: 'done', headline: 'Disk full', ticket: 'T-9' } };
    const [event] = billing.normalize(payload, request);
    expect(event).toMatchObject({
      type: 'ticket',
      severity: 'critical',
      status: 'resolved',
      title: 'Disk full',
      dedup_key: 'T-9',
      occurred_at: '2024-04-24T23:06:40.000Z',
    });
  });

  it('a type ending in .resolved is resolved without a status field', () => {
    const [event] = source().normalize({ type: 'incident.resolved' }, request);
    expect(event?.status).toBe('resolved');
  });

  it('nothing to go on → type "webhook", info, time from webhook-timestamp, title = type', () => {
    const [event] = source().normalize({ foo: 1 }, request);
    expect(event).toMatchObject({
      type: 'webhook',
      severity: 'info',
      status: 'firing',
      title: 'webhook',
      occurred_at: new Date(VECTOR_NOW_MS).toISOString(),
    });
  });

  it('an unknown severity value → warning', () => {
    expect(source().normalize({ type: 't', severity: 'purple' }, request)[0]?.severity).toBe('warning');
  });

  it('not a JSON object → invalid_payload', () => {
    expect(thrownCode(() => source().normalize([1, 2], request))).toBe('invalid_payload');
  });
});

describe('newStandardSecret (hookrelay secret)', () => {
  it('whsec_ and 32 random bytes in base64, new each time, usable as a key', () => {
    const [first, second] = [newStandardSecret(), newStandardSecret()];
    expect(first).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(standardWebhooksKey(first)).toHaveLength(32);
    expect(second).not.toBe(first);
  });

  it('a secret without the whsec_ prefix is used as its UTF-8 bytes', () => {
    expect(standardWebhooksKey('ünïcode')).toEqual(Buffer.from('ünïcode', 'utf8'));
  });
});
