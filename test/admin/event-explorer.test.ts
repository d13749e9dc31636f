import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { form, signIn } from './support.ts';

/**
 * The event explorer (issue 21 item 5), read from the pages as served: the search at
 * /admin/events, the trail of one event (request → event → every destination's deliveries
 * with their attempts), replay from it, and the requests log linking to the event.
 */
const SECRET = 'tm-explorer-secret';
const HOSTILE = '<img src=x onerror=alert(1)>';
let relay: TestRelay;
let ok: FakeReceiver;
let broken: FakeReceiver;
let cookie: string;
let csrf: string;
const sent: Record<string, { id: string; signature: string }> = {};

interface Delivery {
  id: string;
  event_id: string;
  destination: string;
  status: string;
}

async function sendEvent(region: string): Promise<string> {
  const body = JSON.stringify(tapemetricPayload({}, { region }));
  const headers = tapemetricHeaders(body, SECRET);
  const response = await relay.post('/hooks/tapemetric', body, headers);
  expect(response.status).toBe(202);
  sent[region] = { id: response.json.id as string, signature: headers['x-tapemetric-signature']! };
  return response.json.id as string;
}

async function page(path: string, status = 200): Promise<string> {
  const response = await fetch(`${relay.url}${path}`, { headers: { cookie } });
  expect(response.status, path).toBe(status);
  return response.text();
}

/** What Handlebars escapes, read back as a browser does. */
const decode = (html: string): string =>
  html.replace(/&quot;/g, '"').replace(/&#x3D;/g, '=').replace(/&#x27;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
/** The text of a page without its markup, spaces collapsed. */
const text = (html: string): string => decode(html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' '));
/** The event ids the search table links to, in order. */
const listed = (html: string): string[] => [...html.matchAll(/<th scope="row"><a href="\/admin\/events\/(evt_[0-9A-Z]+)">/g)].map((match) => match[1]!);

beforeAll(async () => {
  ok = await FakeReceiver.start();
  ok.respond(() => ({ status: 200, body: 'ok' }));
  broken = await FakeReceiver.start();
  broken.respond(() => ({ status: 500, body: 'database on fire' }));
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ok-http, type: http, url: "${ok.url('/hook')}" }
  - { name: broken-http, type: http, url: "${broken.url('/hook')}" }
routes:
  - { to: [ok-http, broken-http] }
retry: { schedule: [20ms], disable_after: 1000 }
admin: { token: test-admin-token-0123456789 }
`);
  ({ cookie, csrf } = await signIn(relay.url));
  for (const region of ['North', 'South', HOSTILE]) await sendEvent(region);
  const north = sent.North!.id;
  await relay.until(
    () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${north}`),
    ({ json }) => json.deliveries.map((d) => `${d.destination} ${d.status}`).sort().join(', ') === 'broken-http failed, ok-http succeeded',
  );
});

afterAll(async () => {
  await relay?.close();
  await ok?.close();
  await broken?.close();
});

