import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/events/event.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { ManualClock } from '../support/clock.ts';
import { batchOf, relayEvent, succeededAttempt } from '../support/events.ts';

const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-chain-batch-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const CHAIN = { lease_ms: 60_000, storm: null };

describe('one batch of records, each asking for its incident’s next update', () => {
  it('leases the next update for the incident that has one waiting at that destination, and nothing for the others', async () => {
    const clock = new ManualClock();
    const store = await SqliteStore.open(join(scratch, 'store.db'), { clock, inThread: true });
    try {
      await store.syncDestinations(['slack', 'audit']);
      const ingest = async (event: RelayEvent, destinations: string[]): Promise<void> => {
        const batch = batchOf(event, destinations, clock.now());
        await store.ingest({ ...batch, events: batch.events.map((each) => ({ ...each, deliveries: each.deliveries.map((delivery) => ({ ...delivery, incident_key: event.dedup_key })) })) });
      };
      // qos:north has a second update waiting at slack only; qos:south has none anywhere.
      const north = relayEvent({ dedup_key: 'qos:north' });
      const south = relayEvent({ dedup_key: 'qos:south' });
      const northAgain = relayEvent({ dedup_key: 'qos:north' });
      await ingest(north, ['slack', 'audit']);
      await ingest(south, ['slack']);
      await ingest(northAgain, ['slack']);
      const slack = (await store.claim('slack', { limit: 10, now: clock.now(), lease_ms: 60_000, owner: 'lane' })).deliveries;
      const audit = (await store.claim('audit', { limit: 10, now: clock.now(), lease_ms: 60_000, owner: 'lane' })).deliveries;
      expect(slack.map((delivery) => delivery.event.id).sort()).toEqual([north.id, south.id].sort());
      expect(audit.map((delivery) => delivery.event.id)).toEqual([north.id]);
      const heads = [...slack, ...audit];

      const recorded = await store.commitAttempts(
        heads.map((delivery) => ({ ...succeededAttempt(delivery.id, 'lane', clock.now(), { chain: CHAIN }), destination: delivery.destination })),
      );

      const nextOf = (destination: string, event: RelayEvent): string | null => {
        const at = heads.findIndex((delivery) => delivery.destination === destination && delivery.event.id === event.id);
        expect(recorded[at]!.recorded).toBe(true);
        return recorded[at]!.next?.event.id ?? null;
      };
      expect(nextOf('slack', north)).toBe(northAgain.id);
      expect(nextOf('slack', south)).toBeNull();
      expect(nextOf('audit', north)).toBeNull();
    } finally {
      await store.close();
    }
  });

  it('an incident whose key is empty is chained as any other', async () => {
    const clock = new ManualClock();
    const store = await SqliteStore.open(join(scratch, 'store-empty-key.db'), { clock, inThread: true });
    try {
      await store.syncDestinations(['slack']);
      const first = relayEvent({ dedup_key: '' });
      const second = relayEvent({ dedup_key: '' });
      for (const event of [first, second]) {
        const batch = batchOf(event, ['slack'], clock.now());
        await store.ingest({ ...batch, events: batch.events.map((each) => ({ ...each, deliveries: each.deliveries.map((delivery) => ({ ...delivery, incident_key: '' })) })) });
      }
      const [head] = (await store.claim('slack', { limit: 10, now: clock.now(), lease_ms: 60_000, owner: 'lane' })).deliveries;
      expect(head!.event.id).toBe(first.id);
      const [recorded] = await store.commitAttempts([succeededAttempt(head!.id, 'lane', clock.now(), { chain: CHAIN })]);
      expect(recorded!.next?.event.id).toBe(second.id);
    } finally {
      await store.close();
    }
  });
});
