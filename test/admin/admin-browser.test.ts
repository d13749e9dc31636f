import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

/**
 * The admin pages in a real browser: Debian's Chromium driven by playwright-core against the
 * real server, with loopback receivers standing in for the destinations. Each page is
 * photographed; with HOOKRELAY_SCREENSHOTS=1 into docs/screenshots/ for docs/operating.md
 * (`HOOKRELAY_SCREENSHOTS=1 npm test -- test/admin/admin-browser.test.ts`), else into a
 * scratch folder, so an ordinary test run leaves the committed pictures alone.
 */
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOTS =
  process.env.HOOKRELAY_SCREENSHOTS === '1' ? join(process.cwd(), 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'hookrelay-screenshots-'));
const SECRET = 'tm-browser-secret';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`admin browser tests skipped: ${CHROMIUM} is absent (apt-get install chromium; CI installs it)`);

let relay: TestRelay;
let ok: FakeReceiver;
let flaky: FakeReceiver;
let context: BrowserContext;
let page: Page;
let profile: string;
let flakyAnswer = 403;
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core's WCAG 2 A/AA rules (contrast, labels, headings, tables) on the page as shown. */
async function accessibilityViolations(): Promise<Array<{ id: string; nodes: number }>> {
  // Evaluated over the DevTools protocol, so the pages' CSP (no script) does not stand in the way.
  await page.evaluate(axeSource);
  return page.evaluate<Array<{ id: string; nodes: number }>>(
    "axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa'] }).then((result) => result.violations.map((v) => ({ id: v.id, nodes: v.nodes.length })))",
  );
}

async function sendEvent(data: Record<string, unknown> = {}): Promise<{ id: string; body: string }> {
  const body = JSON.stringify(tapemetricPayload({}, data));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(response.status).toBe(202);
  return { id: response.json.id as string, body };
}

