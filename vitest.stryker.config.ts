import { defineConfig } from 'vitest/config';

/**
 * The tests `npm run mutate` runs against each mutant: those of the modules it mutates
 * (stryker.config.json), without the slow end-to-end suites. Stryker runs each mutant only
 * against the tests that executed it in its first, full run (coverageAnalysis: perTest).
 */
export default defineConfig({
  test: {
    include: [
      'test/sources/**/*.test.ts',
      'test/dispatch/**/*.test.ts',
      'test/notify/**/*.test.ts',
      'test/destinations/egress.test.ts',
      'test/templates/**/*.test.ts',
      'test/store/**/*.test.ts',
    ],
    exclude: [
      // Stryker runs tests in worker threads, where process.chdir() (used there) is not supported.
      'test/templates/engine.test.ts',
      // A whole server per run, and Bolt (not our code) verifies Slack's signature.
      'test/sources/slack-signature.test.ts',
      // Real time (a property over many runs of two lanes): the same rules are driven on a
      // ManualClock by dispatcher-clock.test.ts and the units' own tests.
      'test/dispatch/two-dispatchers.test.ts',
      // Whole servers or CLI processes around a store: end to end, and the mutant is not in them.
      'test/store/corrupt-file.test.ts',
      'test/store/damaged-store.test.ts',
      'test/store/disk-reserve.test.ts',
      'test/store/readiness.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
