import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../support/clock.ts';
import { FakeReceiver } from '../support/receiver.ts';
import type { ReceivedRequest } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { signIn } from '../admin/support.ts';
import { hookrelay as runHookrelay, lines, scratchFolder } from '../cli/support.ts';

/**
 * Fallback destinations on the real server (issue 21 item 4): a PagerDuty outage pages through
 * Slack. A loopback PagerDuty fails, so its circuit opens; what it would send goes to a loopback
 * Slack instead, once, marked; a probe closes the circuit and PagerDuty takes over again, and the
 * fallback is sent nothing more. The server runs on a driven clock (no retry or probe comes by
 * itself) and the test waits for the store to record every decision, never a sleep.
 * test/integration/postgres-fallback.test.ts runs the same story on PostgreSQL.
 */

const TM_SECRET = 'tm-secret';
const scratch = scratchFolder();

interface Link {
  destination: string;
  delivery_id: string;
}
interface Delivery {
  id: string;
  event_id: string;
  destination: string;
  status: string;
  attempts: number;
  note: string | null;
  sent_via: Link | null;
  fallback_for: Link | null;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(): Promise<FakeReceiver> {
  const fake = await FakeReceiver.start();
  cleanups.push(() => fake.close());
  return fake;
}

/** Relays stopped by the test itself (a restart), not to be closed again. */
const stopped = new WeakSet<TestRelay>();

/** A relay on `dataDir` (kept across a restart: the test's own folder, removed after it). */
async function relayWith(yaml: string, clock: ManualClock, dataDir: string): Promise<TestRelay> {
  const relay = await startRelay(`${yaml}\nadmin: { token: ${ADMIN_TOKEN} }\n`, {}, { clock, dataDir });
  cleanups.push(async () => {
    if (!stopped.has(relay)) await relay.close();
  });
  return relay;
}

async function stop(relay: TestRelay): Promise<void> {
  stopped.add(relay);
  await relay.close();
}

async function deliveries(relay: TestRelay, query = 'limit=100'): Promise<Delivery[]> {
  return (await relay.admin<{ deliveries: Delivery[] }>(`/deliveries?${query}`)).json.deliveries;
}

/** Every delivery is recorded as decided: none waits or is being sent, so nothing more goes out. */
const allDecided = (list: readonly Delivery[]): boolean => list.every((delivery) => delivery.status !== 'pending' && delivery.status !== 'in_flight');

/** A Tapemetric alert of one region (one incident), firing or resolved, at the sender's time `at`. */
async function alert(relay: TestRelay, region: string, status: 'firing' | 'resolved', at: string): Promise<string> {
  const body = JSON.stringify(tapemetricPayload({ created_at: at }, { region, ...(status === 'resolved' ? { status: 'resolved' } : {}) }));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, TM_SECRET));
  expect(response.status).toBe(202);
  return response.json.id as string;
}

