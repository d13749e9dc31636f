import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { freePort, spawnRelay } from '../support/child-relay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const SECRET = 'crash-secret';
const dir = mkdtempSync(join(tmpdir(), 'hookrelay-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kill -9 in the middle of a burst', () => {
  it('loses nothing that was acknowledged: after a restart every 202 is delivered', async () => {
    const receiver = await FakeReceiver.start();
    // Slow enough that deliveries are queued and in flight when the process dies.
    receiver.respond(() => ({ status: 200, delayMs: 15 }));
    const config = join(dir, 'hookrelay.yaml');
    writeFileSync(
      config,
      `
store: sqlite:${join(dir, 'data', 'hookrelay.db')}
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${receiver.url('/hook')}", concurrency: 4 }
routes:
  - { to: [receiver] }
retry: { schedule: [100ms, 200ms, 500ms, 1s, 2s, 5s], disable_after: 50 }
`,
    );
    const port = await freePort();
    const env = { HOOKRELAY_ALLOW_PRIVATE: '1' };
    const first = await spawnRelay({ config, port, env });

    const acknowledged = new Set<string>();
    let sent = 0;
    let killed = false;
    const sender = async (): Promise<void> => {
      while (sent < 600 && !killed) {
        sent += 1;
        const body = JSON.stringify(tapemetricPayload());
        try {
          const response = await fetch(`http://127.0.0.1:${port}/hooks/tapemetric`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...tapemetricHeaders(body, SECRET) },
            body,
          });
          if (response.status === 202) acknowledged.add(((await response.json()) as { id: string }).id);
        } catch {
          // the process died under this request: not acknowledged, a real sender would retry
        }
        if (acknowledged.size >= 250 && !killed) {
          killed = true;
          first.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: 16 }, sender));
    if (first.exitCode === null && first.signalCode === null) await new Promise((resolve) => first.once('exit', resolve));
    expect(first.signalCode).toBe('SIGKILL');
    const deliveredBeforeRestart = new Set(receiver.requests.map((r) => r.json<{ event: { id: string } }>().event.id));
    // The crash really interrupted work, or this test proves nothing.
    expect([...acknowledged].some((id) => !deliveredBeforeRestart.has(id))).toBe(true);

    const second = await spawnRelay({ config, port, env });
    try {
      const deadline = Date.now() + 30_000;
      let missing: string[] = [];
      for (;;) {
        const delivered = new Set(receiver.requests.map((r) => r.json<{ event: { id: string } }>().event.id));
        missing = [...acknowledged].filter((id) => !delivered.has(id));
        if (missing.length === 0 || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(missing).toEqual([]);
      expect(acknowledged.size).toBeGreaterThanOrEqual(250);
    } finally {
      second.kill('SIGTERM');
      await new Promise((resolve) => second.once('exit', resolve));
      await receiver.close();
    }
  }, 60_000);
});
