import { parseMuteTerms } from '../mutes/matchers.ts';

/** `/hookrelay …` as typed in Slack (DESIGN.md "Slack commands"). */
export type SlackCommand =
  | { readonly kind: 'mute'; readonly matchers: Record<string, string>; readonly duration_ms: number; readonly reason: string }
  | { readonly kind: 'unmute'; readonly id: string }
  | { readonly kind: 'mutes' }
  | { readonly kind: 'replay'; readonly id: string }
  | { readonly kind: 'ack'; readonly incident: string }
  | { readonly kind: 'status' }
  | { readonly kind: 'test'; readonly destination: string }
  | { readonly kind: 'help' }
  /** Anything else: answered with the usage and what was wrong, never an error. */
  | { readonly kind: 'usage'; readonly problem: string };

export const COMMAND_USAGE = [
  '*hookrelay commands*',
  '`mute <field=glob>... <duration> [reason]`  silence matching alerts, e.g. `mute type=qos.* data.region=Maharashtra 2h deploy`',
  '`unmute <mute-id>`  end a mute early',
  '`mutes`  active mutes: what, who, why, until when',
  '`replay <delivery-id | event-id>`  send again',
  '`ack <dedup-key | event-id>`  acknowledge an incident: PagerDuty and its Slack message',
  '`status`  destinations, pending work, failing or disabled ones',
  '`test <destination>`  send a sample alert now and show the answer',
  '`help`  this list',
  'Fields: `source`, `type`, `severity`, `status`, `dedup_key`, `title`, `data.<path>`. Durations: `30m`, `2h`, `1d`.',
].join('\n');

/** Slack sends `&`, `<`, `>` escaped in command text (Slack "Formatting text": escaping). */
function unescapeSlack(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** Splits on spaces; "double" or “smart” quotes keep spaces inside one term. */
export function tokenize(text: string): string[] {
  const tokens: string[] = [];
  let current = '';
  let quoted = false;
  let started = false;
  for (const char of text.replace(/[“”]/g, '"')) {
    if (char === '"') {
      quoted = !quoted;
      started = true;
    } else if (/\s/.test(char) && !quoted) {
      if (started) tokens.push(current);
      current = '';
      started = false;
    } else {
      current += char;
      started = true;
    }
  }
  if (started) tokens.push(current);
  return tokens;
}

export function parseCommand(text: string): SlackCommand {
  const [verb = 'help', ...rest] = tokenize(unescapeSlack(text.trim()));
  switch (verb.toLowerCase()) {
    case 'help':
      return { kind: 'help' };
    case 'mutes':
      return { kind: 'mutes' };
    case 'status':
      return { kind: 'status' };
    case 'unmute':
      return rest.length === 1 ? { kind: 'unmute', id: rest[0]! } : { kind: 'usage', problem: '`unmute` takes one mute id' };
    case 'replay':
      return rest.length === 1 ? { kind: 'replay', id: rest[0]! } : { kind: 'usage', problem: '`replay` takes one delivery or event id' };
    case 'ack':
    case 'acknowledge':
      return rest.length === 1 ? { kind: 'ack', incident: rest[0]! } : { kind: 'usage', problem: '`ack` takes one incident: its dedup key or an event id' };
    case 'test':
      return rest.length === 1 ? { kind: 'test', destination: rest[0]! } : { kind: 'usage', problem: '`test` takes one destination name' };
    case 'mute':
      return parseMute(rest);
    default:
      return { kind: 'usage', problem: `unknown command \`${verb}\`` };
  }
}

function parseMute(terms: readonly string[]): SlackCommand {
  const parsed = parseMuteTerms(terms, (text) => `\`${text}\``);
  if ('problem' in parsed) return { kind: 'usage', problem: parsed.problem };
  return { kind: 'mute', matchers: parsed.matchers, duration_ms: parsed.duration_ms, reason: parsed.rest.join(' ') };
}
