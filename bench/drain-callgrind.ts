/**
 * Instructions per delivery of a hookrelay drain (issue 20, target 1), split by thread: the drain
 * phase's setup (bench/drain.ts: a backlog piles up behind a destination the receiver's 503
 * disabled, then the destination is enabled) with `hookrelay serve` under
 * `valgrind --tool=callgrind --separate-threads=yes`. One drain of WARMUP warms the process up,
 * the counters are dumped (and so start again), a second backlog of COUNT piles up, and a second
 * dump covers from the enable to the last delivery answered: `callgrind_annotate` of its files
 * (`callgrind.out.<pid>.2-<thread>`, with --keep) ranks the functions of the drain alone. Instruction counts do not depend on the machine's load,
 * unlike the drain phase's CPU µs, which vary by a fifth between runs of the same code here.
 *   node bench/drain-callgrind.ts [--count 2000] [--warmup 2000] [--concurrency 32] [--keep <dir>]
 * Node runs with the flags and malloc settings bin/hookrelay.js would re-execute it with, so it
 * does not re-execute itself (callgrind would then count the launcher only).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from './children.ts';
import type { Child } from './children.ts';
import { ADMIN_TOKEN, enable, ingest, waitUntilDisabled } from './drain.ts';
import { Receiver } from './receiver.ts';
import { REPO_ROOT, checkIngest, hookrelayEnv, writeHookrelayConfig } from './servers.ts';
import { BENCH_SECRET } from './sign.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '2000' },
    concurrency: { type: 'string', default: '32' },
    keep: { type: 'string' },
  },
});
const COUNT = Number(values.count);
const WARMUP = Number(values.warmup);
/** Under callgrind everything runs ~50x slower: generous bounds, for a stuck drain only. */
const READY_MS = 300_000;
const DRAIN_MS = 900_000;

const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'drain-callgrind-'));
const receiver = await Receiver.start();
const config = writeHookrelayConfig({
  dir,
  secret: BENCH_SECRET,
  destinationUrl: receiver.url(),
  concurrency: Number(values.concurrency),
  destinationTimeout: '10m',
  disableAfter: 1,
  adminToken: ADMIN_TOKEN,
});
const port = await freePort();
const proc = spawn(
  'valgrind',
  [
    '--tool=callgrind',
    '--separate-threads=yes',
    '--dump-instr=no',
    `--callgrind-out-file=${join(dir, 'callgrind.out.%p')}`,
    process.execPath,
    '--max-semi-space-size=4',
    '--max-old-space-size=1024',
    join(REPO_ROOT, 'bin', 'hookrelay.js'),
    'serve',
    '--config',
    config,
  ],
  { env: { ...process.env, ...hookrelayEnv(port), MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' }, stdio: ['ignore', 'pipe', 'pipe'] },
);
let output = '';
const keep = (chunk: Buffer): void => {
  output = (output + chunk.toString()).slice(-8_000);
};
proc.stdout.on('data', keep);
proc.stderr.on('data', keep);
const relay: Child = {
  name: 'hookrelay under callgrind',
  url: `http://127.0.0.1:${port}`,
  process: proc,
  output: () => output,
  stop: async () => {
    proc.kill('SIGTERM');
    return 'stopped';
  },
};

/** A backlog of `count` behind the disabled destination, then drained; resolves when the last is answered. */
async function drain(count: number, between: () => void): Promise<void> {
  receiver.failWith(503);
  try {
    await checkIngest(relay, BENCH_SECRET);
    await waitUntilDisabled(relay, READY_MS);
    await ingest(relay.url, count - 1, BENCH_SECRET, count);
  } finally {
    receiver.failWith(null);
  }
  const target = receiver.received + count;
  between();
  await enable(relay);
  await receiver.whenReceived(target, DRAIN_MS);
}

try {
  const deadline = Date.now() + READY_MS;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`hookrelay exited:\n${output}`);
    const ready = await fetch(`${relay.url}/readyz`, { signal: AbortSignal.timeout(5_000) }).then(
      async (response) => (await response.arrayBuffer(), response.ok),
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`not ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await drain(WARMUP, () => {});
  console.log(`warm-up: ${WARMUP} drained`);
  await drain(COUNT, () => execFileSync('callgrind_control', ['-d', String(proc.pid)], { stdio: 'ignore' }));
  execFileSync('callgrind_control', ['-d', String(proc.pid)], { stdio: 'ignore' });
  // callgrind.out.<pid>.1-<thread>: the dump requested above, one file per thread.
  const files = readdirSync(dir).filter((name) => name.startsWith(`callgrind.out.${proc.pid}.2-`));
  const threads = files.map((name) => {
    const text = readFileSync(join(dir, name), 'utf8');
    const summary = /^summary:\s*(\d+)/m.exec(text) ?? /^totals:\s*(\d+)/m.exec(text);
    return { name, thread: Number(name.split('-').at(-1)), instructions: Number(summary?.[1] ?? 0), sqlite: /sqlite3VdbeExec/.test(text) };
  });
  const main = threads.find((t) => t.thread === 1);
  const writer = threads.filter((t) => t.thread !== 1 && t.sqlite).sort((a, b) => b.instructions - a.instructions)[0];
  const total = threads.reduce((sum, t) => sum + t.instructions, 0);
  const per = (n: number): string => `${(n / COUNT / 1000).toFixed(1)}k`;
  console.log(
    `per delivery (${COUNT} drained): event loop ${per(main?.instructions ?? 0)}, writer ${writer ? per(writer.instructions) : '-'} (${writer?.name ?? ''}), ` +
      `other ${per(total - (main?.instructions ?? 0) - (writer?.instructions ?? 0))}, whole ${per(total)}`,
  );
  console.log(`files in ${dir}`);
} finally {
  proc.kill('SIGTERM');
  setTimeout(() => proc.kill('SIGKILL'), 60_000).unref();
  await receiver.close();
}
