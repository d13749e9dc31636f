#!/usr/bin/env node
// hookrelay runs on Node.js 24 (node:sqlite, native TypeScript). npm scripts put the
// project's pinned node first on PATH; anything else that starts us on an older node
// is handed over to the pinned one.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import module from 'node:module';
import { getHeapStatistics } from 'node:v8';
import { fileURLToPath } from 'node:url';

/** The commands that run until stopped, whose memory over days is what matters. */
const LONG_RUNNING = new Set(['serve', 'work']);
/** V8's heap for them, and glibc's malloc arenas and trim threshold (see restartSizedForARelay). */
const SEMI_SPACE_MB = 4;
const OLD_SPACE_MB = 1_024;
const MALLOC_ARENAS = '2';
/** glibc's initial M_TRIM_THRESHOLD (128 KB), held there instead of left to grow. */
const MALLOC_TRIM_THRESHOLD = String(128 * 1024);

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(pinned)) {
    console.error(`hookrelay needs Node.js 24 (this is ${process.version}); run "npm ci" in the project first`);
    process.exit(2);
  }
  const child = spawn(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => (signal ? process.kill(process.pid, signal) : process.exit(code ?? 1)));
} else {
  useCompileCache();
  if (LONG_RUNNING.has(process.argv[2] ?? '')) restartSizedForARelay();
  stopQuietlyWhenTheReaderIsGone();
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv.slice(2));
}

/**
 * Node strips the types of every src/ file at each start with amaro, a WebAssembly build of SWC
 * whose memory is never given back: ~17 MB in the main thread and as much again in the SQLite
 * store's writer thread. Node's compile cache keeps the stripped code (keyed by file, checked
 * against the file's content on every read, so an edited file is stripped again), and with it
 * amaro is never loaded. It lives with the installation, in node_modules/.cache; where that is
 * not writable, Node carries on without it. NODE_COMPILE_CACHE reaches worker threads too
 * (module.enableCompileCache() alone covers only the thread that calls it); a NODE_COMPILE_CACHE
 * of the user's own, or NODE_DISABLE_COMPILE_CACHE=1, is left as it is.
 */
function useCompileCache() {
  if (process.env.NODE_DISABLE_COMPILE_CACHE) return;
  process.env.NODE_COMPILE_CACHE ??= fileURLToPath(new URL('../node_modules/.cache/hookrelay/compile', import.meta.url));
  module.enableCompileCache(process.env.NODE_COMPILE_CACHE);
}

/**
 * V8 sizes its heap for the machine, not for a relay's working set (~40 MB live): on a machine
 * with 16 GB it lets the young generation grow to 64 MB per semi-space and the old one grow 4x
 * past what survived the last full GC, so a drain of a large backlog held 300-500 MB of
 * garbage. Semi-spaces of 4 MB, and an old-space limit of 1 GB (V8 grows the old space by a
 * factor of ~1.6 under it instead of 4), held the drain of a 300,000 backlog to 187 MB at the
 * same ingest rate (bench/backlog.ts, SQLite). glibc's malloc gives each thread that allocates its own arena (up to 8 per
 * core), and libuv's pool, the SQLite writer thread and V8's helper threads each keep one
 * partly used: MALLOC_ARENA_MAX=2 took 20 MB off a drain, 40 MB off ingest, at the same rates.
 * An idle relay also kept ~14.5 MB of freed memory in glibc's main heap (malloc_info; 12 MB of
 * it went back to the system when malloc_trim(0) was called from gdb): what start-up and the
 * first events allocate and free. glibc lets its trim threshold (the free memory it keeps
 * instead of giving back) and its mmap threshold grow with the blocks freed, up to 64 and 32 MB;
 * MALLOC_TRIM_THRESHOLD_ at glibc's own initial 128 KB turns that growth off (the mmap threshold
 * stays at 128 KB too): 73-80 MB of anonymous memory idle instead of 79-83 (typical config,
 * bench/idle-memory.ts, five runs each, alternated).
 * All are read once, when the process starts, so it replaces itself once with them (same pid,
 * same stdio: process.execve, not a child). Whatever the user set (a flag in NODE_OPTIONS or
 * node's own, MALLOC_ARENA_MAX or MALLOC_TRIM_THRESHOLD_ in the environment) wins; a smaller
 * default old-space limit (a small container) is never raised.
 */
function restartSizedForARelay() {
  if (typeof process.execve !== 'function') return;
  const given = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  const sized = (flag) => given.some((arg) => arg.startsWith(flag) || arg.startsWith(flag.replaceAll('-', '_')));
  const flags = [];
  if (!sized('--max-semi-space-size')) flags.push(`--max-semi-space-size=${SEMI_SPACE_MB}`);
  if (!sized('--max-old-space-size') && getHeapStatistics().heap_size_limit > OLD_SPACE_MB * 1_048_576) {
    flags.push(`--max-old-space-size=${OLD_SPACE_MB}`);
  }
  const malloc = {};
  if (process.platform === 'linux') {
    if (process.env.MALLOC_ARENA_MAX === undefined) malloc.MALLOC_ARENA_MAX = MALLOC_ARENAS;
    if (process.env.MALLOC_TRIM_THRESHOLD_ === undefined) malloc.MALLOC_TRIM_THRESHOLD_ = MALLOC_TRIM_THRESHOLD;
  }
  if (flags.length === 0 && Object.keys(malloc).length === 0) return;
  const env = { ...process.env, ...malloc };
  try {
    process.execve(process.execPath, [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)], env);
  } catch {
    // Not supported here (Windows): run with V8's defaults.
  }
}

/**
 * `hookrelay sample tapemetric | hookrelay sign … | sh`: when `sign` fails, it exits before reading
 * the payload, and `sample`'s write to the closed pipe fails with EPIPE, which Node reports as an
 * unhandled 'error' event: a 20-line stack that buried sign's one-line reason. A reader that has
 * gone means nothing more can be said there: stop without a stack, exit code 1 (the output was
 * not all read) or the command's own if it failed already. Node ignores SIGPIPE, which would have
 * ended the process as quietly. This covers what commands print (process.stdout and stderr);
 * pino writes the logs of `serve` and `work` through a stream of its own.
 */
function stopQuietlyWhenTheReaderIsGone() {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error) => {
      if (error.code === 'EPIPE') process.exit(Number(process.exitCode) || 1);
      throw error;
    });
  }
}
