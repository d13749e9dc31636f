import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../support/child-relay.ts';
import { scratchFolder, writeScratchFile } from './support.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const scratch = scratchFolder();

/** Variables of the test's own run (npm test sets npm_*) or that would change what hookrelay reads: never inherited. */
const NOT_INHERITED = /^(npm_|HOOKRELAY_|SLACK_|PAGERDUTY_|TAPEMETRIC_|STATUSPULSE_|STATUSSENTRY_|TAPE_|ALERTMANAGER_|PORT$|HOST$|DATABASE_URL$|LOG_)/i;

interface NpmStart {
  readonly npm: ChildProcess;
  /** Everything npm and the server wrote to stdout and stderr so far. */
  output(): string;
  /** The JSON log lines so far. */
  logLines(): Array<Record<string, unknown>>;
  /** Resolves when no process holds the output pipes any longer: npm and everything it started has exited. */
  readonly allGone: Promise<void>;
}

const started: NpmStart[] = [];
afterEach(() => {
  // npm runs in a process group of its own: whatever is left of it (an orphaned server) goes with it.
  for (const run of started.splice(0)) {
    try {
      process.kill(-run.npm.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** `npm start` as a supervisor runs the README's command: npm from PATH, in the project folder, the config in HOOKRELAY_CONFIG. */
function npmStart(config: string, port: number): NpmStart {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !NOT_INHERITED.test(name)));
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    // Like `npm run` gives its scripts: the project's node_modules/.bin (and its Node 24) first.
    env: {
      ...env,
      PATH: `${join(ROOT, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}`,
      HOOKRELAY_CONFIG: config,
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_FORMAT: 'json',
      npm_config_update_notifier: 'false',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  npm.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  npm.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const allGone = Promise.all([once(npm.stdout!, 'close'), once(npm.stderr!, 'close')]).then(() => undefined);
  const run: NpmStart = {
    npm,
    output: () => output,
    logLines: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    allGone,
  };
  started.push(run);
  return run;
}

/** Waits (on the output, polled) for the server's listening line; returns it. */
async function listening(run: NpmStart): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const line = run.logLines().find((logged) => String(logged.msg).includes(' listening on '));
    if (line) return line;
    if (run.npm.exitCode !== null || Date.now() > deadline) throw new Error(`npm start did not start the server:\n${run.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** `what` settles, or the test fails saying what is still running (a generous bound: a stop with nothing in flight takes well under a second). */
async function within<T>(what: Promise<T>, ms: number, failure: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(failure())), ms)));
  try {
    return await Promise.race([what, late]);
  } finally {
    clearTimeout(timer);
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start under a process manager (issue 18, defect 9)', () => {
  it('SIGTERM to the npm process reaches the server: it shuts down gracefully, and a second start gets the port and the store', async () => {
    const config = writeScratchFile(
      scratch,
      'relay/hookrelay.yaml',
      `store: "sqlite:${join(scratch, 'relay', 'data', 'hookrelay.db')}"
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s3cret] }
`,
    );
    const port = await freePort();

    const first = npmStart(config, port);
    const banner = await listening(first);
    const serverPid = banner.pid as number;
    expect(serverPid).not.toBe(first.npm.pid);
    expect(isRunning(serverPid)).toBe(true);

    // What `docker stop` or a supervisor does: SIGTERM to the process it started.
    first.npm.kill('SIGTERM');
    const [npmCode] = (await once(first.npm, 'exit')) as [number | null];
    // The server held npm's output pipes too: they close once it has exited as well.
    await within(first.allGone, 20_000, () => `the server (pid ${serverPid}) is still running after npm exited:\n${first.output()}`);
    expect(isRunning(serverPid)).toBe(false);
    expect(first.logLines()).toContainEqual(expect.objectContaining({ signal: 'SIGTERM', msg: expect.stringMatching(/^shutting down/) }));
    expect(npmCode).toBe(0);

    // Nothing is left holding the port or the store: a second start serves.
    const second = npmStart(config, port);
    const again = await listening(second);
    expect(again.url).toBe(`http://127.0.0.1:${port}`);
    expect(await fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.status)).toBe(200);
    second.npm.kill('SIGTERM');
    await within(second.allGone, 20_000, () => `the second server is still running after npm exited:\n${second.output()}`);
  }, 90_000);
});
