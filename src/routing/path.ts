import { valueAtPath } from '../util/objects.ts';

/**
 * A field of an event as routes, filters, groups and mutes see it. `data` is the sender's
 * payload untouched; senders that wrap their fields in an envelope (`{"id", "type",
 * "data": {"region": …}}`: Tapemetric, StatusSentry) would make users write
 * `data.data.region`, so `data.<path>` also finds `<path>` inside that envelope when the
 * payload has no such field itself (DESIGN.md's `data.affected_sessions`, `data.region`).
 */
export function eventField(event: unknown, path: string): unknown {
  const direct = valueAtPath(event, path);
  if (direct !== undefined || !path.startsWith('data.')) return direct;
  const envelope = valueAtPath(event, 'data.data');
  return envelope !== null && typeof envelope === 'object' ? valueAtPath(envelope, path.slice('data.'.length)) : undefined;
}
