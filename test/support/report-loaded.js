// Preloaded (`node --import`) into a hookrelay child by test/cli/process-memory.test.ts: at exit,
// writes to $HOOKRELAY_TEST_REPORT the node flags it ran with, its MALLOC_ARENA_MAX, whether
// Node's TypeScript stripper (amaro) was loaded, and, with $HOOKRELAY_TEST_MODULES=1, every file
// it loaded. Plain JavaScript, so that the preload itself strips no TypeScript.
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const report = process.env.HOOKRELAY_TEST_REPORT;
const loaded = [];
// Load hooks take TypeScript off the compile cache's path, so they are only there when asked for.
if (isMainThread && process.env.HOOKRELAY_TEST_MODULES === '1') {
  registerHooks({
    load(url, context, next) {
      loaded.push(url);
      return next(url, context);
    },
  });
}
if (isMainThread && report) {
  process.on('exit', () => {
    const stripper = process.moduleLoadList.some((name) => name.includes('amaro'));
    writeFileSync(report, JSON.stringify({ execArgv: process.execArgv, mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null, stripper, loaded }));
  });
}
