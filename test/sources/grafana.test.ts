import { describe, expect, it } from 'vitest';
import { grafanaPreset } from '../../src/sources/grafana.ts';
import { hmac, inbound, NOW_MS, NOW_SECONDS, testDeps, thrownCode, verdictCode } from './support.ts';

const SECRET = 'grafana-hmac-secret';
const TIMESTAMP_HEADER = 'X-Grafana-Alerting-Signature-Timestamp';

/** Grafana's documented example (grafana.com, "Webhook JSON payload"), one alert, trimmed. */
const PAYLOAD = {
  receiver: 'My Super Webhook',
  status: 'firing',
  orgId: 1,
  alerts: [
    {
      status: 'firing',
      labels: { alertname: 'High memory usage', team: 'blue', zone: 'us-1' },
      annotations: {
        description: 'The system has high memory usage',
        runbook_url: 'https://myrunbook.com/runbook/1234',
        summary: 'This alert was triggered for zone us-1',
      },
      startsAt: '2021-10-12T09:51:03.157076+02:00',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'https://play.grafana.org/alerting/1afz29v7z/edit',
      fingerprint: 'c6eadffa33fcdf37',
      silenceURL: 'https://play.grafana.org/alerting/silence/new?alertmanager=grafana&matchers=alertname%3DT2%2Cteam%3Dblue%2Czone%3Dus-1',
      dashboardURL: '',
      panelURL: '',
      values: { B: 44.23943737541908, C: 1 },
    },
  ],
  groupLabels: {},
  commonLabels: { alertname: 'High memory usage', team: 'blue', zone: 'us-1' },
  commonAnnotations: {},
  externalURL: 'https://play.grafana.org/',
  version: '1',
  groupKey: '{}:{alertname="High memory usage"}',
  truncatedAlerts: 0,
  title: '[FIRING:1] High memory usage (blue us-1)',
  state: 'alerting',
  message: '**Firing**',
};
const BODY = JSON.stringify(PAYLOAD);

/**
 * Known answers computed outside Node (`openssl dgst -sha256 -hmac grafana-hmac-secret`), following
 * `grafana/alerting` `http/hmac.go`: hex HMAC-SHA256 of the body, or of `<unix seconds>:<body>`.
 */
const VECTOR_BODY = '{"receiver":"hookrelay","status":"firing","alerts":[]}';
const VECTOR_BODY_ONLY = '5729a3ec327d0f30a0447346ad89973129d1849c88ccee24f5134a7e5420efbc';
const VECTOR_WITH_TIMESTAMP = '81d4b8b29581a5f5858524d861703e139ab27ad459ab99936438234c930d137e'; // t = 1776968880 = NOW

function source(options: Record<string, unknown> = { secrets: [SECRET] }) {
  return grafanaPreset.create(grafanaPreset.schema.parse({ name: 'grafana', preset: 'grafana', ...options }), testDeps());
}
const withTimestamp = () => source({ secrets: [SECRET], timestamp_header: TIMESTAMP_HEADER });

/** An independent signer following Grafana's source (hmac.go): the timestamp, ":", then the body. */
function grafanaSign(body: string, timestamp?: number, secret = SECRET): Record<string, string> {
  if (timestamp === undefined) return { 'X-Grafana-Alerting-Signature': hmac('sha256', secret, body) };
  return { 'X-Grafana-Alerting-Signature': hmac('sha256', secret, `${timestamp}:${body}`), [TIMESTAMP_HEADER]: String(timestamp) };
}

