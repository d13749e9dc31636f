import { parseArgs } from 'node:util';
import type { ParseArgsOptionsConfig } from 'node:util';

/** One option of a command, as parsed (node:util parseArgs) and as shown in its usage. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly multiple?: boolean;
  /** What the value is, in the usage: `--config FILE`. */
  readonly value?: string;
  readonly description: string;
}

export type OptionSpecs = Readonly<Record<string, OptionSpec>>;

type Values<Options extends OptionSpecs> = {
  [Name in keyof Options]?: Options[Name]['type'] extends 'boolean'
    ? Options[Name]['multiple'] extends true
      ? boolean[]
      : boolean
    : Options[Name]['multiple'] extends true
      ? string[]
      : string;
};

export interface CommandArgs<Options extends OptionSpecs> {
  readonly values: Values<Options>;
  /** The positional arguments, named as in `positionals`; optional ones may be undefined. */
  readonly positionals: readonly string[];
}

/**
 * One command of the CLI. Adding a command is one entry in COMMANDS (commands.ts): its name,
 * what it does, its usage and options, and what it runs; `--help`, unknown options and missing
 * arguments are handled for every command alike.
 */
export interface Command<Options extends OptionSpecs = OptionSpecs> {
  /** `check`, or `routes test` for a command in a group. */
  readonly name: string;
  /** One line, for `hookrelay help`. */
  readonly summary: string;
  /** The synopsis after `hookrelay <name>`: `--source S --event FILE [--config FILE]`. */
  readonly synopsis: string;
  /** More lines shown by `--help` after the options (examples, where things come from). */
  readonly details?: string;
  readonly options: Options;
  /** Positional arguments in order; `required` ones missing are a usage error; a `variadic` last one takes the rest. */
  readonly positionals?: ReadonlyArray<{ readonly name: string; readonly required: boolean; readonly variadic?: boolean }>;
  /** Exit code: 0 ok, 1 failed, 2 bad usage or config (or throw UsageError / ConfigError). */
  run(args: CommandArgs<Options>): Promise<number>;
}

/** Keeps each command's option types while the table holds them all. */
export function defineCommand<const Options extends OptionSpecs>(command: Command<Options>): Command {
  return command as unknown as Command;
}

/** Bad usage: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** An operation that could not be done (server unreachable, token refused, unknown id): exit code 1. */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
}

export function required(value: string | undefined, flag: string): string {
  if (value === undefined || value === '') throw new UsageError(`${flag} is required`);
  return value;
}

const HELP: OptionSpec = { type: 'boolean', short: 'h', description: 'show this help and exit' };

/** `hookrelay check --help`: the synopsis, the summary, every option and the details. */
export function usageOf(command: Command): string {
  const options = { ...command.options, help: HELP };
  const rows = Object.entries(options).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.value ?? 'VALUE'}` : ''}`;
    return [flag, spec.description] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    `Usage: hookrelay ${command.name}${command.synopsis ? ` ${command.synopsis}` : ''}`,
    '',
    command.summary,
    '',
    'Options:',
    ...rows.map(([flag, description]) => `  ${flag.padEnd(width)}  ${description}`),
    ...(command.details ? ['', command.details] : []),
  ].join('\n');
}

export type Parsed = { readonly help: true } | { readonly help: false; readonly args: CommandArgs<OptionSpecs> };

/**
 * The command's arguments, strictly (node:util parseArgs): an unknown option, a missing value,
 * a missing or extra positional is a UsageError. `--help` / `-h` anywhere wins over everything.
 */
export function parseCommandArgs(command: Command, argv: readonly string[]): Parsed {
  const config: ParseArgsOptionsConfig = {};
  for (const [name, spec] of Object.entries({ ...command.options, help: HELP })) {
    config[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) };
  }
  // Loosely first, only to find --help: `hookrelay check --confg x --help` still answers with help.
  const loose = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: false, tokens: true });
  if (loose.tokens.some((token) => token.kind === 'option' && token.name === 'help')) return { help: true };

  let parsed;
  try {
    parsed = parseArgs({ args: [...argv], options: config, allowPositionals: true, strict: true });
  } catch (error) {
    // Node's messages name the option ("Unknown option '--confg'"); its advice about '--' does not apply here.
    throw new UsageError((error as Error).message.replace(/\. To specify a positional argument starting with a '-'.*$/s, ''));
  }
  const wanted = command.positionals ?? [];
  const missing = wanted.slice(parsed.positionals.length).find((positional) => positional.required);
  if (missing) throw new UsageError(`<${missing.name}> is required`);
  if (parsed.positionals.length > wanted.length && wanted.at(-1)?.variadic !== true) {
    throw new UsageError(`unexpected argument "${parsed.positionals[wanted.length]}"`);
  }
  return { help: false, args: { values: parsed.values as CommandArgs<OptionSpecs>['values'], positionals: parsed.positionals } };
}

/** `--config`, shared by every command that reads the config. */
export const CONFIG_OPTION: OptionSpec = {
  type: 'string',
  short: 'c',
  value: 'FILE',
  description: 'the config file (default: $HOOKRELAY_CONFIG, else ./hookrelay.yaml, else zero-config from the environment)',
};
