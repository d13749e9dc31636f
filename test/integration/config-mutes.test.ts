import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../support/clock.ts';
import { drivenOutcomes } from '../support/driven-outcome.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { form, signIn } from '../admin/support.ts';

/**
 * The config's time intervals on the whole server, on a driven clock: mutes from the config
 * (always on, or only `during` their intervals; read-only in the API) and a route's
 * `muted_during` / `active_during`, each naming what held a delivery in the delivery log, and
 * what they held told once when they end. The tests are one story on one clock, in order.
 */

const SECRET = 'tm-secret';
const HOUR = 3_600_000;

interface Mute {
  id: string;
  matchers: Record<string, string>;
  reason: string;
  created_by: string;
  expires_at: string | null;
  from_config?: boolean;
  during?: string[];
}

let clock: ManualClock;
let slack: FakeReceiver;
let relay: TestRelay;

beforeAll(async () => {
  // Sunday 2026-11-29 10:00 UTC: day.
  clock = new ManualClock(Date.parse('2026-11-29T10:00:00Z'));
  slack = await FakeReceiver.start();
  relay = await startRelay(
    `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-slack, type: slack, url: "${slack.url('/webhook')}" }
time_intervals:
  - name: nights
    time_intervals:
      - times: [ { start_time: "22:00", end_time: "24:00" }, { start_time: "00:00", end_time: "06:00" } ]
  - name: office_hours
    time_intervals:
      - { weekdays: [ "monday:friday" ], times: [ { start_time: "09:00", end_time: "17:00" } ] }
mutes:
  - { name: batch-jobs, matchers: { data.region: Kerala }, reason: nightly batch noise, during: [ nights ] }
  - { name: staging, matchers: { data.region: Goa }, reason: staging noise }
routes:
  - { name: low, to: [ ops-slack ], filter: { data.region: { $in: [ Assam, Bihar ] } }, muted_during: [ nights ] }
  - { name: day, to: [ ops-slack ], filter: { data.region: Punjab }, active_during: [ office_hours ] }
  - { name: all, to: [ ops-slack ] }
admin: { token: ${ADMIN_TOKEN} }
`,
    {},
    { clock },
  );
});
afterAll(async () => {
  await relay.close();
  await slack.close();
});

const { send, outcome, outcomeOnceReleased } = drivenOutcomes(() => relay, () => clock, { secret: SECRET, destination: 'ops-slack' });

