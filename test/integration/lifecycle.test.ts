import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { startRelay } from '../support/hookrelay.ts';

const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'hookrelay-lifecycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('start-up and shutdown', () => {
  it('a port already in use → hookrelay serve exits with an error instead of hanging', async () => {
    const taken = createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const { port } = taken.address() as { port: number };
    const config = join(dir, 'taken.yaml');
    writeFileSync(
      config,
      `store: sqlite:${join(dir, 'taken', 'hookrelay.db')}\nsources:\n  - { name: tm, preset: tapemetric, secrets: [s] }\n`,
    );
    const child = spawn(process.execPath, [BIN, 'serve', '--config', config, '--port', String(port)], {
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
    clearTimeout(timer);
    taken.close();
    expect(signal).toBeNull();
    expect(code).not.toBe(0);
    expect(output).toContain('EADDRINUSE');
  });

  it('shutdown lets a request in progress finish and answer', async () => {
    const tapeApi = await FakeReceiver.start();
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    tapeApi.respond(async () => {
      await held;
      return { status: 200, body: '{"status":"active"}' };
    });
    const relay = await startRelay(`
sources:
  - { name: tape, preset: tape, token: t0ken, api_key: key, api_url: "${tapeApi.url('')}" }
`);
    const answer = relay.post('/hooks/tape?token=t0ken', JSON.stringify({ hook_id: 7, type: 'hook.verify', code: 'abc' }));
    while (tapeApi.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    // The handshake is now in progress inside hookrelay; shut down, then let Tape answer.
    const closing = relay.close();
    setTimeout(release, 200);
    expect((await answer).status).toBe(200);
    await closing;
    await tapeApi.close();
  });
});
