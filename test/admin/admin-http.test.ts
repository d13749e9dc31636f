import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { form, sessionCookie, signIn } from './support.ts';

// The admin pages over plain HTTP: what a browser cannot show (a forged POST, the cookie's flags).
let relay: TestRelay;

beforeAll(async () => {
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["s"] }
destinations: []
admin: { token: ${ADMIN_TOKEN} }
`);
});

afterAll(async () => {
  await relay.close();
});

const post = (path: string, init: { cookie?: string; fields: Record<string, string>; headers?: Record<string, string> }) => {
  const { headers, body } = form(init.fields);
  return fetch(`${relay.url}${path}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { ...headers, ...(init.cookie ? { cookie: init.cookie } : {}), ...init.headers },
    body,
  });
};

describe('sign-in', () => {
  it('the right token → 303 to /admin with an HttpOnly, SameSite=Strict cookie scoped to /admin, not Secure over http', async () => {
    const response = await post('/admin/sign-in', { fields: { token: ADMIN_TOKEN } });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/admin');
    const cookie = sessionCookie(response)!;
    expect(cookie.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie.attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/admin']));
    expect(cookie.attributes).not.toContain('Secure');
  });

  it('behind an https proxy (X-Forwarded-Proto: https) the cookie is also Secure', async () => {
    const { set } = await signIn(relay.url, { 'x-forwarded-proto': 'https' });
    expect(set.attributes).toEqual(expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Secure']));
  });

  it.each([
    ['a wrong token', `${ADMIN_TOKEN}x`],
    ['an empty token', ''],
  ])('%s → 401 sign-in page, no cookie', async (_name, token) => {
    const response = await post('/admin/sign-in', { fields: { token } });
    expect(response.status).toBe(401);
    expect(sessionCookie(response)).toBeNull();
    expect(await response.text()).toContain('Sign in');
  });

  it('a page without a session → 303 to the sign-in page', async () => {
    const response = await fetch(`${relay.url}/admin/secrets`, { redirect: 'manual' });
    expect(response.status).toBe(303);
    expect(response.headers.get('location')).toBe('/admin/sign-in');
  });

  it('a made-up session cookie is no session', async () => {
    const response = await fetch(`${relay.url}/admin`, { redirect: 'manual', headers: { cookie: 'hookrelay_admin=forged' } });
    expect(response.status).toBe(303);
  });

  it('pages are not cached and carry a strict Content-Security-Policy (no script at all)', async () => {
    const { cookie } = await signIn(relay.url);
    const response = await fetch(`${relay.url}/admin`, { headers: { cookie } });
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(response.headers.get('x-frame-options')).toBe('DENY');
  });
});

describe('CSRF', () => {
  it('a POST without the CSRF token → 403, and nothing happens', async () => {
    const { cookie } = await signIn(relay.url);
    const response = await post('/admin/mutes', { cookie, fields: { matchers: 'type=qos.*', duration: '1h', reason: 'forged' } });
    expect(response.status).toBe(403);
    expect(await response.text()).toContain('CSRF');
    const mutes = await relay.admin<{ mutes: unknown[] }>('/mutes');
    expect(mutes.json.mutes).toEqual([]);
  });

  it("a POST with another session's CSRF token → 403", async () => {
    const mine = await signIn(relay.url);
    const theirs = await signIn(relay.url);
    const response = await post('/admin/secrets', { cookie: mine.cookie, fields: { _csrf: theirs.csrf } });
    expect(response.status).toBe(403);
  });

  it('a POST with the session and its token → done', async () => {
    const { cookie, csrf } = await signIn(relay.url);
    const response = await post('/admin/secrets', { cookie, fields: { _csrf: csrf } });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/whsec_[A-Za-z0-9+/=]{20,}/);
  });

  it('a POST without a session → 401, nothing done', async () => {
    const response = await post('/admin/mutes', { fields: { matchers: 'type=x', duration: '1h', _csrf: 'x' } });
    expect(response.status).toBe(401);
  });
});

describe('sign-out', () => {
  it('ends the session: its cookie no longer opens a page and its CSRF token no longer posts', async () => {
    const { cookie, csrf } = await signIn(relay.url);
    const out = await post('/admin/sign-out', { cookie, fields: { _csrf: csrf } });
    expect(out.status).toBe(200);
    expect(out.headers.getSetCookie().join('\n')).toMatch(/hookrelay_admin=;.*Expires=Thu, 01 Jan 1970/);
    const after = await fetch(`${relay.url}/admin`, { redirect: 'manual', headers: { cookie } });
    expect(after.status).toBe(303);
    expect((await post('/admin/secrets', { cookie, fields: { _csrf: csrf } })).status).toBe(401);
  });
});

describe('bad input', () => {
  it('an unknown destination → 404 page', async () => {
    const { cookie } = await signIn(relay.url);
    const response = await fetch(`${relay.url}/admin/destinations/nope`, { headers: { cookie } });
    expect(response.status).toBe(404);
    expect(await response.text()).toContain('no destination is named');
  });

  it('a mute with a malformed duration → 400, the form comes back with what was typed, nothing stored', async () => {
    const { cookie, csrf } = await signIn(relay.url);
    const response = await post('/admin/mutes', { cookie, fields: { _csrf: csrf, matchers: 'type=qos.*', duration: 'soon', reason: 'deploy' } });
    expect(response.status).toBe(400);
    const page = await response.text();
    expect(page).toContain('is not a duration');
    expect(page).toContain('type=qos.*');
    expect((await relay.admin<{ mutes: unknown[] }>('/mutes')).json.mutes).toEqual([]);
  });

  it('a form larger than the limit → 413 page', async () => {
    const { cookie, csrf } = await signIn(relay.url);
    const response = await post('/admin/mutes', { cookie, fields: { _csrf: csrf, matchers: 'x'.repeat(64 * 1024), duration: '1h' } });
    expect(response.status).toBe(413);
  });
});

describe('no admin token configured', () => {
  it('every admin page → 404 saying how to turn the pages on (HOOKRELAY_ADMIN_TOKEN)', async () => {
    const bare = await startRelay('destinations: []\n');
    try {
      for (const path of ['/admin', '/admin/sign-in', '/admin/mutes']) {
        const response = await fetch(`${bare.url}${path}`, { redirect: 'manual' });
        expect(response.status).toBe(404);
        expect(await response.text()).toContain('HOOKRELAY_ADMIN_TOKEN');
      }
      const signIn = await fetch(`${bare.url}/admin/sign-in`, { method: 'POST', ...form({ token: '' }) });
      expect(signIn.status).toBe(404);
    } finally {
      await bare.close();
    }
  });
});
