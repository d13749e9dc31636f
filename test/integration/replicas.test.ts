/**
 * Three `hookrelay serve` processes on one PostgreSQL database, as replicas behind a load
 * balancer, with 2,000 signed events spread over them and one replica killed with SIGKILL
 * halfway. What a user relies on: every accepted event is delivered (the dead replica's leases
 * are taken over when they expire), the only duplicates are the dead replica's in-flight
 * leases, a destination limited to 20/s receives at most ~20/s from all replicas together, and
 * a PagerDuty-like destination sees each incident's events in order.
 *
 * hookrelay has no lease setting: the default 60 s lease is what the survivors wait out, so
 * this test takes a little over a minute.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, spawnRelay } from '../support/child-relay.ts';
import { createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { FakeReceiver } from '../support/receiver.ts';
import type { ReceivedRequest } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const SECRET = 'replica-secret';
const EVENTS = 2_000;
const PACED = 200;
const INCIDENTS = 20;
const STEPS = 10;
const PACED_RATE = 20;

const dir = mkdtempSync(join(tmpdir(), 'hookrelay-replicas-'));
let database: TestDatabase;
let receiver: FakeReceiver;
const replicas: Array<ChildProcess & { output: () => string }> = [];

beforeAll(async () => {
  database = await createTestDatabase();
  receiver = await FakeReceiver.start();
});
afterAll(async () => {
  for (const replica of replicas) {
    if (replica.exitCode === null && replica.signalCode === null) {
      replica.kill('SIGKILL');
      await new Promise((resolve) => replica.once('exit', resolve));
    }
  }
  await receiver?.close();
  await database?.drop();
  rmSync(dir, { recursive: true, force: true });
});

/** Every event to `audit`; one kind to `paced` (20/s); incidents to `oncall` (PagerDuty Events v2, in order). */
const config = (): string => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: audit, type: http, url: "${receiver.url('/audit')}", concurrency: 8 }
  - { name: paced, type: http, url: "${receiver.url('/paced')}", concurrency: 4, rate: { max: ${PACED_RATE}, per: 1s } }
  - { name: oncall, type: pagerduty, routing_key: replica-test-key, url: "${receiver.url('/pd')}", concurrency: 4, rate: { max: 1000, per: 1s } }
routes:
  - { name: all, to: [audit] }
  - { name: paced, match: { type: "qos.paced_probe" }, to: [paced] }
  - { name: pager, match: { type: "qos.incident_step" }, to: [oncall] }
