/**
 * Loaded into a measured process with `--import` (hookrelay's children in the drain phase): on
 * SIGUSR2 it writes the bytes its main thread has allocated so far (test/support/allocation.ts)
 * to the file named by BENCH_ALLOC_FILE, as `<reading number> <bytes>`, so the bench can read
 * the allocation of a window (KB per delivery) from outside without touching hookrelay's code.
 */
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';
import { startAllocationMeter } from '../test/support/allocation.ts';

const file = process.env['BENCH_ALLOC_FILE'];
// Preloads run in worker threads too; signals reach only the main thread, whose heap is the one measured.
if (file && isMainThread) {
  const meter = startAllocationMeter();
  let readings = 0;
  process.on('SIGUSR2', () => {
    readings += 1;
    writeFileSync(file, `${readings} ${meter.read()}\n`);
  });
}
