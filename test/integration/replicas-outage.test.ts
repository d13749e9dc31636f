/**
 * PostgreSQL goes away in the middle of a burst and comes back, under two `hookrelay serve`
 * replicas. The machine's PostgreSQL is shared with other tests, so it is not restarted: a TCP
 * proxy between hookrelay and PostgreSQL cuts every connection and refuses new ones, as a
 * restart does, then forwards again. What a sender relies on: every 202 was stored, a refused
 * request got 503 with Retry-After (so it is sent again), and ingest recovers without a restart.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnRelay } from '../support/child-relay.ts';
import { POSTGRES_SERVER, createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const SECRET = 'outage-secret';
const dir = mkdtempSync(join(tmpdir(), 'hookrelay-outage-'));
let database: TestDatabase;
let proxy: TcpProxy;
let receiver: FakeReceiver;
const replicas: ChildProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  const target = new URL(POSTGRES_SERVER);
  proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  await proxy.up();
  receiver = await FakeReceiver.start();
});
afterAll(async () => {
  for (const replica of replicas) {
    if (replica.exitCode === null && replica.signalCode === null) {
      replica.kill('SIGKILL');
      await new Promise((resolve) => replica.once('exit', resolve));
    }
  }
  await proxy?.down();
  await receiver?.close();
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

type Outcome = { readonly id: string; readonly status: number | 'no answer'; readonly retryAfter: string | null; readonly code: string | null };

async function post(port: number, id: string): Promise<Outcome> {
  const body = JSON.stringify(tapemetricPayload({ id }, { region: id }));
  try {
    const response = await fetch(`http://127.0.0.1:${port}/hooks/tapemetric`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...tapemetricHeaders(body, SECRET) },
      body,
      signal: AbortSignal.timeout(15_000),
    });
    const json = (await response.json().catch(() => ({}))) as { error?: { code?: string } };
    return { id, status: response.status, retryAfter: response.headers.get('retry-after'), code: json.error?.code ?? null };
  } catch {
    return { id, status: 'no answer', retryAfter: null, code: null };
  }
}

async function storedExternalIds(): Promise<Set<string>> {
  // Straight to PostgreSQL, not through the proxy.
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ external_id: string }>('SELECT external_id FROM events');
    return new Set(rows.map((row) => row.external_id));
  } finally {
    await client.end();
  }
}

describe('PostgreSQL away in the middle of a burst, then back', () => {
  it('every 202 was stored, refused requests got 503 with Retry-After, and both replicas take webhooks again without a restart', async () => {
    const url = new URL(database.url);
    url.host = `127.0.0.1:${proxy.port}`;
    const file = join(dir, 'hookrelay.yaml');
    writeFileSync(
      file,
      `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: audit, type: http, url: "${receiver.url('/audit')}", concurrency: 8 }
routes:
  - { to: [audit] }
`,
    );
    const ports = [await freePort(), await freePort()];
    const env = { DATABASE_URL: url.toString(), HOOKRELAY_ALLOW_PRIVATE: '1' };
    for (const port of ports) replicas.push(await spawnRelay({ config: file, port, env }));

    const outcomes: Outcome[] = [];
    let sent = 0;
    let phase: 'before' | 'away' | 'back' = 'before';
    const during: Outcome[] = [];
    const sender = async (worker: number): Promise<void> => {
      while (phase !== 'back') {
        const outcome = await post(ports[worker % 2]!, `burst_${worker}_${sent++}`);
        outcomes.push(outcome);
        if (phase === 'away') during.push(outcome);
      }
    };
    const senders = Array.from({ length: 8 }, (_, worker) => sender(worker));
    // Cut PostgreSQL in the middle of the burst, once enough is stored to be sure it is flowing.
    while (outcomes.filter((outcome) => outcome.status === 202).length < 200) await new Promise((resolve) => setTimeout(resolve, 10));
    await proxy.down();
    phase = 'away';
    while (during.length < 40) await new Promise((resolve) => setTimeout(resolve, 10));
    const readiness = await Promise.all(ports.map((port) => fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.status)));
    await proxy.up();
    phase = 'back';
    await Promise.all(senders);

    // Nothing but stored, refused with 503, or a refusal while the answer was on its way.
    const statuses = new Set(outcomes.map((outcome) => outcome.status));
    expect([...statuses].filter((status) => status !== 202 && status !== 503)).toEqual([]);
    const refused = outcomes.filter((outcome) => outcome.status === 503);
    expect(refused.length).toBeGreaterThan(0);
    for (const outcome of refused) {
      expect(outcome.retryAfter).toMatch(/^\d+$/);
      expect(outcome.code).toBe('store_unavailable');
    }
    expect(readiness).toEqual([503, 503]);

    // Every 202 was durably stored (read past the proxy, in PostgreSQL itself).
    const acknowledged = outcomes.filter((outcome) => outcome.status === 202).map((outcome) => outcome.id);
    const stored = await storedExternalIds();
    expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);

    // Back by themselves: ready again, and new webhooks accepted by both replicas, same processes.
    for (const port of ports) {
      const deadline = Date.now() + 15_000;
      while ((await fetch(`http://127.0.0.1:${port}/readyz`)).status !== 200 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const after = await Promise.all(ports.flatMap((port, index) => Array.from({ length: 10 }, (_, i) => post(port, `after_${index}_${i}`))));
    expect(after.map((outcome) => outcome.status)).toEqual(Array.from({ length: 20 }, () => 202));
    for (const replica of replicas) expect(replica.exitCode).toBeNull();
    // Senders retry what was refused: it is new (or, when its commit went through as the
    // connection was cut, a duplicate), stored now.
    const retried = await Promise.all(refused.slice(0, 20).map((outcome, index) => post(ports[index % 2]!, outcome.id)));
    expect(retried.map((outcome) => outcome.status).filter((status) => status !== 202 && status !== 200)).toEqual([]);

    // Everything answered 202 is delivered promptly.
    const delivered = (): Set<string> => new Set(receiver.received('/audit').map((request) => request.json<{ payload: { id: string } }>().payload.id));
    const answered = [...acknowledged, ...after.map((outcome) => outcome.id), ...retried.filter((outcome) => outcome.status === 202).map((outcome) => outcome.id)];
    const undelivered = async (ids: Iterable<string>, withinMs: number): Promise<string[]> => {
      const deadline = Date.now() + withinMs;
      for (;;) {
        const seen = delivered();
        const missing = [...ids].filter((id) => !seen.has(id));
        if (missing.length === 0 || Date.now() > deadline) return missing;
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };
    // Under load a few accepted during the cut wait for their lease (60 s) instead of going at
    // once; none is lost. (Known: the lease they wait out could be given back sooner.)
    expect(await undelivered(answered, 75_000)).toEqual([]);
    // A commit that went through as its connection was cut was answered 503 (its outcome unknown
    // to the replica) yet stored, leased to that replica's lane, which let the reservation go:
    // it is delivered once the lease (60 s) expires. Nothing stored is left behind.
    const everything = await storedExternalIds();
    expect(await undelivered(everything, 75_000)).toEqual([]);
    console.log(`outage: ${acknowledged.length} accepted, ${refused.length} refused with 503 while PostgreSQL was away, ${everything.size} stored in the end`);
  }, 180_000);
});