interface Delivery {
  id: string;
  event_id: string;
  destination: string;
  status: string;
  request_body: string | null;
}
const deliveriesOf = (destination: string) => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?destination=${destination}&limit=100`);

async function shoot(name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}

describe.skipIf(!hasChromium)('admin pages in Chromium', () => {
  beforeAll(async () => {
    ok = await FakeReceiver.start();
    ok.respond(() => ({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"received":true}' }));
    flaky = await FakeReceiver.start();
    flaky.respond(() => ({ status: flakyAnswer, body: flakyAnswer === 200 ? 'ok' : 'no thanks' }));
    relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-http, type: http, url: "${ok.url('/hook')}" }
  - { name: flaky, type: http, url: "${flaky.url('/hook')}" }
routes:
  - { to: [ops-http, flaky] }
retry: { schedule: [50ms], disable_after: 2 }
admin: { token: ${ADMIN_TOKEN} }
`);
    mkdirSync(SCREENSHOTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'hookrelay-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close();
    await relay?.close();
    await ok?.close();
    await flaky?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('a wrong token is refused on the sign-in page', async () => {
    await page.goto(`${relay.url}/admin`);
    expect(new URL(page.url()).pathname).toBe('/admin/sign-in');
    await page.getByLabel('Admin token').fill(`${ADMIN_TOKEN}-wrong`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toContain('not the admin token');
    expect(new URL(page.url()).pathname).toBe('/admin/sign-in');
    await shoot('sign-in');
  });

  it('signs in with the admin token: an HttpOnly, SameSite=Strict session cookie', async () => {
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const [cookie] = await context.cookies(relay.url + '/admin');
    expect(cookie).toMatchObject({ name: 'hookrelay_admin', httpOnly: true, sameSite: 'Strict', path: '/admin', secure: false });
  });

  it('the overview shows the URL to paste into the sender, and each destination with its state', async () => {
    const { id } = await sendEvent();
    await relay.until(() => deliveriesOf('ops-http'), ({ json }) => json.deliveries.some((d) => d.event_id === id && d.status === 'succeeded'));
    await page.reload();
    await expect.poll(() => page.locator('code.paste[data-source="tapemetric"]').textContent()).toBe(`${relay.url}/hooks/tapemetric`);
    const row = page.getByRole('row', { name: /ops-http/ });
    expect(await row.textContent()).toContain('enabled');
    await shoot('overview');
  });

  it('opens a destination, opens a delivery and replays it: the receiver gets the same body again', async () => {
    await page.getByRole('link', { name: 'ops-http' }).click();
    await page.getByRole('heading', { name: /ops-http/, level: 1 }).waitFor();
    expect(await page.locator('svg.chart').count()).toBe(1);
    await shoot('destination');
    const first = ok.received('/hook')[0]!;
    await page.locator('table.deliveries tbody tr').first().getByRole('link').click();
    await page.getByRole('heading', { name: /^Delivery/, level: 1 }).waitFor();
    // A success keeps no request body (docs/operating.md): the replay draws the same one again.
    expect(await page.locator('#request-body').textContent()).toContain('not kept for a success');
    await shoot('delivery');
    const before = ok.received('/hook').length;
    await page.getByRole('button', { name: 'Replay', exact: true }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Replaying');
    const received = await ok.waitFor(before + 1, { path: '/hook' });
    expect(received.at(-1)!.body).toBe(first.body);
  });

  it('a destination disabled after failures is enabled again from its page; "replay all failed since" sends only the later failures', async () => {
    // Two permanent refusals in a row disable `flaky` (disable_after: 2): the overview's event, then this one.
    const early = await sendEvent({ region: 'early' });
    await relay.until(() => deliveriesOf('flaky'), ({ json }) => json.deliveries.some((d) => d.event_id === early.id && d.status === 'failed'));
    // The second failure is created after `since`: ids and times are in creation order, whole seconds in the form.
    const since = Math.floor(Date.now() / 1_000 + 1) * 1_000;
    await relay.until(async () => Date.now(), (now) => now >= since, 2_000);
    const late = await sendEvent({ region: 'late' });
    // Disabled, so `late` waits.
    await relay.until(
      () => relay.admin<{ destinations: Array<{ name: string; enabled: boolean }> }>('/destinations'),
      ({ json }) => json.destinations.some((d) => d.name === 'flaky' && !d.enabled),
    );
    await page.goto(`${relay.url}/admin`);
    expect(await page.getByRole('row', { name: /flaky/ }).textContent()).toContain('disabled');
    await page.getByRole('link', { name: 'flaky' }).click();
    await shoot('destination-disabled');

    // Enabled again, the waiting delivery goes out and is refused once more: it fails after `since`.
    await page.getByRole('button', { name: 'Enable' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('enabled again');
    expect(await page.getByRole('button', { name: 'Enable' }).count()).toBe(0);
    await relay.until(() => deliveriesOf('flaky'), ({ json }) => json.deliveries.some((d) => d.event_id === late.id && d.status === 'failed'));

    flakyAnswer = 200;

    const before = flaky.received('/hook').length;
    await page.getByLabel('Failed since (UTC)').fill(new Date(since).toISOString().slice(0, 19));
    await page.getByRole('button', { name: 'Replay all failed since' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('Replaying 1 failed delivery');
    const received = await flaky.waitFor(before + 1, { path: '/hook' });
    // The http envelope carries the sender's payload under "payload".
    const lateSent = flaky.received('/hook').find((request) => request.json<{ payload: { data: { region: string } } }>().payload.data.region === 'late');
    expect(received.slice(before).map((request) => request.body)).toEqual([lateSent!.body]);
  });

  it('sends a test event and shows the response', async () => {
    await page.goto(`${relay.url}/admin/destinations/ops-http`);
    const before = ok.received('/hook').length;
    await page.getByRole('button', { name: 'Send test event' }).click();
    const result = page.locator('#test-result');
    await result.waitFor();
    expect(await result.textContent()).toContain('delivered');
    expect(await result.textContent()).toContain('"received": true');
    expect(ok.received('/hook').length).toBe(before + 1);
    await result.scrollIntoViewIfNeeded();
    await shoot('test-event');
  });

  it('creates a mute and deletes it', async () => {
    await page.getByRole('link', { name: 'Mutes' }).click();
    await page.getByLabel('Matchers').fill('type=qos.*\ndata.region=Maharashtra');
    await page.getByLabel('Duration').fill('2h');
    await page.getByLabel('Reason').fill('deploy window');
    await page.getByRole('button', { name: 'Create mute' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/Mute mut_\w+ is on until/);
    const mutes = await relay.admin<{ mutes: Array<{ id: string; matchers: Record<string, string>; reason: string }> }>('/mutes');
    expect(mutes.json.mutes).toEqual([expect.objectContaining({ matchers: { type: 'qos.*', 'data.region': 'Maharashtra' }, reason: 'deploy window' })]);
    await shoot('mutes');
    await page.getByRole('button', { name: `Delete mute ${mutes.json.mutes[0]!.id}` }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toContain('ended');
    expect((await relay.admin<{ mutes: unknown[] }>('/mutes')).json.mutes).toEqual([]);
  });

  it('generates a whsec_ secret, shown once', async () => {
    await page.getByRole('link', { name: 'Secrets' }).click();
    expect(await page.locator('#new-secret').count()).toBe(0);
    await page.getByRole('button', { name: 'Generate secret' }).click();
    const secret = await page.locator('#new-secret').textContent();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    await shoot('secrets');
    await page.goto(`${relay.url}/admin/secrets`);
    expect(await page.locator('#new-secret').count()).toBe(0);
  });

  it('the requests page shows a refused request with its reason', async () => {
    const body = JSON.stringify(tapemetricPayload());
    const refused = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, 'not-the-secret'));
    expect(refused.status).toBe(401);
    expect((await relay.post('/hooks/tapemetrik', body, {})).status).toBe(404);
    // Refusals reach the requests log in batches (at most half a second later).
    await relay.until(() => relay.admin<{ requests: unknown[] }>('/requests?outcome=refused&limit=10'), ({ json }) => json.requests.length === 2);
    await page.getByRole('link', { name: 'Requests' }).click();
    const row = page.locator('table.requests tbody tr.refused', { hasText: 'signature_mismatch' });
    await row.waitFor();
    expect(await row.textContent()).toContain('signature_mismatch');
    expect(await row.textContent()).toContain('401');
    expect(await page.locator('table.requests tbody tr.refused', { hasText: 'unknown_source' }).textContent()).toContain('tapemetrik');
    await shoot('requests');
  });

  it('every page passes axe-core WCAG 2 AA checks (contrast, labels, semantics)', async () => {
    const delivery = (await deliveriesOf('ops-http')).json.deliveries[0]!;
    for (const path of ['/admin', '/admin/destinations/flaky', `/admin/deliveries/${delivery.id}`, '/admin/requests', '/admin/mutes', '/admin/secrets']) {
      await page.goto(`${relay.url}${path}`);
      expect({ path, violations: await accessibilityViolations() }).toEqual({ path, violations: [] });
    }
  });

  it('on a phone-sized screen the pages fit the width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${relay.url}/admin/destinations/ops-http`);
    // A string: the test's TypeScript has no DOM types.
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    expect(overflow).toBeLessThanOrEqual(0);
    await shoot('destination-phone');
    await page.setViewportSize({ width: 1200, height: 900 });
  });

  it('signs out', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in', level: 1 }).waitFor();
    expect(await context.cookies(relay.url + '/admin')).toEqual([]);
    await page.goto(`${relay.url}/admin`);
    expect(new URL(page.url()).pathname).toBe('/admin/sign-in');
    expect(await accessibilityViolations()).toEqual([]);
  });
});
