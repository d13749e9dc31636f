import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    // Most test files wait on sockets, child processes and PostgreSQL rather than compute: one
    // more worker than cores keeps both cores busy (vitest's default is cores - 1: one, on two).
    maxWorkers: availableParallelism() + 1,
    // A bound on a hang, not a speed: waits inside tests end at test/support/wait.ts's WAIT_MS
    // (60 s), so a test that waits for one thing still fails with the wait's own message.
    testTimeout: 90_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
