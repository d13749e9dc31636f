import { expect } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import type { Env } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';

/** A destination every route in these tests can name (public address: no egress problem). */
export const HTTP_DESTINATION = '{ name: audit, type: http, url: "https://audit.example.com/hook" }';

/** The problems a config is refused with, one line each; fails the test when it is accepted. */
export function problemsOf(yaml: string, env: Env = {}): readonly string[] {
  try {
    parseConfigText(yaml, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  expect.fail(`the config was accepted:\n${yaml}`);
}

/** The one problem at `path` (the text before the first ": "), failing unless there is exactly one. */
export function problemAt(problems: readonly string[], path: string): string {
  const found = problems.filter((line) => line.startsWith(`${path}: `));
  expect(found, `problems at ${path} in:\n${problems.join('\n')}`).toHaveLength(1);
  return found[0]!;
}
