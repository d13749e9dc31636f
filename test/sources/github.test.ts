import { sign, verify } from '@octokit/webhooks-methods';
import { describe, expect, it } from 'vitest';
import { githubPreset, inferGitHubEvent } from '../../src/sources/github.ts';
import { inbound, NOW_MS, testDeps, thrownCode, verdictCode } from './support.ts';

const SECRET = 'gh-webhook-secret';

function source(secrets: string[] = [SECRET]) {
  return githubPreset.create(githubPreset.schema.parse({ name: 'github', preset: 'github', secrets }), testDeps());
}

function request(body: string, signature: string | undefined, event = 'workflow_run', delivery = '72d3162e-cc78-11e3-81ab-4c9367dc0958') {
  return inbound(body, {
    ...(signature === undefined ? {} : { 'X-Hub-Signature-256': signature }),
    'X-GitHub-Event': event,
    'X-GitHub-Delivery': delivery,
  });
}

const repository = { full_name: 'octo-org/hello-world', html_url: 'https://github.com/octo-org/hello-world' };

function workflowRun(conclusion: string | null, overrides: Record<string, unknown> = {}) {
  return {
    action: conclusion === null ? 'in_progress' : 'completed',
    workflow_run: {
      id: 30433642,
      name: 'CI',
      workflow_id: 161335,
      head_branch: 'main',
      head_sha: 'acb5820ced9479c074f688cc328bf03f341a511d',
      run_number: 562,
      event: 'push',
      status: conclusion === null ? 'in_progress' : 'completed',
      conclusion,
      html_url: 'https://github.com/octo-org/hello-world/actions/runs/30433642',
      updated_at: '2026-04-23T18:27:00Z',
      head_commit: { message: 'Fix the build\n\nlonger text' },
      ...overrides,
    },
    repository,
    sender: { login: 'octocat' },
  };
}

describe('github verify', () => {
  it('GitHub\'s published test vector ("It\'s a Secret to Everybody", "Hello, World!") → ok', () => {
    const vector = source(["It's a Secret to Everybody"]);
    const signature = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(verdictCode(vector.verify(request('Hello, World!', signature), NOW_MS))).toBe('ok');
  });

  it('signed by @octokit/webhooks-methods sign() → ok', async () => {
    const body = JSON.stringify(workflowRun('failure'));
    expect(verdictCode(source().verify(request(body, await sign(SECRET, body)), NOW_MS))).toBe('ok');
  });

  it('our sign() is accepted by @octokit/webhooks-methods verify()', async () => {
    const body = JSON.stringify(workflowRun('failure'));
    const headers = source().sign(Buffer.from(body), NOW_MS).headers;
    expect(await verify(SECRET, body, headers['X-Hub-Signature-256']!)).toBe(true);
  });

  it('tampered body → signature_mismatch', async () => {
    const body = JSON.stringify(workflowRun('failure'));
    const signature = await sign(SECRET, body);
    expect(verdictCode(source().verify(request(body.replace('failure', 'success'), signature), NOW_MS))).toBe('signature_mismatch');
  });

  it('right except the last bytes → signature_mismatch', async () => {
    const body = JSON.stringify(workflowRun('failure'));
    const signature = await sign(SECRET, body);
    const last = signature.endsWith('00') ? 'ff' : '00';
    expect(verdictCode(source().verify(request(body, signature.slice(0, -2) + last), NOW_MS))).toBe('signature_mismatch');
  });

  it('a second configured secret (rotation) verifies', async () => {
    const body = '{}';
    expect(verdictCode(source([SECRET, 'older']).verify(request(body, await sign('older', body)), NOW_MS))).toBe('ok');
  });

  it('missing X-Hub-Signature-256 → signature_missing, even with the SHA-1 X-Hub-Signature', () => {
    const legacy = inbound('{}', { 'X-Hub-Signature': 'sha1=' + '0'.repeat(40), 'X-GitHub-Event': 'push' });
    expect(verdictCode(source().verify(legacy, NOW_MS))).toBe('signature_missing');
  });

  it.each([
    ['no sha256= prefix', (signature: string) => signature.slice('sha256='.length)],
    ['sha1= prefix', (signature: string) => signature.replace('sha256=', 'sha1=')],
    ['63 hex characters', (signature: string) => signature.slice(0, -1)],
  ])('%s → signature_malformed', async (_label, mangle) => {
    const signature = await sign(SECRET, '{}');
    expect(verdictCode(source().verify(request('{}', mangle(signature)), NOW_MS))).toBe('signature_malformed');
  });
});

