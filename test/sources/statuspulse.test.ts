import { describe, expect, it } from 'vitest';
import { statuspulsePreset } from '../../src/sources/statuspulse.ts';
import { hmac, inbound, NOW_MS, NOW_SECONDS, testDeps, thrownCode, verdictCode } from './support.ts';

// "Webhooks - Real-Time Event Streaming" (seed 001): the monitor form.
const MONITOR_FIXTURE = `{
  "event_id": "evt_7f3a9c2b1d",
  "monitor_name": "checkout-service-redis",
  "status": "degraded",
  "timestamp": "2024-05-14T09:23:11Z",
  "metadata": {
    "region": "us-west-2",
    "affected_endpoints": ["/api/v1/cart", "/api/v1/checkout"],
    "response_time_ms": 1840,
    "error_rate_pct": 12.4
  }
}`;

// "Webhooks - Custom Event Handling" (seed 003): the check form.
const CHECK_FIXTURE = `{
"event_id": "evt_9f82b1c4d5e6",
"timestamp": "2024-05-14T09:32:11Z",
"event_type": "status_change",
"check_id": "chk_us_east_1_api",
"endpoint": "https://api.example.com/v2/health",
"previous_status": "operational",
"current_status": "degraded",
"response_time_ms": 1420,
"region": "us-east-1",
"error_code": 503,
"retry_count": 0
}`;

// The secret of seed 003's Node.js handler.
const SECRET = 'whsec_a8f3k29d4m1p7q';

function source(options: Record<string, unknown> = {}) {
  const config = statuspulsePreset.schema.parse({ name: 'statuspulse', preset: 'statuspulse', secrets: [SECRET], ...options });
  return statuspulsePreset.create(config, testDeps());
}

/** Seed 003's signer: hex HMAC-SHA256 of `${timestamp}.${payload}`. */
function timestamped(body: string, timestamp: string, secret = SECRET) {
  return inbound(body, {
    'X-StatusPulse-Signature': hmac('sha256', secret, `${timestamp}.${body}`),
    'X-StatusPulse-Timestamp': timestamp,
  });
}

/** Seed 001's signer: hex HMAC-SHA256 of the raw body alone. */
function bodyOnly(body: string, secret = SECRET, headers: Record<string, string> = {}) {
  return inbound(body, { 'X-StatusPulse-Signature': hmac('sha256', secret, body), ...headers });
}

