import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));

/** A scratch folder per test file, removed after it. */
export function scratchFolder(): string {
  const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-cli-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  return scratch;
}

/** Variables that would change what the CLI reads (config, zero-config secrets, admin token, where it listens): never inherited. */
const CONFIG_VARIABLES = /^(HOOKRELAY_|SLACK_|PAGERDUTY_|TAPEMETRIC_|STATUSPULSE_|STATUSSENTRY_|TAPE_|ALERTMANAGER_|PORT$|HOST$|DATABASE_URL$)/;

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `hookrelay …` as a user runs it: the real binary in a child process, in an empty folder unless told otherwise. */
export async function hookrelay(
  scratch: string,
  args: string[],
  options: { stdin?: string; env?: Record<string, string>; cwd?: string; timeoutMs?: number } = {},
): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.test(name)));
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? mkdtempSync(join(scratch, 'cwd-')),
    env: { ...env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.stdin ?? '');
  // A command that should have answered but runs on (a server started by `serve --help`) is killed: code null.
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? NEVER_EXITS_MS);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * A command still running after this long is taken to never exit, and killed so that its test
 * fails with its output instead of leaving it behind. A net for a hang, not a bound on speed: a
 * command takes about a second on a quiet machine and 20 s was seen on one at load 12, so this
 * stays well above that and below vitest's 90 s test timeout (vitest.config.ts).
 */
const NEVER_EXITS_MS = 80_000;

/**
 * A bash script as a user types it, in an empty folder, with the environment `hookrelay` gets;
 * `"$NODE" "$HOOKRELAY"` in it runs the real binary.
 */
export async function shell(scratch: string, script: string): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.test(name)));
  const child = spawn('bash', ['-c', script], {
    cwd: mkdtempSync(join(scratch, 'cwd-')),
    env: { ...env, NODE: process.execPath, HOOKRELAY: BIN },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), NEVER_EXITS_MS);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Writes a file under the scratch folder (folders made as needed); returns its path. */
export function writeScratchFile(scratch: string, name: string, text: string): string {
  const path = join(scratch, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

export const lines = (text: string): string[] => text.split('\n').filter((line) => line !== '');

/** A public literal address: `check` passes its egress test without DNS. */
export const PUBLIC_URL = 'https://8.8.8.8/hook';

// The Tapemetric document's example payload (seed 000), as a user would save it.
export const TAPEMETRIC_PAYLOAD = {
  id: 'evt_abc123',
  type: 'qos.rebuffer_spike',
  created_at: '2026-04-23T18:28:00Z',
  tenant_slug: 'tapemetric',
  data: { severity: 'critical', region: 'Maharashtra', current_rate: 8.4, baseline_rate: 3.1, affected_sessions: 24000, pop: 'ap-south-1' },
};
