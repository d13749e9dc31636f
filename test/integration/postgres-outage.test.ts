/**
 * Back-pressure on PostgreSQL, end to end: while the database cannot be reached, webhooks get
 * 503 with Retry-After and nothing is half-stored, /readyz fails; once it is back, the same
 * server (no restart) accepts and delivers again.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { POSTGRES_SERVER, createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { ADMIN_TOKEN } from '../support/hookrelay.ts';

const SECRET = 'tm-secret';
let database: TestDatabase;
let proxy: TcpProxy;
let receiver: FakeReceiver;
let relay: TestRelay;

beforeAll(async () => {
  database = await createTestDatabase();
  const target = new URL(POSTGRES_SERVER);
  proxy = new TcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  await proxy.up();
  const url = new URL(database.url);
  url.host = `127.0.0.1:${proxy.port}`;
  receiver = await FakeReceiver.start();
  relay = await startRelay(
    `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: audit, type: http, url: "${receiver.url('/hook')}" }
routes:
  - { to: [audit] }
admin: { token: ${ADMIN_TOKEN} }
`,
    { DATABASE_URL: url.toString() },
  );
});

afterAll(async () => {
  await relay?.close();
  await proxy?.down();
  await receiver?.close();
  await database?.drop();
});

async function send(id: string) {
  const body = JSON.stringify(tapemetricPayload({ id }));
  return fetch(`${relay.url}/hooks/tapemetric`, { method: 'POST', headers: { 'content-type': 'application/json', ...tapemetricHeaders(body, SECRET) }, body });
}

describe('PostgreSQL unreachable, then back', () => {
  it('503 with Retry-After and /readyz failing while it is away; accepted and delivered again once it is back, without a restart', async () => {
    expect(relay.server.store.kind).toBe('postgres');
    expect((await send('evt_before')).status).toBe(202);
    await receiver.waitFor(1);

    await proxy.down();
    const refused = await send('evt_during');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('store_unavailable');
    const ready = await fetch(`${relay.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { status: string }).status).toBe('unavailable');

    await proxy.up();
    await relay.until(() => fetch(`${relay.url}/readyz`).then((response) => response.status), (status) => status === 200);
    expect((await send('evt_after')).status).toBe(202);
    // The refused one was never stored: a retry of it by the sender is new, not a duplicate.
    expect((await send('evt_during')).status).toBe(202);
    const received = await receiver.waitFor(3);
    expect(received.map((request) => request.json<{ data?: { id?: string } }>()).length).toBe(3);
  });
});
