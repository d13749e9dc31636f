import { expect } from 'vitest';
import { settle } from './clock.ts';
import type { ManualClock } from './clock.ts';
import type { TestRelay } from './hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from './signers.ts';

/**
 * Stories on a whole server and a driven clock about what held a delivery and when it went:
 * send a Tapemetric event of a region (an incident), and read its delivery's outcome at one
 * destination once decided.
 */
export interface DrivenOutcomes {
  send(region: string, overrides?: Record<string, unknown>, data?: Record<string, unknown>): Promise<string>;
  /** `status` or `status: note` of the event's delivery once it is neither pending nor in flight. */
  outcome(eventId: string): Promise<string>;
  /**
   * The same once the delivery is no longer held either: after the clock passes a mute's or an
   * interval's end, the release is the server's own work, done after the jump returns.
   */
  outcomeOnceReleased(eventId: string): Promise<string>;
}

interface Delivery {
  event_id: string;
  status: string;
  note: string | null;
}

export function drivenOutcomes(relay: () => TestRelay, clock: () => ManualClock, options: { secret: string; destination: string }): DrivenOutcomes {
  const deliveryOf = async (eventId: string): Promise<Delivery | undefined> =>
    (await relay().admin<{ deliveries: Delivery[] }>(`/deliveries?destination=${options.destination}&limit=100`)).json.deliveries.find((found) => found.event_id === eventId);
  return {
    async send(region, overrides = {}, data = {}) {
      const body = JSON.stringify(tapemetricPayload(overrides, { region, ...data }));
      const response = await relay().post('/hooks/tapemetric', body, tapemetricHeaders(body, options.secret));
      expect(response.status).toBe(202);
      return response.json.id as string;
    },
    outcome: (eventId) => decided(eventId, ['pending', 'in_flight']),
    outcomeOnceReleased: (eventId) => decided(eventId, ['pending', 'in_flight', 'muted']),
  };

  /**
   * Real I/O (the store's commits) is polled for; the lane paces its destination (its rate
   * limit) on the driven clock, so a second of it passes after every few looks that find it undecided.
   */
  async function decided(eventId: string, undecided: string[]): Promise<string> {
    for (let look = 1; look <= 200; look++) {
      const delivery = await deliveryOf(eventId);
      if (delivery && !undecided.includes(delivery.status)) return `${delivery.status}${delivery.note ? `: ${delivery.note}` : ''}`;
      if (look % 5 === 0) await clock().advance(1_000);
      else await settle(2);
    }
    throw new Error(`the delivery of ${eventId} was not ${undecided.join(' or ')} within 40 driven seconds: ${JSON.stringify(await deliveryOf(eventId))}`);
  }
}
