/**
 * GitHub webhooks (docs.github.com, "Validating webhook deliveries" and "Webhook events and
 * payloads"): `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, raw body)>`, no timestamp;
 * `X-GitHub-Delivery` (a GUID, kept on redelivery) is the event id, `X-GitHub-Event` the type.
 * The older SHA-1 `X-Hub-Signature` is not accepted: GitHub sends the SHA-256 one on every delivery.
 * GitHub signs no timestamp and not the delivery header, so there is no replay window: a captured
 * request resent as is is caught as a duplicate (same delivery id), one resent with a new id is not.
 *
 * `ping` (sent when the webhook is created) is answered `200 {"pong": true}` once its signature is
 * checked, so GitHub shows a green tick; nothing is stored or relayed.
 *
 * Severity and status by event (`type` is the X-GitHub-Event name; `data.action` says what happened):
 *
 * | event                                     | when                                          | severity | status   |
 * |-------------------------------------------|-----------------------------------------------|----------|----------|
 * | workflow_run, workflow_job, check_run, check_suite | conclusion failure, timed_out, startup_failure | error | firing |
 * |                                           | conclusion action_required                    | warning  | firing   |
 * |                                           | conclusion success                            | info     | resolved |
 * |                                           | cancelled, skipped, neutral, stale, not completed | info | firing   |
 * | deployment_status                         | state failure, error                          | error    | firing   |
 * |                                           | state success                                 | info     | resolved |
 * |                                           | other states                                  | info     | firing   |
 * | secret_scanning_alert                     | created, reopened                             | critical | firing   |
 * |                                           | resolved                                      | info     | resolved |
 * | dependabot_alert, code_scanning_alert     | by the advisory's / rule's severity: critical → critical, high, error → error, medium, moderate, warning → warning, low, note → info | | firing |
 * |                                           | fixed, dismissed, auto_dismissed, closed_by_user, resolved | info | resolved |
 * | pull_request, issues                      | closed                                        | info     | resolved |
 * | push, release, anything else              |                                               | info     | firing   |
 *
 * Dedup keys make a success close the failure it follows: `<repo>:workflow:<workflow id>:<branch>`,
 * `<repo>:check:<name>:<branch>`, `<repo>:deployment:<environment>`, `<repo>:<kind>:<alert number>`,
 * `<repo>:pr:<number>`, `<repo>:issue:<number>`; other events `github:<delivery id>`.
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { HookrelayError } from '../errors.ts';
import type { EventStatus, IncomingEvent, Severity } from '../events/event.ts';
import { nameSchema, secretListSchema } from '../util/schemas.ts';
import type { HeaderSignatureScheme } from './signature.ts';
import { firstOf, readHeader, signHeaderSignature, verifyHeaderSignature } from './signature.ts';
import { lookupSeverity, occurredAt, parsePayload, scalarText, spaced } from './fields.ts';
import { isRecord, lookupTable } from '../util/objects.ts';
import type { HandshakeReply, InboundRequest, Source, SourcePreset } from './source.ts';

const EVENT_HEADER = 'X-GitHub-Event';
const DELIVERY_HEADER = 'X-GitHub-Delivery';
const DELIVERY_ID = /^[A-Za-z0-9-]{1,64}$/;

/** docs.github.com "Validating webhook deliveries": sha256= and the hex digest of the raw body. */
const SCHEME: HeaderSignatureScheme = {
  header: 'X-Hub-Signature-256',
  prefix: 'sha256=',
  encoding: 'hex',
  algorithm: 'sha256',
  mismatchHint: 'use the webhook\'s Secret from the repository or organization settings',
};

export const githubSchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('github'),
  secrets: secretListSchema,
});
export type GitHubConfig = z.output<typeof githubSchema>;

/** A run's, job's or check's conclusion (GitHub REST "conclusion" values). */
export const GITHUB_CONCLUSION: Readonly<Record<string, { severity: Severity; status: EventStatus }>> = lookupTable({
  failure: { severity: 'error', status: 'firing' },
  timed_out: { severity: 'error', status: 'firing' },
  startup_failure: { severity: 'error', status: 'firing' },
  action_required: { severity: 'warning', status: 'firing' },
  success: { severity: 'info', status: 'resolved' },
  cancelled: { severity: 'info', status: 'firing' },
  skipped: { severity: 'info', status: 'firing' },
  neutral: { severity: 'info', status: 'firing' },
  stale: { severity: 'info', status: 'firing' },
});