describe('statuspulse verify (default: "<timestamp>.<body>", seed 003)', () => {
  it('unix-seconds timestamp, signed per seed 003 → ok', () => {
    expect(verdictCode(source().verify(timestamped(CHECK_FIXTURE, String(NOW_SECONDS)), NOW_MS))).toBe('ok');
  });

  it('unix-milliseconds timestamp → ok', () => {
    expect(verdictCode(source().verify(timestamped(CHECK_FIXTURE, String(NOW_MS - 2_000)), NOW_MS))).toBe('ok');
  });

  it('ISO 8601 timestamp → ok', () => {
    expect(verdictCode(source().verify(timestamped(CHECK_FIXTURE, '2026-04-23T18:27:30Z'), NOW_MS))).toBe('ok');
  });

  it('second secret (rotation) verifies', () => {
    const verdict = source({ secrets: ['new-secret', SECRET] }).verify(timestamped(CHECK_FIXTURE, String(NOW_SECONDS)), NOW_MS);
    expect(verdictCode(verdict)).toBe('ok');
  });

  it('4m59s old, inside the default 5m tolerance → ok', () => {
    expect(verdictCode(source().verify(timestamped(CHECK_FIXTURE, String(NOW_SECONDS - 299)), NOW_MS))).toBe('ok');
  });

  it('stale timestamp → signature_expired', () => {
    expect(verdictCode(source().verify(timestamped(CHECK_FIXTURE, String(NOW_SECONDS - 301)), NOW_MS))).toBe('signature_expired');
  });

  it('future timestamp beyond tolerance → signature_expired', () => {
    expect(verdictCode(source().verify(timestamped(CHECK_FIXTURE, String(NOW_SECONDS + 301)), NOW_MS))).toBe('signature_expired');
  });

  it('configured tolerance: 30s → a 60s-old request → signature_expired', () => {
    const verdict = source({ tolerance: '30s' }).verify(timestamped(CHECK_FIXTURE, String(NOW_SECONDS - 60)), NOW_MS);
    expect(verdictCode(verdict)).toBe('signature_expired');
  });

  it('missing X-StatusPulse-Timestamp → signature_missing', () => {
    expect(verdictCode(source().verify(bodyOnly(CHECK_FIXTURE), NOW_MS))).toBe('signature_missing');
  });

  it('missing X-StatusPulse-Signature → signature_missing', () => {
    const request = inbound(CHECK_FIXTURE, { 'X-StatusPulse-Timestamp': String(NOW_SECONDS) });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_missing');
  });

  it('timestamp that is not a time → signature_malformed', () => {
    expect(verdictCode(source().verify(timestamped(CHECK_FIXTURE, 'yesterday'), NOW_MS))).toBe('signature_malformed');
  });

  it('signature with a sha256= prefix → signature_malformed (StatusPulse sends bare hex)', () => {
    const timestamp = String(NOW_SECONDS);
    const request = inbound(CHECK_FIXTURE, {
      'X-StatusPulse-Signature': `sha256=${hmac('sha256', SECRET, `${timestamp}.${CHECK_FIXTURE}`)}`,
      'X-StatusPulse-Timestamp': timestamp,
    });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_malformed');
  });

  it('default refuses a body-only signature → signature_mismatch', () => {
    const request = bodyOnly(CHECK_FIXTURE, SECRET, { 'X-StatusPulse-Timestamp': String(NOW_SECONDS) });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_mismatch');
  });

  it('timestamp header changed after signing → signature_mismatch', () => {
    const request = timestamped(CHECK_FIXTURE, String(NOW_SECONDS));
    const replayed = inbound(CHECK_FIXTURE, { ...(request.headers as Record<string, string>), 'x-statuspulse-timestamp': String(NOW_SECONDS + 1) });
    expect(verdictCode(source().verify(replayed, NOW_MS))).toBe('signature_mismatch');
  });

  it('tampered body byte → signature_mismatch', () => {
    const request = timestamped(CHECK_FIXTURE, String(NOW_SECONDS));
    const tampered = inbound(CHECK_FIXTURE.replace('1420', '1421'), request.headers as Record<string, string>);
    expect(verdictCode(source().verify(tampered, NOW_MS))).toBe('signature_mismatch');
  });
});

describe('statuspulse verify (opt-in signed: body, seed 001)', () => {
  it('body-only signature with signed: body → ok, no timestamp needed', () => {
    expect(verdictCode(source({ signed: 'body' }).verify(bodyOnly(MONITOR_FIXTURE), NOW_MS))).toBe('ok');
  });

  it('signed: body refuses a timestamped signature → signature_mismatch', () => {
    const verdict = source({ signed: 'body' }).verify(timestamped(MONITOR_FIXTURE, String(NOW_SECONDS)), NOW_MS);
    expect(verdictCode(verdict)).toBe('signature_mismatch');
  });

  it('signed: body, tampered body byte → signature_mismatch', () => {
    const request = bodyOnly(MONITOR_FIXTURE);
    const tampered = inbound(MONITOR_FIXTURE.replace('1840', '1841'), request.headers as Record<string, string>);
    expect(verdictCode(source({ signed: 'body' }).verify(tampered, NOW_MS))).toBe('signature_mismatch');
  });

  it('an unknown signed mode is a config error', () => {
    expect(statuspulsePreset.schema.safeParse({ name: 's', preset: 'statuspulse', secrets: ['x'], signed: 'hmac' }).success).toBe(false);
  });
});

