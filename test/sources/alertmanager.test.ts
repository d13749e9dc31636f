import { describe, expect, it } from 'vitest';
import { alertmanagerPreset } from '../../src/sources/alertmanager.ts';
import { inbound, NOW_MS, testDeps, thrownCode, verdictCode } from './support.ts';

// An Alertmanager webhook (payload version 4, as in the Prometheus webhook_config documentation):
// one group, one alert still firing and one resolved.
const FIXTURE = `{
  "receiver": "hookrelay",
  "status": "firing",
  "alerts": [
    {
      "status": "firing",
      "labels": { "alertname": "HighErrorRate", "job": "checkout", "severity": "critical", "instance": "10.0.0.7:9090" },
      "annotations": { "summary": "Checkout 5xx above 5%", "description": "7.2% of requests failed over 5m" },
      "startsAt": "2026-04-23T18:20:00.123456789Z",
      "endsAt": "0001-01-01T00:00:00Z",
      "generatorURL": "http://prometheus:9090/graph?g0.expr=rate",
      "fingerprint": "c5f4a1b2d3e4f5a6"
    },
    {
      "status": "resolved",
      "labels": { "alertname": "DiskFilling", "job": "node", "instance": "10.0.0.9:9100" },
      "annotations": { "message": "Disk on /var back under 80%" },
      "startsAt": "2026-04-23T17:00:00Z",
      "endsAt": "2026-04-23T18:25:00Z",
      "generatorURL": "http://prometheus:9090/graph?g0.expr=disk",
      "fingerprint": "0a1b2c3d4e5f6a7b"
    }
  ],
  "groupLabels": { "job": "checkout" },
  "commonLabels": { "job": "checkout" },
  "commonAnnotations": {},
  "externalURL": "http://alertmanager:9093",
  "version": "4",
  "groupKey": "{}:{job=\\"checkout\\"}",
  "truncatedAlerts": 0
}`;

const TOKEN = 'am-bearer-token';

function source(token: string | string[] = TOKEN) {
  return alertmanagerPreset.create(alertmanagerPreset.schema.parse({ name: 'prometheus', preset: 'alertmanager', token }), testDeps());
}

function payload(): { alerts: Record<string, unknown>[] } & Record<string, unknown> {
  return JSON.parse(FIXTURE) as { alerts: Record<string, unknown>[] };
}

describe('alertmanager verify (bearer token)', () => {
  it('Authorization: Bearer <token> → ok', () => {
    expect(verdictCode(source().verify(inbound(FIXTURE, { Authorization: `Bearer ${TOKEN}` }), NOW_MS))).toBe('ok');
  });

  it('the scheme in lower case → ok', () => {
    expect(verdictCode(source().verify(inbound(FIXTURE, { Authorization: `bearer ${TOKEN}` }), NOW_MS))).toBe('ok');
  });

  it('second token (rotation) verifies', () => {
    expect(verdictCode(source(['next', TOKEN]).verify(inbound(FIXTURE, { Authorization: `Bearer ${TOKEN}` }), NOW_MS))).toBe('ok');
  });

  it('no Authorization header → token_missing', () => {
    expect(verdictCode(source().verify(inbound(FIXTURE), NOW_MS))).toBe('token_missing');
  });

  it('wrong token → token_invalid', () => {
    expect(verdictCode(source().verify(inbound(FIXTURE, { Authorization: 'Bearer am-bearer-tokem' }), NOW_MS))).toBe('token_invalid');
  });

  it('Basic instead of Bearer → token_invalid', () => {
    const basic = `Basic ${Buffer.from(`x:${TOKEN}`).toString('base64')}`;
    expect(verdictCode(source().verify(inbound(FIXTURE, { Authorization: basic }), NOW_MS))).toBe('token_invalid');
  });
});

describe('alertmanager normalize', () => {
  it('two alerts → two events, each with its own status and fingerprint', () => {
    const group = payload();
    const events = source().normalize(group, inbound(FIXTURE));
    expect(events.map((event) => [event.status, event.dedup_key])).toEqual([
      ['firing', 'c5f4a1b2d3e4f5a6'],
      ['resolved', '0a1b2c3d4e5f6a7b'],
    ]);
  });

  it('the firing alert: type, severity, title, summary, start time, the alert itself as data', () => {
    const group = payload();
    const [firing] = source().normalize(group, inbound(FIXTURE));
    expect(firing).toEqual({
      external_id: null,
      type: 'HighErrorRate',
      severity: 'critical',
      status: 'firing',
      title: 'Checkout 5xx above 5%',
      summary: '7.2% of requests failed over 5m',
      dedup_key: 'c5f4a1b2d3e4f5a6',
      occurred_at: '2026-04-23T18:20:00.123Z',
      data: group.alerts[0],
    });
    expect(firing?.data).toBe(group.alerts[0]);
  });

  it('the resolved alert: no severity label → warning, title = alertname, summary from message, endsAt', () => {
    const group = payload();
    const [, resolved] = source().normalize(group, inbound(FIXTURE));
    expect(resolved).toMatchObject({
      type: 'DiskFilling',
      severity: 'warning',
      title: 'DiskFilling',
      summary: 'Disk on /var back under 80%',
      occurred_at: '2026-04-23T18:25:00.000Z',
    });
    expect(resolved?.data).toBe(group.alerts[1]);
  });

  it.each([
    ['page', 'critical'],
    ['emergency', 'critical'],
    ['high', 'error'],
    ['warn', 'warning'],
    ['medium', 'warning'],
    ['low', 'info'],
    ['none', 'info'],
  ])('labels.severity %s → %s', (label, severity) => {
    const group = payload();
    (group.alerts[0]?.['labels'] as Record<string, string>)['severity'] = label;
    expect(source().normalize(group, inbound('{}'))[0]?.severity).toBe(severity);
  });

  it('an empty alerts list → no events', () => {
    expect(source().normalize({ ...payload(), alerts: [] }, inbound('{}'))).toEqual([]);
  });

  it('payload version "3" → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ ...payload(), version: '3' }, inbound('{}')))).toBe('invalid_payload');
  });

  it('an alert without fingerprint → invalid_payload', () => {
    const group = payload();
    delete group.alerts[1]?.['fingerprint'];
    expect(thrownCode(() => source().normalize(group, inbound('{}')))).toBe('invalid_payload');
  });

  it('an alert with an unknown status → invalid_payload', () => {
    const group = payload();
    if (group.alerts[0]) group.alerts[0]['status'] = 'pending';
    expect(thrownCode(() => source().normalize(group, inbound('{}')))).toBe('invalid_payload');
  });

  it('some other JSON (a Tapemetric event) → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ id: 'evt_1', type: 'qos.rebuffer_spike' }, inbound('{}')))).toBe('invalid_payload');
  });
});