/** Dependabot advisories (low … critical) and code scanning rules (security level or note … error). */
export const GITHUB_ALERT_SEVERITY: Readonly<Record<string, Severity>> = lookupTable({
  critical: 'critical',
  high: 'error', error: 'error',
  medium: 'warning', moderate: 'warning', warning: 'warning',
  low: 'info', note: 'info',
});

/** Conclusions and states as they read in a title: "CI failed on main". */
const OUTCOME_WORDS: Readonly<Record<string, string>> = lookupTable({
  failure: 'failed',
  success: 'succeeded',
  timed_out: 'timed out',
  startup_failure: 'failed to start',
  action_required: 'needs action',
  cancelled: 'was cancelled',
  skipped: 'was skipped',
  neutral: 'finished (neutral)',
  stale: 'is stale',
  error: 'errored',
  queued: 'is queued',
  requested: 'was requested',
  in_progress: 'is in progress',
  waiting: 'is waiting',
  pending: 'is pending',
  completed: 'completed',
});

const SECURITY_ALERT_CLOSED = new Set(['fixed', 'dismissed', 'auto_dismissed', 'closed_by_user', 'resolved']);

const named = z.looseObject({ login: z.string().optional(), name: z.string().optional() });
const payloadSchema = z.looseObject({
  action: z.string().optional(),
  repository: z.looseObject({ full_name: z.string().optional(), html_url: z.string().optional() }).optional(),
  organization: z.looseObject({ login: z.string().optional() }).optional(),
  sender: named.optional(),
});
type GitHubPayload = z.output<typeof payloadSchema> & Record<string, unknown>;

interface Classified {
  severity: Severity;
  status: EventStatus;
  title: string;
  summary: string;
  dedup_key: string;
  time?: unknown;
}

/** A nested value as text: `text(payload, 'workflow_run', 'name')`. */
function text(value: unknown, ...path: string[]): string | undefined {
  let current = value;
  for (const key of path) {
    if (!isRecord(current)) return undefined;
    current = current[key];
  }
  return scalarText(current);
}

function firstLine(message: string | undefined): string {
  return (message ?? '').split('\n')[0]!.trim();
}

/** workflow_run, workflow_job, check_run, check_suite: one shape, the object under the event's name. */
function classifyRun(event: string, payload: GitHubPayload, repo: string): Classified {
  const run = isRecord(payload[event]) ? payload[event] : {};
  const conclusion = text(run, 'conclusion');
  const state = text(run, 'status') ?? payload.action ?? 'updated';
  const outcome = conclusion === undefined ? undefined : GITHUB_CONCLUSION[conclusion];
  const name =
    text(run, 'name') ?? text(run, 'workflow_name') ?? text(run, 'app', 'name') ?? text(run, 'check_suite', 'app', 'name') ?? spaced(event);
  const branch = text(run, 'head_branch') ?? text(run, 'check_suite', 'head_branch') ?? text(run, 'head_sha')?.slice(0, 7) ?? 'unknown';
  const identity =
    event === 'workflow_run'
      ? `workflow:${text(run, 'workflow_id') ?? name}`
      : event === 'workflow_job'
        ? `job:${text(run, 'workflow_name') ?? ''}/${name}`
        : `check:${name}`;
  const said = conclusion ?? state;
  const described = OUTCOME_WORDS[said] ?? spaced(said);
  const parts = [
    text(run, 'run_number') === undefined ? undefined : `run #${text(run, 'run_number')}`,
    text(run, 'event') === undefined ? undefined : `on ${text(run, 'event')}`,
    text(run, 'head_sha')?.slice(0, 7),
    firstLine(text(run, 'head_commit', 'message')) || undefined,
    text(run, 'html_url') ?? text(run, 'details_url'),
  ];
  return {
    severity: outcome?.severity ?? 'info',
    status: outcome?.status ?? 'firing',
    title: `${name} ${described} on ${branch} in ${repo}`,
    summary: parts.filter((part) => part !== undefined && part !== '').join(' · '),
    dedup_key: `${repo}:${identity}:${branch}`,
    time: text(run, 'updated_at') ?? text(run, 'completed_at') ?? text(run, 'started_at'),
  };
}

