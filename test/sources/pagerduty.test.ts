import { describe, expect, it } from 'vitest';
import { pagerdutyPreset, readPagerDutyReport } from '../../src/sources/pagerduty.ts';
import { hmac, inbound, NOW_MS, testDeps, thrownCode, verdictCode } from './support.ts';

const SECRET = 'pd-subscription-secret';

function source(secrets: string[] = [SECRET]) {
  return pagerdutyPreset.create(pagerdutyPreset.schema.parse({ name: 'pagerduty', preset: 'pagerduty', secrets }), testDeps());
}

function request(body: string, signature?: string) {
  return inbound(body, signature === undefined ? {} : { 'X-PagerDuty-Signature': signature });
}

/** `v1=<hex>` computed here, independently of the preset's sign(). */
const v1 = (secret: string, body: string): string => `v1=${hmac('sha256', secret, body)}`;

const user = (id: string, name: string) => ({ id, type: 'user_reference', summary: name, html_url: `https://acme.pagerduty.com/users/${id}` });

/** The incident object of the V3 Overview, with the incident_key an Events API v2 trigger gives it. */
function incident(overrides: Record<string, unknown> = {}) {
  return {
    id: 'PGR0VU2',
    type: 'incident',
    self: 'https://api.pagerduty.com/incidents/PGR0VU2',
    html_url: 'https://acme.pagerduty.com/incidents/PGR0VU2',
    number: 2,
    status: 'triggered',
    incident_key: 'db-primary:disk-full',
    title: 'A little bump in the road',
    service: { id: 'PF9KMXH', type: 'service_reference', summary: 'API Service' },
    assignees: [user('PTUXL6G', 'User 123')],
    priority: { id: 'PSO75BM', type: 'priority_reference', summary: 'P1' },
    urgency: 'high',
    resolve_reason: null,
    ...overrides,
  };
}

function webhook(eventType: string, data: Record<string, unknown>, agent: unknown = user('PLH1HKV', 'Dana')) {
  return {
    event: {
      id: '01BWDWL3NYY7LUFPZCC28QUCMK',
      event_type: eventType,
      resource_type: 'incident',
      occurred_at: '2026-04-23T18:27:00.000Z',
      agent,
      client: null,
      data,
    },
  };
}

describe('pagerduty verify', () => {
  // go-pagerduty's webhookv3 test vector (PagerDuty/go-pagerduty webhookv3/webhookv3_test.go): the
  // V3 Overview's incident.priority_updated body signed with its secret.
  const VECTOR_SECRET = 'lDQHScfUeXUKaQRNF+8XIiDKZ7XX3itBAYzwU0TARw8lJqRnkKl2iB1anSb0Z+IK';
  const VECTOR_BODY =
    '{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}';
  const VECTOR_SIGNATURE = 'v1=0c0b9495b893a39e70d1fea2fe11fbe0a825f88b9f67846f6cc07dd2bc5476cd';

  it('go-pagerduty\'s published vector → ok; its "mismatch" signature → signature_mismatch', () => {
    const vector = source([VECTOR_SECRET]);
    expect(verdictCode(vector.verify(request(VECTOR_BODY, VECTOR_SIGNATURE), NOW_MS))).toBe('ok');
    const mismatch = 'v1=7020c8a7ec668a9b7012bc3dd82e483394b038f4230acc6785efbf2a7d8bcaf5';
    expect(verdictCode(vector.verify(request(VECTOR_BODY, mismatch), NOW_MS))).toBe('signature_mismatch');
  });

  it('our sign() gives the published signature for the published body and secret', () => {
    const headers = source([VECTOR_SECRET]).sign(Buffer.from(VECTOR_BODY), NOW_MS).headers;
    expect(headers['X-PagerDuty-Signature']).toBe(VECTOR_SIGNATURE);
  });

  it('rotation: two v1= signatures (old secret, new secret), comma-separated → ok when either matches ours', () => {
    const body = JSON.stringify(webhook('incident.acknowledged', incident()));
    const header = `${v1('old-secret', body)},${v1(SECRET, body)}`;
    expect(verdictCode(source().verify(request(body, header), NOW_MS))).toBe('ok');
    // Spaces after the comma, and our side holding both secrets while PagerDuty already signs with the new one only.
    expect(verdictCode(source(['new-secret', SECRET]).verify(request(body, `${v1('other', body)}, ${v1(SECRET, body)}`), NOW_MS))).toBe('ok');
    expect(verdictCode(source(['new-secret', SECRET]).verify(request(body, v1('new-secret', body)), NOW_MS))).toBe('ok');
  });

  it('a version other than v1 is ignored: v2= alone → signature_malformed, v2= beside a valid v1= → ok', () => {
    const body = '{}';
    expect(verdictCode(source().verify(request(body, `v2=${'a'.repeat(64)}`), NOW_MS))).toBe('signature_malformed');
    expect(verdictCode(source().verify(request(body, `v2=${'a'.repeat(64)},${v1(SECRET, body)}`), NOW_MS))).toBe('ok');
  });

  it('tampered body → signature_mismatch', () => {
    const body = JSON.stringify(webhook('incident.acknowledged', incident()));
    expect(verdictCode(source().verify(request(body.replace('Dana', 'Mallory'), v1(SECRET, body)), NOW_MS))).toBe('signature_mismatch');
  });

  it('no header → signature_missing', () => {
    expect(verdictCode(source().verify(request('{}'), NOW_MS))).toBe('signature_missing');
  });

  it.each([
    ['no v1= prefix', 'a'.repeat(64)],
    ['63 hex characters', `v1=${'a'.repeat(63)}`],
    ['not hex', `v1=${'z'.repeat(64)}`],
    ['sha256= (GitHub\'s form)', `sha256=${'a'.repeat(64)}`],
    ['more than 8 signatures', Array.from({ length: 9 }, () => `v1=${'a'.repeat(64)}`).join(',')],
  ])('%s → signature_malformed', (_label, header) => {
    expect(verdictCode(source().verify(request('{}', header), NOW_MS))).toBe('signature_malformed');
  });
});

