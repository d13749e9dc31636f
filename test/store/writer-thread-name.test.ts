import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cpuSpentUs, threadTimes } from '../../bench/cpu-time.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-writer-name-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// Linux names threads in /proc; elsewhere there is nothing to read.
describe.runIf(existsSync('/proc/self/task'))('the SQLite writer thread', () => {
  it('is named sqlite-writer, so top -H and the bench can tell its CPU from the event loop’s', async () => {
    const before = threadTimes(process.pid)!;
    expect([...before.values()].map((thread) => thread.name)).not.toContain('sqlite-writer');
    const store = await SqliteStore.open(join(scratch, 'hookrelay.db'));
    try {
      // Opening migrated the schema on the writer thread: it has spent CPU, under its name.
      const spent = cpuSpentUs(before, threadTimes(process.pid)!);
      expect(spent['sqlite-writer']).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});
