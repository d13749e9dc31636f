import { describe, expect, it } from 'vitest';
import { tapemetricPreset } from '../../src/sources/tapemetric.ts';
import { hmac, inbound, NOW_MS, testDeps, thrownCode, verdictCode } from './support.ts';

// The payload of Tapemetric's "Webhooks" document (seed 000), byte for byte as documented.
const FIXTURE = `{
  "id": "evt_abc123",
  "type": "qos.rebuffer_spike",
  "created_at": "2026-04-23T18:28:00Z",
  "tenant_slug": "tapemetric",
  "data": {
    "severity": "critical",
    "region": "Maharashtra",
    "current_rate": 8.4,
    "baseline_rate": 3.1,
    "affected_sessions": 24000,
    "pop": "ap-south-1"
  }
}`;

const SECRET = 'tm_secret_one';
const OLD_SECRET = 'tm_secret_previous';

function source(secrets: string[] = [SECRET]) {
  return tapemetricPreset.create(tapemetricPreset.schema.parse({ name: 'tapemetric', preset: 'tapemetric', secrets }), testDeps());
}

/** What Tapemetric sends: `sha256=` + hex HMAC-SHA256 of the raw body. */
function signed(body: string, secret = SECRET, extra: Record<string, string> = {}) {
  return inbound(body, {
    'X-Tapemetric-Signature': `sha256=${hmac('sha256', secret, body)}`,
    'X-Tapemetric-Delivery': 'd5e6f7g8-9h0i-1j2k-3l4m-5n6o7p8q9r0s',
    ...extra,
  });
}

describe('tapemetric verify', () => {
  it('the documented payload, signed over its raw bytes → ok', () => {
    expect(verdictCode(source().verify(signed(FIXTURE), NOW_MS))).toBe('ok');
  });

  it('uppercase hex digest → ok (the bytes are compared, not the text)', () => {
    const request = inbound(FIXTURE, { 'X-Tapemetric-Signature': `sha256=${hmac('sha256', SECRET, FIXTURE).toUpperCase()}` });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('ok');
  });

  it('second secret (rotation) verifies', () => {
    expect(verdictCode(source([SECRET, OLD_SECRET]).verify(signed(FIXTURE, OLD_SECRET), NOW_MS))).toBe('ok');
  });

  it('no timestamp: an old delivery still verifies (Tapemetric signs no time)', () => {
    expect(verdictCode(source().verify(signed(FIXTURE), NOW_MS + 365 * 86_400_000))).toBe('ok');
  });

  it('missing X-Tapemetric-Signature → signature_missing', () => {
    expect(verdictCode(source().verify(inbound(FIXTURE, {}), NOW_MS))).toBe('signature_missing');
  });

  it('empty X-Tapemetric-Signature → signature_missing', () => {
    expect(verdictCode(source().verify(inbound(FIXTURE, { 'X-Tapemetric-Signature': ' ' }), NOW_MS))).toBe('signature_missing');
  });

  it('header without sha256= prefix → signature_malformed', () => {
    const request = inbound(FIXTURE, { 'X-Tapemetric-Signature': hmac('sha256', SECRET, FIXTURE) });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_malformed');
  });

  it('digest one character short → signature_malformed', () => {
    const request = inbound(FIXTURE, { 'X-Tapemetric-Signature': `sha256=${hmac('sha256', SECRET, FIXTURE).slice(1)}` });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_malformed');
  });

  it('digest with non-hex characters → signature_malformed', () => {
    const request = inbound(FIXTURE, { 'X-Tapemetric-Signature': `sha256=${'z'.repeat(64)}` });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_malformed');
  });

  it('tampered body byte → signature_mismatch', () => {
    const request = signed(FIXTURE);
    const tampered = inbound(FIXTURE.replace('24000', '24001'), request.headers as Record<string, string>);
    expect(verdictCode(source().verify(tampered, NOW_MS))).toBe('signature_mismatch');
  });

  it('signature over re-serialized JSON (not the raw bytes) → signature_mismatch', () => {
    const reserialized = JSON.stringify(JSON.parse(FIXTURE));
    const request = inbound(FIXTURE, { 'X-Tapemetric-Signature': `sha256=${hmac('sha256', SECRET, reserialized)}` });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_mismatch');
  });

  it('signed with an unknown secret → signature_mismatch, and the message does not leak the expected digest', () => {
    const verdict = source().verify(signed(FIXTURE, 'someone-else'), NOW_MS);
    expect(verdictCode(verdict)).toBe('signature_mismatch');
    const expected = hmac('sha256', SECRET, FIXTURE);
    expect(verdict.ok ? '' : verdict.error.message).not.toContain(expected);
  });
});

