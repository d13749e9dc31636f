import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
 * The event explorer in a real browser (Debian's Chromium through playwright-core, as
 * admin-browser.test.ts): a person chasing one alert searches for it, opens its trail,
 * replays it, and reaches it from the requests log.
 */
const CHROMIUM = '/usr/bin/chromium';
const SECRET = 'tm-explorer-browser-secret';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`event explorer browser tests skipped: ${CHROMIUM} is absent`);

let relay: TestRelay;
let ok: FakeReceiver;
let refusing: FakeReceiver;
let context: BrowserContext;
let page: Page;
let profile: string;
const events: Record<string, { id: string; signature: string }> = {};
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

async function accessibilityViolations(): Promise<Array<{ id: string; nodes: number }>> {
  await page.evaluate(axeSource);
  return page.evaluate<Array<{ id: string; nodes: number }>>(
    "axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21aa'] }).then((result) => result.violations.map((v) => ({ id: v.id, nodes: v.nodes.length })))",
  );
}

async function sendEvent(region: string): Promise<void> {
  const body = JSON.stringify(tapemetricPayload({}, { region }));
  const headers = tapemetricHeaders(body, SECRET);
  const response = await relay.post('/hooks/tapemetric', body, headers);
  expect(response.status).toBe(202);
  events[region] = { id: response.json.id as string, signature: headers['x-tapemetric-signature']! };
}

describe.skipIf(!hasChromium)('the event explorer in Chromium', () => {
  beforeAll(async () => {
    ok = await FakeReceiver.start();
    ok.respond(() => ({ status: 200, body: 'ok' }));
    refusing = await FakeReceiver.start();
    refusing.respond(() => ({ status: 403, body: 'no thanks' }));
    relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-http, type: http, url: "${ok.url('/hook')}" }
  - { name: refusing, type: http, url: "${refusing.url('/hook')}" }
routes:
  - { to: [ops-http, refusing] }
admin: { token: ${ADMIN_TOKEN} }
`);
    for (const region of ['Maharashtra', 'Kerala', 'Goa']) await sendEvent(region);
    const kerala = events.Kerala!.id;
    await relay.until(
      () => relay.admin<{ deliveries: Array<{ status: string }> }>(`/deliveries?event_id=${kerala}`),
      ({ json }) => json.deliveries.length === 2 && json.deliveries.every((delivery) => delivery.status === 'succeeded' || delivery.status === 'failed'),
    );
    profile = mkdtempSync(join(tmpdir(), 'hookrelay-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1200, height: 900 },
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(`${relay.url}/admin`);
    await page.getByLabel('Admin token').fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  });

  afterAll(async () => {
    await context?.close();
    await relay?.close();
    await ok?.close();
    await refusing?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('Events in the nav lists every event newest first; searching a word of the title finds the one', async () => {
    await page.getByRole('link', { name: 'Events' }).click();
    await page.getByRole('heading', { name: 'Events', level: 1 }).waitFor();
    const titles = page.locator('table.events tbody th');
    expect(await titles.allTextContents()).toEqual(['Rebuffer spike in Goa', 'Rebuffer spike in Kerala', 'Rebuffer spike in Maharashtra']);
    await page.getByLabel('Title contains').fill('KERALA');
    await page.getByLabel('Severity').selectOption('critical');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => titles.allTextContents()).toEqual(['Rebuffer spike in Kerala']);
    expect(await page.getByLabel('Title contains').inputValue()).toBe('KERALA');
    expect(await accessibilityViolations()).toEqual([]);
  });

  it("the event's page: the request (signature redacted), the event, each destination's deliveries and attempts", async () => {
    await page.getByRole('link', { name: 'Rebuffer spike in Kerala' }).click();
    await page.getByRole('heading', { name: 'Rebuffer spike in Kerala', level: 1 }).waitFor();
    expect(await page.getByRole('heading', { level: 2 }).allTextContents()).toEqual(['1. Request as received', '2. Normalized event', '3. Deliveries']);
    const signature = page.getByRole('row', { name: /x-tapemetric-signature/ });
    expect(await signature.textContent()).toContain('[redacted]');
    expect(await page.content()).not.toContain(events.Kerala!.signature);
    expect(await page.locator('#raw-body').textContent()).toContain('"region": "Kerala"');
    const refused = page.getByRole('article').filter({ has: page.getByRole('link', { name: 'refusing' }) });
    expect(await refused.getByRole('row').nth(1).textContent()).toMatch(/1.*failed.*403/s);
    const delivered = page.getByRole('article').filter({ has: page.getByRole('link', { name: 'ops-http' }) });
    expect(await delivered.getByRole('row').nth(1).textContent()).toMatch(/1.*succeeded.*200/s);
    expect(await accessibilityViolations()).toEqual([]);
  });

  it('replay to every destination sends it again and says so on the same page', async () => {
    await page.getByRole('button', { name: 'Replay to every destination' }).click();
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/^Replaying to .*dlv_/);
    expect(new URL(page.url()).pathname).toBe(`/admin/events/${events.Kerala!.id}`);
    await expect.poll(() => ok.requests.length).toBe(4);
    await page.reload();
    expect(await page.getByRole('article').count()).toBe(4);
  });

  it('a row of the requests log leads to its event', async () => {
    await page.getByRole('link', { name: 'Requests' }).click();
    await page.getByRole('heading', { name: 'Requests', level: 1 }).waitFor();
    await page.getByRole('link', { name: events.Goa!.id }).click();
    await page.getByRole('heading', { name: 'Rebuffer spike in Goa', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe(`/admin/events/${events.Goa!.id}`);
  });
});
