import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { stormCapacity } from '../../src/notify/digest.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { problemAt, problemsOf } from '../config/support.ts';

/** `storm:` on a destination: defaults per type, and what is refused with a clear message. */

function destinationFrom(yaml: string): Destination {
  const config = parseConfigText(`destinations:\n  - ${yaml}\n`, { HOOKRELAY_ALLOW_PRIVATE: '1' });
  const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: 'test' });
  const http = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
  return createDestination(config.destinations[0]!, { http, templates, version: 'test', logger: silentLogger(), store: () => ({}) as Store });
}

const SLACK = '{ name: ops, type: slack, url: "https://hooks.slack.com/services/T/B/X"';

describe('storm config', () => {
  it('Slack and slack-bot collapse by default: 5 min horizon, worst 5; at 3/3 s that is 300 requests', () => {
    const slack = destinationFrom(`${SLACK} }`);
    expect(slack.storm).toEqual({ horizon_ms: 300_000, worst: 5 });
    expect(stormCapacity(slack.storm, slack.limits.rate)).toBe(300);
    const bot = destinationFrom('{ name: bot, type: slack-bot, token: xoxb-1, channel: "#ops" }');
    expect(bot.storm).toEqual({ horizon_ms: 300_000, worst: 5 });
  });

  it('storm: { horizon, worst } is the destination\'s own; storm: false never collapses', () => {
    expect(destinationFrom(`${SLACK}, storm: { horizon: 30s, worst: 3 } }`).storm).toEqual({ horizon_ms: 30_000, worst: 3 });
    expect(destinationFrom(`${SLACK}, storm: { worst: 8 } }`).storm).toEqual({ horizon_ms: 300_000, worst: 8 });
    const off = destinationFrom(`${SLACK}, storm: false }`);
    expect(off.storm).toBeNull();
    expect(stormCapacity(off.storm, off.limits.rate)).toBeNull();
  });

  it('http: off unless configured, and then it needs a rate limit to measure the horizon', () => {
    expect(destinationFrom('{ name: audit, type: http, url: "https://audit.example.com/" }').storm).toBeNull();
    const limited = destinationFrom('{ name: audit, type: http, url: "https://audit.example.com/", rate: { max: 10, per: 1s }, storm: { horizon: 1m } }');
    expect(stormCapacity(limited.storm, limited.limits.rate)).toBe(600);
    const problems = problemsOf(`destinations:\n  - { name: audit, type: http, url: "https://audit.example.com/", storm: { horizon: 1m } }\n`);
    expect(problemAt(problems, 'destinations[0].storm')).toContain('storm needs a rate limit');
  });

  it('PagerDuty takes one event per incident: storm is refused with the reason; bad values name their path', () => {
    const pagerduty = problemsOf('destinations:\n  - { name: oncall, type: pagerduty, routing_key: k, storm: { horizon: 5m } }\n');
    expect(problemAt(pagerduty, 'destinations[0].storm')).toContain('storm digests are not sent to PagerDuty');
    expect(problemAt(problemsOf(`destinations:\n  - ${SLACK}, storm: { worst: 50 } }\n`), 'destinations[0].storm.worst')).toBeDefined();
    expect(problemAt(problemsOf(`destinations:\n  - ${SLACK}, storm: { horizon: soon } }\n`), 'destinations[0].storm.horizon')).toContain('not a duration');
    expect(problemAt(problemsOf(`destinations:\n  - ${SLACK}, storm: { horizn: 5m } }\n`), 'destinations[0].storm.horizn')).toBeDefined();
  });
});