describe('tapemetric normalize', () => {
  it('a `.resolved` event closes the incident its firing event opened (same dedup key)', () => {
    const [firing] = source().normalize({ id: 'e1', type: 'qos.rebuffer_spike', data: { region: 'Goa' } }, inbound('{}'));
    const [resolved] = source().normalize({ id: 'e2', type: 'qos.rebuffer_spike.resolved', data: { region: 'Goa' } }, inbound('{}'));
    expect(resolved?.status).toBe('resolved');
    expect(resolved?.dedup_key).toBe(firing?.dedup_key);
  });

  it('the documented rebuffer spike → one critical, readable event with the payload untouched', () => {
    const payload = JSON.parse(FIXTURE) as unknown;
    const [event, ...rest] = source().normalize(payload, signed(FIXTURE));
    expect(rest).toHaveLength(0);
    expect(event).toEqual({
      external_id: 'evt_abc123',
      type: 'qos.rebuffer_spike',
      severity: 'critical',
      status: 'firing',
      title: 'Rebuffer spike in Maharashtra',
      summary: '8.4 vs baseline 3.1 · 24,000 sessions affected',
      dedup_key: 'qos.rebuffer_spike:Maharashtra',
      occurred_at: '2026-04-23T18:28:00.000Z',
      data: payload,
    });
    expect(event?.data).toBe(payload);
  });

  it.each([
    ['billing.payment_failure', 'error'],
    ['ingest.quota_exceeded', 'error'],
    ['ingest.quota_80pct', 'warning'],
    ['billing.churn_spike', 'warning'],
    ['qos.startup_regression', 'warning'],
    ['content.new_release_detected', 'info'],
    ['content.completion_drop', 'info'],
  ])('no data.severity: %s → %s (by type)', (type, severity) => {
    const [event] = source().normalize({ id: 'evt_1', type, data: {} }, inbound('{}'));
    expect(event?.severity).toBe(severity);
  });

  it.each([
    ['high', 'error'],
    ['major', 'error'],
    ['medium', 'warning'],
    ['low', 'info'],
    ['WARNING', 'warning'],
  ])('data.severity %s → %s', (stated, severity) => {
    const [event] = source().normalize({ id: 'evt_1', type: 'content.completion_drop', data: { severity: stated } }, inbound('{}'));
    expect(event?.severity).toBe(severity);
  });

  it('no payload id → the X-Tapemetric-Delivery header is the external id', () => {
    const [event] = source().normalize({ type: 'qos.error_spike' }, signed('{}'));
    expect(event?.external_id).toBe('d5e6f7g8-9h0i-1j2k-3l4m-5n6o7p8q9r0s');
  });

  it('no region → dedup by PoP, and without either → global', () => {
    const [byPop] = source().normalize({ type: 'qos.error_spike', data: { pop: 'ap-south-1' } }, inbound('{}'));
    const [global] = source().normalize({ type: 'qos.error_spike', data: {} }, inbound('{}'));
    expect(byPop?.dedup_key).toBe('qos.error_spike:ap-south-1');
    expect(global?.dedup_key).toBe('qos.error_spike:global');
  });

  it('no created_at → no occurred_at from the sender (ingest puts the receive time in its place)', () => {
    const [event] = source().normalize({ type: 'qos.error_spike' }, inbound('{}'));
    expect(event?.occurred_at).toBeNull();
  });

  it('payload without a type → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ id: 'evt_1', data: {} }, inbound('{}')))).toBe('invalid_payload');
  });

  it('a JSON array instead of an object → invalid_payload', () => {
    expect(thrownCode(() => source().normalize([], inbound('[]')))).toBe('invalid_payload');
  });

  it('a number where a rate belongs is a string → invalid_payload', () => {
    const payload = { type: 'qos.rebuffer_spike', data: { current_rate: 'high' } };
    expect(thrownCode(() => source().normalize(payload, inbound('{}')))).toBe('invalid_payload');
  });

  it('a rate too large for a number (1e400 parses to Infinity) → invalid_payload naming the field', () => {
    const payload: unknown = JSON.parse('{"type": "qos.rebuffer_spike", "data": {"current_rate": 1e400}}');
    expect(() => source().normalize(payload, inbound('{}'))).toThrow(/data\.current_rate/);
  });

  it('each field of the wrong kind → invalid_payload naming it; the fields it does not know may be anything', () => {
    const wrong: Array<[string, unknown]> = [
      ['id', 7], ['created_at', 1_776_968_880], ['type', ''], ['data', null], ['data', []], ['data', 'x'],
      ['data.severity', 3], ['data.status', false], ['data.region', {}], ['data.pop', []],
      ['data.baseline_rate', '3.1'], ['data.affected_sessions', null],
    ];
    for (const [path, value] of wrong) {
      const payload: Record<string, unknown> = { type: 'qos.rebuffer_spike', data: { region: 'Goa' } };
      const [top, field] = path.split('.') as [string, string | undefined];
      if (field === undefined) payload[top] = value;
      else (payload.data as Record<string, unknown>)[field] = value;
      expect(() => source().normalize(payload, inbound('{}')), path).toThrow(path === 'type' ? /type/ : new RegExp(path.replace('.', '\\.')));
    }
    const [event] = source().normalize({ type: 'qos.rebuffer_spike', tenant: null, data: { region: 'Goa', extra: [1], note: { a: 1 } } }, inbound('{}'));
    expect(event?.title).toBe('Rebuffer spike in Goa');
  });
});
