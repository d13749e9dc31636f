import { afterEach, describe, expect, it } from 'vitest';
import type { AttemptResult, RecordedAttempt, Store } from '../../src/store/store.ts';
import { eventually } from '../support/clock.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const SECRET = 'tm-secret';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** The store, each `commitAttempts` going through `around` (which calls `commit` to reach the store). */
function wrappingRecords(around: (results: readonly AttemptResult[], commit: () => Promise<RecordedAttempt[]>) => Promise<RecordedAttempt[]>): (store: Store) => Store {
  return (store) =>
    new Proxy(store, {
      get(target, property) {
        if (property === 'commitAttempts') return (results: readonly AttemptResult[]) => around(results, () => target.commitAttempts(results));
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
}

/** The store, with every attempt record the dispatcher commits listed. */
function listingRecords(records: AttemptResult[]): (store: Store) => Store {
  return wrappingRecords((results, commit) => {
    records.push(...results);
    return commit();
  });
}

/** A relay sending every tapemetric event to the receiver (concurrency 4), closed after the test. */
async function relayTo(receiver: FakeReceiver, options: { retry?: string; wrapStore?: (store: Store) => Store } = {}): Promise<TestRelay> {
  const relay = await startRelay(
    `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${receiver.url('/hook')}", concurrency: 4 }
routes:
  - { to: [receiver] }
${options.retry ?? ''}
`,
    {},
    options.wrapStore ? { wrapStore: options.wrapStore } : {},
  );
  cleanups.push(() => relay.close());
  return relay;
}

const payloadId = (request: { json<T>(): T }): string => request.json<{ payload: { id: string } }>().payload.id;

/** A receiver closed after the test. */
async function startReceiver(): Promise<FakeReceiver> {
  const receiver = await FakeReceiver.start();
  cleanups.push(() => receiver.close());
  return receiver;
}

/** What awaits `opened` goes on once the test calls `open`. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

async function send(relay: TestRelay, id: string, region: string): Promise<void> {
  const body = JSON.stringify(tapemetricPayload({ id }, { region }));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(response.status).toBe(202);
}

describe('the record of an incident’s update with a later one waiting', () => {
  it('asks the store to commit it at once (its lane sends the next one when it is done); an update with nothing behind it does not', async () => {
    const receiver = await startReceiver();
    const { opened: firstAnswered, open: answerFirst } = gate();
    receiver.respond(async (request) => {
      if (payloadId(request) === 'evt_a1') await firstAnswered;
      return { status: 200 };
    });
    const records: AttemptResult[] = [];
    const relay = await relayTo(receiver, { wrapStore: listingRecords(records) });
    await send(relay, 'evt_a1', 'north');
    // Arrived, not answered yet.
    await eventually(() => receiver.requests.length === 1);
    // Stored waiting behind a1, in flight; b1 is an incident of its own.
    await send(relay, 'evt_a2', 'north');
    await send(relay, 'evt_b1', 'south');
    await eventually(() => receiver.requests.length === 2);
    answerFirst();
    await receiver.waitFor(3);
    const deliveryOf = (id: string) => receiver.requests.find((request) => payloadId(request) === id)!.headers['webhook-id'];
    const recordOf = (id: string) => records.find((record) => record.delivery_id === deliveryOf(id));
    await eventually(() => recordOf('evt_a1') !== undefined && recordOf('evt_b1') !== undefined);
    expect(recordOf('evt_a1')!.chain).toMatchObject({ urgent: true });
    expect(recordOf('evt_b1')!.chain).toBeDefined();
    expect(recordOf('evt_b1')!.chain!.urgent).toBeUndefined();
    // a2 went once a1 was recorded, leased by that record's commit.
    expect(receiver.requests.map(payloadId)).toEqual(['evt_a1', 'evt_b1', 'evt_a2']);
  });
});

describe('a run of an incident’s updates waiting behind the one in flight', () => {
  it('goes one by one, each as soon as the one ahead is answered, while that one’s record is still committing', async () => {
    const receiver = await startReceiver();
    const { opened: firstAnswered, open: answerFirst } = gate();
    // a2's record is held in the store until the test lets it go.
    const held = new Set<string>();
    const committed: string[] = [];
    const { opened: recordGoes, open: letRecordGo } = gate();
    cleanups.push(async () => letRecordGo());
    receiver.respond(async (request) => {
      const id = payloadId(request);
      if (id === 'evt_a1') await firstAnswered;
      if (id === 'evt_a2') held.add(String(request.headers['webhook-id']));
      return { status: 200 };
    });
    const relay = await relayTo(receiver, {
      wrapStore: wrappingRecords(async (results, commit) => {
        if (results.some((result) => held.has(result.delivery_id))) await recordGoes;
        const answers = await commit();
        committed.push(...results.filter((_, index) => answers[index]?.recorded).map((result) => result.delivery_id));
        return answers;
      }),
    });
    await send(relay, 'evt_a1', 'north');
    await eventually(() => receiver.requests.length === 1);
    for (const id of ['evt_a2', 'evt_a3', 'evt_a4']) await send(relay, id, 'north');
    answerFirst();
    // a2 answered, its record held: a3 and a4 go all the same, in order.
    await receiver.waitFor(4);
    expect(receiver.requests.map(payloadId)).toEqual(['evt_a1', 'evt_a2', 'evt_a3', 'evt_a4']);
    // a5 waits behind a2, whose record is still held: a4's commit (the run's last) leased nothing.
    await send(relay, 'evt_a5', 'north');
    await eventually(() => committed.length === 3);
    letRecordGo();
    // Every one recorded, a2 too, once its commit may go; then a5 goes (not at the lane's next wake, 30 s on).
    await receiver.waitFor(5, { timeoutMs: 10_000 });
    expect(receiver.requests.map(payloadId)).toEqual(['evt_a1', 'evt_a2', 'evt_a3', 'evt_a4', 'evt_a5']);
  });

  it('a retry in the middle holds the rest back: they go after it succeeds, in order', async () => {
    const receiver = await startReceiver();
    const { opened: firstAnswered, open: answerFirst } = gate();
    let refusedOnce = false;
    receiver.respond(async (request) => {
      const id = payloadId(request);
      if (id === 'evt_a1') await firstAnswered;
      if (id === 'evt_a3' && !refusedOnce) {
        refusedOnce = true;
        return { status: 503 };
      }
      return { status: 200 };
    });
    const relay = await relayTo(receiver, { retry: 'retry: { schedule: [100ms], disable_after: 10 }' });
    await send(relay, 'evt_a1', 'north');
    await eventually(() => receiver.requests.length === 1);
    for (const id of ['evt_a2', 'evt_a3', 'evt_a4', 'evt_a5']) await send(relay, id, 'north');
    answerFirst();
    await receiver.waitFor(6);
    expect(receiver.requests.map(payloadId)).toEqual(['evt_a1', 'evt_a2', 'evt_a3', 'evt_a3', 'evt_a4', 'evt_a5']);
  });

  it('bursts of one incident’s updates, each after the last burst’s 202s, all arrive, in order', async () => {
    const receiver = await startReceiver();
    const relay = await relayTo(receiver);
    const ids = Array.from({ length: 120 }, (_, index) => `evt_b${index}`);
    for (let from = 0; from < ids.length; from += 10) await Promise.all(ids.slice(from, from + 10).map((id) => send(relay, id, 'east')));
    // A run whose next one is missed waits for the lane's next look at the store (30 s): longer than this wait.
    await receiver.waitFor(ids.length, { timeoutMs: 20_000 });
    const arrived = receiver.requests.map(payloadId);
    // Each burst's before the next one's (within a burst the relay may take them in any order).
    const burst = arrived.map((id) => Math.floor(Number(id.slice(5)) / 10));
    expect(burst).toEqual([...burst].sort((a, b) => a - b));
  });
});
