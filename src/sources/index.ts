/**
 * The sources layer's public surface: the presets, the schema of one `sources:` entry, and the
 * factory. Adding a sender is one new preset module listed in SOURCE_PRESETS, and its name in
 * PRESET_NAMES (preset-names.ts).
 */
import { z } from 'zod';
import { alertmanagerPreset } from './alertmanager.ts';
import { githubPreset } from './github.ts';
import { grafanaPreset } from './grafana.ts';
import { hmacPreset } from './hmac.ts';
import { pagerdutyPreset } from './pagerduty.ts';
import { standardWebhooksPreset } from './standard-webhooks.ts';
import { statuspulsePreset } from './statuspulse.ts';
import { statussentryPreset } from './statussentry.ts';
import { stripePreset } from './stripe.ts';
import { tapePreset } from './tape.ts';
import { tapemetricPreset } from './tapemetric.ts';
import { isPresetName, PRESET_NAMES } from './preset-names.ts';
import type { Source, SourceDeps, SourcePreset } from './source.ts';

export type { HandshakeReply, InboundRequest, SignedRequest, Source, SourceDeps, SourcePreset, Verdict } from './source.ts';

export const SOURCE_PRESETS = [
  tapemetricPreset,
  statuspulsePreset,
  statussentryPreset,
  tapePreset,
  standardWebhooksPreset,
  alertmanagerPreset,
  hmacPreset,
  grafanaPreset,
  githubPreset,
  stripePreset,
  pagerdutyPreset,
] as const;

export { isPresetName, PRESET_NAMES };
export type { PresetName } from './preset-names.ts';

/**
 * One entry of `sources:`: a union on `preset` of every preset's strict schema, so an unknown key
 * is an error at its path and an unknown preset names the valid ones.
 */
export const sourceConfigSchema = z.discriminatedUnion(
  'preset',
  [
    tapemetricPreset.schema,
    statuspulsePreset.schema,
    statussentryPreset.schema,
    tapePreset.schema,
    standardWebhooksPreset.schema,
    alertmanagerPreset.schema,
    hmacPreset.schema,
    grafanaPreset.schema,
    githubPreset.schema,
    stripePreset.schema,
    pagerdutyPreset.schema,
  ],
  {
    error: (issue) => {
      if (issue.code !== 'invalid_union') return undefined;
      const given = (issue.input as { preset?: unknown } | undefined)?.preset;
      const valid = PRESET_NAMES.join(', ');
      return given === undefined
        ? `preset is required: one of ${valid}`
        : `unknown preset ${JSON.stringify(given)}: valid presets are ${valid}`;
    },
  },
);

export type SourceConfig = z.output<typeof sourceConfigSchema>;
export type SourceConfigInput = z.input<typeof sourceConfigSchema>;

/** A configured source from one parsed `sources:` entry. */
export function createSource(config: SourceConfig, deps: SourceDeps): Source {
  const preset = SOURCE_PRESETS.find((candidate) => candidate.preset === config.preset);
  if (preset === undefined) throw new Error(`unknown preset "${config.preset}"`);
  // The discriminated union guarantees `config` was parsed by this very preset's schema.
  return (preset as SourcePreset<z.ZodType<SourceConfig>>).create(config, deps);
}
