import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

let relay: TestRelay;
let receiver: FakeReceiver;

beforeAll(async () => {
  receiver = await FakeReceiver.start();
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s] }
destinations:
  - { name: receiver, type: http, url: "${receiver.url('/hook')}" }
routes:
  - { to: [receiver] }
admin: { token: ${ADMIN_TOKEN} }
`);
});
afterAll(async () => {
  await relay.close();
  await receiver.close();
});

interface Mute {
  id: string;
  matchers: Record<string, string>;
  expires_at: string;
  reason: string;
  created_by: string;
}

describe('/api/v1/mutes', () => {
  it('needs the admin token', async () => {
    expect((await relay.admin('/mutes', { token: null })).status).toBe(401);
  });

  it('POST creates a mute that applies to the next event; DELETE ends it', async () => {
    const created = await relay.admin<Mute>('/mutes', { method: 'POST', body: { matchers: { 'data.region': 'Kerala' }, duration: '30m', reason: 'maintenance' } });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ matchers: { 'data.region': 'Kerala' }, reason: 'maintenance', created_by: 'admin-api' });
    expect(Date.parse(created.json.expires_at) - Date.now()).toBeGreaterThan(29 * 60_000);
    expect((await relay.admin<{ mutes: Mute[] }>('/mutes')).json.mutes.map((m) => m.id)).toEqual([created.json.id]);

    const body = JSON.stringify(tapemetricPayload({}, { region: 'Kerala' }));
    const event = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, 's'));
    const stored = await relay.admin<{ deliveries: Array<{ status: string }> }>(`/events/${event.json.id as string}`);
    expect(stored.json.deliveries.map((d) => d.status)).toEqual(['muted']);

    expect((await relay.admin(`/mutes/${created.json.id}`, { method: 'DELETE' })).status).toBe(200);
    expect((await relay.admin(`/mutes/${created.json.id}`, { method: 'DELETE' })).status).toBe(404);
    expect((await relay.admin<{ mutes: Mute[] }>('/mutes')).json.mutes).toEqual([]);
    expect((await relay.admin<{ mutes: Mute[] }>('/mutes?all=1')).json.mutes.map((m) => m.id)).toEqual([created.json.id]);
  });

  it('bad mutes → 400 invalid_request saying what is wrong, nothing stored', async () => {
    const cases: Array<[unknown, string]> = [
      [{ matchers: {}, duration: '1h' }, 'at least one'],
      [{ matchers: { region: 'x' }, duration: '1h' }, 'not an event field'],
      [{ matchers: { type: 'x' } }, 'either duration'],
      [{ matchers: { type: 'x' }, duration: 'soon' }, 'not a duration'],
      [{ matchers: { type: 'x' }, duration: '90d' }, '30 days'],
      [{ matchers: { type: 'x' }, duration: '1h', colour: 'red' }, 'unknown field'],
    ];
    for (const [body, message] of cases) {
      const response = await relay.admin<{ error: { code: string; message: string } }>('/mutes', { method: 'POST', body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      expect(response.json.error.code).toBe('invalid_request');
      expect(response.json.error.message).toContain(message);
    }
    expect((await relay.admin<{ mutes: Mute[] }>('/mutes?all=1')).json.mutes.every((m) => m.reason === 'maintenance')).toBe(true);
  });

  it('POST /destinations/:name/test sends a sample event now and returns the answer', async () => {
    const before = receiver.requests.length;
    const result = await relay.admin<{ ok: boolean; response: { status: number } }>('/destinations/receiver/test', { method: 'POST' });
    expect(result.json).toMatchObject({ ok: true, response: { status: 200 } });
    expect(receiver.requests).toHaveLength(before + 1);
    expect(receiver.requests.at(-1)!.body).toContain('Test from hookrelay');
    expect((await relay.admin('/destinations/nope/test', { method: 'POST' })).status).toBe(404);
  });
});
