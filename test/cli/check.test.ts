import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hookrelay as runHookrelay, lines, PUBLIC_URL, scratchFolder, writeScratchFile } from './support.ts';

const scratch = scratchFolder();
const hookrelay = (args: string[], options?: Parameters<typeof runHookrelay>[2]) => runHookrelay(scratch, args, options);
const file = (name: string, text: string): string => writeScratchFile(scratch, name, text);
const problemsOf = (stderr: string): string[] => lines(stderr).filter((line) => !line.startsWith('warning: '));
const warningsOf = (stderr: string): string[] => lines(stderr).filter((line) => line.startsWith('warning: '));

describe('hookrelay check: every problem in one pass', () => {
  it('config, template and route mistakes together, each with "did you mean"', async () => {
    const templates = join(scratch, 'one-pass-templates');
    file('one-pass-templates/slack/team.hbs', '{ "text": "{{truncat title 40}}" }\n');
    const config = file(
      'one-pass.yaml',
      `
templates_dir: ${templates}
sources:
  - { name: tapemetric, preset: tapemetric, secretz: [s] }
  - { name: pulse, preset: statuspuls, secrets: [s] }
destinations:
  - { name: oncall, type: http, url: "${PUBLIC_URL}" }
  - { name: pager, type: pagerduty }
  - { name: team, type: slack, url: "${PUBLIC_URL}", template: slack/team, concurency: 2 }
routes:
  - { to: [oncal], match: { sevrity: ">=warning" } }
`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const problems = problemsOf(run.stderr);
    expect(problems).toContain('sources[0].secretz: unknown key (did you mean "secrets"?)');
    expect(problems).toContainEqual(expect.stringMatching(/^sources\[1\]\.preset: unknown preset "statuspuls".*\(did you mean "statuspulse"\?\)$/));
    expect(problems).toContainEqual(expect.stringMatching(/^destinations\[1\]\.routing_key: /));
    expect(problems).toContainEqual(expect.stringMatching(/^destinations\[2\]\.concurency: unknown key \(did you mean "concurrency"\?\)$/));
    expect(problems).toContain('routes[0].match.sevrity: unknown key (did you mean "severity"?)');
    expect(problems).toContain('routes[0].to[0]: unknown destination "oncal" (did you mean "oncall"?)');
    // The template of a destination is checked although the config has problems, at its own path in the file.
    expect(problems).toContainEqual(expect.stringMatching(/^destinations\[2\]\.template: .*slack\/team\.hbs:1: unknown helper "truncat" \(did you mean "truncate"\?\)$/));
    // The misspelled key is the problem, not a "missing secrets" besides it.
    expect(problems.filter((line) => line.startsWith('sources[0].'))).toHaveLength(1);
  });

  it('time_intervals and routes naming them: a bad time zone, an empty time range and a misspelt interval, together', async () => {
    const config = file(
      'intervals.yaml',
      `
time_intervals:
  - name: nights
    time_intervals:
      - { times: [ { start_time: "22:00", end_time: "06:00" } ], location: Europe/Berln }
  - name: office_hours
    time_intervals: [ { weekdays: ["monday:friday"] } ]
destinations:
  - { name: oncall, type: http, url: "${PUBLIC_URL}" }
routes:
  - { name: low, to: [oncall], muted_during: [nigths], active_during: [office_hours] }
`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(2);
    const problems = problemsOf(run.stderr);
    expect(problems).toContain('time_intervals[0].time_intervals[0].location: "Europe/Berln" is not a time zone (an IANA name such as Europe/Berlin, America/New_York or UTC)');
    expect(problems).toContainEqual(expect.stringMatching(/^time_intervals\[0\]\.time_intervals\[0\]\.times\[0\]: 22:00 to 06:00 is empty: .*across midnight/));
    expect(problems).toContain('routes[0].muted_during[0]: unknown time interval "nigths" (did you mean "nights"?)');
    expect(problems).toHaveLength(3);
  });

  it('a template whose output is not JSON is reported with the config problems', async () => {
    const templates = join(scratch, 'json-templates');
    file('json-templates/http/broken.hbs', '{ "title": {{title}} }\n');
    const config = file(
      'broken-json.yaml',
      `
templates_dir: ${templates}
colour: blue
destinations:
  - { name: audit, type: http, url: "${PUBLIC_URL}", template: http/broken }
`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(2);
    const problems = problemsOf(run.stderr);
    expect(problems).toContainEqual(expect.stringMatching(/^colour: unknown key/));
    expect(problems).toContainEqual(expect.stringMatching(/^destinations\[0\]\.template: .*http\/broken\.hbs: .*not valid JSON/));
  });

  it('zero-config: a private SLACK_WEBHOOK_URL is reported as SLACK_WEBHOOK_URL, not destinations[0].url', async () => {
    const run = await hookrelay(['check'], { env: { SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/services/T/B/X', TAPEMETRIC_SECRET: 's' } });
    expect(run.code).toBe(2);
    expect(problemsOf(run.stderr)).toEqual([expect.stringMatching(/^SLACK_WEBHOOK_URL: refusing to connect to 127\.0\.0\.1/)]);
    expect(run.stderr).not.toContain('destinations[');
  });

  it('serve says the same: SLACK_WEBHOOK_URL, exit 2, before opening anything', async () => {
    const dataDir = join(scratch, 'serve-zero-config-data');
    const run = await hookrelay(['serve', '--port', '0'], {
      env: { SLACK_WEBHOOK_URL: 'http://127.0.0.1:9/services/T/B/X', TAPEMETRIC_SECRET: 's', HOOKRELAY_DATA_DIR: dataDir },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^SLACK_WEBHOOK_URL: refusing to connect to 127\.0\.0\.1/);
  });

  it('a one-character admin token → exit 2 naming admin.token and "hookrelay secret"', async () => {
    const config = file('short-admin-token.yaml', `destinations:\n  - { name: audit, type: http, url: "${PUBLIC_URL}" }\nroutes:\n  - { to: [audit] }\nadmin: { token: x }\n`);
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(2);
    expect(problemsOf(run.stderr)).toEqual(['admin.token: must be at least 16 characters (use "hookrelay secret" to make one)']);
  });

  it('zero-config: a 15-character HOOKRELAY_ADMIN_TOKEN is refused by check and serve, naming the variable; 16 are enough', async () => {
    const env = { SLACK_WEBHOOK_URL: 'https://8.8.8.8/services/T/B/X', TAPEMETRIC_SECRET: 's', HOOKRELAY_ADMIN_TOKEN: 'fifteen-chars-x' };
    const check = await hookrelay(['check'], { env });
    expect(check.code).toBe(2);
    expect(problemsOf(check.stderr)).toEqual(['HOOKRELAY_ADMIN_TOKEN: must be at least 16 characters (use "hookrelay secret" to make one)']);
    const serve = await hookrelay(['serve', '--port', '0'], { env: { ...env, HOOKRELAY_DATA_DIR: join(scratch, 'short-token-data') } });
    expect(serve.code).toBe(2);
    expect(serve.stderr).toMatch(/^HOOKRELAY_ADMIN_TOKEN: must be at least 16 characters/);
    expect((await hookrelay(['check'], { env: { ...env, HOOKRELAY_ADMIN_TOKEN: 'sixteen-chars-xy' } })).code).toBe(0);
  });

  it('no source configured → a warning that every webhook would get 404, exit 0', async () => {
    const config = file('no-sources.yaml', `destinations:\n  - { name: audit, type: http, url: "${PUBLIC_URL}" }\nroutes:\n  - { to: [audit] }\n`);
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(0);
    expect(warningsOf(run.stderr)).toEqual([expect.stringMatching(/^warning: sources: .*404/)]);
  });

  it('zero-config with no sender secret → the warning names the variables to set', async () => {
    const run = await hookrelay(['check'], { env: { SLACK_WEBHOOK_URL: 'https://8.8.8.8/services/T/B/X' } });
    expect(run.code).toBe(0);
    expect(warningsOf(run.stderr)).toEqual([expect.stringMatching(/^warning: .*404.*TAPEMETRIC_SECRET/)]);
    // Every variable that adds a sender, the newer presets' too.
    for (const variable of ['STATUSPULSE_SECRET', 'STATUSSENTRY_SECRET', 'TAPE_URL_TOKEN', 'ALERTMANAGER_TOKEN', 'GRAFANA_SECRET', 'GRAFANA_TOKEN', 'GITHUB_WEBHOOK_SECRET', 'STRIPE_WEBHOOK_SECRET']) {
      expect(run.stderr).toContain(variable);
    }
  });

  it('a template with {{#each}} nested in {{#each}} over sender data → a warning with file and line, exit 0', async () => {
    const templates = join(scratch, 'nested-templates');
    file('nested-templates/http/fields.hbs', '{\n  "fields": "{{#each data.data}}{{#each @root.data.data}}{{@key}} {{/each}}{{/each}}"\n}\n');
    const config = file(
      'nested.yaml',
      `
templates_dir: ${templates}
sources:
  - { name: t, preset: tapemetric, secrets: [s] }
destinations:
  - { name: a, type: http, url: "${PUBLIC_URL}", template: http/fields }
  - { name: b, type: http, url: "${PUBLIC_URL}", template: http/fields }
routes:
  - { to: [a, b] }
`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/: ok — 1 sources, 2 destinations, 1 routes/);
    // Once for the file, at the first destination that uses it.
    expect(warningsOf(run.stderr)).toEqual([
      `warning: destinations[0].template: ${join(templates, 'http/fields.hbs')}:2: {{#each data.data}} holds 2 levels of {{#each}} over sender data: ` +
        'the iterations multiply (58 keys a level: 3,364); a render stops at 100,000 iterations or 1 MB of output, and its delivery fails',
    ]);
  });

  it('a destination no route sends to → a warning naming it', async () => {
    const config = file(
      'unrouted.yaml',
      `sources:\n  - { name: t, preset: tapemetric, secrets: [s] }\ndestinations:\n  - { name: a, type: http, url: "${PUBLIC_URL}" }\n  - { name: b, type: http, url: "${PUBLIC_URL}" }\nroutes:\n  - { to: [a] }\n`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(0);
    expect(warningsOf(run.stderr)).toEqual(['warning: destinations[1]: no route sends to "b"']);
  });
});
