import { createHmac } from 'node:crypto';
import { sign as githubSign } from '@octokit/webhooks-methods';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';

// Grafana, GitHub and Stripe through the real server: signed by the senders' own code (or an
// independent signer following Grafana's source), POST /hooks/<name> → 202 → a loopback Slack.
const GRAFANA_SECRET = 'grafana-hmac-secret';
const GRAFANA_TOKEN = 'grafana-bearer-token';
const GITHUB_SECRET = 'github-webhook-secret';
const STRIPE_SECRET = 'whsec_stripe_endpoint_secret';
const TIMESTAMP_HEADER = 'X-Grafana-Alerting-Signature-Timestamp';

const stripe = new Stripe('sk_test_not_used_offline');

let relay: TestRelay;
let slack: FakeReceiver;

interface Delivery {
  id: string;
  event_id: string;
  status: string;
}

async function deliveryCount(): Promise<number> {
  const { json } = await relay.admin<{ deliveries: Delivery[] }>('/deliveries?limit=1000');
  return json.deliveries.length;
}

const errorCode = (json: Record<string, unknown>): string => (json.error as { code: string }).code;

beforeAll(async () => {
  slack = await FakeReceiver.start();
  relay = await startRelay(`
sources:
  - { name: grafana, preset: grafana, secrets: ["${GRAFANA_SECRET}"], timestamp_header: ${TIMESTAMP_HEADER}, token: ${GRAFANA_TOKEN} }
  - { name: github, preset: github, secrets: ["${GITHUB_SECRET}"] }
  - { name: stripe, preset: stripe, secrets: ["${STRIPE_SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/services/T/B/X')}", rate: { max: 1000, per: 1s } }
routes:
  - { to: [ops-slack] }
admin: { token: ${ADMIN_TOKEN} }
`);
});

afterAll(async () => {
  await relay.close();
  await slack.close();
});

/** Slack messages received so far whose body mentions `text`. */
async function slackMessageWith(text: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const found = slack.requests.find((request) => request.body.includes(text));
    if (found) return found.body;
    if (Date.now() > deadline) throw new Error(`no Slack message mentions ${JSON.stringify(text)}`);
    await slack.waitFor(slack.requests.length + 1, { timeoutMs: Math.max(1, deadline - Date.now()) }).catch(() => undefined);
  }
}

describe('grafana through the server', () => {
  const body = JSON.stringify({
    receiver: 'hookrelay',
    status: 'firing',
    orgId: 1,
    version: '1',
    groupKey: '{}:{alertname="Disk almost full"}',
    alerts: [
      {
        status: 'firing',
        labels: { alertname: 'Disk almost full', severity: 'critical', instance: 'db-1' },
        annotations: { summary: 'Disk on db-1 is 97% full' },
        startsAt: new Date().toISOString(),
        endsAt: '0001-01-01T00:00:00Z',
        fingerprint: 'a1b2c3d4e5f60718',
      },
    ],
  });

  /** Following grafana/alerting http/hmac.go: hex HMAC-SHA256 of "<unix seconds>:<body>". */
  function grafanaHeaders(timestamp = Math.floor(Date.now() / 1000)): Record<string, string> {
    return {
      authorization: `Bearer ${GRAFANA_TOKEN}`,
      [TIMESTAMP_HEADER]: String(timestamp),
      'X-Grafana-Alerting-Signature': createHmac('sha256', GRAFANA_SECRET).update(`${timestamp}:${body}`).digest('hex'),
    };
  }

  it('signed alert group → 202, relayed to Slack', async () => {
    const response = await relay.post('/hooks/grafana', body, grafanaHeaders());
    expect(response.status).toBe(202);
    expect(await slackMessageWith('Disk on db-1 is 97% full')).toContain('Critical');
  });

  it('a stale timestamp → 401 signature_expired, nothing stored', async () => {
    const before = await deliveryCount();
    const response = await relay.post('/hooks/grafana', body, grafanaHeaders(Math.floor(Date.now() / 1000) - 3_600));
    expect([response.status, errorCode(response.json)]).toEqual([401, 'signature_expired']);
    expect(await deliveryCount()).toBe(before);
  });

  it('right signature, no bearer token → 401 token_missing', async () => {
    const { authorization: _dropped, ...headers } = grafanaHeaders();
    const response = await relay.post('/hooks/grafana', body, headers);
    expect([response.status, errorCode(response.json)]).toEqual([401, 'token_missing']);
  });
});

