import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { hookrelay as runHookrelay, lines, scratchFolder } from './support.ts';

const scratch = scratchFolder();
const SECRET = 'tapemetric-secret';

let relay: TestRelay;
let receiver: FakeReceiver;
/** The deliveries made before the tests, newest first: one muted, one failed (receiver answered 500), then one succeeded. */
let succeededId: string;
let failedId: string;
let mutedId: string;
let muteId: string;

const hookrelay = (args: string[], env: Record<string, string> = { HOOKRELAY_ADMIN_TOKEN: ADMIN_TOKEN }) => runHookrelay(scratch, [...args, '--url', relay.url], { env });

async function deliver(type: string): Promise<string> {
  const body = JSON.stringify(tapemetricPayload({ type }));
  const posted = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(posted.status).toBe(202);
  const eventId = posted.json.id as string;
  const { json } = await relay.until(
    () => relay.admin<{ deliveries: Array<{ id: string; event_id: string; status: string }> }>('/deliveries?destination=receiver'),
    ({ json: listed }) => listed.deliveries.some((delivery) => delivery.event_id === eventId && (delivery.status === 'succeeded' || delivery.status === 'failed')),
  );
  return json.deliveries.find((delivery) => delivery.event_id === eventId)!.id;
}

beforeAll(async () => {
  receiver = await FakeReceiver.start();
  relay = await startRelay(
    `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${receiver.url('/hook')}" }
routes:
  - { to: [receiver] }
retry: { schedule: [], disable_after: 10 }
admin: { token: "${ADMIN_TOKEN}" }
`,
  );
  succeededId = await deliver('qos.rebuffer_spike');
  receiver.respond(() => ({ status: 500, body: 'receiver down' }));
  failedId = await deliver('billing.payment_failure');
  receiver.respond(() => ({ status: 200, body: 'ok' }));
  const mute = await relay.admin<{ id: string }>('/mutes', { method: 'POST', body: { matchers: { type: 'billing.refund_issued' }, duration: '1h', reason: 'refund backfill' } });
  muteId = mute.json.id;
  // A resolve: when the mute ends below, it stays muted (a firing incident would be told then).
  const body = JSON.stringify(tapemetricPayload({ type: 'billing.refund_issued' }, { status: 'resolved' }));
  const posted = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  const listed = await relay.admin<{ deliveries: Array<{ id: string; event_id: string }> }>(`/deliveries?event_id=${String(posted.json.id)}`);
  mutedId = listed.json.deliveries[0]!.id;
  // Back to the two sent deliveries for the tests below: the mute ends.
  await relay.admin(`/mutes/${muteId}`, { method: 'DELETE' });
});

afterAll(async () => {
  await relay?.close();
  await receiver?.close();
});

