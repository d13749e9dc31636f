/**
 * `hookrelay sample <preset>`: a realistic payload for each sender, shaped after the sender's own
 * documents (seeds 000–004, Grafana's, GitHub's, Stripe's and PagerDuty's published examples), with a fresh id and
 * fresh times on every call, so trying the quick start twice is two events, never a silent duplicate.
 *
 * Only bodies: the headers (signature, GitHub's event name and delivery id) are what `hookrelay sign`
 * adds, as the sender would.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { PresetName } from './preset-names.ts';
import { systemClock } from '../util/clock.ts';

/** The clock a sample's times come from (ms), injectable for tests; ids are always random. */
export interface SampleContext {
  readonly nowMs: number;
}

const iso = (ms: number): string => new Date(ms).toISOString();
const seconds = (ms: number): number => Math.floor(ms / 1_000);
/** `len` characters of [0-9a-z], like the random part of most senders' ids. */
const token = (length: number): string => randomBytes(length).toString('base64url').replace(/[-_]/g, '0').toLowerCase().slice(0, length);
const hex = (length: number): string => randomBytes(Math.ceil(length / 2)).toString('hex').slice(0, length);

/** Tapemetric (seed 000, "Payload format"): the document's rebuffer spike, with a new id. */
function tapemetric({ nowMs }: SampleContext): unknown {
  return {
    id: `evt_${token(12)}`,
    type: 'qos.rebuffer_spike',
    created_at: iso(nowMs),
    tenant_slug: 'tapemetric',
    data: {
      severity: 'critical',
      region: 'Maharashtra',
      current_rate: 8.4,
      baseline_rate: 3.1,
      affected_sessions: 24000,
      pop: 'ap-south-1',
    },
  };
}

/** StatusPulse (seed 003, the check form): an endpoint going down. */
function statuspulse({ nowMs }: SampleContext): unknown {
  return {
    event_id: `evt_${token(16)}`,
    timestamp: iso(nowMs),
    event_type: 'status_change',
    check_id: 'chk_api_health',
    endpoint: 'https://api.example.com/health',
    previous_status: 'operational',
    current_status: 'down',
    response_time_ms: 30000,
    region: 'eu-west-1',
    error_code: 'ETIMEDOUT',
    retry_count: 3,
  };
}

/** StatusSentry (seed 004, incident.created). */
function statussentry({ nowMs }: SampleContext): unknown {
  return {
    id: `evt_${token(16)}`,
    type: 'incident.created',
    created_at: iso(nowMs),
    data: {
      incident_id: `inc_${randomInt(100_000_000, 999_999_999)}`,
      title: 'High Latency in EU-West',
      status: 'investigating',
      severity: 'major',
      components: [{ id: 'comp_api_gateway', name: 'API Gateway', status: 'degraded_performance' }],
    },
  };
}

/** Tape (seed 002): a record created. Tape sends no event id or time; the record id is new each time. */
function tape(): unknown {
  return { hook_id: 1234, record_id: randomInt(100_000, 9_999_999), type: 'record.create' };
}

/** Standard Webhooks (the spec's example shape: type, timestamp, data); the id travels in webhook-id. */
function standardWebhooks({ nowMs }: SampleContext): unknown {
  return {
    id: `msg_${token(20)}`,
    type: 'invoice.payment_failed',
    timestamp: iso(nowMs),
    data: {
      severity: 'error',
      title: 'Payment failed for invoice INV-2041',
      summary: 'Card declined (insufficient funds); retry scheduled in 3 days',
      invoice_id: `inv_${token(10)}`,
      amount: 4900,
      currency: 'EUR',
    },
  };
}

/** Alertmanager webhook, payload version 4 (prometheus.io, "webhook_config"): one firing alert. */
function alertmanager({ nowMs }: SampleContext): unknown {
  const labels = { alertname: 'HighErrorRate', job: 'api', instance: 'api-1:9090', severity: 'critical' };
  return {
    version: '4',
    groupKey: '{}:{alertname="HighErrorRate"}',
    truncatedAlerts: 0,
    status: 'firing',
    receiver: 'hookrelay',
    groupLabels: { alertname: 'HighErrorRate' },
    commonLabels: labels,
    commonAnnotations: { summary: 'API 5xx rate above 5%' },
    externalURL: 'http://alertmanager.example.com:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: 'API 5xx rate above 5%', description: '7.3% of requests to api-1 failed over the last 5 minutes' },
        startsAt: iso(nowMs - 60_000),
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.example.com:9090/graph?g0.expr=job%3Aerrors%3Arate5m+%3E+0.05',
        // A new alert each time (Alertmanager's fingerprint is a 16-hex hash of the labels).
        fingerprint: hex(16),
      },
    ],
  };
}