describe('github through the server', () => {
  const run = {
    action: 'completed',
    workflow_run: {
      id: 987654321,
      name: 'Release',
      workflow_id: 555,
      head_branch: 'main',
      head_sha: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4',
      status: 'completed',
      conclusion: 'failure',
      updated_at: new Date().toISOString(),
    },
    repository: { full_name: 'octo-org/relay-test' },
    sender: { login: 'octocat' },
  };
  const body = JSON.stringify(run);

  it('signed by @octokit/webhooks-methods → 202, relayed; the same delivery again → 200 duplicate', async () => {
    const headers = { 'X-Hub-Signature-256': await githubSign(GITHUB_SECRET, body), 'X-GitHub-Event': 'workflow_run', 'X-GitHub-Delivery': 'b8c1e1a0-0001-11f0-8000-000000000001' };
    const first = await relay.post('/hooks/github', body, headers);
    expect(first.status).toBe(202);
    expect(await slackMessageWith('Release failed on main in octo-org/relay-test')).toBeTruthy();
    const again = await relay.post('/hooks/github', body, headers);
    expect(again).toEqual({ status: 200, json: { duplicate: true, id: first.json.id } });
  });

  it('ping → 200 pong, nothing stored or relayed', async () => {
    const before = await deliveryCount();
    const ping = JSON.stringify({ zen: 'Design for failure.', hook_id: 4242, hook: { type: 'Repository' } });
    const headers = { 'X-Hub-Signature-256': await githubSign(GITHUB_SECRET, ping), 'X-GitHub-Event': 'ping', 'X-GitHub-Delivery': 'b8c1e1a0-0001-11f0-8000-000000000002' };
    const response = await relay.post('/hooks/github', ping, headers);
    expect(response).toEqual({ status: 200, json: { pong: true, hook_id: 4242 } });
    expect(await deliveryCount()).toBe(before);
  });

  it('ping signed with the wrong secret → 401 (GitHub shows the failure when the hook is created)', async () => {
    const ping = JSON.stringify({ zen: 'Design for failure.', hook_id: 4242 });
    const headers = { 'X-Hub-Signature-256': await githubSign('not-the-secret', ping), 'X-GitHub-Event': 'ping' };
    const response = await relay.post('/hooks/github', ping, headers);
    expect([response.status, errorCode(response.json)]).toEqual([401, 'signature_mismatch']);
  });

  it('no X-GitHub-Event → 400 invalid_payload, nothing stored', async () => {
    const before = await deliveryCount();
    const response = await relay.post('/hooks/github', body, { 'X-Hub-Signature-256': await githubSign(GITHUB_SECRET, body) });
    expect([response.status, errorCode(response.json)]).toEqual([400, 'invalid_payload']);
    expect(await deliveryCount()).toBe(before);
  });
});

describe('stripe through the server', () => {
  const event = JSON.stringify({
    id: 'evt_3PIT0integration',
    object: 'event',
    created: Math.floor(Date.now() / 1000),
    livemode: false,
    type: 'charge.dispute.created',
    data: { object: { id: 'dp_1PIT0integration', object: 'dispute', amount: 4999, currency: 'eur', reason: 'fraudulent' } },
  });

  it('signed by stripe.webhooks.generateTestHeaderString → 202, relayed; Stripe\'s retry of the same event → 200 duplicate', async () => {
    const first = await relay.post('/hooks/stripe', event, { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: event, secret: STRIPE_SECRET }) });
    expect(first.status).toBe(202);
    expect(await slackMessageWith('Charge dispute created: 49.99 EUR')).toContain('Critical');
    const retry = await relay.post('/hooks/stripe', event, { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: event, secret: STRIPE_SECRET }) });
    expect(retry).toEqual({ status: 200, json: { duplicate: true, id: first.json.id } });
  });

  it('a signature 6 minutes old → 401 signature_expired', async () => {
    const timestamp = Math.floor(Date.now() / 1000) - 360;
    const response = await relay.post('/hooks/stripe', event, { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: event, secret: STRIPE_SECRET, timestamp }) });
    expect([response.status, errorCode(response.json)]).toEqual([401, 'signature_expired']);
  });
});
