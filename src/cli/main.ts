import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.ts';
import { VERSION } from '../version.ts';
import { CommandFailed, parseCommandArgs, UsageError, usageOf } from './command.ts';
import type { Command } from './command.ts';
import { COMMANDS } from './commands.ts';

/** `hookrelay`, `hookrelay help`, `hookrelay --help`: every command with its summary. */
export function overview(commands: readonly Command[] = COMMANDS): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return `hookrelay ${VERSION}: signed webhooks in, Slack / PagerDuty / HTTP out

Usage: hookrelay <command> [options]

Commands:
${commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

"hookrelay <command> --help" shows a command's options. Exit codes: 0 ok, 1 failed, 2 bad usage or config.
Without --config, HOOKRELAY_CONFIG or ./hookrelay.yaml is used; with neither, zero-config
mode reads a chat webhook URL (SLACK_, TEAMS_, DISCORD_ or GOOGLE_CHAT_WEBHOOK_URL), PAGERDUTY_ROUTING_KEY and the senders' secrets from the environment.`;
}

/**
 * The command named by the first words of argv (`check`, `routes test`) and the arguments
 * after them; or the group's commands when argv names only a group (`routes`).
 */
function findCommand(argv: readonly string[]): { command: Command; rest: string[] } | { group: Command[]; rest: string[] } | null {
  const [first, second] = argv;
  const exact = COMMANDS.find((command) => command.name === `${first} ${second}`) ?? COMMANDS.find((command) => command.name === first);
  if (exact) return { command: exact, rest: argv.slice(exact.name.split(' ').length) };
  const group = COMMANDS.filter((command) => command.name.startsWith(`${first} `));
  return group.length > 0 ? { group, rest: argv.slice(1) } : null;
}

/** `hookrelay routes`: the commands of a group. */
function groupUsage(group: readonly Command[]): string {
  return `Usage:\n${group.map((command) => `  hookrelay ${command.name} ${command.synopsis}`).join('\n')}`;
}

/** Exit codes: 0 ok, 1 failure, 2 configuration or usage error. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first] = argv;
  if (first === undefined || first.startsWith('-')) return globalFlags(argv);
  if (first === 'help') return help(argv.slice(1));

  const found = findCommand(argv);
  if (found === null) {
    console.error(`unknown command "${first}"\n\n${overview()}`);
    return 2;
  }
  if ('group' in found) {
    const asked = found.rest.some((arg) => arg === '--help' || arg === '-h');
    const text = groupUsage(found.group);
    if (asked) {
      console.log(text);
      return 0;
    }
    console.error(`${found.rest[0] === undefined ? `"${first}" needs a command` : `unknown command "${first} ${found.rest[0]}"`}\n\n${text}`);
    return 2;
  }
  return run(found.command, found.rest);
}

async function run(command: Command, argv: readonly string[]): Promise<number> {
  try {
    const parsed = parseCommandArgs(command, argv);
    if (parsed.help) {
      console.log(usageOf(command));
      return 0;
    }
    return await command.run(parsed.args);
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) console.error(problem);
      return 2;
    }
    if (error instanceof UsageError) {
      console.error(`${error.message}\n\n${usageOf(command)}`);
      return 2;
    }
    if (error instanceof CommandFailed) {
      console.error(error.message);
      return 1;
    }
    console.error(error instanceof Error ? error.message : String(error));
    return 1;
  }
}

/** `hookrelay`, `hookrelay --help`, `hookrelay --version`, and nonsense before any command. */
function globalFlags(argv: readonly string[]): number {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${overview()}`);
    return 2;
  }
  if (values.version && !values.help) {
    console.log(VERSION);
    return 0;
  }
  console.log(overview());
  return 0;
}

/** `hookrelay help [command]`; `--help` / `-h` here asks for the same help, never for a command named so. */
function help(args: readonly string[]): number {
  const argv = args.filter((arg) => arg !== '--help' && arg !== '-h');
  if (argv.length === 0) {
    console.log(overview());
    return 0;
  }
  const found = findCommand(argv);
  if (found !== null && 'group' in found && found.rest.length === 0) {
    console.log(groupUsage(found.group));
    return 0;
  }
  if (found === null || 'group' in found || found.rest.length > 0) {
    console.error(`unknown command "${argv.join(' ')}"\n\n${overview()}`);
    return 2;
  }
  console.log(usageOf(found.command));
  return 0;
}
