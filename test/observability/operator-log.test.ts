import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, spawnRelay } from '../support/child-relay.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { FakeReceiver } from '../support/receiver.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';
import { signedSlackPost, slashCommand } from '../support/slack.ts';
import { capturingLogger } from './capture.ts';

/**
 * What an operator reads in the log: which alert came in, where it went and how that went,
 * refused Slack requests, and the end of the process. Lines are read from a real pino logger.
 */
const SECRET = 'tm-secret';
const SLACK_SECRET = 'slack-signing-secret';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function receiver(): Promise<FakeReceiver> {
  const fake = await FakeReceiver.start();
  cleanups.push(() => fake.close());
  return fake;
}

const config = (url: string) => `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: audit, type: http, url: "${url}" }
routes:
  - { name: qos-critical, match: { type: "qos.*" }, to: [audit] }
slack_app: { signing_secret: "${SLACK_SECRET}" }
`;

async function relayWith(yaml: string, level = 'info'): Promise<{ relay: TestRelay; lines: Array<Record<string, unknown>> }> {
  const { logger, lines } = capturingLogger(level);
  const relay = await startRelay(yaml, {}, { logger });
  cleanups.push(() => relay.close());
  return { relay, lines };
}

async function send(relay: TestRelay, overrides: Record<string, unknown>): Promise<string> {
  const body = JSON.stringify(tapemetricPayload(overrides));
  const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
  expect(response.status).toBe(202);
  return response.json.id as string;
}

async function lineWith(lines: Array<Record<string, unknown>>, check: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 500; i++) {
    const line = lines.find(check);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no such log line in:\n${lines.map((line) => JSON.stringify(line)).join('\n')}`);
}

describe('operator log', () => {
  it('an accepted event is one info line: source, type, title, severity, event id and the routes it matched', async () => {
    const fake = await receiver();
    const { relay, lines } = await relayWith(config(fake.url('/hook')));
    const id = await send(relay, { type: 'qos.rebuffer_spike' });
    const line = await lineWith(lines, (l) => l.event_id === id && String(l.msg).startsWith('event accepted'));
    expect(line).toMatchObject({
      level: 'info',
      msg: 'event accepted',
      source: 'tapemetric',
      type: 'qos.rebuffer_spike',
      severity: 'critical',
      status: 'firing',
      routes: ['qos-critical'],
    });
    expect(String(line.title)).toContain('Maharashtra');
    // Small: no payload, no headers.
    expect(Object.keys(line).sort()).toEqual(['event_id', 'level', 'msg', 'routes', 'service', 'severity', 'source', 'status', 'time', 'title', 'type'].sort());
  });

  it('an event no route matched says so', async () => {
    const fake = await receiver();
    const { relay, lines } = await relayWith(config(fake.url('/hook')));
    const id = await send(relay, { type: 'billing.invoice_paid' });
    expect(await lineWith(lines, (l) => l.event_id === id)).toMatchObject({ level: 'info', msg: 'event accepted; no route matched', routes: [] });
  });

  it('each delivery outcome is one line: destination, title, status, latency, attempt (info when delivered, warn when it failed)', async () => {
    const fake = await receiver();
    fake.respond((request) => (request.body.includes('Gujarat') ? { status: 422, body: 'unknown field' } : { status: 200 }));
    const { relay, lines } = await relayWith(config(fake.url('/hook')));
    const delivered = await send(relay, {});
    const refused = await send(relay, { data: { severity: 'warning', region: 'Gujarat', affected_sessions: 5 } });
    const ok = await lineWith(lines, (l) => l.event_id === delivered && l.msg === 'delivered');
    expect(ok).toMatchObject({ level: 'info', destination: 'audit', status: 200, attempt: 1, outcome: 'succeeded' });
    expect(String(ok.title)).toContain('Maharashtra');
    expect(typeof ok.latency_ms).toBe('number');
    const failed = await lineWith(lines, (l) => l.event_id === refused && l.msg === 'delivery failed');
    expect(failed).toMatchObject({ level: 'warn', destination: 'audit', status: 422, attempt: 1, outcome: 'failed' });
    expect(String(failed.title)).toContain('Gujarat');
    expect(String(failed.error)).toContain('unknown field');
  });

  it('at LOG_LEVEL=warn neither accepted events nor successful deliveries are logged', async () => {
    const fake = await receiver();
    const { relay, lines } = await relayWith(config(fake.url('/hook')), 'warn');
    const id = await send(relay, {});
    await fake.waitFor(1);
    await relay.until(
      () => relay.server.store.view('deliveries', { destination: 'audit', limit: 1 }),
      (deliveries) => deliveries[0]?.status === 'succeeded',
    );
    expect(lines.filter((line) => line.event_id === id)).toEqual([]);
  });

  it('a refused Slack request is one warn line with the reason and the address, no stack', async () => {
    const fake = await receiver();
    const { relay, lines } = await relayWith(config(fake.url('/hook')));
    const post = signedSlackPost('not-the-secret', slashCommand('mutes', 'https://hooks.slack.com/commands/T0/1/x'));
    const before = lines.length;
    const response = await fetch(`${relay.url}/slack/events`, { method: 'POST', headers: post.headers, body: post.body });
    expect(response.status).toBe(401);
    const line = await lineWith(lines, (l) => String(l.msg).startsWith('slack request refused'));
    expect(line).toMatchObject({ level: 'warn', reason: 'signature_mismatch', status: 401, address: '127.0.0.1', path: '/slack/events' });
    expect(line.msg).toBe('slack request refused: signature_mismatch (from 127.0.0.1)');
    expect(line).not.toHaveProperty('err');
    expect(JSON.stringify(line)).not.toContain('    at ');
    expect(lines.slice(before)).toHaveLength(1);
  });
});

describe('shutdown', () => {
  it('SIGTERM: the last line is "stopped", at level "info", with the signal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookrelay-stop-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'hookrelay.yaml');
    writeFileSync(file, `store: sqlite:${join(dir, 'hookrelay.db')}\nsources: []\ndestinations: []\nroutes: []\n`);
    const child = await spawnRelay({ config: file, port: await freePort(), env: { LOG_LEVEL: 'info', LOG_FORMAT: 'json' } });
    child.kill('SIGTERM');
    await once(child, 'exit');
    const lines = child
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ level: 'info', msg: 'stopped', signal: 'SIGTERM', clean: true });
    expect(lines.some((line) => line.level === 30)).toBe(false);
  });
});
