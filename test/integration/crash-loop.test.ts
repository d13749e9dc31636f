import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import type { Reply } from '../support/receiver.ts';
import { freePort, spawnRelay } from '../support/child-relay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const SECRET = 'crash-loop-secret';
const ADMIN = 'crash-loop-admin-token-0123456789';
const dir = mkdtempSync(join(tmpdir(), 'hookrelay-crash-loop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Delivery {
  id: string;
  destination: string;
  status: string;
  attempts: number;
  last_error: string | null;
}

/** A receiver that can hold requests unanswered (so they are in flight when the relay dies) and says when one arrives. */
async function holdingReceiver(hold: (arrival: number) => boolean): Promise<{ receiver: FakeReceiver; arrival: (n: number) => Promise<void> }> {
  const receiver = await FakeReceiver.start();
  const waiting: Array<{ n: number; resolve: () => void }> = [];
  receiver.respond((): Reply | Promise<Reply> => {
    const n = receiver.requests.length;
    for (const waiter of waiting.filter((each) => each.n <= n)) waiter.resolve();
    // Never answered: the relay dies with this request in flight.
    return hold(n) ? new Promise<Reply>(() => undefined) : { status: 200, body: 'ok' };
  });
  const arrival = (n: number): Promise<void> =>
    receiver.requests.length >= n ? Promise.resolve() : new Promise((resolve) => waiting.push({ n, resolve }));
  return { receiver, arrival };
}

describe('crash loop: a delivery in flight every time hookrelay stops', () => {
  // Four kill -9 with the same delivery under way; the fifth start fails it instead of sending
  // it again. The old code leases and sends it at every start, for ever.
  it('is failed at the next start with the reason, while a delivery that was only waiting beside it is delivered', async () => {
    // "one": every request hangs (the culprit's attempt is always under way when the process dies).
    const one = await holdingReceiver(() => true);
    // "two": the first request hangs too (so it is in flight at the first kill), later ones are answered.
    const two = await holdingReceiver((n) => n === 1);
    const config = join(dir, 'hookrelay.yaml');
    writeFileSync(
      config,
      `
store: sqlite:${join(dir, 'data', 'hookrelay.db')}
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: one, type: http, url: "${one.receiver.url('/one')}", timeout: 10m }
  - { name: two, type: http, url: "${two.receiver.url('/two')}", timeout: 10m }
routes:
  - { to: [one, two] }
admin: { token: ${ADMIN} }
`,
    );
    const port = await freePort();
    const env = { HOOKRELAY_ALLOW_PRIVATE: '1' };
    const kill = async (relay: Awaited<ReturnType<typeof spawnRelay>>): Promise<void> => {
      const exited = new Promise((resolve) => relay.once('exit', resolve));
      relay.kill('SIGKILL');
      await exited;
    };

    let relay = await spawnRelay({ config, port, env });
    const body = JSON.stringify(tapemetricPayload());
    const accepted = await fetch(`http://127.0.0.1:${port}/hooks/tapemetric`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...tapemetricHeaders(body, SECRET) },
      body,
    });
    expect(accepted.status).toBe(202);
    const eventId = ((await accepted.json()) as { id: string }).id;
    // Both deliveries under way when the process dies the first time.
    await Promise.all([one.arrival(1), two.arrival(1)]);
    await kill(relay);
    // Three more starts, each killed with the culprit's request under way again.
    for (let stop = 2; stop <= 4; stop++) {
      relay = await spawnRelay({ config, port, env });
      await one.arrival(stop);
      await kill(relay);
    }
    expect(one.receiver.requests).toHaveLength(4);

    relay = await spawnRelay({ config, port, env });
    try {
      let deliveries: Delivery[] = [];
      for (;;) {
        const response = await fetch(`http://127.0.0.1:${port}/api/v1/deliveries?event_id=${eventId}`, { headers: { authorization: `Bearer ${ADMIN}` } });
        deliveries = ((await response.json()) as { deliveries: Delivery[] }).deliveries;
        if (deliveries.every((d) => d.status === 'failed' || d.status === 'succeeded')) break;
        // Sent a fifth time (what the old code does at every start): no point waiting.
        if (one.receiver.requests.length > 4) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const culprit = deliveries.find((d) => d.destination === 'one')!;
      expect(culprit.status).toBe('failed');
      expect(culprit.last_error).toMatch(/^in flight when hookrelay stopped 4 times, 3 of them during its own attempt: not attempted again/);
      // Not sent again at this start.
      expect(one.receiver.requests).toHaveLength(4);
      // Its neighbour at the first stop was not what stopped hookrelay: it is delivered, not failed.
      expect(deliveries.find((d) => d.destination === 'two')!.status).toBe('succeeded');
      expect(two.receiver.requests.length).toBeGreaterThanOrEqual(2);
    } finally {
      await kill(relay);
      await one.receiver.close();
      await two.receiver.close();
    }
  }, 120_000);
});
