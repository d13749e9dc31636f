/**
 * Webhooks to `/hooks/<name>` skip express (src/http/app.ts, PLAIN_HOOK); every other form of the
 * path still goes through express's route. Both answer alike: the same statuses, bodies and
 * headers, refusals included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricPayload, tapemetricSignature } from '../support/signers.ts';
import { WAIT_MS } from '../support/wait.ts';

const SECRET = 'hooks-path-secret';
let relay: TestRelay;
let sent = 0;

async function post(path: string, init: { body?: string; signed?: boolean; method?: string } = {}): Promise<Response> {
  sent += 1;
  const body = init.body ?? JSON.stringify(tapemetricPayload({ id: `path-${sent}` }));
  return fetch(`${relay.url}${path}`, {
    method: init.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...(init.signed === false ? {} : { 'x-tapemetric-signature': tapemetricSignature(body, SECRET) }) },
    body,
  });
}

beforeAll(async () => {
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
routes: []
`);
}, WAIT_MS);

afterAll(async () => {
  await relay?.close();
});

describe('POST /hooks/:source, with or without express', () => {
  it('a signed event is accepted the same at /hooks/<name>, with a query, with a trailing slash, escaped, and in capitals', async () => {
    for (const path of ['/hooks/tapemetric', '/hooks/tapemetric?x=1', '/hooks/tapemetric/', '/hooks/%74apemetric', '/HOOKS/tapemetric']) {
      const response = await post(path);
      expect({ path, status: response.status }).toEqual({ path, status: 202 });
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('x-powered-by')).toBeNull();
      expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(await response.text()));
    }
  });

  it('refusals are the same coded answers either way: unknown source → 404, bad signature → 401, invalid JSON → 400', async () => {
    const unknown = [await post('/hooks/nobody'), await post('/hooks/nobody/')];
    for (const response of unknown) {
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('unknown_source');
    }
    const unsigned = [await post('/hooks/tapemetric', { signed: false }), await post('/hooks/tapemetric/', { signed: false })];
    for (const response of unsigned) {
      expect(response.status).toBe(401);
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('signature_missing');
    }
    const invalid = [await post('/hooks/tapemetric', { body: '{' }), await post('/HOOKS/tapemetric', { body: '{' })];
    for (const response of invalid) {
      expect(response.status).toBe(400);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe('invalid_json');
    }
  });

  it('another method is still 405 with Allow: POST', async () => {
    const response = await fetch(`${relay.url}/hooks/tapemetric`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });
});
