import type { Destination } from '../destinations/destination.ts';
import type { RelayEvent } from '../events/event.ts';
import { SAMPLE_EVENT } from '../templates/sample-event.ts';
import { newId } from '../util/ids.ts';

export interface TestSendResult {
  readonly destination: string;
  readonly ok: boolean;
  readonly request_body: string | null;
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
 * incident.
 */
export async function testSend(destination: Destination, version: string): Promise<TestSendResult> {
  const now = new Date().toISOString();
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
  return {
    destination: destination.name,
    ok: result.kind === 'success',
    request_body: body,
    response: { status: result.status, body: result.body, latency_ms: result.latency_ms, error: result.error },
  };
}