function classifySecurityAlert(event: string, payload: GitHubPayload, repo: string): Classified {
  const alert = isRecord(payload['alert']) ? payload['alert'] : {};
  const action = payload.action ?? 'created';
  const closed = SECURITY_ALERT_CLOSED.has(action);
  const number = text(alert, 'number') ?? '?';
  let severity: Severity;
  let what: string;
  if (event === 'secret_scanning_alert') {
    // A leaked credential is usable by anyone who saw it until it is revoked.
    severity = 'critical';
    what = `secret ${text(alert, 'secret_type_display_name') ?? text(alert, 'secret_type') ?? ''}`.trim();
  } else if (event === 'dependabot_alert') {
    severity =
      lookupSeverity(GITHUB_ALERT_SEVERITY, text(alert, 'security_advisory', 'severity') ?? text(alert, 'security_vulnerability', 'severity')) ??
      'warning';
    what = `${text(alert, 'dependency', 'package', 'name') ?? 'dependency'}: ${text(alert, 'security_advisory', 'summary') ?? 'vulnerability'}`;
  } else {
    severity =
      lookupSeverity(GITHUB_ALERT_SEVERITY, text(alert, 'rule', 'security_severity_level') ?? text(alert, 'rule', 'severity')) ?? 'warning';
    what = text(alert, 'rule', 'description') ?? text(alert, 'rule', 'id') ?? 'code scanning alert';
  }
  return {
    severity: closed ? 'info' : severity,
    status: closed ? 'resolved' : 'firing',
    title: `${spaced(event.replace(/_alert$/, ''))} alert #${number} ${spaced(action)} in ${repo}: ${what}`,
    summary: text(alert, 'html_url') ?? '',
    dedup_key: `${repo}:${event}:${number}`,
    time: text(alert, 'updated_at') ?? text(alert, 'created_at'),
  };
}

