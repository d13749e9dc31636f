import type { Mute } from '../notify/facts.ts';

/**
 * How long a mute lasts, as listed: `until <end>` for a run-time one, `from the config[, during nights]`
 * for a config one. Apart from config-mutes.ts (and its zod schema): `hookrelay mute list` loads only this.
 */
export function muteSpan(mute: Mute, time: (iso: string) => string): string {
  if (mute.expires_at !== null) return `until ${time(mute.expires_at)}`;
  return `from the config${mute.during ? `, during ${mute.during.join(', ')}` : ''}`;
}
