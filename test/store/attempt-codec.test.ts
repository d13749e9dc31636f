/**
 * Attempts and their answers cross to the writer thread packed (src/store/sqlite/attempt-codec.ts):
 * what arrives is what was sent, field for field, through a real structured clone.
 */
import { describe, expect, it } from 'vitest';
import { packAttempts, packRecorded, unpackAttempts, unpackRecorded } from '../../src/store/sqlite/attempt-codec.ts';
import type { AttemptResult, RecordedAttempt } from '../../src/store/store.ts';

const breaker = { disable_after: 5, probe_backoff_ms: [1_000, 60_000] };
const plain: AttemptResult = {
  delivery_id: 'dlv_1', member_ids: [], destination: 'ops', lease_owner: 'me', started_at: 1, finished_at: 2, outcome: 'succeeded',
  next_attempt_at: null, request_body: null, response_code: 200, response_body: null, latency_ms: 1, error: null, health: 'success',
  breaker, probe: false, notified: [], effects: null,
};
const rich: AttemptResult = {
  ...plain,
  delivery_id: 'dlv_2', member_ids: ['dlv_3', 'dlv_4'], outcome: 'retry', next_attempt_at: 30_000, request_body: '{"a":1}', response_code: 503,
  response_body: 'down', error: 'HTTP 503', health: 'failure', breaker: { disable_after: 1, probe_backoff_ms: null }, probe: true,
  notified: [{ destination: 'ops', dedup_key: 'k', status: 'firing', occurred_at: '2026-01-01T00:00:00Z', delivery_id: 'dlv_2', sent_at: 2 }],
  effects: { incident_message: { kind: 'updated', dedup_key: 'k', status: 'firing', resolved_at: null, last_event_id: 'evt_1', drawn_from_version: 3 } } as AttemptResult['effects'],
  digest: true,
};

describe('attempt codec', () => {
  it('a batch of attempts arrives as sent, each breaker policy once', () => {
    const packed = structuredClone(packAttempts([plain, rich, { ...plain, delivery_id: 'dlv_5' }]));
    expect(packed.breakers).toHaveLength(2);
    expect(unpackAttempts(packed)).toEqual([plain, rich, { ...plain, delivery_id: 'dlv_5' }]);
  });

  it('recorded answers arrive as sent', () => {
    const answers: RecordedAttempt[] = [
      { recorded: true, destination: { name: 'ops', enabled: true, consecutive_failures: 0, pending: null }, disabled_now: false, enabled_now: false, incident_stale: false },
      { recorded: true, destination: { name: 'ops', enabled: false, consecutive_failures: 5, pending: 12 }, disabled_now: true, enabled_now: false, incident_stale: true },
    ];
    expect(unpackRecorded(structuredClone(packRecorded(answers)))).toEqual(answers);
  });
});
