import { formatDuration } from '../util/format.ts';
import type { TestSendResult } from '../dispatch/test-send.ts';
import type { DeliveryRecord, Mute, StoredMute } from '../store/store.ts';
import { muteSpan } from '../mutes/mute-span.ts';
import { escapeSlackText, slackCodeSpan } from '../templates/escape.ts';
import type { Acknowledgement, StatusReport } from '../app/index.ts';

/** Text that came from people or senders is escaped even in our own replies (Slack mrkdwn). */
const esc = escapeSlackText;
const code = slackCodeSpan;

/** Slack shows this in each reader's time zone (Slack "Formatting text": dates). */
function slackDate(iso: string): string {
  return `<!date^${Math.floor(Date.parse(iso) / 1_000)}^{date_short_pretty} {time}|${iso}>`;
}

function matchers(mute: Mute): string {
  return Object.entries(mute.matchers)
    .map(([field, glob]) => code(`${field}=${glob}`))
    .join(' ');
}

export function muteCreated(mute: StoredMute): string {
  const lasts = formatDuration(Date.parse(mute.expires_at) - Date.parse(mute.created_at));
  return [
    `:mute: Muted ${matchers(mute)} for ${lasts}, until ${slackDate(mute.expires_at)}. Mute id ${code(mute.id)}.`,
    mute.reason ? `Reason: ${esc(mute.reason)}` : null,
    `Matching alerts are logged as \`muted\` (replayable) instead of sent. End it early with \`/hookrelay unmute ${mute.id}\`.`,
  ]
    .filter(Boolean)
    .join('\n');
}

export function muteEnded(mute: Mute | null, id: string): string {
  return mute ? `:bell: Unmuted ${code(mute.id)} (${matchers(mute)}).` : `There is no active mute ${code(id)}. \`/hookrelay mutes\` lists them.`;
}

export function muteList(mutes: readonly Mute[]): string {
  if (mutes.length === 0) return 'No active mutes.';
  return [
    `*${mutes.length} active mute${mutes.length === 1 ? '' : 's'}*`,
    ...mutes.map(
      (mute) => `• ${code(mute.id)} ${matchers(mute)} ${muteSpan(mute, slackDate)} by ${esc(mute.created_by)}${mute.reason ? ` — ${esc(mute.reason)}` : ''}`,
    ),
  ].join('\n');
}

export function replayed(replays: readonly DeliveryRecord[]): string {
  return [
    `:repeat: Replaying ${replays.length} deliver${replays.length === 1 ? 'y' : 'ies'}:`,
    ...replays.map((replay) => `• ${code(replay.replay_of ?? '')} → ${code(replay.id)} to *${esc(replay.destination ?? '')}*`),
  ].join('\n');
}

/** How a disabled destination comes back: by its own probe (auto_enable), or when a person enables it. */
function recovery(state: StatusReport['destinations'][number]): string {
  if (!state.auto_enable) return ' · waits to be enabled';
  return state.probe_at ? ` · probes by itself ${slackDate(state.probe_at)} and resumes when that succeeds` : ' · probes by itself and resumes when a probe succeeds';
}

export function statusReport(report: StatusReport): string {
  const lines = report.destinations.map((state) => {
    const health = !state.enabled
      ? `:no_entry: *disabled* since ${state.disabled_at ? slackDate(state.disabled_at) : '?'} — ${esc(state.disabled_reason ?? '')}${recovery(state)}`
      : state.consecutive_failures > 0
        ? `:warning: failing (${state.consecutive_failures} in a row) — ${esc(state.last_error ?? '')}`
        : ':white_check_mark: ok';
    // While disabled, a fallback takes its alerts (notify/fallback.ts).
    const fallback = !state.enabled && state.fallback !== undefined ? ` · its alerts go to *${esc(state.fallback)}* meanwhile` : '';
    return `• *${esc(state.name)}* (${state.type}): ${health}${fallback} · ${state.pending} pending`;
  });
  const disabled = report.destinations.filter((state) => !state.enabled).length;
  // Only a destination without auto_enable needs a person; the others re-enable themselves.
  const manual = report.destinations.filter((state) => !state.enabled && !state.auto_enable).map((state) => `*${esc(state.name)}*`);
  return [
    `*hookrelay status*: ${report.destinations.length} destinations${disabled ? `, ${disabled} disabled` : ''}, ${report.mutes} active mute${report.mutes === 1 ? '' : 's'}`,
    ...lines,
    manual.length
      ? `${manual.join(', ')} ha${manual.length === 1 ? 's' : 've'} \`auto_enable: false\`: re-enable with \`POST /api/v1/destinations/<name>/enable\` once fixed.`
      : null,
  ]
    .filter(Boolean)
    .join('\n');
}

export function testResult(result: TestSendResult): string {
  const { response } = result;
  const answer = response.status === null ? 'no answer' : `HTTP ${response.status}`;
  const head = result.ok
    ? `:white_check_mark: Test to *${esc(result.destination)}*: ${answer} in ${response.latency_ms ?? '?'} ms.`
    : `:x: Test to *${esc(result.destination)}* failed: ${esc(response.error ?? answer)}`;
  const body = response.body ? `\n\`\`\`${esc(response.body.slice(0, 1_500)).replace(/```/g, "'''")}\`\`\`` : '';
  const resolved = result.resolved
    ? result.resolved.ok
      ? '\nThe test incident was resolved right after, so nothing stays open.'
      : `\n:warning: The test incident could not be resolved (${esc(result.resolved.error ?? 'unknown error')}): resolve it by hand.`
    : '';
  return head + body + resolved;
}

export function acknowledged(ack: Acknowledgement, by: string): string {
  const where = ack.pagerduty.length
    ? `PagerDuty (${ack.pagerduty.map((name) => `*${esc(name)}*`).join(', ')}) is being told.`
    : 'No PagerDuty destination received this alert, so only the message records it.';
  return `:eyes: Acknowledged by ${esc(by)}: incident ${code(ack.dedup_key)}. ${where}`;
}

/** The answer to someone not in `slack_app.allow` (ephemeral: only they see it). */
export function notAllowed(what: string): string {
  return [
    `:no_entry: You may not ${what} here.`,
    "Muting, unmuting, replaying, acknowledging and test sends are limited to the people, user groups and channels in hookrelay's `slack_app.allow`: ask whoever runs hookrelay to add you.",
    '`/hookrelay mutes`, `/hookrelay status` and `/hookrelay help` are open to everyone.',
  ].join('\n');
}
