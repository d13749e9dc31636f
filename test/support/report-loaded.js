// Preloaded (`node --import`) into a hookrelay child by test/cli/process-memory.test.ts: at exit,
// writes to $HOOKRELAY_TEST_REPORT the node flags it ran with, its MALLOC_ARENA_MAX and
// MALLOC_TRIM_THRESHOLD_, whether
// Node's TypeScript stripper (amaro) was loaded, and, with $HOOKRELAY_TEST_MODULES=1, every file
// it loaded, and, with $HOOKRELAY_TEST_INTL=1, which locale-aware calls (Intl, toLocaleString...) it
// made. Plain JavaScript, so that the preload itself strips no TypeScript.
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
// Intl's first use pages ~4.6 MB of the node binary's ICU data in (docs/operating.md#memory).
const intl = [];
if (isMainThread && process.env.HOOKRELAY_TEST_INTL === '1') {
  const seen = (name) => {
    if (!intl.includes(name)) intl.push(name);
  };
  for (const name of ['Collator', 'DateTimeFormat', 'DisplayNames', 'ListFormat', 'NumberFormat', 'PluralRules', 'RelativeTimeFormat', 'Segmenter']) {
    const original = Intl[name];
    Intl[name] = new Proxy(original, {
      construct: (target, args) => (seen(`Intl.${name}`), Reflect.construct(target, args)),
      apply: (target, self, args) => (seen(`Intl.${name}`), Reflect.apply(target, self, args)),
    });
  }
  const methods = [
    [Number.prototype, 'Number', ['toLocaleString']],
    [BigInt.prototype, 'BigInt', ['toLocaleString']],
    [Array.prototype, 'Array', ['toLocaleString']],
    [Date.prototype, 'Date', ['toLocaleString', 'toLocaleDateString', 'toLocaleTimeString']],
    [String.prototype, 'String', ['localeCompare', 'toLocaleLowerCase', 'toLocaleUpperCase']],
  ];
  for (const [prototype, owner, names] of methods) {
    for (const name of names) {
      const original = prototype[name];
      prototype[name] = function (...args) {
        seen(`${owner}.prototype.${name}`);
        return original.apply(this, args);
      };
    }
  }
}
if (isMainThread && report) {
  process.on('exit', () => {
    const stripper = process.moduleLoadList.some((name) => name.includes('amaro'));
    writeFileSync(report, JSON.stringify({ execArgv: process.execArgv, mallocArenaMax: process.env.MALLOC_ARENA_MAX ?? null, mallocTrimThreshold: process.env.MALLOC_TRIM_THRESHOLD_ ?? null, stripper, loaded, intl }));
  });
}
