/**
 * Claimed deliveries cross from the writer thread packed (src/store/sqlite/claim-codec.ts): what
 * arrives, through a real structured clone, is what reviveClaimed makes of the objects the writer
 * built, key for key and in the same order, each event's data a value of its stored text.
 */
import { describe, expect, it } from 'vitest';
import { jsonTextOf } from '../../src/events/json-text.ts';
import { packRecorded, unpackRecorded } from '../../src/store/sqlite/attempt-codec.ts';
import { packClaimBatch, unpackClaimBatch } from '../../src/store/sqlite/claim-codec.ts';
import { reviveChained, reviveClaimed } from '../../src/store/sqlite/rows.ts';
import type { ClaimBatch, ClaimedDelivery, RecordedAttempt } from '../../src/store/store.ts';

/** An event as the writer's rows give it: data null, the stored text beside it. */
function claimedEvent(id: string, data: string) {
  return {
    id, source: 'tapemetric', external_id: id === 'evt_2' ? null : `ext-${id}`, type: 'qos.rebuffer_spike', severity: 'critical' as const,
    status: 'firing' as const, title: `Rebuffer ${id}`, summary: 'ratio 8.4', dedup_key: 'qos:north', occurred_at: '2026-12-07T10:00:00.000Z',
    received_at: '2026-12-07T10:00:01.000Z', data: null, data_text: data,
  };
}

function plain(): ClaimedDelivery {
  const event = claimedEvent('evt_1', '{"region": "Maharashtra", "n": 1.0}');
  return {
    id: 'dlv_1', destination: 'ops', event, member_ids: [], events: [event], attempts: 0, request_body: null, unordered: false,
    route: 'qos', probe: false, rule_keys: [null], interrupted: 0, interrupted_attempts: 0,
  };
}

function grouped(): ClaimedDelivery {
  const lead = claimedEvent('evt_2', '[1, 2, {"deep": [true]}]');
  const member = claimedEvent('evt_3', '"just a string"');
  return {
    id: 'dlv_2', destination: 'ops', event: lead, member_ids: ['dlv_3'], events: [lead, member], attempts: 2, request_body: '{"text":"again"}',
    unordered: true, route: null, probe: true, rule_keys: ['rule-a', null], interrupted: 1, interrupted_attempts: 1, digest: true,
    fallback_for: { destination: 'pager', delivery_id: 'dlv_9' }, sent_via_fallback: true,
  };
}

/** What the event loop's code reads, data parsed, and the event's own keys in their order. */
function seen(deliveries: readonly ClaimedDelivery[]): unknown {
  return deliveries.map((delivery) => ({
    keys: Object.keys(delivery),
    eventKeys: delivery.events.map((event) => Object.keys(event)),
    sameEvent: delivery.event === delivery.events[0],
    delivery: JSON.parse(JSON.stringify(delivery)) as unknown,
  }));
}

describe('claim codec', () => {
  it('a batch arrives as the writer built it, as reviveClaimed would make it', () => {
    for (const batch of [
      { deliveries: [plain(), grouped()], next_due_at: 5_000, enabled: true },
      { deliveries: [grouped()], next_due_at: null },
      { deliveries: [], next_due_at: null, enabled: false },
    ] satisfies ClaimBatch[]) {
      const arrived = unpackClaimBatch(structuredClone(packClaimBatch(batch)));
      const revived = reviveClaimed(structuredClone(batch));
      expect(Object.keys(arrived)).toEqual(Object.keys(revived));
      expect(arrived.next_due_at).toBe(revived.next_due_at);
      expect(arrived.enabled).toBe(revived.enabled);
      expect(seen(arrived.deliveries)).toEqual(seen(revived.deliveries));
      for (const delivery of arrived.deliveries) {
        for (const event of delivery.events) {
          expect(event).not.toHaveProperty('data_text');
          if (typeof event.data === 'object' && event.data !== null) expect(jsonTextOf(event.data)).toBeDefined();
        }
      }
    }
    const [first] = unpackClaimBatch(structuredClone(packClaimBatch({ deliveries: [plain()], next_due_at: null }))).deliveries;
    expect(first!.event.data).toEqual({ region: 'Maharashtra', n: 1 });
    expect(jsonTextOf(first!.event.data as object)).toBe('{"region": "Maharashtra", "n": 1.0}');
  });

  it('a record’s chained lease and the rest of its run arrive as sent', () => {
    const destination = { name: 'ops', enabled: true, consecutive_failures: 0, pending: null };
    const answers = (): RecordedAttempt[] => [
      { recorded: true, destination, disabled_now: false, enabled_now: false, incident_stale: false, next: plain(), after: [grouped()] },
      { recorded: true, destination, disabled_now: false, enabled_now: false, incident_stale: false, next: null },
      { recorded: true, destination, disabled_now: false, enabled_now: false, incident_stale: false },
    ];
    const arrived = unpackRecorded(structuredClone(packRecorded(answers())));
    const revived = reviveChained(structuredClone(answers()));
    expect(arrived.map((each) => Object.keys(each))).toEqual(revived.map((each) => Object.keys(each)));
    expect(seen([arrived[0]!.next!, ...arrived[0]!.after!])).toEqual(seen([revived[0]!.next!, ...revived[0]!.after!]));
    expect(arrived[1]!.next).toBeNull();
  });

  it('refuses a delivery whose event is not its first (it would arrive as another delivery)', () => {
    const delivery = plain();
    expect(() => packClaimBatch({ deliveries: [{ ...delivery, event: { ...delivery.event } }], next_due_at: null })).toThrow(/not as claimedFromRows makes it/);
  });
});