/** The generic `hmac` preset with its default field paths (id, type, severity, title, summary, timestamp). */
function hmac({ nowMs }: SampleContext): unknown {
  return {
    id: `evt_${token(16)}`,
    type: 'deploy.failed',
    severity: 'error',
    title: 'Deploy of api v2.14.0 failed',
    summary: 'Health check failed on 3 of 4 instances; rolled back to v2.13.2',
    timestamp: iso(nowMs),
    service: 'api',
    environment: 'production',
  };
}

/** Grafana Alerting webhook (grafana.com docs, "Webhook JSON payload"): one firing alert. */
function grafana({ nowMs }: SampleContext): unknown {
  const labels = { alertname: 'High memory usage', team: 'blue', zone: 'us-1', severity: 'warning' };
  const annotations = {
    description: 'The system has high memory usage',
    runbook_url: 'https://runbooks.example.com/memory',
    summary: 'This alert was triggered for zone us-1',
  };
  return {
    receiver: 'hookrelay',
    status: 'firing',
    orgId: 1,
    alerts: [
      {
        status: 'firing',
        labels,
        annotations,
        startsAt: iso(nowMs - 60_000),
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'https://grafana.example.com/alerting/grafana/1afz29v7z/view',
        fingerprint: hex(16),
        silenceURL: 'https://grafana.example.com/alerting/silence/new?matchers=alertname%3DHigh+memory+usage%2Cteam%3Dblue%2Czone%3Dus-1',
        dashboardURL: '',
        panelURL: '',
        values: { B: 44.23943737541908, C: 1 },
        valueString: "[ var='B' labels={zone=us-1} value=44.23943737541908 ], [ var='C' labels={zone=us-1} value=1 ]",
      },
    ],
    groupLabels: { alertname: 'High memory usage' },
    commonLabels: labels,
    commonAnnotations: annotations,
    externalURL: 'https://grafana.example.com/',
    version: '1',
    groupKey: '{}:{alertname="High memory usage"}',
    truncatedAlerts: 0,
    title: '[FIRING:1] High memory usage (blue us-1 warning)',
    state: 'alerting',
    message: '**Firing**\n\nValue: B=44.23943737541908, C=1\nLabels:\n - alertname = High memory usage\n - team = blue\n - zone = us-1\n',
  };
}

/** GitHub `workflow_run` completed with a failure (docs.github.com, "workflow_run" payload, abridged). */
function github({ nowMs }: SampleContext): unknown {
  const sha = hex(40);
  const runId = randomInt(1_000_000_000, 9_999_999_999);
  const repository = { id: 1296269, name: 'hello-world', full_name: 'octo-org/hello-world', html_url: 'https://github.com/octo-org/hello-world', private: false };
  return {
    action: 'completed',
    workflow_run: {
      id: runId,
      name: 'CI',
      workflow_id: 161335,
      head_branch: 'main',
      head_sha: sha,
      run_number: randomInt(100, 9_999),
      event: 'push',
      status: 'completed',
      conclusion: 'failure',
      html_url: `https://github.com/octo-org/hello-world/actions/runs/${runId}`,
      created_at: iso(nowMs - 180_000),
      updated_at: iso(nowMs),
      run_started_at: iso(nowMs - 180_000),
      head_commit: { id: sha, message: 'Fix flaky payment test\n\nRetries the sandbox call once.', timestamp: iso(nowMs - 240_000), author: { name: 'Mona Octocat' } },
      repository,
    },
    workflow: { id: 161335, name: 'CI', path: '.github/workflows/ci.yml' },
    repository,
    organization: { login: 'octo-org' },
    sender: { login: 'octocat', type: 'User' },
  };
}