describe('github ping', () => {
  it('ping → answered 200 pong with the hook id, nothing to normalize', async () => {
    const payload = { zen: 'Keep it logically awesome.', hook_id: 123456, hook: { type: 'Repository' } };
    const reply = await source().handshake?.(payload, request(JSON.stringify(payload), undefined, 'ping'));
    expect(reply).toEqual({ status: 200, body: { pong: true, hook_id: 123456 } });
  });

  it('any other event → not a handshake', async () => {
    expect(await source().handshake?.(workflowRun('failure'), request('{}', undefined, 'workflow_run'))).toBeNull();
  });
});

describe('github normalize', () => {
  const normalize = (payload: unknown, event: string, delivery?: string) =>
    source().normalize(payload, request(JSON.stringify(payload), undefined, event, delivery));

  it('workflow_run failure → error, firing; delivery id as external id; X-GitHub-Event as type', () => {
    const payload = workflowRun('failure');
    const [event, ...rest] = normalize(payload, 'workflow_run', 'd-1');
    expect(rest).toHaveLength(0);
    expect(event).toEqual({
      external_id: 'd-1',
      type: 'workflow_run',
      severity: 'error',
      status: 'firing',
      title: 'CI failed on main in octo-org/hello-world',
      summary: 'run #562 · on push · acb5820 · Fix the build · https://github.com/octo-org/hello-world/actions/runs/30433642',
      dedup_key: 'octo-org/hello-world:workflow:161335:main',
      occurred_at: '2026-04-23T18:27:00.000Z',
      data: payload,
    });
  });

  it('the next success of the same workflow on the same branch → resolved, same dedup key', () => {
    const [failed] = normalize(workflowRun('failure'), 'workflow_run');
    const [fixed] = normalize(workflowRun('success', { id: 30433999 }), 'workflow_run');
    expect([fixed?.status, fixed?.severity, fixed?.dedup_key]).toEqual(['resolved', 'info', failed?.dedup_key]);
  });

  it.each([
    ['timed_out', 'error', 'firing'],
    ['startup_failure', 'error', 'firing'],
    ['action_required', 'warning', 'firing'],
    ['cancelled', 'info', 'firing'],
    ['skipped', 'info', 'firing'],
    [null, 'info', 'firing'],
  ])('workflow_run conclusion %s → %s, %s', (conclusion, severity, status) => {
    const [event] = normalize(workflowRun(conclusion), 'workflow_run');
    expect([event?.severity, event?.status]).toEqual([severity, status]);
  });

  it('check_run failure → error, dedup by check name and branch', () => {
    const payload = {
      action: 'completed',
      check_run: { name: 'lint', status: 'completed', conclusion: 'failure', head_sha: 'ce587453ced02b1526dfb4cb910479d431683101', check_suite: { head_branch: 'feature-x' } },
      repository,
    };
    const [event] = normalize(payload, 'check_run');
    expect(event).toMatchObject({ severity: 'error', status: 'firing', title: 'lint failed on feature-x in octo-org/hello-world', dedup_key: 'octo-org/hello-world:check:lint:feature-x' });
  });

  it('deployment_status failure → error; success → resolved, same environment key', () => {
    const status = (state: string) => ({ deployment_status: { state, environment: 'production' }, deployment: { ref: 'main' }, repository });
    const [failed] = normalize(status('failure'), 'deployment_status');
    const [succeeded] = normalize(status('success'), 'deployment_status');
    expect([failed?.severity, failed?.status, failed?.dedup_key]).toEqual(['error', 'firing', 'octo-org/hello-world:deployment:production']);
    expect([succeeded?.status, succeeded?.dedup_key]).toEqual(['resolved', failed?.dedup_key]);
  });

  it('push → info, who pushed how many commits where', () => {
    const payload = {
      ref: 'refs/heads/main',
      after: '0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
      compare: 'https://github.com/octo-org/hello-world/compare/9049f1265b7d...0d1a26e67d8f',
      commits: [{ id: 'a' }, { id: 'b' }],
      head_commit: { message: 'Update README.md\n\nbody', timestamp: '2026-04-23T18:20:00Z' },
      pusher: { name: 'monalisa' },
      repository,
    };
    const [event] = normalize(payload, 'push');
    expect(event).toMatchObject({
      severity: 'info',
      status: 'firing',
      title: 'monalisa pushed 2 commits to main in octo-org/hello-world',
      summary: 'Update README.md · https://github.com/octo-org/hello-world/compare/9049f1265b7d...0d1a26e67d8f',
      dedup_key: 'octo-org/hello-world:push:0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c',
    });
  });

  it('pull_request closed and merged → resolved, "merged" in the title', () => {
    const payload = { action: 'closed', pull_request: { number: 42, title: 'Add retries', merged: true }, repository, sender: { login: 'octocat' } };
    const [event] = normalize(payload, 'pull_request');
    expect(event).toMatchObject({ status: 'resolved', title: 'Pull request #42 merged in octo-org/hello-world: Add retries', dedup_key: 'octo-org/hello-world:pr:42' });
  });

  it.each([
    ['dependabot_alert', 'created', { number: 7, security_advisory: { severity: 'high', summary: 'ReDoS' }, dependency: { package: { name: 'minimatch' } } }, 'error', 'firing'],
    ['dependabot_alert', 'fixed', { number: 7, security_advisory: { severity: 'high' } }, 'info', 'resolved'],
    ['code_scanning_alert', 'created', { number: 3, rule: { security_severity_level: 'critical', description: 'SQL injection' } }, 'critical', 'firing'],
    ['code_scanning_alert', 'created', { number: 4, rule: { severity: 'note' } }, 'info', 'firing'],
    ['secret_scanning_alert', 'created', { number: 1, secret_type: 'github_personal_access_token' }, 'critical', 'firing'],
    ['secret_scanning_alert', 'resolved', { number: 1, secret_type: 'github_personal_access_token' }, 'info', 'resolved'],
  ])('%s %s → %s, %s', (type, action, alert, severity, status) => {
    const [event] = normalize({ action, alert, repository }, type);
    expect([event?.severity, event?.status, event?.dedup_key]).toEqual([severity, status, `octo-org/hello-world:${type}:${alert.number}`]);
  });

  it('an event without its own wording (star) → info, keyed by delivery', () => {
    const [event] = normalize({ action: 'created', repository, sender: { login: 'octocat' } }, 'star', 'd-9');
    expect(event).toMatchObject({ severity: 'info', status: 'firing', title: 'GitHub star created in octo-org/hello-world', dedup_key: 'github:d-9' });
  });

  it('an X-GitHub-Delivery that is not a GUID (unsigned, so bounded) → invalid_payload', () => {
    expect(thrownCode(() => normalize({ repository }, 'star', 'x'.repeat(65)))).toBe('invalid_payload');
    expect(thrownCode(() => normalize({ repository }, 'star', 'evt 1'))).toBe('invalid_payload');
  });

  it('no X-GitHub-Event header → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({}, inbound('{}')))).toBe('invalid_payload');
  });

  it('a body that is not an object → invalid_payload', () => {
    expect(thrownCode(() => normalize([1, 2], 'push'))).toBe('invalid_payload');
  });
});

describe('inferGitHubEvent (hookrelay sign)', () => {
  it.each([
    [{ zen: 'z', hook_id: 1 }, 'ping'],
    [workflowRun('failure'), 'workflow_run'],
    [{ check_run: {} }, 'check_run'],
    [{ ref: 'refs/heads/main', commits: [] }, 'push'],
    [{ issue: {}, comment: {} }, 'issue_comment'],
    [{ alert: { secret_type: 'x' } }, 'secret_scanning_alert'],
    [{ alert: { security_advisory: {} } }, 'dependabot_alert'],
    [{ alert: { rule: {} } }, 'code_scanning_alert'],
  ])('%j → %s', (payload, event) => {
    expect(inferGitHubEvent(payload)).toBe(event);
  });
});