describe('grafana verify: HMAC', () => {
  it('known-answer vector, body only → ok', () => {
    const request = inbound(VECTOR_BODY, { 'X-Grafana-Alerting-Signature': VECTOR_BODY_ONLY });
    expect(verdictCode(source().verify(request, NOW_MS))).toBe('ok');
  });

  it('known-answer vector, "<timestamp>:<body>" with timestamp_header → ok', () => {
    const request = inbound(VECTOR_BODY, { 'X-Grafana-Alerting-Signature': VECTOR_WITH_TIMESTAMP, [TIMESTAMP_HEADER]: String(NOW_SECONDS) });
    expect(verdictCode(withTimestamp().verify(request, NOW_MS))).toBe('ok');
  });

  it('the documented payload signed by the independent signer → ok (upper-case hex too)', () => {
    expect(verdictCode(source().verify(inbound(BODY, grafanaSign(BODY)), NOW_MS))).toBe('ok');
    const upper = { 'X-Grafana-Alerting-Signature': grafanaSign(BODY)['X-Grafana-Alerting-Signature']!.toUpperCase() };
    expect(verdictCode(source().verify(inbound(BODY, upper), NOW_MS))).toBe('ok');
  });

  it('a "." separator (the StatusSentry habit) instead of ":" → signature_mismatch', () => {
    const headers = { 'X-Grafana-Alerting-Signature': hmac('sha256', SECRET, `${NOW_SECONDS}.${BODY}`), [TIMESTAMP_HEADER]: String(NOW_SECONDS) };
    expect(verdictCode(withTimestamp().verify(inbound(BODY, headers), NOW_MS))).toBe('signature_mismatch');
  });

  it('tampered body → signature_mismatch', () => {
    expect(verdictCode(source().verify(inbound(BODY.replace('us-1', 'us-2'), grafanaSign(BODY)), NOW_MS))).toBe('signature_mismatch');
  });

  it('right except the last bytes → signature_mismatch', () => {
    const good = grafanaSign(BODY)['X-Grafana-Alerting-Signature']!;
    const bad = good.slice(0, -2) + (good.endsWith('00') ? 'ff' : '00');
    expect(verdictCode(source().verify(inbound(BODY, { 'X-Grafana-Alerting-Signature': bad }), NOW_MS))).toBe('signature_mismatch');
  });

  it('a timestamped signature where timestamp_header is not configured → signature_mismatch', () => {
    expect(verdictCode(source().verify(inbound(BODY, grafanaSign(BODY, NOW_SECONDS)), NOW_MS))).toBe('signature_mismatch');
  });

  it('timestamp_header configured but not sent → signature_missing', () => {
    expect(verdictCode(withTimestamp().verify(inbound(BODY, grafanaSign(BODY)), NOW_MS))).toBe('signature_missing');
  });

  it('timestamp 10 minutes old → signature_expired; 10 minutes ahead → signature_expired', () => {
    const old = NOW_SECONDS - 600;
    const ahead = NOW_SECONDS + 600;
    expect(verdictCode(withTimestamp().verify(inbound(BODY, grafanaSign(BODY, old)), NOW_MS))).toBe('signature_expired');
    expect(verdictCode(withTimestamp().verify(inbound(BODY, grafanaSign(BODY, ahead)), NOW_MS))).toBe('signature_expired');
  });

  it('timestamp changed after signing → signature_mismatch', () => {
    const headers = { ...grafanaSign(BODY, NOW_SECONDS), [TIMESTAMP_HEADER]: String(NOW_SECONDS - 1) };
    expect(verdictCode(withTimestamp().verify(inbound(BODY, headers), NOW_MS))).toBe('signature_mismatch');
  });

  it('timestamp not unix seconds → signature_malformed', () => {
    const headers = { ...grafanaSign(BODY, NOW_SECONDS), [TIMESTAMP_HEADER]: '2026-04-23T18:28:00Z' };
    expect(verdictCode(withTimestamp().verify(inbound(BODY, headers), NOW_MS))).toBe('signature_malformed');
  });

  it('missing signature → signature_missing; not 64 hex → signature_malformed; "sha256=" prefix → signature_malformed', () => {
    expect(verdictCode(source().verify(inbound(BODY), NOW_MS))).toBe('signature_missing');
    expect(verdictCode(source().verify(inbound(BODY, { 'X-Grafana-Alerting-Signature': 'abc' }), NOW_MS))).toBe('signature_malformed');
    const prefixed = { 'X-Grafana-Alerting-Signature': `sha256=${grafanaSign(BODY)['X-Grafana-Alerting-Signature']}` };
    expect(verdictCode(source().verify(inbound(BODY, prefixed), NOW_MS))).toBe('signature_malformed');
  });

  it('a custom header name (the contact point\'s "Header" setting) is the one read', () => {
    const custom = source({ secrets: [SECRET], header: 'X-Alert-Sig' });
    const signature = grafanaSign(BODY)['X-Grafana-Alerting-Signature']!;
    expect(verdictCode(custom.verify(inbound(BODY, { 'X-Alert-Sig': signature }), NOW_MS))).toBe('ok');
    expect(verdictCode(custom.verify(inbound(BODY, { 'X-Grafana-Alerting-Signature': signature }), NOW_MS))).toBe('signature_missing');
  });

  it('a second secret (rotation) verifies', () => {
    expect(verdictCode(source({ secrets: [SECRET, 'old'] }).verify(inbound(BODY, grafanaSign(BODY, undefined, 'old')), NOW_MS))).toBe('ok');
  });
});

