import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { RefusalLog } from '../../src/observability/refusal-log.ts';
import { startServer } from '../../src/server.ts';
import type { RunningServer } from '../../src/server.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { capturingLogger } from './capture.ts';

const refusal = (overrides: Partial<Parameters<RefusalLog['refused']>[0]> = {}) => ({
  source: 'tapemetric',
  known: true,
  reason: 'signature_mismatch',
  message: 'the signature does not match',
  status: 401,
  address: '203.0.113.7',
  ...overrides,
});

describe('RefusalLog (clock injected)', () => {
  it('one warn line per source and reason per 10 s; the next one says how many were suppressed', () => {
    const { logger, lines } = capturingLogger();
    let now = 1_000_000;
    const log = new RefusalLog(logger, { now: () => now });
    for (let i = 0; i < 500; i++) log.refused(refusal());
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', source: 'tapemetric', reason: 'signature_mismatch', address: '203.0.113.7', status: 401 });
    expect(lines[0]!.suppressed).toBeUndefined();

    // Another reason, or another source, has its own allowance.
    log.refused(refusal({ reason: 'signature_expired' }));
    log.refused(refusal({ source: 'statuspulse' }));
    expect(lines).toHaveLength(3);

    now += 9_999;
    log.refused(refusal());
    expect(lines).toHaveLength(3);
    now += 1;
    log.refused(refusal({ address: '198.51.100.9' }));
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ suppressed: 500, address: '198.51.100.9' });
    expect(String(lines[3]!.msg)).toContain('500 more like it suppressed');
  });

  it('unknown sources share one allowance, so made-up names cannot flood the log', () => {
    const { logger, lines } = capturingLogger();
    const log = new RefusalLog(logger, { now: () => 0 });
    for (let i = 0; i < 1_000; i++) log.refused(refusal({ source: `made-up-${i}`, known: false, reason: 'unknown_source', status: 404 }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ source: 'made-up-0', reason: 'unknown_source' });
  });
});

describe('refused webhooks in the server log', () => {
  const SECRET = 'tm-log-secret';
  let server: RunningServer;
  let lines: Array<Record<string, unknown>>;
  const dataDir = mkdtempSync(join(tmpdir(), 'hookrelay-refusal-log-'));

  beforeAll(async () => {
    const captured = capturingLogger();
    lines = captured.lines;
    const config = parseConfigText(
      `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations: []
`,
      { HOOKRELAY_ALLOW_PRIVATE: '1', HOOKRELAY_DATA_DIR: dataDir },
    );
    server = await startServer({ config, baseDir: process.cwd(), port: 0, host: '127.0.0.1', logger: captured.logger });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const post = (path: string, body: string, headers: Record<string, string>) =>
    fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

  it('a wrong secret → warn with source, reason and the sender address; a burst is one line', async () => {
    const body = JSON.stringify(tapemetricPayload());
    for (let i = 0; i < 20; i++) expect((await post('/hooks/tapemetric', body, tapemetricHeaders(body, 'wrong'))).status).toBe(401);
    const refused = lines.filter((line) => line.reason === 'signature_mismatch');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 'warn', source: 'tapemetric', status: 401 });
    expect(String(refused[0]!.address)).toMatch(/127\.0\.0\.1/);
    expect(typeof refused[0]!.time).toBe('string');
    expect(new Date(String(refused[0]!.time)).toISOString()).toBe(refused[0]!.time);
  });

  it('an unknown source and a too-large body are refused at the edge and logged too', async () => {
    expect((await post('/hooks/nosuch', '{}', {})).status).toBe(404);
    const huge = JSON.stringify({ padding: 'x'.repeat(1_100_000) });
    expect((await post('/hooks/tapemetric', huge, tapemetricHeaders(huge, SECRET))).status).toBe(413);
    expect(lines.find((line) => line.reason === 'unknown_source')).toMatchObject({ source: 'nosuch', status: 404 });
    expect(lines.find((line) => line.reason === 'payload_too_large')).toMatchObject({ source: 'tapemetric', status: 413 });
  });

  it('the start-up banner says where it listens, the store, each source URL and what is off', () => {
    const banner = lines.find((line) => String(line.msg).includes('listening on'))!;
    expect(banner.url).toBe(server.url);
    expect(String(banner.store)).toMatch(/^\/.*hookrelay\.db$/);
    expect(banner.sources).toEqual([`tapemetric (tapemetric): POST ${server.url}/hooks/tapemetric`]);
    expect(String(banner.admin_pages)).toMatch(/^off \(set admin\.token or HOOKRELAY_ADMIN_TOKEN\)/);
    expect(String(banner.admin_api)).toMatch(/^off/);
    expect(String(banner.slack_app)).toMatch(/^off/);
    expect(banner.routes).toEqual([]);
  });
});
