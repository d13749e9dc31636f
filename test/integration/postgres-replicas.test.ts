/**
 * Two servers on one PostgreSQL database, as two replicas behind a load balancer: the
 * destination's state is the store's, so what one replica (or a person, through it) does to the
 * circuit holds for the other at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { signedSlackPost, slashCommand } from '../support/slack.ts';

const SECRET = 'tm-secret';
let database: TestDatabase;
let receiver: FakeReceiver;
beforeAll(async () => {
  database = await createTestDatabase();
  receiver = await FakeReceiver.start();
});
afterAll(async () => {
  await receiver?.close();
  await database?.drop();
});

const yaml = (url: string) => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${url}", auto_enable: false }
routes:
  - { to: [receiver] }
retry: { schedule: [20ms, 20ms, 20ms], disable_after: 1 }
admin: { token: ${ADMIN_TOKEN} }
`;

async function send(relay: TestRelay): Promise<string> {
  const body = JSON.stringify(tapemetricPayload());
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(response.status).toBe(202);
  return String(response.json.id);
}

async function deliveryOf(relay: TestRelay, eventId: string, check: (status: string) => boolean): Promise<string> {
  const { json } = await relay.until(
    () => relay.admin<{ deliveries: Array<{ event_id: string; status: string }> }>('/deliveries?limit=100'),
    ({ json }) => json.deliveries.some((d) => d.event_id === eventId && check(d.status)),
  );
  return json.deliveries.find((d) => d.event_id === eventId)!.status;
}

const SIGNING_SECRET = 'replica-slack-signing-secret-0001';

describe('two replicas on one database', () => {
  it('a signed Slack command replayed to the other replica → 401 signature_replayed there too: it runs once (one mute)', async () => {
    const responses = await FakeReceiver.start();
    const withSlack = `${yaml(receiver.url('/hook'))}slack_app: { signing_secret: "${SIGNING_SECRET}" }\n`;
    const a = await startRelay(withSlack, { DATABASE_URL: database.url });
    const b = await startRelay(withSlack, { DATABASE_URL: database.url });
    try {
      const post = signedSlackPost(SIGNING_SECRET, slashCommand('mute data.region=ReplayedAcross 1h once', responses.url('/response')));
      const to = (relay: TestRelay) => fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
      const first = await to(a);
      expect(first.status).toBe(200);
      const again = await to(b);
      expect(again.status).toBe(401);
      expect(((await again.json()) as { error: { code: string } }).error.code).toBe('signature_replayed');
      // Asked of the replica that ran it (the other re-reads mutes every few seconds).
      const { json } = await a.admin<{ mutes: Array<{ matchers: Record<string, string> }> }>('/mutes');
      expect(json.mutes.filter((mute) => mute.matchers['data.region'] === 'ReplayedAcross')).toHaveLength(1);
    } finally {
      await b.close();
      await a.close();
      await responses.close();
    }
  });

  it('a replica whose own attempt opened the circuit resumes when a person enables the destination through the other', async () => {
    let healthy = false;
    receiver.respond(() => (healthy ? { status: 200 } : { status: 500 }));
    const a = await startRelay(yaml(receiver.url('/hook')), { DATABASE_URL: database.url });
    const b = await startRelay(yaml(receiver.url('/hook')), { DATABASE_URL: database.url });
    try {
      const first = await send(b);
      await receiver.waitFor(1);
      await b.until(
        () => b.admin<{ destinations: Array<{ enabled: boolean }> }>('/destinations'),
        ({ json }) => json.destinations[0]?.enabled === false,
      );
      healthy = true;
      expect((await a.admin('/destinations/receiver/enable', { method: 'POST' })).status).toBe(200);
      expect(await deliveryOf(b, first, (status) => status === 'succeeded')).toBe('succeeded');
      // Only B is left: what it takes now, it must send itself, its circuit closed by A's enable.
      await a.close();
      const second = await send(b);
      expect(await deliveryOf(b, second, (status) => status === 'succeeded')).toBe('succeeded');
    } finally {
      await b.close();
      await a.close();
    }
  });
});
