import type { RelayEvent } from '../../src/events/event.ts';
import type { AttemptResult, IngestBatch, NewDelivery } from '../../src/store/store.ts';
import { newId } from '../../src/util/ids.ts';

/** A stored-shape event with sensible defaults; override what the test is about. */
export function relayEvent(overrides: Partial<RelayEvent> = {}): RelayEvent {
  return {
    id: newId('evt'),
    source: 'tapemetric',
    external_id: null,
    type: 'qos.rebuffer_spike',
    severity: 'critical',
    status: 'firing',
    title: 'Rebuffer spike in Maharashtra',
    summary: '8.4 vs baseline 3.1',
    dedup_key: 'qos.rebuffer_spike:Maharashtra',
    occurred_at: '2026-04-23T18:28:00.000Z',
    received_at: new Date().toISOString(),
    data: { region: 'Maharashtra', affected_sessions: 24000 },
    ...overrides,
  };
}

export function pending(destination: string, route = 'all'): NewDelivery {
  return { id: newId('dlv'), destination, route, status: 'pending' };
}

/** One request carrying one event routed to the given destinations. */
export function batchOf(event: RelayEvent, destinations: readonly string[], receivedAt = Date.now()): IngestBatch {
  return {
    receipt: {
      id: newId('rcp'),
      source: event.source,
      received_at: receivedAt,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event.data),
    },
    events: [{ event, deliveries: destinations.map((destination) => pending(destination)) }],
  };
}

/**
 * A plain success of one attempt by `owner`, finished at `finishedAt` after 12 ms; override what
 * the test is about (outcome, health, chain...).
 */
export function succeededAttempt(deliveryId: string, owner: string, finishedAt: number, overrides: Partial<AttemptResult> = {}): AttemptResult {
  return {
    delivery_id: deliveryId,
    member_ids: [],
    destination: 'slack',
    lease_owner: owner,
    started_at: finishedAt - 12,
    finished_at: finishedAt,
    outcome: 'succeeded',
    next_attempt_at: null,
    request_body: '{"text":"hi"}',
    response_code: 200,
    response_body: 'ok',
    latency_ms: 12,
    error: null,
    health: 'success',
    breaker: { disable_after: 3, probe_backoff_ms: null },
    notified: [],
    ...overrides,
  };
}
