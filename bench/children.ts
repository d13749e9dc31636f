/**
 * The servers under test run as child processes (like production: their own event loop,
 * their own heap), started with this node (24, from node_modules/.bin via npm) and
 * tracked here so that every exit path of the bench, errors included, stops them.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BASELINE_SERVER = fileURLToPath(new URL('./baseline-server.ts', import.meta.url));
export const FLOOR_INGEST_SERVER = fileURLToPath(new URL('./floor-ingest-server.ts', import.meta.url));
export const FLOOR_IDLE_RELAY = fileURLToPath(new URL('./floor-idle-relay.mjs', import.meta.url));

/** Keeps the last few KB of a child's output, for error messages. */
const OUTPUT_TAIL = 8_000;
const READY_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 15_000;

export interface Child {
  readonly name: string;
  readonly url: string;
  readonly process: ChildProcess;
  output(): string;
  /** SIGTERM, then SIGKILL if it has not exited after STOP_TIMEOUT_MS. Resolves with how it ended. */
  stop(): Promise<string>;
}

const running = new Set<Child>();

/** A port that was free a moment ago (hookrelay takes PORT, not an already bound socket). */
export { freePort } from '../test/support/child-relay.ts';

export interface SpawnOptions {
  readonly name: string;
  /** Script and arguments after `node [execArgv]`. */
  readonly args: readonly string[];
  readonly port: number;
  readonly env?: Record<string, string>;
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly execArgv?: readonly string[];
}

/** Starts a server and resolves once `GET /readyz` answers 200. */
export async function spawnServer(options: SpawnOptions): Promise<Child> {
  const proc = spawn(process.execPath, [...(options.execArgv ?? []), ...options.args], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<string>((resolve) => {
    proc.once('exit', (code, signal) => resolve(signal ? `signal ${signal}` : `exit code ${code}`));
  });
  const url = `http://127.0.0.1:${options.port}`;
  const child: Child = {
    name: options.name,
    url,
    process: proc,
    output: () => output,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
        const how = await exited;
        clearTimeout(timer);
        running.delete(child);
        return how;
      }
      running.delete(child);
      return exited;
    },
  };
  running.add(child);

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      running.delete(child);
      throw new Error(`${options.name} exited before it was ready (${await exited}):\n${output}`);
    }
    try {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1_000) });
      await response.arrayBuffer();
      if (response.ok) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await child.stop();
      throw new Error(`${options.name} was not ready after ${READY_TIMEOUT_MS} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Stops every child still running (the bench's finally block). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.stop()));
}

/** Last resort when the bench process itself is going down: no waiting, just SIGKILL. */
export function killAllNow(): void {
  for (const child of running) {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
  }
  running.clear();
}
