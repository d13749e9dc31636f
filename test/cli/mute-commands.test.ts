import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { hookrelay as runHookrelay, lines, scratchFolder } from './support.ts';

/**
 * `hookrelay mute add | list | expire` (reach issue, "Mute schedules and re-notification"): a
 * mute CLI like amtool's silences, against a running server's admin API, with --json.
 */

const scratch = scratchFolder();
const SECRET = 'tapemetric-secret';

let relay: TestRelay;
let receiver: FakeReceiver;

const hookrelay = (args: string[], env: Record<string, string> = { HOOKRELAY_ADMIN_TOKEN: ADMIN_TOKEN }) => runHookrelay(scratch, [...args, '--url', relay.url], { env });

/** Sends one event of `type` and answers its delivery's status and note once it is finished. */
async function deliver(type: string, region = 'Karnataka'): Promise<{ status: string; note: string | null }> {
  const body = JSON.stringify(tapemetricPayload({ type, data: { region } }));
  const posted = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(posted.status).toBe(202);
  const { json } = await relay.until(
    () => relay.admin<{ deliveries: Array<{ status: string; note: string | null }> }>(`/deliveries?event_id=${String(posted.json.id)}`),
    ({ json: listed }) => listed.deliveries.some((delivery) => ['succeeded', 'failed', 'muted'].includes(delivery.status)),
  );
  return json.deliveries[0]!;
}

beforeAll(async () => {
  receiver = await FakeReceiver.start();
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: receiver, type: http, url: "${receiver.url('/hook')}" }
routes:
  - { to: [receiver] }
admin: { token: "${ADMIN_TOKEN}" }
`);
});

afterAll(async () => {
  await relay?.close();
  await receiver?.close();
});

describe('hookrelay mute add, list, expire', () => {
  it('add holds matching events from then on, list shows what, until when, who and why; expire ends it and the next event goes out', async () => {
    const added = await hookrelay(['mute', 'add', 'type=qos.*', 'data.region=Maharashtra', '2h', '--reason', 'CDN maintenance', '--by', 'dana']);
    expect(added.stderr).toBe('');
    expect(added.code).toBe(0);
    const [, id, until] = /^(mut_\w+): muted type=qos\.\* data\.region=Maharashtra until (\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ) \(2h\)$/.exec(added.stdout.trim()) ?? [];
    expect(id).toBeDefined();

    expect(await deliver('qos.rebuffer_spike', 'Maharashtra')).toMatchObject({ status: 'muted', note: expect.stringContaining(id!) });
    // Both matchers must hold: another region, or another type, is sent.
    expect((await deliver('qos.rebuffer_spike', 'Karnataka')).status).toBe('succeeded');
    expect((await deliver('billing.payment_failure', 'Maharashtra')).status).toBe('succeeded');

    const listed = await hookrelay(['mute', 'list']);
    expect(listed.code).toBe(0);
    const [header, ...rows] = lines(listed.stdout);
    expect(header!.split(/\s{2,}/)).toEqual(['ID', 'MATCHERS', 'UNTIL', 'BY', 'REASON']);
    expect(rows.map((row) => row.split(/\s{2,}/))).toEqual([[id, 'type=qos.* data.region=Maharashtra', until, 'dana', 'CDN maintenance']]);

    const json = JSON.parse((await hookrelay(['mute', 'list', '--json'])).stdout) as { mutes: Array<{ id: string; matchers: object; created_by: string }> };
    expect(json.mutes).toEqual([expect.objectContaining({ id, matchers: { type: 'qos.*', 'data.region': 'Maharashtra' }, created_by: 'dana' })]);

    const expired = await hookrelay(['mute', 'expire', id!]);
    expect(expired.code).toBe(0);
    expect(expired.stdout.trim()).toBe(`${id}: ended (type=qos.* data.region=Maharashtra)`);
    expect((await deliver('qos.rebuffer_spike', 'Maharashtra')).status).toBe('succeeded');

    expect((await hookrelay(['mute', 'list'])).stdout.trim()).toBe('no active mutes');
    const all = lines((await hookrelay(['mute', 'list', '--all'])).stdout);
    expect(all[0]!.split(/\s{2,}/)).toEqual(['ID', 'MATCHERS', 'UNTIL', 'ENDED', 'BY', 'REASON']);
    expect(all.find((row) => row.startsWith(id!))!.split(/\s{2,}/)[3]).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
  });

  it('without --by, the mute names the terminal user that set it, from the CLI', async () => {
    const added = await hookrelay(['mute', 'add', 'type=batch.*', '30m', '--reason', 'nightly batch', '--json']);
    expect(added.code).toBe(0);
    const mute = JSON.parse(added.stdout) as { id: string; created_by: string; reason: string };
    expect(mute.created_by).toMatch(/ \(cli\)$/);
    expect(mute.reason).toBe('nightly batch');
    await hookrelay(['mute', 'expire', mute.id]);
  });

  it('expire ends each id it can and exits 1 naming the ones that are not active', async () => {
    const { json: mute } = await relay.admin<{ id: string }>('/mutes', { method: 'POST', body: { matchers: { type: 'a.*' }, duration: '1h', reason: 'x' } });
    const run = await hookrelay(['mute', 'expire', 'mut_nosuchmute', mute.id, mute.id]);
    expect(run.code).toBe(1);
    expect(run.stdout.trim()).toBe(`${mute.id}: ended (type=a.*)`);
    expect(lines(run.stderr)).toEqual(['no active mute mut_nosuchmute', `no active mute ${mute.id}`]);
  });

  it.each([
    [['mute', 'add', '2h', '--reason', 'r'], /"mute" needs at least one field=glob, e.g. "type=qos\.\*"/],
    [['mute', 'add', 'type=qos.*', '--reason', 'r'], /"mute" needs a duration after the matchers \("30m", "2h", "1d"\)/],
    [['mute', 'add', 'type=qos.*', 'soon', '--reason', 'r'], /needs a duration .*, not "soon"/],
    [['mute', 'add', 'type=', '2h', '--reason', 'r'], /"type=" is not field=glob/],
    [['mute', 'add', 'type=qos.*', '2h'], /--reason is required/],
    [['mute', 'add', 'type=qos.*', '2h', 'because', '--reason', 'r'], /unexpected argument "because" after the duration/],
    [['mute', 'expire'], /<mute-id> is required/],
  ])('%j is a usage error (exit 2) that says what is wrong, and sets no mute', async (args, message) => {
    const run = await hookrelay(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toContain('Usage: hookrelay mute');
    expect((await relay.admin<{ mutes: unknown[] }>('/mutes')).json.mutes).toEqual([]);
  });

  it("the server's refusal of a matcher is the command's error (exit 1), word for word", async () => {
    const run = await hookrelay(['mute', 'add', 'colour=red', '2h', '--reason', 'r']);
    expect(run.code).toBe(1);
    expect(run.stderr.trim()).toMatch(/"colour" is not an event field: use source, type, .* or data\.<path>/);
  });

  it('a wrong admin token is refused with the token named, and nothing is muted', async () => {
    const run = await hookrelay(['mute', 'add', 'type=qos.*', '2h', '--reason', 'r'], { HOOKRELAY_ADMIN_TOKEN: 'wrong-token-0123456789' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('refused the admin token in HOOKRELAY_ADMIN_TOKEN');
    expect((await relay.admin<{ mutes: unknown[] }>('/mutes')).json.mutes).toEqual([]);
  });
});
