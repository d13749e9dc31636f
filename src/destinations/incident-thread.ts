import { createHash } from 'node:crypto';
import type { TemplateContext } from '../templates/index.ts';

/**
 * One thread per incident, for destinations that thread (Google Chat's `thread.threadKey`,
 * email's References): every message of an incident (dedup key) gets the same key; a storm
 * digest one of its own per group. Hashed, so any dedup key makes a valid key (32 hex digits).
 */
export function threadKeyOf(context: Pick<TemplateContext, 'dedup_key' | 'digest'>): string {
  const basis = context.digest ? `digest:${context.digest.label}` : `incident:${context.dedup_key}`;
  return `hookrelay-${createHash('sha256').update(basis).digest('hex').slice(0, 32)}`;
}
