import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { signIn } from './support.ts';

/**
 * What issue 9 lists for each admin page, read from the pages as served (no browser needed):
 * the overview's signature scheme, failures, last error and active mutes; the destination
 * page's status filter; the delivery page's rule that held it and each attempt with its answer.
 */
const SECRET = 'tm-pages-secret';
let relay: TestRelay;
let ok: FakeReceiver;
let broken: FakeReceiver;
let cookie: string;

interface Delivery {
  id: string;
  event_id: string;
  status: string;
  attempts: number;
  note: string | null;
}
const deliveriesOf = (destination: string) => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?destination=${destination}&limit=100`);

async function sendEvent(data: Record<string, unknown>): Promise<string> {
  const body = JSON.stringify(tapemetricPayload({}, data));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(response.status).toBe(202);
  return response.json.id as string;
}

async function page(path: string): Promise<string> {
  const response = await fetch(`${relay.url}${path}`, { headers: { cookie } });
  expect(response.status, path).toBe(200);
  return response.text();
}

/** The text of a page without its markup, spaces collapsed. */
const text = (html: string): string => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

let failedEvent: string;
let mutedEvent: string;
let muteId: string;

beforeAll(async () => {
  ok = await FakeReceiver.start();
  ok.respond(() => ({ status: 200, body: 'ok' }));
  broken = await FakeReceiver.start();
  broken.respond(() => ({ status: 500, headers: { 'content-type': 'application/json' }, body: '{"error":"database on fire"}' }));
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ok-http, type: http, url: "${ok.url('/hook')}" }
  - { name: broken-http, type: http, url: "${broken.url('/hook')}" }
routes:
  - { to: [ok-http, broken-http] }
retry: { schedule: [20ms], disable_after: 10 }
admin: { token: test-admin-token-0123456789 }
`);
  ({ cookie } = await signIn(relay.url));

  failedEvent = await sendEvent({ region: 'North' });
  await relay.until(() => deliveriesOf('broken-http'), ({ json }) => json.deliveries.some((d) => d.event_id === failedEvent && d.status === 'failed'));

  const mute = await relay.admin<{ id: string }>('/mutes', { method: 'POST', body: { matchers: { 'data.region': 'Quiet*' }, duration: '1h', reason: 'planned works' } });
  expect(mute.status).toBe(201);
  muteId = mute.json.id;
  mutedEvent = await sendEvent({ region: 'Quiet Valley' });
  await relay.until(() => deliveriesOf('ok-http'), ({ json }) => json.deliveries.some((d) => d.event_id === mutedEvent && d.status === 'muted'));
});

afterAll(async () => {
  await relay?.close();
  await ok?.close();
  await broken?.close();
});

describe('overview', () => {
  it("each source's signature scheme; each destination's consecutive failures and last error; the active mutes", async () => {
    const html = await page('/admin');
    const sources = text(/<section aria-labelledby="sources-heading">[\s\S]*?<\/section>/.exec(html)![0]);
    expect(sources).toMatch(/tapemetric \(tapemetric\) .*\/hooks\/tapemetric .*X-Tapemetric-Signature/);

    const row = text(/<tr>\s*<th scope="row"><a href="\/admin\/destinations\/broken-http">[\s\S]*?<\/tr>/.exec(html)![0]);
    // enabled, 0 pending, 2 consecutive failures (one attempt and one retry), the receiver's 500 as last error.
    expect(row).toMatch(/broken-http \(http\) enabled 0 2 .*500/);

    const mutes = text(/<section aria-labelledby="mutes-heading">[\s\S]*?<\/section>/.exec(html)![0]);
    expect(mutes).toContain(muteId);
    expect(mutes).toContain('data.region=Quiet*');
    expect(mutes).toContain('planned works');
  });
});

describe('destination page', () => {
  it('?status= filters the list: only muted deliveries with status=muted, only failed ones with status=failed', async () => {
    const all = await deliveriesOf('broken-http');
    const failed = all.json.deliveries.find((d) => d.event_id === failedEvent)!;
    const muted = all.json.deliveries.find((d) => d.event_id === mutedEvent)!;

    const unfiltered = await page('/admin/destinations/broken-http');
    expect(unfiltered).toContain(failed.id);
    expect(unfiltered).toContain(muted.id);

    const onlyMuted = await page('/admin/destinations/broken-http?status=muted');
    expect(onlyMuted).toContain(muted.id);
    expect(onlyMuted).not.toContain(failed.id);
    expect(onlyMuted).toMatch(/<option value="muted" selected>/);

    const onlyFailed = await page('/admin/destinations/broken-http?status=failed');
    expect(onlyFailed).toContain(failed.id);
    expect(onlyFailed).not.toContain(muted.id);

    const none = await page('/admin/destinations/ok-http?status=failed');
    expect(text(none)).toContain('No deliveries with status failed');
  });

  it('a status that does not exist → 400 naming the statuses', async () => {
    const response = await fetch(`${relay.url}/admin/destinations/broken-http?status=faild`, { headers: { cookie } });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('is not a delivery status');
  });
});

describe('delivery page', () => {
  it('a muted delivery names the rule that held it', async () => {
    const muted = (await deliveriesOf('ok-http')).json.deliveries.find((d) => d.event_id === mutedEvent)!;
    expect(muted.note).toContain(muteId);
    const html = text(await page(`/admin/deliveries/${muted.id}`));
    expect(html).toMatch(new RegExp(`Held by muted by ${muteId}.*planned works`));
    expect(html).toContain('No attempt yet.');
  });

  it('a failed delivery shows each attempt with its code and the response body', async () => {
    const failed = (await deliveriesOf('broken-http')).json.deliveries.find((d) => d.event_id === failedEvent)!;
    expect(failed.attempts).toBe(2);
    const html = await page(`/admin/deliveries/${failed.id}`);
    const attempts = /<section aria-labelledby="attempts-heading">[\s\S]*?<\/section>/.exec(html)![0];
    const rows = [...attempts.matchAll(/<tr>\s*<th scope="row" class="num">(\d+)<\/th>[\s\S]*?<\/tr>/g)].map((match) => text(match[0]));
    expect(rows).toHaveLength(2);
    for (const [index, row] of rows.entries()) {
      expect(row).toMatch(new RegExp(`^ ?${index + 1} `));
      expect(row).toContain(' 500 ');
    }
    expect(text(html)).toMatch(/Response Status 500/);
    // The receiver's body, HTML-escaped and pretty-printed.
    expect(html).toContain('database on fire');
    expect(text(html)).toMatch(/Response status 500/);
  });
});
