import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { freePort } from '../support/child-relay.ts';
import { scratchFolder } from './support.ts';
import { WAIT_MS } from '../support/wait.ts';

/**
 * What a `hookrelay serve` process holds in memory is decided before it serves anything: the
 * node flags it runs with, whether Node strips TypeScript in it, and which packages it loads.
 * Each is checked on a real process (bin/hookrelay.js), as a user starts it.
 */
const BIN = new URL('../../bin/hookrelay.js', import.meta.url);
const REPORTER = pathToFileURL(join(import.meta.dirname, '..', 'support', 'report-loaded.js')).href;
const scratch = scratchFolder();

interface Report {
  readonly execArgv: readonly string[];
  readonly mallocArenaMax: string | null;
  readonly mallocTrimThreshold: string | null;
  readonly stripper: boolean;
  readonly loaded: readonly string[];
  readonly intl: readonly string[];
}

const SQLITE_HTTP_CONFIG = (dir: string): string => `
store: "sqlite:${join(dir, 'hookrelay.db')}"
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["s"] }
destinations:
  - { name: audit, type: http, url: "http://127.0.0.1:9/" }
routes:
  - { to: [audit] }
`;

let runs = 0;

/**
 * A compile cache the tests of flags and arenas share: what they check does not depend on it, and
 * a start that fills an empty one strips every file first (seconds on a loaded machine). The tests
 * of stripping, of loaded modules and of Intl keep one of their own, empty at their start.
 */
const SHARED_CACHE = join(scratch, 'cache-shared');

