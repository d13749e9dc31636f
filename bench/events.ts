/**
 * Event bodies for every phase: a realistic Tapemetric payload, padded to a fixed size,
 * with an id that is unique for the whole run. Unique ids matter: hookrelay answers a
 * repeated sender id with 200 "duplicate" instead of committing it again, which would
 * measure the cheap path instead of the durable one.
 */
import { tapemetricPayload } from '../test/support/signers.ts';

/** Target body size: "1 KB bodies" from the issue. */
export const BODY_BYTES = 1_024;

/** A per-run tag, so ids never repeat even across several bench runs against one store. */
const RUN_TAG = Date.now().toString(36);
let counter = 0;

/** `<phase>-<run>-<n>`: unique in this process, and readable in the delivery log. */
export function nextEventId(phase: string): string {
  counter += 1;
  return `${phase}-${RUN_TAG}-${counter}`;
}

/**
 * The JSON body for one event, padded with `data.note` to exactly BODY_BYTES (ASCII, so
 * string length is byte length), in a region (incident) of its own unless `region` names one. The latency phase keeps id → send time on its side, so
 * the body needs nothing else.
 */
export function eventBody(id: string, region = `region-${id}`): string {
  // Tapemetric's dedup key is `<type>:<region>`: one region is one incident, whose events
  // hookrelay delivers one at a time, in order. By default every event is an incident of its
  // own (a new alert), as every event is new; one shared region would measure one incident's
  // sequence, which no amount of concurrency can speed up.
  const payload = tapemetricPayload({ id }, { region, note: '' });
  const unpadded = JSON.stringify(payload).length;
  (payload.data as Record<string, unknown>).note = 'x'.repeat(Math.max(0, BODY_BYTES - unpadded));
  return JSON.stringify(payload);
}