describe('config mutes and route intervals on the whole server', () => {
  it('GET /api/v1/mutes lists the config mutes, marked as such and without an end; DELETE answers 409 and changes nothing', async () => {
    const listed = (await relay.admin<{ mutes: Mute[] }>('/mutes')).json.mutes;
    expect(listed).toEqual([
      expect.objectContaining({ id: 'batch-jobs', matchers: { 'data.region': 'Kerala' }, reason: 'nightly batch noise', created_by: 'config', expires_at: null, from_config: true, during: ['nights'] }),
      expect.objectContaining({ id: 'staging', reason: 'staging noise', expires_at: null, from_config: true }),
    ]);
    expect(listed[1]).not.toHaveProperty('during');
    const refused = await relay.admin<{ error: { code: string; message: string } }>('/mutes/batch-jobs', { method: 'DELETE' });
    expect(refused.status).toBe(409);
    expect(refused.json.error).toEqual({
      code: 'conflict',
      message: 'mute batch-jobs is from the config (mutes: in the config file) and cannot be expired here: remove it from the config and restart',
    });
    expect((await relay.admin<{ mutes: Mute[] }>('/mutes')).json.mutes.map((mute) => mute.id)).toEqual(['batch-jobs', 'staging']);
    expect((await relay.admin<{ mutes: Mute[] }>('/mutes?all=1')).json.mutes.map((mute) => mute.id)).toEqual(['batch-jobs', 'staging']);
  });

  it('the admin pages list the config mutes as from the config, with no Delete button; a delete posted by hand answers 409 and ends nothing', async () => {
    const { cookie, csrf } = await signIn(relay.url);
    const page = await (await fetch(`${relay.url}/admin/mutes`, { headers: { cookie } })).text();
    expect(page).toContain('<th scope="row"><code>batch-jobs</code></th>');
    expect(page).toContain('from the config, during nights');
    expect(page).toContain('read-only (config)');
    expect(page).not.toContain('/admin/mutes/batch-jobs/delete');
    const posted = form({ _csrf: csrf });
    const byHand = await fetch(`${relay.url}/admin/mutes/batch-jobs/delete`, { method: 'POST', redirect: 'manual', headers: { ...posted.headers, cookie }, body: posted.body });
    expect(byHand.status).toBe(409);
    expect(await byHand.text()).toContain('is from the config');
    expect((await relay.admin<{ mutes: Mute[] }>('/mutes')).json.mutes.map((mute) => mute.id)).toEqual(['batch-jobs', 'staging']);
  });

  it('a config mute always holds; one with during holds only inside its interval; a route muted_during nights holds at night — each named in the log', async () => {
    expect(await outcome(await send('Kerala'))).toBe('succeeded');
    expect(await outcome(await send('Assam'))).toBe('succeeded');
    expect(await outcome(await send('Goa'))).toBe('muted: muted by staging (staging noise)');

    await clock.jump(13 * HOUR); // 23:00 UTC
    expect(await outcome(await send('Kerala'))).toBe('muted: muted by batch-jobs (nightly batch noise)');
    expect(await outcome(await send('Assam'))).toBe('muted: muted during nights (route low)');
    expect(await outcome(await send('Maharashtra'))).toBe('succeeded');
    expect(slack.requests).toHaveLength(3);
  });

  it('when the night ends, each incident it held that still fires is told its current state once; a resolved one and older states stay muted', async () => {
    // Still 23:00: held at night are Kerala (config mute batch-jobs) and Assam (route low) from above, and now:
    const laterAssam = await send('Assam', { created_at: '2026-04-23T19:00:00Z' });
    expect(await outcome(laterAssam)).toBe('muted: muted during nights (route low)');
    expect(await outcome(await send('Bihar'))).toBe('muted: muted during nights (route low)');
    const biharResolved = await send('Bihar', { created_at: '2026-04-23T19:00:00Z' }, { status: 'resolved' });
    expect(await outcome(biharResolved)).toBe('muted: muted during nights (route low)');
    const before = slack.requests.length;

    await clock.jump(7 * HOUR); // 06:00: the night is over
    expect(await outcomeOnceReleased(laterAssam)).toBe('succeeded: muted during nights (route low); told when it ended');
    const told = await slack.waitFor(before + 2);
    const bodies = told.slice(before).map((request) => request.body);
    expect(bodies.filter((body) => body.includes('Assam'))).toHaveLength(1);
    expect(bodies.filter((body) => body.includes('Kerala'))).toHaveLength(1);
    // The resolved incident and the older Assam state stay muted, saying what held them.
    expect(await outcome(biharResolved)).toBe('muted: muted during nights (route low)');

    // Once: the next night's end tells nothing again.
    await clock.jump(24 * HOUR);
    expect(await outcome(await send('Maharashtra'))).toBe('succeeded');
    expect(slack.requests).toHaveLength(before + 3);
    expect(slack.requests.at(-1)!.body).toContain('Maharashtra');
  });

  it('active_during: held outside office hours; when they begin, the incident still firing is told once', async () => {
    // Tuesday 2026-12-01, just after 06:00 UTC: before office hours.
    expect(new Date(clock.now()).toISOString()).toMatch(/^2026-12-01T06:0/);
    const punjab = await send('Punjab');
    expect(await outcome(punjab)).toBe('muted: outside office_hours (route day)');
    const before = slack.requests.length;
    await clock.jump(Date.parse('2026-12-01T09:00:00Z') - clock.now());
    expect(await outcomeOnceReleased(punjab)).toBe('succeeded: outside office_hours (route day); told when it ended');
    expect(slack.requests).toHaveLength(before + 1);
    expect(slack.requests.at(-1)!.body).toContain('Punjab');
  });
});
