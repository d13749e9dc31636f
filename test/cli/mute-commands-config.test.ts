import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { hookrelay as runHookrelay, lines, scratchFolder } from './support.ts';

/** `hookrelay mute list | expire` with mutes from the config: listed as such, never expired from here. */

const scratch = scratchFolder();

let relay: TestRelay;
let receiver: FakeReceiver;

const hookrelay = (args: string[]) => runHookrelay(scratch, [...args, '--url', relay.url], { env: { HOOKRELAY_ADMIN_TOKEN: ADMIN_TOKEN } });

beforeAll(async () => {
  receiver = await FakeReceiver.start();
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s] }
destinations:
  - { name: receiver, type: http, url: "${receiver.url('/hook')}" }
time_intervals:
  - { name: nights, time_intervals: [ { times: [ { start_time: "00:00", end_time: "06:00" } ] } ] }
mutes:
  - { name: batch-jobs, matchers: { type: "batch.*" }, reason: nightly batch noise, during: [ nights ] }
  - { name: staging, matchers: { data.env: staging }, reason: not production }
routes:
  - { to: [receiver] }
admin: { token: "${ADMIN_TOKEN}" }
`);
});

afterAll(async () => {
  await relay?.close();
  await receiver?.close();
});

describe('hookrelay mute list / expire and the config mutes', () => {
  it('list shows the config mutes beside run-time ones, marked as from the config (with their intervals) and set by the config', async () => {
    const { json: added } = await relay.admin<{ id: string }>('/mutes', { method: 'POST', body: { matchers: { type: 'qos.*' }, duration: '1h', reason: 'cdn', created_by: 'dana' } });
    const run = await hookrelay(['mute', 'list']);
    expect(run.code).toBe(0);
    const [header, ...rows] = lines(run.stdout);
    expect(header!.split(/\s{2,}/)).toEqual(['ID', 'MATCHERS', 'UNTIL', 'BY', 'REASON']);
    expect(rows.map((row) => row.split(/\s{2,}/))).toEqual([
      ['batch-jobs', 'type=batch.*', 'from the config, during nights', 'config', 'nightly batch noise'],
      ['staging', 'data.env=staging', 'from the config', 'config', 'not production'],
      [added.id, 'type=qos.*', expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/), 'dana', 'cdn'],
    ]);
    const json = JSON.parse((await hookrelay(['mute', 'list', '--json'])).stdout) as { mutes: Array<Record<string, unknown>> };
    expect(json.mutes[0]).toMatchObject({ id: 'batch-jobs', from_config: true, expires_at: null, during: ['nights'] });
  });

  it('expire of a config mute says it is the config\'s and exits 1; the others named are still ended', async () => {
    const { json: mute } = await relay.admin<{ id: string }>('/mutes', { method: 'POST', body: { matchers: { type: 'a.*' }, duration: '1h', reason: 'x' } });
    const run = await hookrelay(['mute', 'expire', 'staging', mute.id]);
    expect(run.code).toBe(1);
    expect(run.stdout.trim()).toBe(`${mute.id}: ended (type=a.*)`);
    expect(lines(run.stderr)).toEqual(['mute staging is from the config (mutes: in the config file) and cannot be expired here: remove it from the config and restart']);
    expect((await relay.admin<{ mutes: Array<{ id: string }> }>('/mutes')).json.mutes.map((listed) => listed.id)).toContain('staging');
  });
});
