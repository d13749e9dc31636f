import { describe, expect, it } from 'vitest';
import { statussentryPreset } from '../../src/sources/statussentry.ts';
import { hmac, inbound, NOW_MS, NOW_SECONDS, testDeps, thrownCode, verdictCode } from './support.ts';

// StatusSentry's "Webhooks | Event-Driven Notifications" document (seed 004): incident.created.
const FIXTURE = `{
  "id": "evt_8a7b9c0d1e2f3g4h",
  "type": "incident.created",
  "created_at": "2023-10-27T14:30:00Z",
  "data": {
    "incident_id": "inc_987654321",
    "title": "High Latency in EU-West",
    "status": "investigating",
    "severity": "major",
    "components": [
      {
        "id": "comp_api_gateway",
        "name": "API Gateway",
        "status": "degraded_performance"
      }
    ]
  }
}`;

// The example secret of seed 004.
const SECRET = 'whsec_4eC39HqLyjWDarjtT1zdp7dc';

function source(options: Record<string, unknown> = {}) {
  const config = statussentryPreset.schema.parse({ name: 'statussentry', preset: 'statussentry', secrets: [SECRET], ...options });
  return statussentryPreset.create(config, testDeps());
}

/** Seed 004, "Validate the Payload": HMAC-SHA256 of `timestamp + '.' + raw_body`. */
function v1(body: string, t: number, secret = SECRET): string {
  return hmac('sha256', secret, `${t}.${body}`);
}

function withHeader(body: string, header: string) {
  return inbound(body, { 'X-StatusSentry-Signature': header });
}

