import type { Destination } from '../destinations/destination.ts';
import type { RelayEvent } from '../events/event.ts';
import { SAMPLE_EVENT } from '../templates/sample-event.ts';
import { newId } from '../util/ids.ts';

export interface TestSendResult {
  readonly destination: string;
  readonly ok: boolean;
  readonly request_body: string | null;
  /** Destinations holding incident state get the sample resolved right after, so nothing stays open. */
  readonly resolved?: { readonly ok: boolean; readonly error: string | null };
  readonly response: {
    readonly status: number | null;
    readonly body: string | null;
    readonly latency_ms: number | null;
    readonly error: string | null;
  };
}

/**
 * A dry run (`test <destination>` in Slack, `POST /api/v1/destinations/:name/test`): render a
 * sample event with the destination's template and send it now, outside the queue and the
 * delivery log, and say what came back. Its dedup key is unique, so it never touches a real
 * incident; at a destination holding incident state (PagerDuty), the sample is resolved at once
 * so the test pages nobody for long and leaves no open incident.
 */
export async function testSend(destination: Destination, version: string, nowMs: number): Promise<TestSendResult> {
  const now = new Date(nowMs).toISOString();
  const event: RelayEvent = {
    ...SAMPLE_EVENT,
    id: newId('evt'),
    title: `Test from hookrelay: ${SAMPLE_EVENT.title}`,
    dedup_key: `hookrelay-test:${newId('evt').slice(4)}`,
    occurred_at: now,
    received_at: now,
  };
  const deliveryId = newId('dlv');
  let body: string;
  try {
    body = await destination.render({ ...event, events: [event], hookrelay: { version, destination: destination.name, delivery_id: deliveryId } });
  } catch (error) {
    return {
      destination: destination.name,
      ok: false,
      request_body: null,
      response: { status: null, body: null, latency_ms: null, error: `template ${destination.template}: ${(error as Error).message}` },
    };
  }
  const result = await destination.send({ delivery_id: deliveryId, attempt: 1, body, event });
  let resolved: TestSendResult['resolved'];
  if (result.kind === 'success' && destination.stateful) {
    const closing: RelayEvent = { ...event, id: newId('evt'), status: 'resolved', occurred_at: now };
    const closingId = newId('dlv');
    try {
      const closingBody = await destination.render({ ...closing, events: [closing], hookrelay: { version, destination: destination.name, delivery_id: closingId } });
      const closed = await destination.send({ delivery_id: closingId, attempt: 1, body: closingBody, event: closing });
      resolved = { ok: closed.kind === 'success', error: closed.error };
    } catch (error) {
      resolved = { ok: false, error: (error as Error).message };
    }
  }
  return {
    destination: destination.name,
    ok: result.kind === 'success',
    request_body: body,
    ...(resolved ? { resolved } : {}),
    response: { status: result.status, body: result.body, latency_ms: result.latency_ms, error: result.error },
  };
}