function classify(event: string, payload: GitHubPayload, delivery: string | undefined): Classified {
  const repo = payload.repository?.full_name ?? payload.organization?.login ?? 'github';
  const actor = payload.sender?.login ?? 'someone';
  const action = payload.action;
  switch (event) {
    case 'workflow_run':
    case 'workflow_job':
    case 'check_run':
    case 'check_suite':
      return classifyRun(event, payload, repo);
    case 'secret_scanning_alert':
    case 'dependabot_alert':
    case 'code_scanning_alert':
      return classifySecurityAlert(event, payload, repo);
    case 'deployment_status': {
      const state = text(payload, 'deployment_status', 'state') ?? 'unknown';
      const environment = text(payload, 'deployment_status', 'environment') ?? text(payload, 'deployment', 'environment') ?? 'default';
      const failed = state === 'failure' || state === 'error';
      return {
        severity: failed ? 'error' : 'info',
        status: state === 'success' ? 'resolved' : 'firing',
        title: `Deployment to ${environment} ${OUTCOME_WORDS[state] ?? spaced(state)} in ${repo}`,
        summary: [text(payload, 'deployment_status', 'description'), text(payload, 'deployment', 'ref'), text(payload, 'deployment_status', 'target_url')]
          .filter((part) => part !== undefined && part !== '')
          .join(' · '),
        dedup_key: `${repo}:deployment:${environment}`,
        time: text(payload, 'deployment_status', 'updated_at') ?? text(payload, 'deployment_status', 'created_at'),
      };
    }
    case 'push': {
      const branch = (text(payload, 'ref') ?? '').replace(/^refs\/(heads|tags)\//, '');
      const commits = Array.isArray(payload['commits']) ? payload['commits'].length : 0;
      const pusher = text(payload, 'pusher', 'name') ?? actor;
      return {
        severity: 'info',
        status: 'firing',
        title: `${pusher} pushed ${commits} commit${commits === 1 ? '' : 's'} to ${branch} in ${repo}`,
        summary: [firstLine(text(payload, 'head_commit', 'message')), text(payload, 'compare')].filter((part) => part).join(' · '),
        dedup_key: `${repo}:push:${text(payload, 'after') ?? delivery ?? branch}`,
        time: text(payload, 'head_commit', 'timestamp'),
      };
    }
    case 'pull_request':
    case 'issues': {
      const item = isRecord(payload[event === 'issues' ? 'issue' : 'pull_request']) ? payload[event === 'issues' ? 'issue' : 'pull_request'] : {};
      const number = text(item, 'number') ?? '?';
      const merged = event === 'pull_request' && action === 'closed' && (item as Record<string, unknown>)['merged'] === true;
      const noun = event === 'issues' ? 'Issue' : 'Pull request';
      return {
        severity: 'info',
        status: action === 'closed' ? 'resolved' : 'firing',
        title: `${noun} #${number} ${merged ? 'merged' : spaced(action ?? 'updated')} in ${repo}: ${text(item, 'title') ?? ''}`.trim(),
        summary: [`by ${actor}`, text(item, 'html_url')].filter((part) => part).join(' · '),
        dedup_key: `${repo}:${event === 'issues' ? 'issue' : 'pr'}:${number}`,
        time: text(item, 'updated_at'),
      };
    }
    case 'release':
      return {
        severity: 'info',
        status: 'firing',
        title: `Release ${text(payload, 'release', 'name') ?? text(payload, 'release', 'tag_name') ?? ''} ${spaced(action ?? 'published')} in ${repo}`.replace(/\s+/g, ' '),
        summary: text(payload, 'release', 'html_url') ?? '',
        dedup_key: `${repo}:release:${text(payload, 'release', 'id') ?? delivery ?? ''}`,
        time: text(payload, 'release', 'published_at') ?? text(payload, 'release', 'created_at'),
      };
    default:
      return {
        severity: 'info',
        status: 'firing',
        title: `GitHub ${spaced(event)}${action === undefined ? '' : ` ${spaced(action)}`} in ${repo}`,
        summary: `by ${actor}`,
        dedup_key: `github:${delivery ?? event}`,
      };
  }
}

function normalizeGitHub(payload: unknown, request: InboundRequest): IncomingEvent[] {
  const event = readHeader(request, EVENT_HEADER);
  if (event === undefined) {
    throw new HookrelayError('invalid_payload', `the ${EVENT_HEADER} header is required (GitHub names the event type there)`);
  }
  const parsed = parsePayload('GitHub', payloadSchema, payload) as GitHubPayload;
  const delivery = readHeader(request, DELIVERY_HEADER);
  // The delivery id is not covered by the signature: only GitHub's shape (a GUID) is kept as the event id.
  if (delivery !== undefined && !DELIVERY_ID.test(delivery)) {
    throw new HookrelayError('invalid_payload', `${DELIVERY_HEADER} must be GitHub's delivery GUID (letters, digits and "-", at most 64)`);
  }
  const { time, ...classified } = classify(event, parsed, delivery);
  return [{ external_id: delivery ?? null, type: event, ...classified, occurred_at: occurredAt(time), data: payload }];
}

/** `ping` after the signature was checked: answered, never stored (docs.github.com, "ping" event). */
async function answerPing(payload: unknown, request: InboundRequest): Promise<HandshakeReply | null> {
  if (readHeader(request, EVENT_HEADER) !== 'ping') return null;
  const hookId = isRecord(payload) ? payload['hook_id'] : undefined;
  return { status: 200, body: { pong: true, ...(hookId === undefined ? {} : { hook_id: hookId }) } };
}

/**
 * The X-GitHub-Event a body belongs to, for `hookrelay sign` (GitHub sends it as a header, so a saved
 * body alone does not say): each event's payload carries its object under the event's name.
 */
export function inferGitHubEvent(payload: unknown): string {
  if (!isRecord(payload)) return 'ping';
  if ('zen' in payload && 'hook_id' in payload) return 'ping';
  const keyed = [
    'workflow_run', 'workflow_job', 'check_run', 'check_suite', 'deployment_status', 'pull_request', 'issue', 'release',
  ] as const;
  for (const key of keyed) {
    if (key in payload) {
      if (key === 'issue') return 'comment' in payload ? 'issue_comment' : 'issues';
      return key;
    }
  }
  if (isRecord(payload['alert'])) {
    const alert = payload['alert'];
    if ('secret_type' in alert) return 'secret_scanning_alert';
    if ('security_advisory' in alert || 'dependency' in alert) return 'dependabot_alert';
    return 'code_scanning_alert';
  }
  if ('ref' in payload && ('commits' in payload || 'after' in payload)) return 'push';
  return 'ping';
}

export const githubPreset: SourcePreset<typeof githubSchema> = {
  preset: 'github',
  schema: githubSchema,
  create(config: GitHubConfig): Source {
    return {
      name: config.name,
      preset: 'github',
      verify: (request, nowMs) => verifyHeaderSignature(SCHEME, config.secrets, request, nowMs),
      normalize: normalizeGitHub,
      handshake: answerPing,
      sign(rawBody, nowMs) {
        let payload: unknown = null;
        try {
          payload = JSON.parse(rawBody.toString('utf8'));
        } catch {
          // Not JSON: signed all the same, so the server's answer (400) can be tried.
        }
        return {
          headers: {
            'Content-Type': 'application/json',
            ...signHeaderSignature(SCHEME, firstOf(config.secrets, 'secret'), rawBody, nowMs),
            [EVENT_HEADER]: inferGitHubEvent(payload),
            [DELIVERY_HEADER]: randomUUID(),
          },
        };
      },
    };
  },
};