describe('pagerduty ping', () => {
  it('pagey.ping (Send Test Event) → answered 200 pong, not stored', async () => {
    const payload = { event: { id: 'x', event_type: 'pagey.ping', resource_type: 'pagey', occurred_at: '2026-04-23T18:27:00Z', agent: null, client: null, data: { message: 'Hello from your friend Pagey!', type: 'ping' } } };
    expect(await source().handshake?.(payload, request('{}'))).toEqual({ status: 200, body: { pong: true } });
  });

  it('an incident event → not a handshake', async () => {
    expect(await source().handshake?.(webhook('incident.triggered', incident()), request('{}'))).toBeNull();
  });
});

describe('pagerduty normalize', () => {
  const normalize = (payload: unknown) => source().normalize(payload, request(JSON.stringify(payload)));

  it('incident.acknowledged → event id, type, who and what; dedup key by PagerDuty incident id', () => {
    const payload = webhook('incident.acknowledged', incident({ status: 'acknowledged' }));
    const [event, ...rest] = normalize(payload);
    expect(rest).toHaveLength(0);
    expect(event).toEqual({
      external_id: '01BWDWL3NYY7LUFPZCC28QUCMK',
      type: 'incident.acknowledged',
      severity: 'critical',
      status: 'firing',
      title: 'Acknowledged by Dana in PagerDuty: A little bump in the road',
      summary: '#2 · API Service · high urgency · P1 · assigned to User 123 · https://acme.pagerduty.com/incidents/PGR0VU2',
      dedup_key: 'pagerduty:PGR0VU2',
      occurred_at: '2026-04-23T18:27:00.000Z',
      data: payload,
    });
  });

  it.each([
    ['incident.triggered', user('PLH1HKV', 'Dana'), 'critical', 'firing', 'Triggered in PagerDuty'],
    ['incident.unacknowledged', null, 'critical', 'firing', 'Unacknowledged in PagerDuty'],
    ['incident.resolved', user('PLH1HKV', 'Dana'), 'critical', 'resolved', 'Resolved by Dana in PagerDuty'],
    ['incident.resolved', { id: 'PSERVICE', type: 'service_reference', summary: 'API Service' }, 'critical', 'resolved', 'Resolved in PagerDuty'],
    ['incident.reassigned', user('PLH1HKV', 'Dana'), 'critical', 'firing', 'Reassigned to User 123 by Dana in PagerDuty'],
    ['incident.escalated', null, 'critical', 'firing', 'Escalated to User 123 in PagerDuty'],
    ['incident.priority_updated', user('PLH1HKV', 'Dana'), 'critical', 'firing', 'Priority updated by Dana in PagerDuty'],
  ])('%s (agent %j) → %s, %s, "%s: …"', (type, agent, severity, status, change) => {
    const [event] = normalize(webhook(type, incident(), agent));
    expect([event?.severity, event?.status, event?.title]).toEqual([severity, status, `${change}: A little bump in the road`]);
  });

  it('low urgency → warning', () => {
    expect(normalize(webhook('incident.triggered', incident({ urgency: 'low' })))[0]?.severity).toBe('warning');
  });

  it('incident.annotated (an incident_note naming the incident) → info, the note as summary, the same dedup key as the incident', () => {
    const note = { incident: { id: 'PGR0VU2', type: 'incident_reference', summary: 'A little bump in the road', html_url: 'https://acme.pagerduty.com/incidents/PGR0VU2' }, id: 'P2LA89X', content: 'Rolled back the deploy', trimmed: false, type: 'incident_note' };
    const [event] = normalize(webhook('incident.annotated', note));
    expect(event).toMatchObject({
      severity: 'info',
      status: 'firing',
      title: 'Note by Dana in PagerDuty: A little bump in the road',
      summary: 'Rolled back the deploy · https://acme.pagerduty.com/incidents/PGR0VU2',
      dedup_key: 'pagerduty:PGR0VU2',
    });
  });

  it('not a V3 webhook → invalid_payload', () => {
    expect(thrownCode(() => normalize({ messages: [{ event: 'incident.trigger' }] }))).toBe('invalid_payload');
    expect(thrownCode(() => normalize({ event: { id: 'x', event_type: 'incident.triggered' } }))).toBe('invalid_payload');
  });

  it('readPagerDutyReport: the incident key it was triggered with, the person, the assignees; null for other bodies', () => {
    expect(readPagerDutyReport(webhook('incident.acknowledged', incident()))).toEqual({
      event_type: 'incident.acknowledged',
      incident_id: 'PGR0VU2',
      incident_key: 'db-primary:disk-full',
      incident_title: 'A little bump in the road',
      person: 'Dana',
      assignees: ['User 123'],
    });
    expect(readPagerDutyReport({ alerts: [] })).toBeNull();
  });
});
