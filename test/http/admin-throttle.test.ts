import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, fetch as undiciFetch } from 'undici';
import { ADMIN_BLOCK_MS, ADMIN_FAILURE_WINDOW_MS, ADMIN_FAILURES_PER_WINDOW, AdminThrottle, clientKey } from '../../src/http/admin-throttle.ts';
import { ManualClock } from '../support/clock.ts';
import { form, sessionCookie, signIn } from '../admin/support.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';

// Guessing the admin token: wrong tokens are counted per client address. Linux answers on all of
// 127.0.0.0/8, so a second client is a socket bound to 127.0.0.2. The counts run on the server's
// clock: where a window or a block has to pass, the test drives it (nothing waits for one).
const CONFIG = `destinations: []\nadmin: { token: ${ADMIN_TOKEN} }\n`;
const GUESSES = 300;
const BLOCK_S = ADMIN_BLOCK_MS / 1_000;

const fromOtherAddress = new Agent({ localAddress: '127.0.0.2' });
afterAll(() => fromOtherAddress.close());

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
}

async function call(url: string, init: { method?: string; headers?: Record<string, string>; body?: string; other?: boolean } = {}): Promise<Answer> {
  const response = await undiciFetch(url, {
    method: init.method ?? 'GET',
    headers: init.headers ?? {},
    body: init.body ?? null,
    redirect: 'manual',
    ...(init.other ? { dispatcher: fromOtherAddress } : {}),
  });
  return { status: response.status, headers: response.headers as unknown as Headers, text: await response.text() };
}

const api = (relay: TestRelay, token: string, other = false) => call(`${relay.url}/api/v1/destinations`, { headers: { authorization: `Bearer ${token}` }, other });
const signInWith = (relay: TestRelay, token: string, other = false) =>
  call(`${relay.url}/admin/sign-in`, { method: 'POST', ...form({ token }), other });

/** The answers to `count` wrong tokens sent one after another. */
async function guesses(count: number, send: (guess: string) => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < count; i++) answers.push(await send(`wrong-admin-token-${i}`));
  return answers;
}

function expectThrottledAfterTheLimit(answers: readonly Answer[]): void {
  const statuses = answers.map((answer) => answer.status);
  expect(statuses.slice(0, ADMIN_FAILURES_PER_WINDOW)).toEqual(Array(ADMIN_FAILURES_PER_WINDOW).fill(401));
  expect(statuses.slice(ADMIN_FAILURES_PER_WINDOW)).toEqual(Array(answers.length - ADMIN_FAILURES_PER_WINDOW).fill(429));
  for (const answer of answers.slice(0, ADMIN_FAILURES_PER_WINDOW)) expect(answer.headers.get('retry-after')).toBeNull();
  const waits = answers.slice(ADMIN_FAILURES_PER_WINDOW).map((answer) => Number(answer.headers.get('retry-after')));
  // The block starts with the failure over the limit, at its full length, and only runs down.
  expect(waits[0]).toBe(BLOCK_S);
  for (const wait of waits) expect(wait).toBeGreaterThanOrEqual(1);
  expect(waits.every((wait, index) => index === 0 || wait <= waits[index - 1]!)).toBe(true);
}

describe('the admin API: wrong tokens are throttled per client address', () => {
  let relay: TestRelay;
  beforeAll(async () => {
    relay = await startRelay(CONFIG);
  });
  afterAll(() => relay.close());

  it(`${GUESSES} wrong tokens from one address → 401 for the first ${ADMIN_FAILURES_PER_WINDOW}, then 429 with Retry-After and a JSON error`, async () => {
    const answers = await guesses(GUESSES, (guess) => api(relay, guess));
    expectThrottledAfterTheLimit(answers);
    const refusal = JSON.parse(answers.at(-1)!.text) as { error: { code: string; message: string } };
    expect(refusal.error.code).toBe('too_many_attempts');
    expect(refusal.error.message).toMatch(/too many wrong admin tokens from this address: try again in \d+ s/);
  });

  it('the right token from another address is still 200; that address has its own count', async () => {
    expect((await api(relay, ADMIN_TOKEN, true)).status).toBe(200);
    expect((await api(relay, 'wrong-from-elsewhere', true)).status).toBe(401);
    expect((await api(relay, ADMIN_TOKEN, true)).status).toBe(200);
  });

  it('the right token from the throttled address gets 429 too while the block lasts (a 200 would tell a guesser its guess was right)', async () => {
    const answer = await api(relay, ADMIN_TOKEN);
    expect(answer.status).toBe(429);
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  });

  it('the sign-in form shares the count: the throttled address gets 429 there too', async () => {
    const answer = await signInWith(relay, ADMIN_TOKEN);
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toMatch(/^\d+$/);
  });
});

