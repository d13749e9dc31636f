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
      'test/dispatch/retry-policy.test.ts',
      'test/destinations/egress.test.ts',
      'test/templates/**/*.test.ts',
      'test/store/writes.test.ts',
      'test/notify/store-rules.test.ts',
    ],
    exclude: [
      // Stryker runs tests in worker threads, where process.chdir() (used there) is not supported.
      'test/templates/engine.test.ts',
      // A whole server per run, and Bolt (not our code) verifies Slack's signature.
      'test/sources/slack-signature.test.ts',
    ],
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
