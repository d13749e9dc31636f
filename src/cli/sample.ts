import type { LoadedConfig } from '../config/load.ts';
import { CONFIG_OPTION, defineCommand } from './command.ts';
import { ConfigError } from '../errors.ts';
import { isPresetName, PRESET_NAMES } from '../sources/preset-names.ts';
import type { PresetName } from '../sources/preset-names.ts';
import { samplePayload } from '../sources/samples.ts';
import { systemClock } from '../util/clock.ts';

export const SAMPLE_USAGE = `Usage: hookrelay sample <preset | source> [--config hookrelay.yaml]

Prints a realistic payload of that sender, with a fresh id and fresh times on every call, so a
quick-start test is never mistaken for a duplicate. The signature is not part of it: pipe the
payload through "hookrelay sign", as the sender would sign it.

Presets: ${PRESET_NAMES.join(', ')}
A source name from the config file stands for its preset.

Example:
  npx hookrelay sample tapemetric > payload.json
  npx hookrelay sign --source tapemetric --secret S --url http://localhost:3000/hooks/tapemetric < payload.json | sh`;

/** The preset `name` means: a preset's own name, else a configured source's preset. */
export function samplePreset(name: string, loaded: LoadedConfig | null): PresetName {
  if (isPresetName(name)) return name;
  const configured = loaded?.config.sources.find((source) => source.name === name);
  if (configured) return configured.preset;
  throw new ConfigError([
    `"${name}" is neither a preset (${PRESET_NAMES.join(', ')}) nor a source of ${loaded?.file ?? 'the config (none found)'}`,
  ]);
}

/**
 * `hookrelay sample <preset>`: the payload on stdout, exit 0. `--help` prints the usage and exits 0;
 * a missing or extra argument prints it to stderr and exits 2. `load` is called only when the name is
 * not a preset (a source of the user's config): a preset's sample never loads the config's modules.
 */
export async function runSample(options: {
  args: readonly string[];
  help: boolean;
  load: () => Promise<LoadedConfig | null>;
  nowMs?: number;
  out?: (text: string) => void;
  err?: (text: string) => void;
}): Promise<number> {
  const out = options.out ?? ((text: string) => process.stdout.write(text));
  const err = options.err ?? ((text: string) => process.stderr.write(text));
  if (options.help) {
    out(`${SAMPLE_USAGE}\n`);
    return 0;
  }
  const [name, ...extra] = options.args;
  if (name === undefined || name === '') {
    err(`hookrelay sample: which sender? Name a preset or a source\n\n${SAMPLE_USAGE}\n`);
    return 2;
  }
  if (extra.length > 0) {
    err(`hookrelay sample: one preset at a time (unexpected "${extra.join(' ')}")\n\n${SAMPLE_USAGE}\n`);
    return 2;
  }
  const preset = isPresetName(name) ? name : samplePreset(name, await options.load());
  out(samplePayload(preset, options.nowMs ?? systemClock.now()));
  return 0;
}

export const sampleCommand = defineCommand({
  name: 'sample',
  summary: "print a realistic payload of a sender (fresh id and times each call)",
  synopsis: '<preset | source> [--config FILE]',
  details: SAMPLE_USAGE.split('\n').slice(2).join('\n'),
  options: { config: CONFIG_OPTION },
  positionals: [{ name: 'preset', required: true }],
  async run({ values, positionals }) {
    return runSample({
      args: positionals,
      help: false,
      // Only the sources' names and presets.
      load: async () => (await import('./offline-config.ts')).readConfig(values.config, { purpose: 'print a sample', reads: ['sources'] }),
    });
  },
});