describe('the sign-in form: wrong tokens are throttled per client address', () => {
  let relay: TestRelay;
  let signedIn: string;
  beforeAll(async () => {
    relay = await startRelay(CONFIG);
    signedIn = (await signIn(relay.url)).cookie;
  });
  afterAll(() => relay.close());

  it(`${GUESSES} wrong tokens from one address → 401 for the first ${ADMIN_FAILURES_PER_WINDOW}, then a 429 page with Retry-After saying to wait`, async () => {
    const answers = await guesses(GUESSES, (guess) => signInWith(relay, guess));
    expectThrottledAfterTheLimit(answers);
    const last = answers.at(-1)!;
    expect(last.headers.get('content-type')).toMatch(/^text\/html/);
    expect(last.text).toContain('Too many wrong admin tokens from your address. Sign-in is paused: try again in');
    expect(last.headers.get('set-cookie')).toBeNull();
  });

  it('the right token from another address signs in (303 and a session cookie)', async () => {
    const response = await undiciFetch(`${relay.url}/admin/sign-in`, { method: 'POST', redirect: 'manual', dispatcher: fromOtherAddress, ...form({ token: ADMIN_TOKEN }) });
    expect(response.status).toBe(303);
    expect(sessionCookie(response as unknown as Response)).not.toBeNull();
  });

  it('the right token from the throttled address → 429, no cookie', async () => {
    const answer = await signInWith(relay, ADMIN_TOKEN);
    expect(answer.status).toBe(429);
    expect(answer.headers.get('set-cookie')).toBeNull();
  });

  it('a browser signed in before the block keeps its session', async () => {
    expect((await call(`${relay.url}/admin`, { headers: { cookie: signedIn } })).status).toBe(200);
  });

  it('an empty form is not counted as a guess', async () => {
    const other = await startRelay(CONFIG);
    try {
      const answers = await Promise.all(Array.from({ length: ADMIN_FAILURES_PER_WINDOW + 5 }, () => signInWith(other, '')));
      expect(new Set(answers.map((answer) => answer.status))).toEqual(new Set([401]));
      expect((await signInWith(other, ADMIN_TOKEN)).status).toBe(303);
    } finally {
      await other.close();
    }
  });
});

describe('the throttle runs on the server\'s clock', () => {
  let clock: ManualClock;
  let relay: TestRelay;
  beforeAll(async () => {
    clock = new ManualClock();
    relay = await startRelay(CONFIG, {}, { clock });
  });
  afterAll(() => relay.close());

  it(`a window: ${ADMIN_FAILURES_PER_WINDOW} wrong tokens, a minute of driven time, ${ADMIN_FAILURES_PER_WINDOW} more → all 401 (each window counts its own)`, async () => {
    const first = await guesses(ADMIN_FAILURES_PER_WINDOW, (guess) => api(relay, guess, true));
    await clock.jump(ADMIN_FAILURE_WINDOW_MS);
    const second = await guesses(ADMIN_FAILURES_PER_WINDOW, (guess) => api(relay, guess, true));
    expect([...first, ...second].map((answer) => answer.status)).toEqual(Array(2 * ADMIN_FAILURES_PER_WINDOW).fill(401));
  });

  it('a block: Retry-After counts down with the driven clock, and once the block has passed the right token is 200', async () => {
    const answers = await guesses(ADMIN_FAILURES_PER_WINDOW + 1, (guess) => api(relay, guess));
    expect(answers.at(-1)!.status).toBe(429);
    expect(answers.at(-1)!.headers.get('retry-after')).toBe(String(BLOCK_S));
    await clock.jump(ADMIN_BLOCK_MS - 60_000);
    const late = await api(relay, ADMIN_TOKEN);
    expect(late.status).toBe(429);
    expect(late.headers.get('retry-after')).toBe('60');
    await clock.jump(60_000);
    expect((await api(relay, ADMIN_TOKEN)).status).toBe(200);
    // A fresh window: the next wrong token is a 401, not a 429.
    expect((await api(relay, 'wrong-admin-token-again')).status).toBe(401);
  });
});

describe('the throttle\'s memory', () => {
  it('counts of addresses whose window passed are dropped: 5,000 guessers, a minute later one more → one count kept', async () => {
    const clock = new ManualClock();
    const throttle = new AdminThrottle({ clock });
    for (let i = 0; i < 5_000; i++) await throttle.failed(`10.0.${i >> 8}.${i & 255}`);
    expect(throttle.counted).toBe(5_000);
    await clock.jump(ADMIN_FAILURE_WINDOW_MS);
    await throttle.failed('10.1.0.1');
    expect(throttle.counted).toBe(1);
  });
});

describe('every /api/v1 answer is no-store and nosniff, errors included', () => {
  let relay: TestRelay;
  let bare: TestRelay;
  beforeAll(async () => {
    relay = await startRelay(CONFIG);
    bare = await startRelay('destinations: []\n');
  });
  afterAll(async () => {
    await relay.close();
    await bare.close();
  });

  it.each([
    ['200', () => api(relay, ADMIN_TOKEN), 200],
    ['401 (no token)', () => call(`${relay.url}/api/v1/destinations`), 401],
    ['401 (wrong token)', () => api(relay, 'wrong-admin-token'), 401],
    ['404 (unknown route)', () => call(`${relay.url}/api/v1/nothing-here`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), 404],
    ['400 (bad query)', () => call(`${relay.url}/api/v1/deliveries?limit=0`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }), 400],
    [
      '400 (bad JSON)',
      () => call(`${relay.url}/api/v1/mutes`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{' }),
      400,
    ],
    ['404 (admin API off)', () => call(`${bare.url}/api/v1/destinations`), 404],
  ])('%s', async (_name, send, status) => {
    const answer = await send();
    expect(answer.status).toBe(status);
    expect(answer.headers.get('cache-control')).toBe('no-store');
    expect(answer.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('429', async () => {
    const answers = await guesses(ADMIN_FAILURES_PER_WINDOW + 1, (guess) => api(relay, guess, true));
    const throttled = answers.at(-1)!;
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('cache-control')).toBe('no-store');
    expect(throttled.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('clientKey: what one client is', () => {
  it('an IPv4 address is itself, however the socket spells it', () => {
    expect(clientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(clientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('IPv6 addresses count per /64 (one host can take any address of its /64)', () => {
    expect(clientKey('2001:db8:1:2::1')).toBe(clientKey('2001:db8:1:2:ffff:ffff:ffff:fffe'));
    expect(clientKey('2001:db8:1:3::1')).not.toBe(clientKey('2001:db8:1:2::1'));
  });

  it('no address is one client of its own', () => {
    expect(clientKey(undefined)).toBe('unknown');
  });
});
