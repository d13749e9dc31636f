import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const CLOCK_MESSAGE =
  'Time comes from the one Clock (src/util/clock.ts): take a `Clock` (or `now`) from options, passed down from server.ts; a deadline on I/O or a measured latency uses `realTime` from src/util/clock.ts.';

export default tseslint.config(
  { ignores: ['node_modules/', 'data/', 'coverage/', '.bench/', '.stryker-tmp/', 'reports/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setImmediate: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  {
    files: ['src/cli/**', 'bench/**', 'test/**', 'bin/**'],
    rules: { 'no-console': 'off' },
  },
  // One clock (issue 19): src/ reads time and schedules only through src/util/clock.ts.
  {
    files: ['src/**'],
    ignores: ['src/util/clock.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: CLOCK_MESSAGE },
        { object: 'performance', property: 'now', message: CLOCK_MESSAGE },
        { object: 'process', property: 'hrtime', message: CLOCK_MESSAGE },
        { object: 'globalThis', property: 'setTimeout', message: CLOCK_MESSAGE },
        { object: 'globalThis', property: 'setInterval', message: CLOCK_MESSAGE },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: CLOCK_MESSAGE },
        { selector: "CallExpression[callee.name='Date']", message: CLOCK_MESSAGE },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: CLOCK_MESSAGE },
        { name: 'setInterval', message: CLOCK_MESSAGE },
      ],
      'no-restricted-imports': [
        'error',
        { paths: ['timers', 'node:timers', 'timers/promises', 'node:timers/promises'].map((name) => ({ name, message: CLOCK_MESSAGE })) },
      ],
    },
  },
);
