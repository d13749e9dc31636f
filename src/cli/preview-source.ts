import type { LoadedConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import { silentLogger } from '../observability/logger.ts';
import { createSource, isPresetName, PRESET_NAMES, sourceConfigSchema } from '../sources/index.ts';
import type { Source } from '../sources/index.ts';
import { Agent } from 'undici';

/** Presets that take a token (URL or bearer) rather than signing secrets. */
const TOKEN_PRESETS = new Set(['tape', 'alertmanager']);

/**
 * The source a CLI command means by `--source`: a source of the loaded config by name, or
 * else a preset by name configured with just the given secret.
 */
export function previewSource(name: string, secret: string | undefined, loaded: LoadedConfig | null): Source {
  const deps = { http: new Agent(), logger: silentLogger() };
  const configured = loaded?.config.sources.find((source) => source.name === name);
  if (configured) {
    if (secret === undefined) return createSource(configured, deps);
    const withSecret = TOKEN_PRESETS.has(configured.preset) ? { ...configured, token: [secret] } : { ...configured, secrets: [secret] };
    return createSource(withSecret as typeof configured, deps);
  }
  if (!isPresetName(name)) {
    throw new ConfigError([
      `--source: "${name}" is neither a source of ${loaded?.file ?? 'the config'} nor a preset (${PRESET_NAMES.join(', ')})`,
    ]);
  }
  const value = secret ?? 'preview-secret';
  const parsed = sourceConfigSchema.safeParse(
    TOKEN_PRESETS.has(name) ? { name, preset: name, token: value } : { name, preset: name, secrets: [value] },
  );
  if (!parsed.success) {
    throw new ConfigError([
      `--source ${name}: this preset needs more settings than a secret; describe it in a config file and pass --config (${parsed.error.issues[0]?.message ?? ''})`,
    ]);
  }
  return createSource(parsed.data, deps);
}
