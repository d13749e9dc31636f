import { userInfo } from 'node:os';
import { parseMuteTerms } from '../mutes/matchers.ts';
import { muteSpan } from '../mutes/mute-span.ts';
import type { Mute, StoredMute } from '../store/store.ts';
import { formatDuration } from '../util/format.ts';
import { AdminApiError, AdminClient, URL_OPTION } from './admin-client.ts';
import { defineCommand, UsageError } from './command.ts';
import { JSON_OPTION, table, utcTime } from './server-commands.ts';

/**
 * `hookrelay mute add | list | expire`: mutes on a running server through its admin API, as
 * amtool's `silence add | query | expire` are for Alertmanager. The same mutes as the admin
 * pages' and Slack's `/hookrelay mute`.
 */

/** `type=qos.* data.region=Maharashtra`, as typed and as listed. */
const matcherText = (matchers: Mute['matchers']): string =>
  Object.entries(matchers)
    .map(([field, glob]) => `${field}=${glob}`)
    .join(' ');

/** Who set a mute from here, unless --by says: the terminal's user, marked as from the CLI. */
function localUser(): string {
  try {
    return `${userInfo().username} (cli)`;
  } catch {
    return 'cli';
  }
}

export const muteAddCommand = defineCommand({
  name: 'mute add',
  summary: 'silence matching alerts for a while (on a running server)',
  synopsis: '<field=glob>... <duration> --reason R [--by NAME] [--url URL] [--json]',
  details: [
    'Every field=glob must match an event for the mute to hold it; globs take * and ?. Fields: source, type,',
    'severity, status, dedup_key, title, summary, id, data.<path>. Durations: 30m, 2h, 1d. Held deliveries are',
    'logged as muted (hookrelay deliveries shows which mute), never sent later.',
    "Example: hookrelay mute add 'type=qos.*' data.region=Maharashtra 2h --reason 'CDN maintenance'",
  ].join('\n'),
  positionals: [{ name: 'field=glob>... <duration', required: true, variadic: true }],
  options: {
    reason: { type: 'string', short: 'r', value: 'TEXT', description: 'why (required): shown wherever the mute is listed' },
    by: { type: 'string', value: 'NAME', description: "who sets it (default: this terminal's user)" },
    url: URL_OPTION,
    json: JSON_OPTION,
  },
  async run({ values, positionals }) {
    const parsed = parseMuteTerms(positionals, (text) => `"${text}"`);
    if ('problem' in parsed) throw new UsageError(parsed.problem);
    if (parsed.rest.length > 0) throw new UsageError(`unexpected argument "${parsed.rest[0]}" after the duration (the reason goes in --reason)`);
    const reason = values.reason?.trim();
    if (!reason) throw new UsageError('--reason is required: say why, for whoever finds the mute later');
    const client = new AdminClient(values.url, process.env);
    try {
      const mute = await client.post<StoredMute>('/mutes', {
        matchers: parsed.matchers,
        duration: `${parsed.duration_ms}ms`,
        reason,
        created_by: values.by ?? localUser(),
      });
      console.log(values.json ? JSON.stringify(mute, null, 2) : `${mute.id}: muted ${matcherText(mute.matchers)} until ${utcTime(mute.expires_at)} (${formatDuration(parsed.duration_ms)})`);
      return 0;
    } finally {
      await client.close();
    }
  },
});

export const muteListCommand = defineCommand({
  name: 'mute list',
  summary: "the active mutes: what, who, why, until when; the config's marked as such (on a running server)",
  synopsis: '[--all] [--url URL] [--json]',
  options: {
    all: { type: 'boolean', short: 'a', description: 'ended mutes too (expired or expired early), newest first' },
    url: URL_OPTION,
    json: JSON_OPTION,
  },
  async run({ values }) {
    const client = new AdminClient(values.url, process.env);
    try {
      const { mutes } = await client.get<{ mutes: Mute[] }>('/mutes', { all: values.all ? '1' : undefined });
      if (values.json) {
        console.log(JSON.stringify({ mutes }, null, 2));
        return 0;
      }
      if (mutes.length === 0) {
        console.log(values.all ? 'no mutes yet' : 'no active mutes');
        return 0;
      }
      const header = ['ID', 'MATCHERS', 'UNTIL', ...(values.all ? ['ENDED'] : []), 'BY', 'REASON'];
      console.log(
        table(
          header,
          mutes.map((mute) => [
            mute.id,
            matcherText(mute.matchers),
            mute.expires_at === null ? muteSpan(mute, utcTime) : utcTime(mute.expires_at),
            ...(values.all ? [mute.deleted_at === null ? '–' : utcTime(mute.deleted_at)] : []),
            mute.created_by,
            mute.reason.replace(/\s+/g, ' ').trim() || '–',
          ]),
        ),
      );
      return 0;
    } finally {
      await client.close();
    }
  },
});

export const muteExpireCommand = defineCommand({
  name: 'mute expire',
  summary: 'end mutes now (on a running server)',
  synopsis: '<mute-id>... [--url URL] [--json]',
  details: 'Exit code 1 when a mute is not active (unknown, or ended already) or is from the config (only the config ends it); the others are still ended.',
  positionals: [{ name: 'mute-id', required: true, variadic: true }],
  options: { url: URL_OPTION, json: JSON_OPTION },
  async run({ values, positionals }) {
    const client = new AdminClient(values.url, process.env);
    const ended: Mute[] = [];
    let missing = 0;
    try {
      for (const id of positionals) {
        try {
          ended.push(await client.delete<Mute>(`/mutes/${encodeURIComponent(id)}`));
        } catch (error) {
          // Unknown or ended already (404), or one of the config's, which only the config ends (409).
          if (!(error instanceof AdminApiError && (error.code === 'not_found' || error.code === 'conflict'))) throw error;
          missing += 1;
          console.error(error.message);
        }
      }
      if (values.json) console.log(JSON.stringify({ mutes: ended }, null, 2));
      else for (const mute of ended) console.log(`${mute.id}: ended (${matcherText(mute.matchers)})`);
      return missing === 0 ? 0 : 1;
    } finally {
      await client.close();
    }
  },
});
