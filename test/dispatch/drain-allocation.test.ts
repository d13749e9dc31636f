/**
 * The allocation guard (issue 20, "Done when"): what the relay's main thread allocates per
 * delivery while it drains a fixed backlog, counted from V8's heap statistics
 * (test/support/allocation.ts), must stay under a set bound. Nothing here is timed: allocation
 * per delivery barely depends on how busy the machine is, so this runs in CI where CPU figures
 * could not, and a change that makes every delivery build more garbage fails it.
 *
 * The drain is the bench's (bench/drain.ts) in miniature: a backlog piles up behind a destination
 * disabled by a failure, the destination is enabled, and the window runs from enable to the
 * receiver's last answer. The first drain warms the process (compiling, pools, caches); the
 * second is measured. The receiver runs in a worker thread, so its allocations are its own.
 */
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startAllocationMeter } from '../support/allocation.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricPayload, tapemetricSignature } from '../support/signers.ts';
import { WAIT_MS } from '../support/wait.ts';
import { WorkerReceiver } from '../support/worker-receiver.ts';

const SECRET = 'allocation-guard-secret';
const BACKLOG = 400;
const BODY_BYTES = 1_024;
/**
 * KB per delivery (main thread) the drain may allocate. Measured here (the server and its ingest
 * run in the test's process, and 400 deliveries carry the drain's fixed costs): 54 KB before
 * issue 20's work, 46–47 KB after its template and metrics changes, 44–45 KB after the writer
 * hand-off's, 42.9–43.8 KB after a claimed event stopped being a slow (deleted-from) object and one
 * handler object per request, 42.3–43.4 KB once an http body went out as rendered (not parsed
 * and written out again), 41.0–41.4 KB (the base 42.3–42.5 on the same machine) once a claimed
 * event's data was parsed only when read and claims crossed from the writer packed; on a faster
 * machine, 41.3–41.6 KB for that code, 39.8–40.1 KB once an http body was checked with marks for
 * its stored texts, 38.3–38.9 KB once a whole `{{json …}}` returned plain text without a rest
 * array. The issue's target is 40 KB. Lower the bound as the drain gets leaner, never raise it to
 * let a change in.
 */
const BOUND_KB = 43;

let relay: TestRelay;
let receiver: WorkerReceiver;
let sent = 0;

function eventBody(): string {
  sent += 1;
  const payload = tapemetricPayload({ id: `evt_guard_${sent}` }, { region: `region-${sent}`, note: '' });
  const unpadded = JSON.stringify(payload).length;
  (payload['data'] as Record<string, unknown>)['note'] = 'x'.repeat(Math.max(0, BODY_BYTES - unpadded));
  return JSON.stringify(payload);
}

async function ingest(count: number): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const body = eventBody();
    const response = await relay.post('/hooks/tapemetric', body, { 'x-tapemetric-signature': tapemetricSignature(body, SECRET) });
    expect(response.status).toBe(202);
  }
}

const enabled = async (): Promise<boolean> => {
  const { json } = await relay.admin<{ destinations: Array<{ name: string; enabled: boolean }> }>('/destinations');
  return json.destinations.find((destination) => destination.name === 'loopback')?.enabled ?? false;
};

/** A backlog of `count` behind the destination, disabled by its first delivery failing. */
async function pileUp(count: number): Promise<void> {
  receiver.failWith(503);
  await ingest(1);
  await relay.until(enabled, (on) => !on);
  await ingest(count - 1);
  receiver.failWith(null);
}

/** Enables the destination and waits for the backlog; resolves with KB allocated per delivery meanwhile. */
async function drain(count: number): Promise<number> {
  const meter = startAllocationMeter();
  try {
    const before = meter.read();
    const delivered = receiver.received(count);
    const response = await relay.admin('/destinations/loopback/enable', { method: 'POST' });
    expect(response.status).toBe(200);
    await delivered;
    return (meter.read() - before) / 1_024 / count;
  } finally {
    meter.stop();
  }
}

beforeAll(async () => {
  receiver = await WorkerReceiver.start();
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: loopback, type: http, url: "${receiver.url}", concurrency: 32, auto_enable: false }
routes:
  - { to: [loopback] }
retry: { schedule: [100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms, 100ms], disable_after: 1 }
admin: { token: "test-admin-token-0123456789" }
`);
}, WAIT_MS);

afterAll(async () => {
  await relay?.close();
  await receiver?.close();
});

test(`a warm drain of ${BACKLOG} deliveries allocates under ${BOUND_KB} KB per delivery on the main thread`, async () => {
  await pileUp(BACKLOG);
  await drain(BACKLOG);
  await pileUp(BACKLOG);
  const kb = await drain(BACKLOG);
  console.log(`drain allocation: ${kb.toFixed(1)} KB per delivery (bound ${BOUND_KB})`);
  expect(kb).toBeLessThan(BOUND_KB);
}, 4 * WAIT_MS);