const config = (pagerduty: FakeReceiver, slack: FakeReceiver) => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${TM_SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/webhook')}" }
  - { name: oncall, type: pagerduty, routing_key: rk-test, url: "${pagerduty.url('/v2/enqueue')}", fallback: ops-slack }
routes:
  - { to: [oncall] }
retry: { schedule: [10s], disable_after: 1 }
`;

/** Messages at the Slack fallback that stand in for a page (the circuit's own notices are other messages). */
const viaFallback = (slack: FakeReceiver): ReceivedRequest[] => slack.requests.filter((request) => request.body.includes('via fallback: PagerDuty destination'));
const pagedActions = (pagerduty: FakeReceiver): string[] => pagerduty.requests.map((request) => `${request.json<{ event_action: string; dedup_key: string }>().event_action} ${request.json<{ dedup_key: string }>().dedup_key}`);

describe('fallback destinations: a PagerDuty outage pages through Slack', () => {
  it('breaker opens → the fallback gets each page once, marked → a probe closes it → PagerDuty takes over and the fallback gets nothing more', async () => {
    const pagerduty = await receiver();
    const slack = await receiver();
    let pagerdutyUp = false;
    pagerduty.respond(() => (pagerdutyUp ? { status: 202, body: '{"status":"success"}' } : { status: 503, body: 'unavailable' }));
    let clock = new ManualClock();
    const dataDir = mkdtempSync(join(tmpdir(), 'hookrelay-fallback-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    let relay = await relayWith(config(pagerduty, slack), clock, dataDir);

    // The first page fails: the circuit opens (disable_after: 1) and the page goes to Slack at
    // once, not after its retry's 10 s.
    const first = await alert(relay, 'Maharashtra', 'firing', '2026-11-29T10:00:00Z');
    await pagerduty.waitFor(1);
    await relay.until(
      () => deliveries(relay),
      (list) => list.some((delivery) => delivery.event_id === first && delivery.fallback_for !== null && delivery.status === 'succeeded') && allDecided(list.filter((delivery) => delivery.event_id === first)),
    );
    // While open (the probe waits 10 s), a second incident's page goes straight to Slack.
    const second = await alert(relay, 'Karnataka', 'firing', '2026-11-29T10:00:05Z');
    const open = await relay.until(
      () => deliveries(relay),
      (list) => list.filter((delivery) => delivery.fallback_for !== null && delivery.status === 'succeeded').length === 2 && allDecided(list.filter((delivery) => delivery.event_id === second)),
    );
    expect(pagerduty.requests).toHaveLength(1);

    // Each page reached Slack once, marked, and the log says where each one went.
    const marked = viaFallback(slack);
    expect(marked).toHaveLength(2);
    for (const request of marked) expect(request.body).toContain('via fallback: PagerDuty destination `oncall` is unavailable');
    expect(marked.some((request) => request.body.includes('Maharashtra'))).toBe(true);
    expect(marked.some((request) => request.body.includes('Karnataka'))).toBe(true);
    for (const event of [first, second]) {
      const original = open.find((delivery) => delivery.event_id === event && delivery.destination === 'oncall')!;
      const copy = open.find((delivery) => delivery.event_id === event && delivery.destination === 'ops-slack' && delivery.fallback_for !== null)!;
      expect(original).toMatchObject({ status: 'skipped', sent_via: { destination: 'ops-slack', delivery_id: copy.id } });
      expect(original.note).toContain('sent via fallback ops-slack');
      expect(copy).toMatchObject({ status: 'succeeded', attempts: 1, fallback_for: { destination: 'oncall', delivery_id: original.id } });
    }
    // The admin page of the delivery says so too.
    const firstOriginal = open.find((delivery) => delivery.event_id === first && delivery.destination === 'oncall')!;
    const { cookie } = await signIn(relay.url);
    const page = await (await fetch(`${relay.url}/admin/deliveries/${firstOriginal.id}`, { headers: { cookie } })).text();
    expect(page).toContain('Sent via fallback');
    expect(page).toContain(`/admin/deliveries/${firstOriginal.sent_via!.delivery_id}`);
    const copyPage = await (await fetch(`${relay.url}/admin/deliveries/${firstOriginal.sent_via!.delivery_id}`, { headers: { cookie } })).text();
    expect(copyPage).toContain('Fallback for');
    expect(copyPage).toContain(`/admin/deliveries/${firstOriginal.id}`);
    const destinationPage = await (await fetch(`${relay.url}/admin/destinations/oncall`, { headers: { cookie } })).text();
    expect(destinationPage).toContain('href="/admin/destinations/ops-slack">ops-slack</a> takes its alerts');

    // A restart while the circuit is open sends nothing again: what was handed over is finished,
    // at both ends, and the circuit is still open (the store keeps it).
    await stop(relay);
    clock = new ManualClock(clock.now());
    relay = await relayWith(config(pagerduty, slack), clock, dataDir);
    const afterRestart = await relay.until(() => deliveries(relay), (list) => list.length === open.length && allDecided(list));
    expect(afterRestart.map((delivery) => [delivery.id, delivery.status])).toEqual(open.map((delivery) => [delivery.id, delivery.status]));
    expect(viaFallback(slack)).toHaveLength(2);
    expect(pagerduty.requests).toHaveLength(1);

    // PagerDuty answers again. After the probe's backoff the next page is the probe: it goes to
    // PagerDuty, succeeds and closes the circuit.
    pagerdutyUp = true;
    await clock.advance(10_000);
    const third = await alert(relay, 'Kerala', 'firing', '2026-11-29T10:00:20Z');
    await pagerduty.waitFor(2);
    await relay.until(
      () => relay.admin<{ destinations: Array<{ name: string; enabled: boolean; fallback?: string }> }>('/destinations'),
      (answer) => answer.json.destinations.find((destination) => destination.name === 'oncall')?.enabled === true,
    );
    const listed = (await relay.admin<{ destinations: Array<{ name: string; fallback?: string }> }>('/destinations')).json.destinations;
    expect(listed.map((destination) => [destination.name, destination.fallback])).toEqual(expect.arrayContaining([['oncall', 'ops-slack'], ['ops-slack', undefined]]));
    // The first incident resolves after recovery: the resolve goes to PagerDuty (the original
    // carries the incident again), and the fallback is not told.
    const resolve = await alert(relay, 'Maharashtra', 'resolved', '2026-11-29T10:00:30Z');
    await pagerduty.waitFor(3);
    const closed = await relay.until(() => deliveries(relay), (list) => allDecided(list) && list.filter((delivery) => delivery.destination === 'oncall' && delivery.status === 'succeeded').length === 2);

    expect(pagedActions(pagerduty)).toEqual(['trigger qos.rebuffer_spike:Maharashtra', 'trigger qos.rebuffer_spike:Kerala', 'resolve qos.rebuffer_spike:Maharashtra']);
    expect(viaFallback(slack)).toHaveLength(2);
    // The circuit's own notices, to the people reading Slack, say where the pages went meanwhile.
    const notices = slack.requests.filter((request) => request.body.includes('Destination \\"oncall\\"'));
    expect(notices.map((request) => request.body.includes('is disabled'))).toEqual([true, false]);
    expect(notices[0]!.body).toContain('Its alerts go to ops-slack meanwhile');
    expect(closed.filter((delivery) => delivery.fallback_for !== null)).toHaveLength(2);
    for (const event of [third, resolve]) {
      expect(closed.filter((delivery) => delivery.event_id === event).map((delivery) => [delivery.destination, delivery.status, delivery.sent_via])).toEqual([['oncall', 'succeeded', null]]);
    }

    // `hookrelay deliveries` says where each page went.
    const cli = (destination: string) => runHookrelay(scratch, ['deliveries', destination, '--url', relay.url], { env: { HOOKRELAY_ADMIN_TOKEN: ADMIN_TOKEN } });
    const pagerdutyLog = await cli('oncall');
    expect(pagerdutyLog.code).toBe(0);
    const skipped = lines(pagerdutyLog.stdout).filter((row) => row.includes(' skipped '));
    expect(skipped).toHaveLength(2);
    for (const row of skipped) expect(row).toMatch(/sent via fallback ops-slack \(dlv_\w+\): the circuit was open/);
    const slackLog = await cli('ops-slack');
    expect(slackLog.code).toBe(0);
    expect(lines(slackLog.stdout).filter((row) => /fallback for oncall \(dlv_\w+\)/.test(row))).toHaveLength(2);
  });

  it('a resolve of an incident PagerDuty holds open, during its outage: Slack is told once, marked, and PagerDuty gets it once back, closing its incident', async () => {
    const pagerduty = await receiver();
    const slack = await receiver();
    let pagerdutyUp = true;
    pagerduty.respond(() => (pagerdutyUp ? { status: 202, body: '{"status":"success"}' } : { status: 503, body: 'unavailable' }));
    const clock = new ManualClock();
    const dataDir = mkdtempSync(join(tmpdir(), 'hookrelay-fallback-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const relay = await relayWith(config(pagerduty, slack), clock, dataDir);

    await alert(relay, 'Goa', 'firing', '2026-11-29T10:00:00Z');
    await pagerduty.waitFor(1);
    await relay.until(() => deliveries(relay), (list) => list.length === 1 && allDecided(list));
    // PagerDuty goes down just as the incident resolves: the resolve opens the circuit.
    pagerdutyUp = false;
    const resolve = await alert(relay, 'Goa', 'resolved', '2026-11-29T10:00:05Z');
    await pagerduty.waitFor(2);
    const during = await relay.until(
      () => deliveries(relay),
      (list) => list.some((delivery) => delivery.event_id === resolve && delivery.fallback_for !== null && delivery.status === 'succeeded'),
    );
    const original = during.find((delivery) => delivery.event_id === resolve && delivery.destination === 'oncall')!;
    expect(original).toMatchObject({ status: 'pending', sent_via: { destination: 'ops-slack' } });
    expect(viaFallback(slack)).toHaveLength(1);
    expect(viaFallback(slack)[0]!.body).toContain('Resolved');

    // Back: the probe is that very resolve; it closes PagerDuty's incident, and Slack hears nothing more.
    pagerdutyUp = true;
    await clock.advance(10_000);
    await pagerduty.waitFor(3);
    const after = await relay.until(() => deliveries(relay), (list) => allDecided(list) && list.some((delivery) => delivery.id === original.id && delivery.status === 'succeeded'));
    expect(pagedActions(pagerduty)).toEqual(['trigger qos.rebuffer_spike:Goa', 'resolve qos.rebuffer_spike:Goa', 'resolve qos.rebuffer_spike:Goa']);
    expect(viaFallback(slack)).toHaveLength(1);
    expect(after.filter((delivery) => delivery.fallback_for !== null)).toHaveLength(1);
    expect(after.find((delivery) => delivery.id === original.id)).toMatchObject({ status: 'succeeded', sent_via: { destination: 'ops-slack' } });
  });
});
