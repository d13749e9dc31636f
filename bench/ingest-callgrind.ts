/**
 * Instructions per webhook of `hookrelay serve` (issue 20, target 3), split by thread: the
 * server under `valgrind --tool=callgrind --separate-threads=yes`, no route (the bench's ingest
 * phase), WARMUP webhooks from 50 connections, counters zeroed, COUNT more, counters dumped.
 * Instruction counts do not depend on the machine's load, unlike req/s.
 *   node bench/ingest-callgrind.ts [--count 2000] [--warmup 1500] [--keep <dir>] [--floor]
 * --floor measures bench/floor-ingest-server.ts the same way. Node runs with the flags and
 * malloc settings bin/hookrelay.js would re-execute it with, so it does not re-execute itself
 * (callgrind would then count the launcher only).
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { FLOOR_INGEST_SERVER, freePort } from './children.ts';
import { eventBody, nextEventId } from './events.ts';
import { REPO_ROOT } from './servers.ts';
import { BENCH_SECRET, SIGNATURE_HEADER, tapemetricSignature } from './sign.ts';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '1500' },
    keep: { type: 'string' },
    floor: { type: 'boolean', default: false },
  },
});
const COUNT = Number(values.count);
const WARMUP = Number(values.warmup);
const dir = values.keep ?? mkdtempSync(join(tmpdir(), 'ingest-callgrind-'));
const config = join(dir, 'hookrelay.yaml');
writeFileSync(
  config,
  `store: "sqlite:${join(dir, 'hookrelay.db')}"
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${BENCH_SECRET}"] }
destinations:
  - { name: loopback, type: http, url: "http://127.0.0.1:9/", concurrency: 8 }
routes: []
retry: { schedule: [1s, 2s, 5s], disable_after: 1000 }
http: { max_connections_per_address: 1024 }
`,
);
const port = await freePort();
const server = values.floor
  ? [FLOOR_INGEST_SERVER, String(port), BENCH_SECRET, join(dir, 'floor.db')]
  : ['--max-semi-space-size=4', '--max-old-space-size=1024', join(REPO_ROOT, 'bin', 'hookrelay.js'), 'serve', '--config', config];
const proc = spawn(
  'valgrind',
  ['--tool=callgrind', '--separate-threads=yes', '--dump-instr=no', `--callgrind-out-file=${join(dir, 'callgrind.out.%p')}`, process.execPath, ...server],
  {
    env: { ...process.env, PORT: String(port), HOOKRELAY_ALLOW_PRIVATE: '1', LOG_LEVEL: 'warn', MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072' },
    stdio: ['ignore', 'pipe', 'pipe'],
  },
);
let output = '';
proc.stdout.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8_000)));
proc.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-8_000)));
const url = `http://127.0.0.1:${port}`;

try {
  const deadline = Date.now() + 300_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`server exited:\n${output}`);
    try {
      const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
      await response.arrayBuffer();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`not ready:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const load = async (amount: number, phase: string): Promise<Record<string, number>> => {
    const result = await autocannon({
      url: `${url}/hooks/tapemetric`,
      connections: 50,
      pipelining: 1,
      amount,
      timeout: 60,
      requests: [
        {
          method: 'POST',
          path: '/hooks/tapemetric',
          setupRequest: (request) => {
            const body = eventBody(nextEventId(phase));
            return { ...request, body, headers: { ...request.headers, 'content-type': 'application/json', [SIGNATURE_HEADER]: tapemetricSignature(body, BENCH_SECRET) } };
          },
        },
      ],
    });
    const codes: Record<string, number> = {};
    for (const [code, stats] of Object.entries(result.statusCodeStats ?? {})) codes[code] = stats.count ?? 0;
    return codes;
  };
  console.log('warm-up', JSON.stringify(await load(WARMUP, 'cg-warm')));
  execFileSync('callgrind_control', ['-z', String(proc.pid)], { stdio: 'ignore' });
  const codes = await load(COUNT, 'cg');
  execFileSync('callgrind_control', ['-d', String(proc.pid)], { stdio: 'ignore' });
  console.log('measured', JSON.stringify(codes));
  const answered = codes['202'] ?? 0;
  // callgrind.out.<pid>.1-<thread>: the dump requested above, one file per thread.
  const files = readdirSync(dir).filter((name) => name.startsWith(`callgrind.out.${proc.pid}.1-`));
  const threads = files.map((name) => {
    const text = readFileSync(join(dir, name), 'utf8');
    const summary = /^summary:\s*(\d+)/m.exec(text) ?? /^totals:\s*(\d+)/m.exec(text);
    return { name, thread: Number(name.split('-').at(-1)), instructions: Number(summary?.[1] ?? 0), sqlite: /sqlite3VdbeExec/.test(text) };
  });
  threads.sort((a, b) => a.thread - b.thread);
  const main = threads.find((t) => t.thread === 1);
  const writer = threads.filter((t) => t.thread !== 1 && t.sqlite).sort((a, b) => b.instructions - a.instructions)[0];
  const total = threads.reduce((sum, t) => sum + t.instructions, 0);
  const per = (n: number): string => `${(n / answered / 1000).toFixed(1)}k`;
  console.log(`per webhook (${answered} answered 202): event loop ${per(main?.instructions ?? 0)}, writer ${writer ? per(writer.instructions) : '-'} (${writer?.name ?? ''}), other ${per(total - (main?.instructions ?? 0) - (writer?.instructions ?? 0))}, whole ${per(total)}`);
  console.log(`files in ${dir}`);
} finally {
  proc.kill('SIGTERM');
  setTimeout(() => proc.kill('SIGKILL'), 60_000).unref();
}
