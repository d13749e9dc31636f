import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { Ballast } from './full-disk.ts';

const SECRET = 'tm-readiness-secret';
const PAGES = 256;

let relay: TestRelay | null = null;
afterEach(async () => {
  await relay?.close();
  relay = null;
  vi.restoreAllMocks();
});

async function readyz(url: string): Promise<{ status: number; json: { status: string; error?: string } }> {
  const response = await fetch(`${url}/readyz`);
  return { status: response.status, json: (await response.json()) as { status: string; error?: string } };
}

describe('GET /readyz and a full disk (the real server, its SQLite file capped at a page count)', () => {
  it('503 while ingests cannot commit, 200 again once space returns; ingest follows the same line', async () => {
    // The real store, opened as the server opens it, with a page cap so a test can fill it.
    const open = SqliteStore.open.bind(SqliteStore);
    vi.spyOn(SqliteStore, 'open').mockImplementation((path, options) => open(path, { ...options, maxPageCount: PAGES }));
    relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations: []
routes: []
`);
    const send = (): ReturnType<TestRelay['post']> => {
      // A few KB, as a real alert with its context: it needs a fresh page.
      const body = JSON.stringify(tapemetricPayload({}, { context: 'x'.repeat(9_000) }));
      return relay!.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
    };
    expect((await send()).status).toBe(202);
    expect(await readyz(relay.url)).toMatchObject({ status: 200, json: { status: 'ready' } });

    const ballast = new Ballast(join(relay.dataDir, 'hookrelay.db'));
    try {
      ballast.fill(PAGES);
      expect((await send()).status).toBe(503);
      // Senders are told when to come back.
      const body = JSON.stringify(tapemetricPayload({}, { context: 'y'.repeat(9_000) }));
      const refused = await fetch(`${relay.url}/hooks/tapemetric`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...tapemetricHeaders(body, SECRET) } });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      const full = await readyz(relay.url);
      expect(full.status).toBe(503);
      expect(full.json.error).toMatch(/cannot commit: .*full/);
      // Asked again, still full: still 503 (each ask probes with a write).
      expect((await readyz(relay.url)).status).toBe(503);

      ballast.release();
      expect(await readyz(relay.url)).toMatchObject({ status: 200, json: { status: 'ready' } });
      expect((await send()).status).toBe(202);
    } finally {
      ballast.close();
    }
  });
});
