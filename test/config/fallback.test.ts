import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { problemAt, problemsOf } from './support.ts';

/** `fallback: <destination>` as `check` reads it: another destination, existing, without a fallback of its own. */
const destinations = (oncall: string, extra = '') => `
destinations:
  - { name: ops-slack, type: slack, url: "https://hooks.slack.com/services/T0/B0/x"${extra} }
  - { name: ops-mail, type: email, smtp: { host: smtp.example.com, port: 587 }, from: "hookrelay <a@example.com>", to: [oncall@example.com] }
  - { name: oncall, type: pagerduty, routing_key: rk${oncall} }
routes:
  - { to: [oncall] }
`;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe('check: fallback destinations', () => {
  it('a fallback naming another destination is accepted, and the destination carries it', () => {
    const config = parseConfigText(destinations(', fallback: ops-slack'), {});
    const oncall = config.destinations.find((destination) => destination.name === 'oncall')!;
    expect(oncall.fallback).toBe('ops-slack');
    const http = new HttpClient({ allowPrivate: false, userAgent: 'hookrelay/test' });
    cleanups.push(() => http.close());
    const created = createDestination(oncall, {
      http,
      templates: createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: 'test' }),
      version: 'test',
      logger: silentLogger(),
      store: () => {
        throw new Error('not read');
      },
    });
    expect(created.fallback).toBe('ops-slack');
    expect(parseConfigText(destinations(', fallback: ops-mail'), {}).destinations.find((d) => d.name === 'oncall')?.fallback).toBe('ops-mail');
  });

  it('an unknown fallback → error at destinations[i].fallback with "did you mean"', () => {
    expect(problemAt(problemsOf(destinations(', fallback: ops-slak')), 'destinations[2].fallback')).toBe(
      'destinations[2].fallback: unknown destination "ops-slak" (did you mean "ops-slack"?)',
    );
  });

  it('a destination as its own fallback → error', () => {
    expect(problemAt(problemsOf(destinations(', fallback: oncall')), 'destinations[2].fallback')).toContain('is this destination itself');
  });

  it('fallbacks do not chain (so never cycle): a fallback with a fallback of its own → error naming both', () => {
    const chain = problemsOf(destinations(', fallback: ops-slack', ', fallback: ops-mail'));
    expect(problemAt(chain, 'destinations[2].fallback')).toBe(
      'destinations[2].fallback: "ops-slack" has a fallback of its own ("ops-mail"): fallbacks do not chain, so name a destination without one',
    );
    const cycle = problemsOf(destinations(', fallback: ops-slack', ', fallback: oncall'));
    expect(problemAt(cycle, 'destinations[2].fallback')).toContain('fallbacks do not chain');
    expect(problemAt(cycle, 'destinations[0].fallback')).toContain('fallbacks do not chain');
  });

  it('a fallback that is not a name → the schema says so', () => {
    expect(problemAt(problemsOf(destinations(', fallback: [ops-slack]')), 'destinations[2].fallback')).toContain('destinations[2].fallback');
  });
});
