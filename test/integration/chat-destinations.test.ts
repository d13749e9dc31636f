import { afterEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import type { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { fakeDiscord } from '../support/discord.ts';
import { fakeGoogleChat } from '../support/google-chat.ts';
import { fakeTeams } from '../support/teams.ts';
import { FakeSmtp } from '../support/smtp.ts';
import { capturingLogger } from '../observability/capture.ts';
import { signIn } from '../admin/support.ts';
import { templateDir } from '../templates/support.ts';

/**
 * Each chat destination end to end: the real server, a webhook in, the message out to a fake
 * of the service that validates it as the service would; a template whose output the service
 * could not take fails at once with the reason; the secret in the webhook URL never shows.
 */
const SECRET = 'tm-secret';

interface Delivery {
  destination: string;
  status: string;
  attempts: number;
  response_code: number | null;
  last_error: string | null;
}

interface Chat {
  readonly type: string;
  readonly start: () => Promise<FakeReceiver>;
  /** The webhook's path, with its secret. */
  readonly path: string;
  readonly secret: string;
  readonly status: number;
  /** A template the service could not take, and the reason hookrelay gives. */
  readonly broken: string;
  readonly reason: RegExp;
  /** The sample's title as it arrives, for send-test. */
  readonly sample: (request: string) => boolean;
}

const CHATS: readonly Chat[] = [
  {
    type: 'teams',
    start: fakeTeams,
    path: '/workflows/0a1b/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Teams0Sig0Secret0Value',
    secret: 'Teams0Sig0Secret0Value',
    status: 202,
    broken: '{ "type": "AdaptiveCard", "version": "1.4", "body": [{ "type": "Bogus", "text": "{{title}}" }] }',
    reason: /teams\/broken: not a valid Adaptive Card: Unknown element type "Bogus"/,
    sample: (body) => body.includes('Test from hookrelay'),
  },
  {
    type: 'discord',
    start: fakeDiscord,
    path: '/api/webhooks/112233445566/Discord-Token_Secret0Value',
    secret: 'Discord-Token_Secret0Value',
    status: 204,
    broken: '{ "embeds": [{ "title": "{{title}}", "color": "reddish" }] }',
    reason: /discord\/broken: not a valid Discord message: embeds\[0\]\.color: must be a colour/,
    sample: (body) => body.includes('Test from hookrelay'),
  },
  {
    type: 'google_chat',
    start: fakeGoogleChat,
    path: '/v1/spaces/AAAA/messages?key=Chat-Key-Secret0Value&token=Chat-Token-Secret0Value',
    secret: 'Secret0Value',
    status: 200,
    broken: '{ "text": "{{title}}", "cardsV2": [{ "cardId": "c", "card": { "sections": [{ "widgets": [] }] } }] }',
    reason: /google_chat\/broken: not a valid Google Chat message: cardsV2\[0\]\.card\.sections\[0\]\.widgets: a section needs at least one widget/,
    sample: (body) => body.includes('Test from hookrelay'),
  },
];

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function relayWith(chat: Chat, url: string): Promise<{ relay: TestRelay; lines: Array<Record<string, unknown>> }> {
  const dir = templateDir({ [`${chat.type}/broken`]: chat.broken });
  const { logger, lines } = capturingLogger('debug');
  const relay = await startRelay(
    `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: ops-chat, type: ${chat.type}, url: "${url}" }
  - { name: broken-chat, type: ${chat.type}, url: "${url}", template: ${chat.type}/broken }
routes:
  - { to: [ops-chat, broken-chat] }
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

describe.each(CHATS)('$type end to end', (chat) => {
  it('an alert arrives valid; output the service could not take fails at once with the reason; send-test; the URL secret shows nowhere', async () => {
    const fake = await chat.start();
    cleanups.push(() => fake.close());
    const { relay, lines } = await relayWith(chat, fake.url(chat.path));

    const body = JSON.stringify(tapemetricPayload({ id: `evt_${chat.type}` }));
    const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
    expect(response.status).toBe(202);
    const eventId = response.json.id as string;

    const { json } = await relay.until(
      () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${eventId}`),
      ({ json }) => json.deliveries.length === 2 && json.deliveries.every((delivery) => delivery.status === 'succeeded' || delivery.status === 'failed'),
    );
    const byName = Object.fromEntries(json.deliveries.map((delivery) => [delivery.destination, delivery]));
    expect(byName['ops-chat']).toMatchObject({ status: 'succeeded', attempts: 1, response_code: chat.status });
    expect(byName['broken-chat']).toMatchObject({ status: 'failed', attempts: 1 });
    expect(byName['broken-chat']!.last_error).toMatch(chat.reason);
    // Only the valid one went out, and the fake (which validates like the service) took it.
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.path.startsWith(chat.path)).toBe(true);

    // send-test: a sample now, and what the service answered.
    const test = await relay.admin<{ ok: boolean; response: { status: number } }>('/destinations/ops-chat/test', { method: 'POST' });
    expect(test.json).toMatchObject({ ok: true, response: { status: chat.status } });
    expect(chat.sample(fake.requests[1]!.body)).toBe(true);

    // Nowhere an operator looks holds the URL's secret.
    const { cookie } = await signIn(relay.url);
    const pages = await Promise.all(
      ['/admin', '/admin/destinations/ops-chat', '/admin/destinations/broken-chat'].map(async (path) => (await fetch(`${relay.url}${path}`, { headers: { cookie } })).text()),
    );
    const api = await Promise.all(['/destinations', `/deliveries?event_id=${eventId}`].map(async (path) => JSON.stringify((await relay.admin(path)).json)));
    for (const text of [...pages, ...api, JSON.stringify(lines)]) expect(text).not.toContain(chat.secret);
    expect(lines.some((line) => line.destination === 'ops-chat')).toBe(true);
  });
});

