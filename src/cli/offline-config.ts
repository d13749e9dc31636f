import { findConfigFile, loadConfigToRead } from '../config/load.ts';
import type { ConfigReader, LoadedConfig } from '../config/load.ts';

/**
 * The config of a command that works offline (render, routes test, sample, sign), found as every
 * command finds it: `--config`, else HOOKRELAY_CONFIG, else ./hookrelay.yaml. Without any, null;
 * or with `zeroConfig`, the zero-config mode's from the environment. Unset variables in parts the
 * command does not use are notes on stderr, so previewing a template never needs the admin token.
 */
export function readConfig(explicit: string | undefined, reader: ConfigReader, options: { zeroConfig: true }): LoadedConfig;
export function readConfig(explicit: string | undefined, reader: ConfigReader): LoadedConfig | null;
export function readConfig(explicit: string | undefined, reader: ConfigReader, options: { zeroConfig?: boolean } = {}): LoadedConfig | null {
  const file = findConfigFile(explicit, process.env);
  if (file === null && options.zeroConfig !== true) return null;
  const { loaded, notes } = loadConfigToRead({ file, env: process.env, reader });
  for (const note of notes) console.error(`note: ${note}`);
  return loaded;
}
