import { z } from 'zod';
import type { Mute } from '../notify/facts.ts';
import { nameSchema } from '../util/schemas.ts';
import { invalidMatchers } from './matchers.ts';

/**
 * `mutes:` in the config: named, read-only mutes beside the ones made at run time (Slack, the
 * admin API and pages, `hookrelay mute`). Always on, or only inside their `during` intervals
 * (names of `time_intervals`, checked by `check`). They end when the config no longer has them.
 *
 * ```yaml
 * mutes:
 *   - name: batch-jobs
 *     matchers: { type: "batch.*" }
 *     reason: nightly batch noise
 *     during: [nights]
 * ```
 */
export const configMuteSchema = z
  .object({
    // Run-time mutes are `mut_…`: a config name never looks like one (expire and the pages tell them apart by id).
    name: nameSchema.refine((name) => !name.startsWith('mut_'), 'may not start with "mut_" (the ids of mutes made at run time)'),
    matchers: z.record(z.string(), z.string()).superRefine((matchers, ctx) => {
      const problem = invalidMatchers(matchers);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    reason: z.string().trim().min(1, 'say why (it is shown wherever the mute is listed and in the delivery log)').max(500),
    during: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();

export type ConfigMuteConfig = z.output<typeof configMuteSchema>;

/** Who a config mute's `created_by` names. */
export const CONFIG_MUTE_AUTHOR = 'config';

/** A config entry as the mutes are listed (API, pages, CLI): its name is its id; it has no end. */
export function configMute(entry: ConfigMuteConfig, loadedAt: number): Mute {
  return {
    id: entry.name,
    matchers: entry.matchers,
    reason: entry.reason,
    created_by: CONFIG_MUTE_AUTHOR,
    created_at: new Date(loadedAt).toISOString(),
    expires_at: null,
    deleted_at: null,
    from_config: true,
    ...(entry.during ? { during: entry.during } : {}),
  };
}
