import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { fakeTeams } from '../support/teams.ts';
import { capturingLogger } from '../observability/capture.ts';
import { signIn } from '../admin/support.ts';
import { templateDir } from '../templates/support.ts';

/**
 * A Teams destination end to end: the real server, a webhook in, the card out to a fake Teams
 * that validates it as Teams would; the Workflows URL (its `sig` is the secret) never shows.
 */
const SECRET = 'tm-secret';
const SIG = 'Teams0Sig0Secret0Value';

interface Delivery {
  destination: string;
  status: string;
  attempts: number;
  response_code: number | null;
  last_error: string | null;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function relayWith(url: string): Promise<{ relay: TestRelay; lines: Array<Record<string, unknown>> }> {
  const dir = templateDir({ 'teams/broken': '{ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "Bogus", "text": "{{title}}" }] }' });
  const { logger, lines } = capturingLogger('debug');
  const relay = await startRelay(
    `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-teams, type: teams, url: "${url}" }
  - { name: broken-teams, type: teams, url: "${url}", template: teams/broken }
routes:
  - { to: [ops-teams, broken-teams] }
templates_dir: ${dir}
retry: { schedule: [100ms], disable_after: 10 }
admin: { token: ${ADMIN_TOKEN} }
`,
    {},
    { logger },
  );
  cleanups.push(() => relay.close());
  return { relay, lines };
}

describe('teams end to end', () => {
  it('an alert arrives as a card; a card Teams could not show fails at once with the reason; the URL secret shows nowhere', async () => {
    const fake = await fakeTeams();
    cleanups.push(() => fake.close());
    const url = fake.url(`/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=${SIG}`);
    const { relay, lines } = await relayWith(url);

    const body = JSON.stringify(tapemetricPayload({ id: 'evt_teams' }));
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
    expect(response.status).toBe(202);
    const eventId = response.json.id as string;

    const { json } = await relay.until(
      () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${eventId}`),
      ({ json }) => json.deliveries.length === 2 && json.deliveries.every((delivery) => delivery.status === 'succeeded' || delivery.status === 'failed'),
    );
    const byName = Object.fromEntries(json.deliveries.map((delivery) => [delivery.destination, delivery]));
    expect(byName['ops-teams']).toMatchObject({ status: 'succeeded', attempts: 1, response_code: 202 });
    expect(byName['broken-teams']).toMatchObject({ status: 'failed', attempts: 1 });
    expect(byName['broken-teams']!.last_error).toMatch(/teams\/broken: not a valid Adaptive Card: Unknown element type "Bogus"/);
    expect(fake.requests).toHaveLength(1);
    expect(fake.cards()[0]!.version).toBe('1.4');

    // send-test: a sample card now, and what Teams answered.
    const test = await relay.admin<{ ok: boolean; response: { status: number } }>('/destinations/ops-teams/test', { method: 'POST' });
    expect(test.json).toMatchObject({ ok: true, response: { status: 202 } });
    expect(JSON.stringify(fake.cards()[1])).toContain('Test from hookrelay');

    // Nowhere an operator looks holds the URL's secret.
    const { cookie } = await signIn(relay.url);
    const pages = await Promise.all(
      ['/admin', '/admin/destinations/ops-teams', '/admin/destinations/broken-teams'].map(async (path) => (await fetch(`${relay.url}${path}`, { headers: { cookie } })).text()),
    );
    const api = await Promise.all(['/destinations', `/deliveries?event_id=${eventId}`].map(async (path) => JSON.stringify((await relay.admin(path)).json)));
    for (const text of [...pages, ...api, JSON.stringify(lines)]) {
      expect(text).not.toContain(SIG);
      expect(text).not.toContain('/workflows/0a1b');
    }
    expect(lines.some((line) => line.destination === 'ops-teams')).toBe(true);
  });
});
