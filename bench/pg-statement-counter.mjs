// Preloaded into a hookrelay (`node --import`) by bench/pg-drain-probe.ts: counts every
// statement its pg clients send (the pool's connections and the LISTEN one) and the time each
// took from send to answer, and writes them to $PG_COUNT_FILE when the process exits.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

const file = process.env.PG_COUNT_FILE;
if (file) {
  const pg = createRequire(import.meta.url)('pg');
  const counts = new Map();
  const original = pg.Client.prototype.query;
  pg.Client.prototype.query = function (...args) {
    const first = args[0];
    const text = typeof first === 'string' ? first : String(first?.text ?? '');
    const key = text.replace(/\s+/g, ' ').trim();
    const entry = counts.get(key) ?? { n: 0, ms: 0 };
    entry.n += 1;
    counts.set(key, entry);
    const started = performance.now();
    const result = original.apply(this, args);
    if (result && typeof result.then === 'function') {
      result.then(
        () => (entry.ms += performance.now() - started),
        () => (entry.ms += performance.now() - started),
      );
    }
    return result;
  };
  process.on('exit', () => writeFileSync(file, JSON.stringify([...counts].map(([sql, entry]) => ({ sql, ...entry })))));
}