describe('statuspulse normalize', () => {
  it('monitor form (seed 001) → "checkout-service-redis is degraded", warning, firing', () => {
    const payload = JSON.parse(MONITOR_FIXTURE) as unknown;
    const [event, ...rest] = source().normalize(payload, inbound(MONITOR_FIXTURE));
    expect(rest).toHaveLength(0);
    expect(event).toEqual({
      external_id: 'evt_7f3a9c2b1d',
      type: 'status_change',
      severity: 'warning',
      status: 'firing',
      title: 'checkout-service-redis is degraded',
      summary: 'us-west-2 · 1,840 ms response time · 12.4% errors · affects /api/v1/cart, /api/v1/checkout',
      dedup_key: 'monitor:checkout-service-redis',
      occurred_at: '2024-05-14T09:23:11.000Z',
      data: payload,
    });
    expect(event?.data).toBe(payload);
  });

  it('check form (seed 003) → titled by endpoint, dedup by check_id', () => {
    const payload = JSON.parse(CHECK_FIXTURE) as unknown;
    const [event] = source().normalize(payload, inbound(CHECK_FIXTURE));
    expect(event).toEqual({
      external_id: 'evt_9f82b1c4d5e6',
      type: 'status_change',
      severity: 'warning',
      status: 'firing',
      title: 'https://api.example.com/v2/health is degraded',
      summary: 'operational → degraded · us-east-1 · 1,420 ms response time · error 503',
      dedup_key: 'check:chk_us_east_1_api',
      occurred_at: '2024-05-14T09:32:11.000Z',
      data: payload,
    });
  });

  it.each([
    ['down', 'critical', 'firing'],
    ['major_outage', 'critical', 'firing'],
    ['partial_outage', 'error', 'firing'],
    ['maintenance', 'info', 'firing'],
    ['operational', 'info', 'resolved'],
    ['up', 'info', 'resolved'],
    ['something_new', 'warning', 'firing'],
  ])('current_status %s → %s, %s', (currentStatus, severity, status) => {
    const payload = { ...(JSON.parse(CHECK_FIXTURE) as object), current_status: currentStatus };
    const [event] = source().normalize(payload, inbound('{}'));
    expect([event?.severity, event?.status]).toEqual([severity, status]);
  });

  it('monitor form back to operational → resolved', () => {
    const payload = { ...(JSON.parse(MONITOR_FIXTURE) as object), status: 'operational' };
    const [event] = source().normalize(payload, inbound('{}'));
    expect(event?.status).toBe('resolved');
  });

  it('latency_spike while still operational → warning, firing', () => {
    const payload = { ...(JSON.parse(CHECK_FIXTURE) as object), event_type: 'latency_spike', current_status: 'operational' };
    const [event] = source().normalize(payload, inbound('{}'));
    expect([event?.severity, event?.status, event?.title]).toEqual([
      'warning',
      'firing',
      'Latency spike on https://api.example.com/v2/health',
    ]);
  });

  it('latency_spike with status down → critical (the status says worse)', () => {
    const payload = { ...(JSON.parse(CHECK_FIXTURE) as object), event_type: 'latency_spike', current_status: 'down' };
    const [event] = source().normalize(payload, inbound('{}'));
    expect(event?.severity).toBe('critical');
  });

  it('certificate_expiry → warning', () => {
    const payload = { ...(JSON.parse(CHECK_FIXTURE) as object), event_type: 'certificate_expiry', current_status: 'operational' };
    const [event] = source().normalize(payload, inbound('{}'));
    expect(event?.severity).toBe('warning');
  });

  it('no payload timestamp → occurred_at from X-StatusPulse-Timestamp', () => {
    const payload = { event_id: 'evt_1', monitor_name: 'db', status: 'down' };
    const [event] = source().normalize(payload, inbound('{}', { 'X-StatusPulse-Timestamp': '1714000000' }));
    expect(event?.occurred_at).toBe('2024-04-24T23:06:40.000Z');
  });

  it('neither status nor current_status → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ event_id: 'evt_1', monitor_name: 'db' }, inbound('{}')))).toBe('invalid_payload');
  });

  it('no event_id → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ monitor_name: 'db', status: 'down' }, inbound('{}')))).toBe('invalid_payload');
  });
});