describe('grafana verify: bearer token', () => {
  const tokenOnly = () => source({ token: 'grafana-token' });

  it('Authorization: Bearer <token> → ok; wrong token → token_invalid; none → token_missing', () => {
    expect(verdictCode(tokenOnly().verify(inbound(BODY, { Authorization: 'Bearer grafana-token' }), NOW_MS))).toBe('ok');
    expect(verdictCode(tokenOnly().verify(inbound(BODY, { Authorization: 'Bearer other' }), NOW_MS))).toBe('token_invalid');
    expect(verdictCode(tokenOnly().verify(inbound(BODY), NOW_MS))).toBe('token_missing');
    expect(verdictCode(tokenOnly().verify(inbound(BODY, { Authorization: 'Basic Z3JhZmFuYTp4' }), NOW_MS))).toBe('token_invalid');
  });

  it('token and secrets both configured: both are required', () => {
    const both = source({ token: 'grafana-token', secrets: [SECRET] });
    expect(verdictCode(both.verify(inbound(BODY, { Authorization: 'Bearer grafana-token', ...grafanaSign(BODY) }), NOW_MS))).toBe('ok');
    expect(verdictCode(both.verify(inbound(BODY, grafanaSign(BODY)), NOW_MS))).toBe('token_missing');
    expect(verdictCode(both.verify(inbound(BODY, { Authorization: 'Bearer grafana-token' }), NOW_MS))).toBe('signature_missing');
  });
});

describe('grafana config', () => {
  it('neither secrets nor token → an error at secrets (an open endpoint is never the default)', () => {
    const result = grafanaPreset.schema.safeParse({ name: 'grafana', preset: 'grafana' });
    expect(result.error?.issues[0]?.path).toEqual(['secrets']);
  });

  it('timestamp_header without secrets → an error at timestamp_header', () => {
    const result = grafanaPreset.schema.safeParse({ name: 'grafana', preset: 'grafana', token: 't', timestamp_header: 'X-Ts' });
    expect(result.error?.issues[0]?.path).toEqual(['timestamp_header']);
  });
});

describe('grafana normalize', () => {
  const normalize = (payload: unknown) => source().normalize(payload, inbound('{}'));

  it('the documented example → one event per alert: warning (no severity label), firing, fingerprint as dedup key', () => {
    const payload = JSON.parse(BODY) as { alerts: unknown[] };
    const [event, ...rest] = normalize(payload);
    expect(rest).toHaveLength(0);
    expect(event).toEqual({
      external_id: null,
      type: 'High memory usage',
      severity: 'warning',
      status: 'firing',
      title: 'This alert was triggered for zone us-1',
      summary: 'The system has high memory usage',
      dedup_key: 'c6eadffa33fcdf37',
      occurred_at: '2021-10-12T07:51:03.157Z',
      data: payload.alerts[0],
    });
  });

  it('two alerts, one resolved → two events with their own status; resolved at endsAt', () => {
    const payload = structuredClone(PAYLOAD) as { alerts: Record<string, unknown>[] };
    payload.alerts.push({ ...payload.alerts[0], status: 'resolved', fingerprint: 'bc97ff14869b13e3', endsAt: '2021-10-12T10:01:03Z' });
    const events = normalize(payload);
    expect(events.map((event) => [event.status, event.dedup_key, event.occurred_at])).toEqual([
      ['firing', 'c6eadffa33fcdf37', '2021-10-12T07:51:03.157Z'],
      ['resolved', 'bc97ff14869b13e3', '2021-10-12T10:01:03.000Z'],
    ]);
  });

  it.each([
    ['critical', 'critical'],
    ['high', 'error'],
    ['warning', 'warning'],
    ['info', 'info'],
  ])('labels.severity %s → %s', (label, severity) => {
    const payload = structuredClone(PAYLOAD) as { alerts: { labels: Record<string, string> }[] };
    payload.alerts[0]!.labels['severity'] = label;
    expect(normalize(payload)[0]?.severity).toBe(severity);
  });

  it('DatasourceError without a severity label → error; no description → the query values', () => {
    const payload = structuredClone(PAYLOAD) as { alerts: Record<string, unknown>[] };
    payload.alerts[0] = { ...payload.alerts[0], labels: { alertname: 'DatasourceError' }, annotations: {} };
    const [event] = normalize(payload);
    expect([event?.severity, event?.title, event?.summary]).toEqual(['error', 'DatasourceError', 'B=44.24, C=1']);
  });

  it('values: null (a classic condition) is accepted', () => {
    const payload = structuredClone(PAYLOAD) as { alerts: Record<string, unknown>[] };
    payload.alerts[0]!['values'] = null;
    expect(normalize(payload)).toHaveLength(1);
  });

  it.each([
    ['no alerts', { status: 'firing' }],
    ['an alert without fingerprint', { status: 'firing', alerts: [{ status: 'firing', labels: {}, startsAt: '2021-10-12T09:51:03Z' }] }],
    ['an unknown alert status', { status: 'firing', alerts: [{ status: 'pending', labels: {}, startsAt: 'x', fingerprint: 'f' }] }],
    ['a list', []],
  ])('%s → invalid_payload', (_label, payload) => {
    expect(thrownCode(() => normalize(payload))).toBe('invalid_payload');
  });
});
