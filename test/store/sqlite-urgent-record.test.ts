import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { InThreadWriter } from '../../src/store/sqlite/in-thread-writer.ts';
import { OP_FIELDS } from '../../src/store/sqlite/protocol.ts';
import type { WriterMessage } from '../../src/store/sqlite/protocol.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { ManualClock } from '../support/clock.ts';
import { batchOf, relayEvent, succeededAttempt } from '../support/events.ts';

const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-urgent-record-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());
let n = 0;

/** A store with one incident's two updates stored, the first claimed by `lane`; the writer's messages listed from here on. */
async function incidentWithTwoUpdates() {
  const clock = new ManualClock();
  const store = await SqliteStore.open(join(scratch, `store-${++n}.db`), { clock, inThread: true });
  await store.syncDestinations(['slack']);
  const first = relayEvent({ dedup_key: 'qos:north' });
  const second = relayEvent({ dedup_key: 'qos:north' });
  for (const event of [first, second]) {
    const batch = batchOf(event, ['slack'], clock.now());
    await store.ingest({ ...batch, events: batch.events.map((each) => ({ ...each, deliveries: each.deliveries.map((delivery) => ({ ...delivery, incident_key: event.dedup_key })) })) });
  }
  const { deliveries } = await store.claim('slack', { limit: 10, now: clock.now(), lease_ms: 60_000, owner: 'lane' });
  // The second waits behind the first: one in flight per incident.
  expect(deliveries.map((delivery) => delivery.event.id)).toEqual([first.id]);
  const posted: WriterMessage[] = [];
  const post = InThreadWriter.prototype.postMessage;
  vi.spyOn(InThreadWriter.prototype, 'postMessage').mockImplementation(function (this: InThreadWriter, message: WriterMessage) {
    posted.push(message);
    post.call(this, message);
  });
  return { clock, store, head: deliveries[0]!, second, posted };
}

const opsOf = (posted: readonly WriterMessage[]): string[] => posted.flatMap((message) => (message.type === 'ops' ? (message.ops.filter((_, at) => at % OP_FIELDS === 1) as string[]) : []));

describe('the SQLite store’s record of an attempt whose lane waits for it', () => {
  it('goes to the writer the moment it is asked for, not at the end of the event-loop turn, and its commit leases the incident’s next update', async () => {
    const { clock, store, head, second, posted } = await incidentWithTwoUpdates();
    try {
      const recording = store.commitAttempts([succeededAttempt(head.id, 'lane', clock.now(), { chain: { lease_ms: 60_000, storm: null, urgent: true } })]);
      // Before this turn ends (the rest of a turn can be a burst of ingest requests).
      expect(opsOf(posted)).toEqual(['commitAttempts']);
      const [recorded] = await recording;
      expect(recorded!.recorded).toBe(true);
      expect(recorded!.next?.event.id).toBe(second.id);
    } finally {
      await store.close();
    }
  });

  it('a record no lane waits on goes with the rest of its turn (one message, one batch of attempts)', async () => {
    const { clock, store, head, posted } = await incidentWithTwoUpdates();
    try {
      const recording = store.commitAttempts([succeededAttempt(head.id, 'lane', clock.now(), { chain: { lease_ms: 60_000, storm: null } })]);
      const other = store.commitAttempts([succeededAttempt('dlv_not_held', 'lane', clock.now())]);
      expect(posted).toEqual([]);
      const [[recorded], [notOurs]] = await Promise.all([recording, other]);
      expect(recorded!.recorded).toBe(true);
      expect(notOurs!.recorded).toBe(false);
      expect(opsOf(posted)).toEqual(['commitAttempts']);
    } finally {
      await store.close();
    }
  });
});