/** Stripe `invoice.payment_failed` (docs.stripe.com, the Event and Invoice objects, abridged). */
function stripe({ nowMs }: SampleContext): unknown {
  return {
    id: `evt_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'A').slice(0, 24)}`,
    object: 'event',
    api_version: '2024-06-20',
    created: seconds(nowMs),
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: 'invoice.payment_failed',
    data: {
      object: {
        id: `in_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'B').slice(0, 24)}`,
        object: 'invoice',
        amount_due: 2000,
        amount_paid: 0,
        amount_remaining: 2000,
        attempt_count: 1,
        attempted: true,
        billing_reason: 'subscription_cycle',
        currency: 'usd',
        customer: 'cus_NffrFeUfNV2Hib',
        customer_email: 'jenny.rosen@example.com',
        hosted_invoice_url: 'https://invoice.stripe.com/i/acct_1Nv0FGQ9RKHgCVdK/test_YWNjdF8x',
        next_payment_attempt: seconds(nowMs) + 3 * 86_400,
        status: 'open',
        created: seconds(nowMs) - 3_600,
      },
    },
  };
}

/**
 * PagerDuty Webhooks V3 `incident.acknowledged` (developer.pagerduty.com "V3 Overview", the incident
 * object; `incident_key` and `created_at` as go-pagerduty's webhookv3 IncidentData has them).
 */
function pagerduty({ nowMs }: SampleContext): unknown {
  const incident = `Q${token(13).toUpperCase()}`;
  const user = (id: string, name: string) => ({
    html_url: `https://acme.pagerduty.com/users/${id}`,
    id,
    self: `https://api.pagerduty.com/users/${id}`,
    summary: name,
    type: 'user_reference',
  });
  return {
    event: {
      id: randomBytes(20).toString('base64url').replace(/[-_]/g, 'Z').toUpperCase().slice(0, 26),
      event_type: 'incident.acknowledged',
      resource_type: 'incident',
      occurred_at: iso(nowMs),
      agent: user('PLH1HKV', 'Dana Scully'),
      client: null,
      data: {
        id: incident,
        type: 'incident',
        self: `https://api.pagerduty.com/incidents/${incident}`,
        html_url: `https://acme.pagerduty.com/incidents/${incident}`,
        number: randomInt(100, 9_999),
        status: 'acknowledged',
        incident_key: hex(32),
        created_at: iso(nowMs - 300_000),
        title: 'API 5xx rate above 5%',
        service: { html_url: 'https://acme.pagerduty.com/services/PF9KMXH', id: 'PF9KMXH', self: 'https://api.pagerduty.com/services/PF9KMXH', summary: 'API Service', type: 'service_reference' },
        assignees: [user('PLH1HKV', 'Dana Scully')],
        escalation_policy: { html_url: 'https://acme.pagerduty.com/escalation_policies/PUS0KTE', id: 'PUS0KTE', self: 'https://api.pagerduty.com/escalation_policies/PUS0KTE', summary: 'Default', type: 'escalation_policy_reference' },
        teams: [{ html_url: 'https://acme.pagerduty.com/teams/PFCVPS0', id: 'PFCVPS0', self: 'https://api.pagerduty.com/teams/PFCVPS0', summary: 'Engineering', type: 'team_reference' }],
        priority: { html_url: 'https://acme.pagerduty.com/account/incident_priorities', id: 'PSO75BM', self: 'https://api.pagerduty.com/priorities/PSO75BM', summary: 'P1', type: 'priority_reference' },
        urgency: 'high',
        conference_bridge: null,
        resolve_reason: null,
      },
    },
  };
}

/** One sample per preset (test/sources/samples.test.ts checks that every preset has one). */
export const SAMPLES: Readonly<Record<PresetName, (context: SampleContext) => unknown>> = {
  tapemetric,
  statuspulse,
  statussentry,
  tape,
  'standard-webhooks': standardWebhooks,
  alertmanager,
  hmac,
  grafana,
  github,
  stripe,
  pagerduty,
};

/** A fresh sample payload of `preset`, as the bytes a sender would send (pretty-printed JSON). */
export function samplePayload(preset: PresetName, nowMs: number = systemClock.now()): string {
  const sample = SAMPLES[preset];
  if (sample === undefined) throw new Error(`no sample payload for preset "${preset}"`);
  return `${JSON.stringify(sample({ nowMs }), null, 2)}\n`;
}
