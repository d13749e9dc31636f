import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../support/clock.ts';
import { drivenOutcomes } from '../support/driven-outcome.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';

/**
 * A mute made at run time (from Slack, the API or the CLI) that ends — by expiring, or ended by a
 * person — tells each incident it held that still fires its current state once, as a config
 * mute's or a route's interval does (issue 21 item 3, Alertmanager #3367). One story on one
 * driven clock, in order; postgres-mute-ends.test.ts runs it on PostgreSQL.
 */

const SECRET = 'tm-secret';
const MINUTE = 60_000;

let clock: ManualClock;
let slack: FakeReceiver;
let relay: TestRelay;
let dataDir: string;

const config = (): string => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/webhook')}" }
routes:
  - { to: [ ops-slack ] }
admin: { token: ${ADMIN_TOKEN} }
`;

beforeAll(async () => {
  clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));
  slack = await FakeReceiver.start();
  dataDir = mkdtempSync(join(tmpdir(), 'hookrelay-mute-ends-'));
  relay = await startRelay(config(), {}, { clock, dataDir });
});
afterAll(async () => {
  await relay.close();
  await slack.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const { send, outcome, outcomeOnceReleased } = drivenOutcomes(() => relay, () => clock, { secret: SECRET, destination: 'ops-slack' });

async function mute(region: string, duration: string): Promise<string> {
  const created = await relay.admin<{ id: string }>('/mutes', { method: 'POST', body: { matchers: { 'data.region': region }, duration, reason: 'maintenance' } });
  expect(created.status).toBe(201);
  return created.json.id;
}

describe('a run-time mute that ends tells what it held', () => {
  it('when it expires, each incident it held that still fires is told its current state once; a resolved one and older states stay muted', async () => {
    const id = await mute('Kerala', '30m');
    const first = await send('Kerala', { created_at: '2026-12-01T10:01:00Z' });
    expect(await outcome(first)).toBe(`muted: muted by ${id} (maintenance)`);
    const latest = await send('Kerala', { created_at: '2026-12-01T10:02:00Z' });
    expect(await outcome(latest)).toBe(`muted: muted by ${id} (maintenance)`);
    const muteGoa = await mute('Goa', '30m');
    const goaResolved = await send('Goa', { created_at: '2026-12-01T10:03:00Z' }, { status: 'resolved' });
    expect(await outcome(goaResolved)).toBe(`muted: muted by ${muteGoa} (maintenance)`);
    expect(slack.requests).toHaveLength(0);

    await clock.jump(31 * MINUTE); // both mutes expired; the registry sees it at its next refresh
    expect(await outcomeOnceReleased(latest)).toBe(`succeeded: muted by ${id} (maintenance); told when it ended`);
    const told = await slack.waitFor(1);
    expect(told).toHaveLength(1);
    expect(told[0]!.body).toContain('Kerala');
    // The older state of that incident, and the incident that resolved under its mute, stay muted.
    expect(await outcome(first)).toBe(`muted: muted by ${id} (maintenance)`);
    expect(await outcome(goaResolved)).toBe(`muted: muted by ${muteGoa} (maintenance)`);

    // Once: later refreshes tell nothing again, and new events go as usual.
    await clock.jump(10 * MINUTE);
    expect(await outcome(await send('Punjab'))).toBe('succeeded');
    expect(slack.requests).toHaveLength(2);
    expect(slack.requests.at(-1)!.body).toContain('Punjab');
  });

  it('ended by a person before it expires: what it held that still fires is told at once', async () => {
    const id = await mute('Assam', '2h');
    const held = await send('Assam');
    expect(await outcome(held)).toBe(`muted: muted by ${id} (maintenance)`);
    const before = slack.requests.length;

    expect((await relay.admin(`/mutes/${id}`, { method: 'DELETE' })).status).toBe(200);
    expect(await outcomeOnceReleased(held)).toBe(`succeeded: muted by ${id} (maintenance); told when it ended`);
    expect((await slack.waitFor(before + 1)).at(-1)!.body).toContain('Assam');
  });

  it('one that expired while hookrelay was stopped: what it held that still fires is told when it starts again', async () => {
    const id = await mute('Bihar', '10m');
    const held = await send('Bihar');
    expect(await outcome(held)).toBe(`muted: muted by ${id} (maintenance)`);
    const before = slack.requests.length;

    await relay.server.close();
    await clock.jump(20 * 60_000);
    relay = await startRelay(config(), {}, { clock, dataDir });
    expect(await outcomeOnceReleased(held)).toBe(`succeeded: muted by ${id} (maintenance); told when it ended`);
    expect((await slack.waitFor(before + 1)).at(-1)!.body).toContain('Bihar');
  });
});