describe('email end to end', () => {
  it('an alert arrives as an email in its incident thread; send-test; the SMTP password shows nowhere', async () => {
    const password = 'Smtp-Pa55word-Secret';
    const smtp = await FakeSmtp.start({ user: 'relay@example.com', password });
    cleanups.push(() => smtp.close());
    const { logger, lines } = capturingLogger('debug');
    const relay = await startRelay(
      `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - name: ops-mail
    type: email
    smtp: { host: 127.0.0.1, port: ${smtp.port}, secure: false, require_tls: false, user: relay@example.com, password: "\${SMTP_PASSWORD}" }
    from: "hookrelay <alerts@example.com>"
    to: [ oncall@example.com ]
routes:
  - { to: [ops-mail] }
admin: { token: ${ADMIN_TOKEN} }
`,
      { SMTP_PASSWORD: password },
      { logger },
    );
    cleanups.push(() => relay.close());
    const body = JSON.stringify(tapemetricPayload({ id: 'evt_mail' }));
    const eventId = (await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET))).json.id as string;
    const { json } = await relay.until(
      () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${eventId}`),
      ({ json }) => json.deliveries[0]?.status === 'succeeded',
    );
    expect(json.deliveries[0]).toMatchObject({ attempts: 1, response_code: 250 });
    const [mail] = await smtp.waitFor(1);
    expect(mail!.parsed.subject).toMatch(/^🔴 /);
    expect(mail!.parsed.inReplyTo).toMatch(/^<hookrelay-[0-9a-f]{32}@example\.com>$/);

    const test = await relay.admin<{ ok: boolean; response: { status: number } }>('/destinations/ops-mail/test', { method: 'POST' });
    expect(test.json).toMatchObject({ ok: true, response: { status: 250 } });
    expect((await smtp.waitFor(2))[1]!.parsed.subject).toContain('Test from hookrelay');

    const { cookie } = await signIn(relay.url);
    const pages = await Promise.all(['/admin', '/admin/destinations/ops-mail'].map(async (path) => (await fetch(`${relay.url}${path}`, { headers: { cookie } })).text()));
    const api = await Promise.all(['/destinations', `/deliveries?event_id=${eventId}`].map(async (path) => JSON.stringify((await relay.admin(path)).json)));
    for (const text of [...pages, ...api, JSON.stringify(lines)]) expect(text).not.toContain(password);
  });
});

describe('a destination that stops is told where people read', () => {
  it('Teams, Discord, Google Chat and email are told when a webhook destination is disabled; the machine destination is not', async () => {
    const [teams, discord, chat] = await Promise.all([fakeTeams(), fakeDiscord(), fakeGoogleChat()]);
    const smtp = await FakeSmtp.start();
    const broken = await fakeTeams();
    broken.respond(() => ({ status: 500, body: 'down' }));
    for (const fake of [teams, discord, chat, smtp, broken]) cleanups.push(() => fake.close());
    const relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: audit, type: http, url: "${broken.url('/hook')}", auto_enable: false }
  - { name: ops-teams, type: teams, url: "${teams.url('/workflows/x')}" }
  - { name: ops-discord, type: discord, url: "${discord.url('/api/webhooks/1/t')}" }
  - { name: ops-chat, type: google_chat, url: "${chat.url('/v1/spaces/A/messages?key=k&token=t')}" }
  - { name: ops-mail, type: email, smtp: { host: 127.0.0.1, port: ${smtp.port} }, from: alerts@example.com, to: [ oncall@example.com ] }
routes:
  - { to: [audit] }
retry: { schedule: [100ms], disable_after: 1 }
admin: { token: ${ADMIN_TOKEN} }
`);
    cleanups.push(() => relay.close());
    const body = JSON.stringify(tapemetricPayload({ id: 'evt_breaker' }));
    expect((await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET))).status).toBe(202);
    const [card] = await teams.waitFor(1);
    expect(card!.body).toContain('Destination \\"audit\\" is disabled');
    expect((await discord.waitFor(1))[0]!.body).toContain('Destination \\"audit\\" is disabled');
    expect((await chat.waitFor(1))[0]!.body).toContain('Destination \\"audit\\" is disabled');
    expect((await smtp.waitFor(1))[0]!.parsed.subject).toContain('Destination "audit" is disabled');
    expect(broken.requests.every((request) => !request.body.includes('is disabled'))).toBe(true);
  });
});
