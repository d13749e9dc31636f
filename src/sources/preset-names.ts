/**
 * The senders' preset names, in the order hookrelay lists them, apart from the presets: the
 * CLI's help and its usage errors name the presets without loading every sender's module and
 * zod (a third of a second at each start). SOURCE_PRESETS (index.ts) holds one preset per name,
 * in this order (test/sources/registry.test.ts).
 */
export const PRESET_NAMES = [
  'tapemetric',
  'statuspulse',
  'statussentry',
  'tape',
  'standard-webhooks',
  'alertmanager',
  'hmac',
  'grafana',
  'github',
  'stripe',
  'pagerduty',
] as const;

export type PresetName = (typeof PRESET_NAMES)[number];

export const isPresetName = (name: string): name is PresetName => (PRESET_NAMES as readonly string[]).includes(name);