/** Starts `hookrelay serve`, waits until ready, stops it with SIGTERM and returns what the reporter wrote. */
async function serveOnce(options: {
  config: string;
  cache: string;
  env?: Record<string, string>;
  modules?: boolean;
  intl?: boolean;
  whileRunning?: (url: string) => Promise<void>;
}): Promise<Report> {
  runs += 1;
  const report = join(scratch, `report-${runs}.json`);
  const config = join(scratch, `hookrelay-${runs}.yaml`);
  writeFileSync(config, options.config);
  const port = await freePort();
  const { MALLOC_ARENA_MAX: _arenas, MALLOC_TRIM_THRESHOLD_: _trim, ...inherited } = process.env;
  const child = spawn(process.execPath, [BIN.pathname, 'serve', '--config', config], {
    env: {
      ...inherited,
      PORT: String(port),
      HOOKRELAY_ALLOW_PRIVATE: '1',
      LOG_LEVEL: 'warn',
      NODE_COMPILE_CACHE: options.cache,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${REPORTER}`,
      HOOKRELAY_TEST_REPORT: report,
      HOOKRELAY_TEST_MODULES: options.modules ? '1' : '0',
      HOOKRELAY_TEST_INTL: options.intl ? '1' : '0',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const closed = once(child, 'close');
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hookrelay exited with ${child.exitCode}:\n${output}`);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((response) => response.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      // Not left holding its store for the next test.
      child.kill('SIGKILL');
      await closed;
      throw new Error(`hookrelay did not become ready:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await options.whileRunning?.(`http://127.0.0.1:${port}`);
  child.kill('SIGTERM');
  const [code] = (await closed) as [number | null];
  expect(code, output).toBe(0);
  expect(existsSync(report), output).toBe(true);
  return JSON.parse(readFileSync(report, 'utf8')) as Report;
}

/** The packages (node_modules folders) among the files a process loaded. */
const packages = (report: Report): Set<string> =>
  new Set(report.loaded.flatMap((url) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? []));

describe('hookrelay serve: what the process holds', () => {
  it('runs with a young generation and an old-space limit sized for a relay, not for the machine', async () => {
    const report = await serveOnce({ config: SQLITE_HTTP_CONFIG(scratch), cache: SHARED_CACHE });
    expect(report.execArgv).toContain('--max-semi-space-size=4');
    // Lowered to 1 GB where V8's default is higher; a smaller default (a small container) stays.
    for (const flag of report.execArgv.filter((arg) => arg.startsWith('--max-old-space-size='))) expect(flag).toBe('--max-old-space-size=1024');
  });

  it('runs with two malloc arenas, not eight per core, and a trim threshold that does not grow', async () => {
    const report = await serveOnce({ config: SQLITE_HTTP_CONFIG(scratch), cache: SHARED_CACHE });
    expect(report.mallocArenaMax).toBe('2');
    expect(report.mallocTrimThreshold).toBe('131072');
  });

  it('a heap size and an arena count the user gave win over hookrelay’s', async () => {
    const report = await serveOnce({
      config: SQLITE_HTTP_CONFIG(scratch),
      cache: SHARED_CACHE,
      env: { NODE_OPTIONS: `--max-semi-space-size=2 --import ${REPORTER}`, MALLOC_ARENA_MAX: '6', MALLOC_TRIM_THRESHOLD_: '1048576' },
    });
    expect(report.execArgv.filter((flag) => flag.startsWith('--max-semi-space-size'))).toEqual([]);
    expect(report.mallocArenaMax).toBe('6');
    expect(report.mallocTrimThreshold).toBe('1048576');
  });

  it('from the second start on, no TypeScript is stripped: the compile cache has it', async () => {
    const cache = join(scratch, 'cache-strip');
    const first = await serveOnce({ config: SQLITE_HTTP_CONFIG(scratch), cache });
    expect(first.stripper).toBe(true);
    expect(readdirSync(cache).length).toBeGreaterThan(0);
    const second = await serveOnce({ config: SQLITE_HTTP_CONFIG(scratch), cache });
    expect(second.stripper).toBe(false);
  });

  it('a SQLite store with an http destination loads neither Slack’s packages nor PostgreSQL’s, and JSON logs no pretty-printer', async () => {
    const loaded = packages(await serveOnce({ config: SQLITE_HTTP_CONFIG(scratch), cache: join(scratch, 'cache-modules'), modules: true }));
    expect(loaded.has('express')).toBe(true);
    for (const unused of ['@slack/bolt', '@slack/web-api', 'pg', 'rate-limiter-flexible', 'pino-pretty']) expect(loaded.has(unused), unused).toBe(false);
  });

  it('a typical config (Slack, PagerDuty and HTTP destinations, the Slack app, admin pages) makes no locale-aware call at start: the ICU data stays on disk', async () => {
    const config = `${SQLITE_HTTP_CONFIG(scratch)}  - { to: [slack, pagerduty] }
slack_app: { signing_secret: "8f742231b10e8888abcd99yyyzzz85a5" }
admin: { token: "process-memory-admin-token-0123456789" }
`.replace(
      'destinations:\n',
      'destinations:\n  - { name: slack, type: slack, url: "http://127.0.0.1:9/services/T/B/X" }\n  - { name: pagerduty, type: pagerduty, routing_key: "R0123456789abcdef0123456789abcdef", url: "http://127.0.0.1:9/v2/enqueue" }\n',
    );
    const report = await serveOnce({ config, cache: join(scratch, 'cache-intl'), intl: true });
    expect(report.intl).toEqual([]);
  });

  it('with the Slack app and a slack-bot destination configured, Bolt is loaded and /slack/events verifies requests', async () => {
    const config = `${SQLITE_HTTP_CONFIG(scratch)}  - { to: [bot] }
slack_app: { signing_secret: "8f742231b10e8888abcd99yyyzzz85a5" }
`.replace('destinations:\n', 'destinations:\n  - { name: bot, type: slack-bot, token: xoxb-test, channel: "#ops", api_url: "http://127.0.0.1:9/api/" }\n');
    let status = 0;
    const report = await serveOnce({
      config,
      cache: join(scratch, 'cache-slack'),
      modules: true,
      whileRunning: async (url) => {
        const response = await fetch(`${url}/slack/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': '1', 'x-slack-signature': `v0=${'0'.repeat(64)}` },
          body: 'command=%2Fhookrelay&text=help',
        });
        status = response.status;
      },
    });
    expect(status).toBe(401);
    expect(packages(report).has('@slack/bolt')).toBe(true);
  });
});