describe('hookrelay deliveries', () => {
  it('a table of the destination\'s deliveries, newest first, with event type, status, code, latency, attempts and why one is held or failed', async () => {
    const run = await hookrelay(['deliveries', 'receiver']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [header, ...rows] = lines(run.stdout);
    expect(header!.split(/\s{2,}/)).toEqual(['TIME', 'ID', 'EVENT TYPE', 'STATUS', 'CODE', 'LATENCY', 'ATTEMPTS', 'REASON']);
    expect(rows).toHaveLength(3);
    expect(rows[0]!.split(/\s{2,}/)).toEqual([expect.any(String), mutedId, 'billing.refund_issued', 'muted', '–', '–', '0', `muted by ${muteId} (refund backfill)`]);
    expect(rows[1]!.split(/\s{2,}/)).toEqual([
      expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      failedId,
      'billing.payment_failure',
      'failed',
      '500',
      expect.stringMatching(/^\d+ ms$/),
      '1',
      'HTTP 500: receiver down',
    ]);
    expect(rows[2]!.split(/\s{2,}/)).toEqual([expect.any(String), succeededId, 'qos.rebuffer_spike', 'succeeded', '200', expect.stringMatching(/^\d+ ms$/), '1', '–']);
  });

  it('--status and --limit narrow the list', async () => {
    const failed = await hookrelay(['deliveries', 'receiver', '--status', 'failed']);
    expect(failed.code).toBe(0);
    expect(lines(failed.stdout).slice(1).map((row) => row.split(/\s{2,}/)[1])).toEqual([failedId]);
    const one = await hookrelay(['deliveries', 'receiver', '--limit', '1', '--json']);
    expect(one.code).toBe(0);
    expect((JSON.parse(one.stdout) as { deliveries: Array<{ id: string }> }).deliveries.map((delivery) => delivery.id)).toHaveLength(1);
  });

  it('a misspelled --status → exit 2 with "did you mean" and the usage, without calling the server', async () => {
    const run = await hookrelay(['deliveries', 'receiver', '--status', 'faild']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('"faild" is not a delivery status (did you mean "failed"?)');
    expect(run.stderr).toContain('Usage: hookrelay deliveries');
  });

  it('an unknown destination → exit 1 naming it, with "did you mean"', async () => {
    const run = await hookrelay(['deliveries', 'reciever']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('no destination is named "reciever" (did you mean "receiver"?)');
  });

  it('a wrong token → exit 1 saying the server refused HOOKRELAY_ADMIN_TOKEN', async () => {
    const run = await hookrelay(['deliveries', 'receiver'], { HOOKRELAY_ADMIN_TOKEN: 'wrong-token' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${relay.url} refused the admin token in HOOKRELAY_ADMIN_TOKEN`);
  });

  it('no HOOKRELAY_ADMIN_TOKEN → exit 2 saying to set it', async () => {
    const run = await hookrelay(['deliveries', 'receiver'], {});
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^HOOKRELAY_ADMIN_TOKEN is not set/);
  });

  it('no server at --url → exit 1 saying it cannot be reached', async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => probe.once('listening', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise((resolve) => probe.close(resolve));
    const run = await runHookrelay(scratch, ['deliveries', 'receiver', '--url', `http://127.0.0.1:${port}`], { env: { HOOKRELAY_ADMIN_TOKEN: ADMIN_TOKEN } });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`cannot reach hookrelay at http://127.0.0.1:${port}: connection refused`);
  });
});

describe('hookrelay events', () => {
  const eventIds = async (): Promise<string[]> => (await relay.admin<{ events: Array<{ id: string }> }>('/events')).json.events.map((event) => event.id);

  it('a table of the events, newest first: received, id, source, type, severity, status, deliveries by status, title', async () => {
    const ids = await eventIds();
    const run = await hookrelay(['events']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [header, ...rows] = lines(run.stdout);
    expect(header!.split(/\s{2,}/)).toEqual(['RECEIVED', 'ID', 'SOURCE', 'TYPE', 'SEVERITY', 'STATUS', 'DELIVERIES', 'TITLE']);
    expect(rows.map((row) => row.split(/\s{2,}/)[1])).toEqual(ids);
    expect(rows.map((row) => row.split(/\s{2,}/)[3])).toEqual(['billing.refund_issued', 'billing.payment_failure', 'qos.rebuffer_spike']);
    expect(rows[2]!.split(/\s{2,}/)).toEqual([
      expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      ids[2],
      'tapemetric',
      'qos.rebuffer_spike',
      'critical',
      'firing',
      '1 succeeded',
      'Rebuffer spike in Maharashtra',
    ]);
    expect(rows.map((row) => row.split(/\s{2,}/)[6])).toEqual(['1 muted', '1 failed', '1 succeeded']);
  });

  it('--q finds title text in any case; --json gives the events and where the next page starts', async () => {
    const run = await hookrelay(['events', '--q', 'PAYMENT failure', '--json']);
    expect(run.code).toBe(0);
    const answer = JSON.parse(run.stdout) as { events: Array<{ type: string; title: string }>; next_before: string | null };
    expect(answer.events.map((event) => event.type)).toEqual(['billing.payment_failure']);
    expect(answer.next_before).toBeNull();
    const billing = await hookrelay(['events', '--type', 'billing.*', '--json']);
    expect((JSON.parse(billing.stdout) as { events: Array<{ type: string }> }).events.map((event) => event.type)).toEqual(['billing.refund_issued', 'billing.payment_failure']);
    const none = await hookrelay(['events', '--q', '100%', '--type', 'qos.rebuffer_spike']);
    expect(none.code).toBe(0);
    expect(none.stdout.trim()).toBe('no events match');
  });

  it('--limit pages: a full page says which --before lists the older ones', async () => {
    const ids = await eventIds();
    const first = await hookrelay(['events', '--limit', '1']);
    expect(first.code).toBe(0);
    const [, row, more] = lines(first.stdout);
    expect(row!.split(/\s{2,}/)[1]).toBe(ids[0]);
    expect(more).toBe(`older events: the same search with --before ${ids[0]}`);
    const second = await hookrelay(['events', '--limit', '1', '--before', ids[0]!, '--json']);
    expect((JSON.parse(second.stdout) as { events: Array<{ id: string }> }).events.map((event) => event.id)).toEqual([ids[1]]);
  });

  it('--since and --until take a time or a duration back; the server says what it could not read (exit 1)', async () => {
    expect(lines((await hookrelay(['events', '--since', '1h'])).stdout)).toHaveLength(4);
    expect((await hookrelay(['events', '--until', '1h'])).stdout.trim()).toBe('no events match');
    const run = await hookrelay(['events', '--since', 'yesterday']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('since: "yesterday" is neither an ISO time (2026-01-01T00:00:00Z) nor a duration (2h)');
  });

  it('a misspelled --severity or --status, or a --limit out of range → exit 2 with the usage, without calling the server', async () => {
    const severity = await hookrelay(['events', '--severity', 'critcal']);
    expect(severity.code).toBe(2);
    expect(severity.stderr).toContain('--severity: "critcal" is not a severity (did you mean "critical"?)');
    expect(severity.stderr).toContain('Usage: hookrelay events');
    const status = await hookrelay(['events', '--status', 'open']);
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('--status: "open" is not an event status (known: firing, resolved)');
    const limit = await hookrelay(['events', '--limit', '201']);
    expect(limit.code).toBe(2);
    expect(limit.stderr).toContain('--limit: "201" is not a whole number from 1 to 200');
  });
});

describe('hookrelay replay', () => {
  it('sends the same request again as a new delivery: the receiver gets the same body', async () => {
    const before = receiver.requests.length;
    const original = receiver.requests.find((request) => request.headers['webhook-id'] === succeededId)!;
    const run = await hookrelay(['replay', succeededId]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [, replayId] = /as (dlv_\S+)/.exec(run.stdout) ?? [];
    expect(replayId).toBeDefined();
    const received = await receiver.waitFor(before + 1);
    const replayed = received.find((request) => request.headers['webhook-id'] === replayId)!;
    expect(replayed.body).toBe(original.body);
  });

  it('an unknown delivery id → exit 1 saying so', async () => {
    const run = await hookrelay(['replay', 'dlv_nonexistent']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toBe('no delivery or event dlv_nonexistent');
  });
});

describe('hookrelay send-test', () => {
  it('sends a sample event now and prints the answer, exit 0', async () => {
    const before = receiver.requests.length;
    receiver.respond(() => ({ status: 200, body: 'test received' }));
    const run = await hookrelay(['send-test', 'receiver']);
    expect(run.code).toBe(0);
    expect(lines(run.stdout)).toEqual([expect.stringMatching(/^receiver: ok, HTTP 200 in \d+ ms$/), 'response: test received']);
    const [request] = (await receiver.waitFor(before + 1)).slice(before);
    expect(request!.json<{ event: { title: string } }>().event.title).toMatch(/^Test from hookrelay/);
  });

  it('a destination answering 500 → exit 1 with its answer', async () => {
    receiver.respond(() => ({ status: 500, body: 'receiver down' }));
    const run = await hookrelay(['send-test', 'receiver']);
    receiver.respond(() => ({ status: 200, body: 'ok' }));
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^receiver: failed, HTTP 500/);
    expect(run.stderr).toContain('response: receiver down');
  });

  it('an unknown destination → exit 1 naming it', async () => {
    const run = await hookrelay(['send-test', 'nowhere']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no destination is named "nowhere"');
  });
});