describe('statussentry verify', () => {
  it('t=<now>,v1=<valid> → ok', () => {
    const request = withHeader(FIXTURE, `t=${NOW_SECONDS},v1=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('ok');
  });

  it('several v1 signatures, one valid → ok', () => {
    const other = v1(FIXTURE, NOW_SECONDS, 'retired-secret');
    const request = withHeader(FIXTURE, `t=${NOW_SECONDS},v1=${other},v1=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('ok');
  });

  it('unknown schemes (v0=) are ignored → ok', () => {
    const request = withHeader(FIXTURE, `t=${NOW_SECONDS},v0=${'0'.repeat(40)},v1=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('ok');
  });

  it('spaces after commas are tolerated → ok', () => {
    const request = withHeader(FIXTURE, `t=${NOW_SECONDS}, v1=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('ok');
  });

  it('second secret (rotation) verifies', () => {
    const request = withHeader(FIXTURE, `t=${NOW_SECONDS},v1=${v1(FIXTURE, NOW_SECONDS, 'older')}`);
    expect(verdictCode(source({ secrets: [SECRET, 'older'] }).verify(request, NOW_MS))).toBe('ok');
  });

  it('missing X-StatusSentry-Signature → signature_missing', () => {
    expect(verdictCode(source().verify(inbound(FIXTURE), NOW_MS))).toBe('signature_missing');
  });

  it('only a v0= signature, no v1= → signature_malformed', () => {
    const request = withHeader(FIXTURE, `t=${NOW_SECONDS},v0=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_malformed');
  });

  it('no t= → signature_malformed', () => {
    const request = withHeader(FIXTURE, `v1=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_malformed');
  });

  it('t= that is not unix seconds → signature_malformed', () => {
    const request = withHeader(FIXTURE, `t=2026-04-23T18:28:00Z,v1=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_malformed');
  });

  it('v1= that is not 64 hex characters → signature_malformed', () => {
    const request = withHeader(FIXTURE, `t=${NOW_SECONDS},v1=${v1(FIXTURE, NOW_SECONDS).slice(0, 40)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_malformed');
  });

  it('a bare hex signature without t=/v1= → signature_malformed', () => {
    expect(verdictCode(source().verify(withHeader(FIXTURE, v1(FIXTURE, NOW_SECONDS)), NOW_MS))).toBe('signature_malformed');
  });

  it('stale timestamp → signature_expired', () => {
    const t = NOW_SECONDS - 600;
    expect(verdictCode(source().verify(withHeader(FIXTURE, `t=${t},v1=${v1(FIXTURE, t)}`), NOW_MS))).toBe('signature_expired');
  });

  it('future timestamp beyond tolerance → signature_expired', () => {
    const t = NOW_SECONDS + 600;
    expect(verdictCode(source().verify(withHeader(FIXTURE, `t=${t},v1=${v1(FIXTURE, t)}`), NOW_MS))).toBe('signature_expired');
  });

  it('a wider configured tolerance (15m) accepts a 10m-old request', () => {
    const t = NOW_SECONDS - 600;
    const verdict = source({ tolerance: '15m' }).verify(withHeader(FIXTURE, `t=${t},v1=${v1(FIXTURE, t)}`), NOW_MS);
    expect(verdictCode(verdict)).toBe('ok');
  });

  it('t= changed after signing → signature_mismatch', () => {
    const request = withHeader(FIXTURE, `t=${NOW_SECONDS - 1},v1=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_mismatch');
  });

  it('tampered body byte → signature_mismatch', () => {
    const request = withHeader(FIXTURE.replace('major', 'minor'), `t=${NOW_SECONDS},v1=${v1(FIXTURE, NOW_SECONDS)}`);
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('signature_mismatch');
  });
});

describe('statussentry normalize', () => {
  it('incident.created (seed 004) → error (major), firing, dedup by incident id', () => {
    const payload = JSON.parse(FIXTURE) as unknown;
    const [event, ...rest] = source().normalize(payload, inbound(FIXTURE));
    expect(rest).toHaveLength(0);
    expect(event).toEqual({
      external_id: 'evt_8a7b9c0d1e2f3g4h',
      type: 'incident.created',
      severity: 'error',
      status: 'firing',
      title: 'High Latency in EU-West',
      summary: 'major · investigating · API Gateway: degraded performance',
      dedup_key: 'incident:inc_987654321',
      occurred_at: '2023-10-27T14:30:00.000Z',
      data: payload,
    });
    expect(event?.data).toBe(payload);
  });

  it.each([
    ['critical', 'critical'],
    ['major', 'error'],
    ['minor', 'warning'],
    ['none', 'info'],
    ['maintenance', 'info'],
  ])('data.severity %s → %s', (stated, severity) => {
    const payload = JSON.parse(FIXTURE) as { data: Record<string, unknown> };
    payload.data['severity'] = stated;
    expect(source().normalize(payload, inbound('{}'))[0]?.severity).toBe(severity);
  });

  it('incident.resolved → resolved, same dedup key as the incident', () => {
    const payload = JSON.parse(FIXTURE) as Record<string, unknown>;
    payload['type'] = 'incident.resolved';
    const [event] = source().normalize(payload, inbound('{}'));
    expect([event?.status, event?.dedup_key]).toEqual(['resolved', 'incident:inc_987654321']);
  });

  it('monitor.status_change to DOWN → critical, firing, dedup by monitor', () => {
    const payload = {
      id: 'evt_m1',
      type: 'monitor.status_change',
      created_at: '2023-10-27T14:31:00Z',
      data: { monitor_id: 'mon_42', monitor_name: 'API Gateway', previous_status: 'UP', status: 'DOWN', region: 'eu-west-1', response_time_ms: 30000 },
    };
    const [event] = source().normalize(payload, inbound('{}'));
    expect(event).toMatchObject({
      severity: 'critical',
      status: 'firing',
      title: 'API Gateway is DOWN in eu-west-1',
      summary: 'UP → DOWN · 30,000 ms response time',
      dedup_key: 'monitor:mon_42',
    });
  });

  it('monitor.status_change back to UP → resolved, info', () => {
    const payload = { id: 'evt_m2', type: 'monitor.status_change', data: { monitor_id: 'mon_42', status: 'UP' } };
    const [event] = source().normalize(payload, inbound('{}'));
    expect([event?.severity, event?.status]).toEqual(['info', 'resolved']);
  });

  it('sla.breach_warning → warning', () => {
    const payload = { id: 'evt_s1', type: 'sla.breach_warning', data: { monitor_id: 'mon_42' } };
    const [event] = source().normalize(payload, inbound('{}'));
    expect([event?.severity, event?.status]).toEqual(['warning', 'firing']);
  });

  it('no created_at → occurred_at from the signed t=', () => {
    const payload = { id: 'evt_s1', type: 'sla.breach_warning', data: {} };
    const [event] = source().normalize(payload, withHeader('{}', `t=1698417000,v1=${'a'.repeat(64)}`));
    expect(event?.occurred_at).toBe('2023-10-27T14:30:00.000Z');
  });

  it('no id → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ type: 'incident.created', data: {} }, inbound('{}')))).toBe('invalid_payload');
  });

  it('data that is not an object → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ id: 'e', type: 'incident.created', data: 'x' }, inbound('{}')))).toBe('invalid_payload');
  });
});