describe('/admin/events: the search', () => {
  it('lists events newest first, each linking to its page; the nav marks Events', async () => {
    const html = await page('/admin/events');
    expect(listed(html)).toEqual([sent[HOSTILE]!.id, sent.South!.id, sent.North!.id]);
    expect(html).toContain('<a href="/admin/events" aria-current="page">Events</a>');
    expect(text(html)).toContain('Rebuffer spike in South tapemetric qos.rebuffer_spike critical firing');
    const north = text(new RegExp(`<tr>\\s*<td><time[^>]*>[^<]*</time></td>\\s*<th scope="row"><a href="/admin/events/${sent.North!.id}">[\\s\\S]*?</tr>`).exec(html)![0]);
    expect(north).toMatch(/firing 1 succeeded 1 failed $/);
  });

  it('a title that is markup is shown as text, never as markup', async () => {
    const html = await page('/admin/events');
    expect(html).not.toContain(HOSTILE);
    expect(html).toContain('Rebuffer spike in &lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;');
  });

  it('searches words of the title in any case, and narrows by severity, status and time; the form keeps what was asked', async () => {
    const html = await page('/admin/events?q=SPIKE+IN+south&severity=critical&since=1h');
    expect(listed(html)).toEqual([sent.South!.id]);
    expect(html).toContain('value="SPIKE IN south"');
    expect(html).toContain('<option value="critical" selected>');
    expect(listed(await page('/admin/events?status=resolved'))).toEqual([]);
    expect(text(await page('/admin/events?q=nothing+like+this'))).toContain('No events match.');
    expect(listed(await page('/admin/events?q=%25'))).toEqual([]);
  });

  it('a time that is neither a time nor a duration → 400, the form again with the reason and what was typed', async () => {
    const html = await page('/admin/events?since=yesterday&q=north', 400);
    expect(text(html)).toContain('since: "yesterday" is neither an ISO time');
    expect(html).toContain('value="yesterday"');
    expect(html).toContain('value="north"');
  });

  it('pages by 50: the last row of a full page leads to the older ones, filters kept, and nothing is listed twice', async () => {
    const more: string[] = [];
    for (let index = 0; index < 50; index++) more.push(await sendEvent(`Bulk ${index}`));
    const first = await page('/admin/events?q=bulk');
    expect(listed(first)).toEqual(more.slice(-50).reverse());
    const next = /<a href="([^"]+)" rel="next">Older events<\/a>/.exec(first)?.[1];
    expect(next).toBeDefined();
    expect(decode(next!)).toBe(`/admin/events?q=bulk&before=${more[0]}`);
    const second = await page(decode(next!));
    expect(listed(second)).toEqual([]);
    expect(text(second)).toContain('No events match before this page.');
    const all = await page(`/admin/events?before=${more[0]}`);
    expect(listed(all)).toEqual([sent[HOSTILE]!.id, sent.South!.id, sent.North!.id]);
    expect(text(all)).toContain('No older events.');
  });
});

describe('/admin/events/:id: request → event → deliveries', () => {
  it('shows the request as received with its signature redacted, then the event, then every destination with its attempts', async () => {
    const { id, signature } = sent.North!;
    const html = await page(`/admin/events/${id}`);
    const request = html.indexOf('id="request-heading"');
    const event = html.indexOf('id="event-heading"');
    const deliveries = html.indexOf('id="deliveries-heading"');
    expect(request).toBeGreaterThan(0);
    expect(event).toBeGreaterThan(request);
    expect(deliveries).toBeGreaterThan(event);

    expect(html).not.toContain(signature);
    expect(text(html)).toContain('x-tapemetric-signature [redacted]');
    expect(text(html)).toMatch(/x-tapemetric-delivery d-/);
    expect(html).toContain('&quot;region&quot;: &quot;North&quot;');
    expect(text(html)).toContain('Dedup key qos.rebuffer_spike:North');

    const cards = [...html.matchAll(/<article class="card delivery"[\s\S]*?<\/article>/g)].map((match) => match[0]);
    const broken = text(cards.find((card) => card.includes('/admin/destinations/broken-http'))!);
    expect(broken).toContain('failed');
    expect(broken).toMatch(/ 1 .* retry 500 .* 2 .* failed 500 /);
    const fine = text(cards.find((card) => card.includes('/admin/destinations/ok-http'))!);
    expect(fine).toMatch(/succeeded .* 1 .* succeeded 200 /);
    for (const card of cards) expect(card).toContain(`name="_csrf" value="${csrf}"`);
  });

  it('an unknown event → 404', async () => {
    expect(text(await page('/admin/events/evt_01KNOWNNOTHING0000000000000', 404))).toContain('no event evt_01KNOWNNOTHING0000000000000');
  });

  it('replay to every destination: refused without the CSRF token; with it, new deliveries of the event, said on its page', async () => {
    const { id } = sent.South!;
    const post = (fields: Record<string, string>) =>
      fetch(`${relay.url}/admin/events/${id}/replay`, { method: 'POST', redirect: 'manual', ...form(fields), headers: { ...form(fields).headers, cookie } });
    expect((await post({})).status).toBe(403);
    const response = await post({ _csrf: csrf });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe(`/admin/events/${id}`);
    const html = await page(`/admin/events/${id}`);
    expect(text(html)).toMatch(/Replaying to (ok-http, broken-http|broken-http, ok-http): dlv_/);
    expect([...html.matchAll(/<article class="card delivery"/g)]).toHaveLength(4);
    expect(text(html).match(/Replay of dlv_/g)).toHaveLength(2);
  });
});

describe('/admin/requests links each accepted request to its event', () => {
  it('the row of a request links to the event it brought', async () => {
    const html = await page('/admin/requests');
    for (const region of ['North', 'South', HOSTILE]) expect(html).toContain(`href="/admin/events/${sent[region]!.id}"`);
  });
});