retry: { schedule: [200ms, 500ms, 1s, 2s, 5s], disable_after: 100 }
`;

type Planned = { readonly body: string; readonly externalId: string };

function planned(payload: Record<string, unknown>): Planned {
  return { body: JSON.stringify(payload), externalId: String(payload.id) };
}

/** Each event has a region of its own (its own incident), but the PagerDuty ones: 20 incidents of 10 steps. */
function plan(): { loose: Planned[]; chains: Planned[][] } {
  const loose: Planned[] = [];
  for (let i = 0; i < EVENTS - INCIDENTS * STEPS; i++) {
    const type = i < PACED ? 'qos.paced_probe' : 'qos.rebuffer_spike';
    loose.push(planned(tapemetricPayload({ id: `loose_${i}`, type }, { region: `region-${i}` })));
  }
  const chains = Array.from({ length: INCIDENTS }, (_, incident) =>
    Array.from({ length: STEPS }, (_, step) =>
      planned(
        tapemetricPayload(
          // Later steps happened later (sender time), as a sender would say.
          { id: `incident_${incident}_${step}`, type: 'qos.incident_step', created_at: new Date(Date.UTC(2026, 3, 23, 18, 0, step)).toISOString() },
          { region: `incident-${incident}`, step },
        ),
      ),
    ),
  );
  return { loose, chains };
}

describe('three replicas on one PostgreSQL, one killed with SIGKILL halfway', () => {
  it('every accepted event delivered; duplicates only from the dead replica\'s leases; 20/s held in total; incident order kept', async () => {
    const file = join(dir, 'hookrelay.yaml');
    writeFileSync(file, config());
    // A receiver that takes a moment, so attempts are in flight (leased) when the replica dies.
    receiver.respond(() => ({ status: 200, delayMs: 10 }));
    const ports = [await freePort(), await freePort(), await freePort()];
    const env = { DATABASE_URL: database.url, HOOKRELAY_ALLOW_PRIVATE: '1' };
    // The first migrates; the others find the schema up to date.
    replicas.push(await spawnRelay({ config: file, port: ports[0]!, env }));
    replicas.push(...(await Promise.all(ports.slice(1).map((port) => spawnRelay({ config: file, port, env })))));
    const victim = replicas[2]!;
    const victimPort = ports[2]!;

    const accepted = new Set<string>();
    let refusedByDeadReplica = 0;
    let killedAt: number | null = null;
    let killedLeases: Array<{ id: string; destination: string }> = [];
    const kill = async (): Promise<void> => {
      killedAt = Date.now();
      victim.kill('SIGKILL');
      await new Promise((resolve) => victim.once('exit', resolve));
      // What it held when it died: the leases the survivors take over once they expire.
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ id: string; destination: string }>(
          "SELECT id, destination FROM deliveries WHERE status = 'in_flight' AND lease_owner LIKE $1",
          [`%:${victim.pid}:%`],
        );
        killedLeases = rows;
      } finally {
        await client.end();
      }
    };
    let killing: Promise<void> | null = null;

    /**
     * Like a load balancer with retries: a replica that is gone or refuses is skipped for the next,
     * and once killed it is out of the rotation, as a health check takes it out: its port is no
     * one's then, and the machine may give it to a server of another test file running beside
     * this one (a fake PagerDuty of slack.test.ts once answered these posts).
     */
    const deliver = async (event: Planned, first: number): Promise<void> => {
      for (let attempt = 0; attempt < 30; attempt++) {
        const live = killedAt === null ? ports : ports.filter((port) => port !== victimPort);
        const port = live[(first + attempt) % live.length]!;
        try {
          const response = await fetch(`http://127.0.0.1:${port}/hooks/tapemetric`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...tapemetricHeaders(event.body, SECRET) },
            body: event.body,
          });
          await response.arrayBuffer();
          // 200 duplicate: an earlier try was stored (its answer lost with the replica).
          if (response.status === 202 || response.status === 200) {
            accepted.add(event.externalId);
            if (accepted.size >= EVENTS / 2 && killing === null) killing = kill();
            return;
          }
          expect(response.status, `replica on ${port}`).toBe(503);
        } catch {
          refusedByDeadReplica += 1;
        }
      }
      throw new Error(`event ${event.externalId} was never accepted`);
    };

    const { loose, chains } = plan();
    let next = 0;
    let counter = 0;
    const worker = async (): Promise<void> => {
      while (next < loose.length) {
        const event = loose[next++]!;
        await deliver(event, counter++ % 3);
      }
    };
    // An incident's steps are sent one after the other (each after the previous was accepted), over all replicas.
    const chain = async (events: Planned[], offset: number): Promise<void> => {
      for (const [step, event] of events.entries()) await deliver(event, (offset + step) % 3);
    };
    await Promise.all([...Array.from({ length: 12 }, worker), ...chains.map((events, index) => chain(events, index))]);
    await killing;
    expect(killedAt).not.toBeNull();
    expect(victim.signalCode).toBe('SIGKILL');
    expect(accepted.size).toBe(EVENTS);
    // The kill interrupted work, or this proves nothing about taking leases over.
    expect(killedLeases.length, victim.output()).toBeGreaterThan(0);

    const externalId = (request: ReceivedRequest): string =>
      request.path === '/pd'
        ? request.json<{ payload: { custom_details: { id: string } } }>().payload.custom_details.id
        : request.json<{ payload: { id: string } }>().payload.id;
    const missing = (path: string, expected: Iterable<string>): string[] => {
      const seen = new Set(receiver.received(path).map(externalId));
      return [...expected].filter((id) => !seen.has(id));
    };
    const pacedIds = loose.slice(0, PACED).map((event) => event.externalId);
    const pagerIds = chains.flat().map((event) => event.externalId);
    const deadline = Date.now() + 100_000;
    while (
      (missing('/audit', accepted).length > 0 || missing('/paced', pacedIds).length > 0 || missing('/pd', pagerIds).length > 0) &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(missing('/audit', accepted)).toEqual([]);
    expect(missing('/paced', pacedIds)).toEqual([]);
    expect(missing('/pd', pagerIds)).toEqual([]);

    // Duplicates: http requests carry the delivery id (webhook-id); PagerDuty ones are counted by event.
    const killedIds = new Set(killedLeases.map((lease) => lease.id));
    const repeats = (requests: ReceivedRequest[], key: (request: ReceivedRequest) => string): string[] => {
      const seen = new Set<string>();
      return requests.map(key).filter((id) => (seen.has(id) ? true : (seen.add(id), false)));
    };
    const httpRepeats = repeats([...receiver.received('/audit'), ...receiver.received('/paced')], (request) => String(request.headers['webhook-id']));
    expect(httpRepeats.filter((id) => !killedIds.has(id))).toEqual([]);
    const pagerRepeats = repeats(receiver.received('/pd'), externalId);
    const killedPagerLeases = killedLeases.filter((lease) => lease.destination === 'oncall').length;
    expect(pagerRepeats.length).toBeLessThanOrEqual(killedPagerLeases);
    expect(httpRepeats.length + pagerRepeats.length).toBeLessThanOrEqual(killedLeases.length);

    // The rate is the cluster's: the busiest four seconds of `paced` (sliding, from each arrival).
    // Budgets are granted evenly (one per 50 ms), but a grant's request reaches the receiver after
    // a loaded replica's event loop gets to it, so arrivals bunch by a few at a window's edges (6
    // over a 2 s window's 40 once in a parallel CI run; 7 over this 4 s window's 80 once, in a
    // fresh-clone CI run on 2 cores); three replicas each spending a budget of their own would put
    // ~240 in the window, one limit 25/s instead of 20 would put 100.
    const times = receiver.received('/paced').map((request) => request.at).sort((a, b) => a - b);
    let busiest = 0;
    for (let start = 0, end = 0; start < times.length; start++) {
      while (end < times.length && times[end]! < times[start]! + 4_000) end++;
      busiest = Math.max(busiest, end - start);
    }
    expect(busiest).toBeLessThanOrEqual(4 * PACED_RATE + 10);

    // Each incident's steps reach PagerDuty in the order they happened (a repeat may follow itself).
    for (let incident = 0; incident < INCIDENTS; incident++) {
      const steps = receiver
        .received('/pd')
        .map((request) => request.json<{ dedup_key: string; payload: { custom_details: { data: { step: number } } } }>())
        .filter((body) => body.dedup_key === `qos.incident_step:incident-${incident}`)
        .map((body) => body.payload.custom_details.data.step);
      expect(steps, `incident ${incident}`).toEqual([...steps].sort((a, b) => a - b));
      expect(new Set(steps).size).toBe(STEPS);
    }
    console.log(
      `replicas: ${accepted.size} accepted, ${refusedByDeadReplica} requests refused by the dead replica, ${killedLeases.length} leases taken over, ` +
        `${httpRepeats.length + pagerRepeats.length} duplicates, paced busiest four seconds ${busiest}, all delivered ${Math.round((Date.now() - killedAt!) / 1000)} s after the kill`,
    );
  }, 180_000);
});
