import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findConfigFile, loadConfig, parseConfigText } from '../../src/config/load.ts';
import { ConfigError } from '../../src/errors.ts';
import { HTTP_DESTINATION, problemAt, problemsOf } from './support.ts';

const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-config-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const TAPEMETRIC_SOURCE = '{ name: tapemetric, preset: tapemetric, secrets: [s3cret] }';

describe('references between sections', () => {
  it('a route naming a misspelt destination → error at routes[i].to[j] with "did you mean"', () => {
    const problems = problemsOf(`
destinations:
  - { name: oncall, type: http, url: "https://pager.example.com/" }
routes:
  - { to: [oncall] }
  - { to: [oncall, oncal] }
`);
    expect(problems).toEqual(['routes[1].to[1]: unknown destination "oncal" (did you mean "oncall"?)']);
  });

  it('a route naming a destination nothing resembles → error listing the known ones', () => {
    const problems = problemsOf(`
destinations:
  - ${HTTP_DESTINATION}
routes:
  - { to: [slack-ops] }
`);
    expect(problemAt(problems, 'routes[0].to[0]')).toContain('(known: audit)');
  });

  const NIGHTS = `
time_intervals:
  - name: nights
    time_intervals:
      - { times: [ { start_time: "22:00", end_time: "24:00" }, { start_time: "00:00", end_time: "06:00" } ], location: Europe/Berlin }
  - name: office_hours
    time_intervals:
      - { weekdays: ["monday:friday"], times: [ { start_time: "09:00", end_time: "17:00" } ] }
destinations:
  - ${HTTP_DESTINATION}`;

  it('muted_during / active_during naming time_intervals are accepted and kept as written', () => {
    const config = parseConfigText(`${NIGHTS}
routes:
  - { name: low, to: [audit], muted_during: [nights] }
  - { name: day, to: [audit], active_during: [office_hours, nights] }
`, {});
    expect(config.time_intervals.map((entry) => entry.name)).toEqual(['nights', 'office_hours']);
    expect(config.routes[0]?.muted_during).toEqual(['nights']);
    expect(config.routes[1]?.active_during).toEqual(['office_hours', 'nights']);
  });

  it('muted_during / active_during naming a misspelt interval → error at its path with "did you mean"', () => {
    const problems = problemsOf(`${NIGHTS}
routes:
  - { to: [audit], muted_during: [nights, nigths] }
  - { to: [audit], active_during: [office_hour] }
  - { to: [audit], active_during: [weekends] }
`);
    expect(problems).toEqual([
      'routes[0].muted_during[1]: unknown time interval "nigths" (did you mean "nights"?)',
      'routes[1].active_during[0]: unknown time interval "office_hour" (did you mean "office_hours"?)',
      'routes[2].active_during[0]: unknown time interval "weekends" (known: nights, office_hours)',
    ]);
  });

  it('an interval named when no time_intervals are configured → error saying where to define it', () => {
    const problems = problemsOf(`
destinations:
  - ${HTTP_DESTINATION}
routes:
  - { to: [audit], muted_during: [nights] }
`);
    expect(problems).toEqual(['routes[0].muted_during[0]: unknown time interval "nights" (no time_intervals are configured: define it under time_intervals:)']);
  });

  it('two time_intervals with one name → error at the second; an empty muted_during → error', () => {
    const problems = problemsOf(`
time_intervals:
  - { name: nights, time_intervals: [ { times: [ { start_time: "22:00", end_time: "24:00" } ] } ] }
  - { name: nights, time_intervals: [ { weekdays: [saturday] } ] }
destinations:
  - ${HTTP_DESTINATION}
routes:
  - { to: [audit], muted_during: [] }
`);
    expect(problems).toContain('time_intervals[1].name: "nights" is already the name of time_intervals[0]');
    expect(problemAt(problems, 'routes[0].muted_during')).toBeDefined();
  });

  it('config mutes: a misspelt interval in during, a duplicate name, a bad matcher, no reason, a run-time-like name → one error each', () => {
    const problems = problemsOf(`${NIGHTS}
mutes:
  - { name: batch-jobs, matchers: { type: "batch.*" }, reason: nightly batch noise, during: [nigths] }
  - { name: batch-jobs, matchers: { type: "batch.*" }, reason: again }
  - { name: region, matchers: { region: x }, reason: r }
  - { name: quiet, matchers: { type: "x.*" } }
  - { name: mut_01, matchers: { type: "x.*" }, reason: r }
`);
    expect(problems).toEqual(
      expect.arrayContaining([
        'mutes[0].during[0]: unknown time interval "nigths" (did you mean "nights"?)',
        'mutes[1].name: "batch-jobs" is already the name of mutes[0]',
        expect.stringMatching(/^mutes\[2\]\.matchers: "region" is not an event field/),
        expect.stringMatching(/^mutes\[3\]\.reason: /),
        'mutes[4].name: may not start with "mut_" (the ids of mutes made at run time)',
      ]),
    );
    expect(problems).toHaveLength(5);
  });

  it('config mutes as written: always on, or during named intervals', () => {
    const config = parseConfigText(`${NIGHTS}
mutes:
  - { name: batch-jobs, matchers: { type: "batch.*" }, reason: nightly batch noise, during: [nights] }
  - { name: staging, matchers: { data.env: staging }, reason: not production }
`, {});
    expect(config.mutes).toEqual([
      { name: 'batch-jobs', matchers: { type: 'batch.*' }, reason: 'nightly batch noise', during: ['nights'] },
      { name: 'staging', matchers: { 'data.env': 'staging' }, reason: 'not production' },
    ]);
  });

  it('match.source naming no source → error at its path with "did you mean"', () => {
    const problems = problemsOf(`
sources:
  - ${TAPEMETRIC_SOURCE}
destinations:
  - ${HTTP_DESTINATION}
routes:
  - { to: [audit], match: { source: [tapemetric, tapemetrik] } }
`);
    expect(problems).toEqual(['routes[0].match.source[1]: no source is named "tapemetrik" (did you mean "tapemetric"?)']);
  });

  it('match.source as a glob that matches a source is accepted', () => {
    const config = parseConfigText(`
sources:
  - ${TAPEMETRIC_SOURCE}
destinations:
  - ${HTTP_DESTINATION}
routes:
  - { to: [audit], match: { source: "tape*" } }
`, {});
    expect(config.routes[0]?.match?.source).toBe('tape*');
  });

  it.each([
    ['sources', `sources:\n  - ${TAPEMETRIC_SOURCE}\n  - { name: tapemetric, preset: tapemetric, secrets: [other] }\n`],
    ['destinations', `destinations:\n  - ${HTTP_DESTINATION}\n  - { name: audit, type: slack, url: "https://hooks.slack.com/services/T/B/X" }\n`],
    ['routes', `destinations:\n  - ${HTTP_DESTINATION}\nroutes:\n  - { name: all, to: [audit] }\n  - { name: all, to: [audit] }\n`],
  ])('two %s with the same name → error at the second one\'s name', (list, yaml) => {
    const problems = problemsOf(yaml);
    expect(problemAt(problems, `${list}[1].name`)).toContain(`${list}[0]`);
  });
});

describe('unknown keys are errors naming the key path', () => {
  it.each([
    ['top level', 'destinaton: []\n', 'destinaton'],
    ['a source', `sources:\n  - { name: tapemetric, preset: tapemetric, secrets: [x], secert: y }\n`, 'sources[0].secert'],
    ['a destination', `destinations:\n  - { name: audit, type: http, url: "https://a.example.com/", retries: 3 }\n`, 'destinations[0].retries'],
    ['a route', `destinations:\n  - ${HTTP_DESTINATION}\nroutes:\n  - { to: [audit], filters: {} }\n`, 'routes[0].filters'],
    ["a route's match", `destinations:\n  - ${HTTP_DESTINATION}\nroutes:\n  - { to: [audit], match: { sevrity: critical } }\n`, 'routes[0].match.sevrity'],
    ["a route's group", `destinations:\n  - ${HTTP_DESTINATION}\nroutes:\n  - { to: [audit], group: { by: [type], every: 5m } }\n`, 'routes[0].group.every'],
    ['retry', 'retry: { schedule: [30s], disable_afer: 3 }\n', 'retry.disable_afer'],
    ['egress', 'egress: { allow_privat: true }\n', 'egress.allow_privat'],
    ['admin', 'admin: { token: t, user: u }\n', 'admin.user'],
  ])('in %s', (_where, yaml, path) => {
    expect(problemAt(problemsOf(yaml), path)).toContain('unknown key');
  });
});

describe('admin.token', () => {
  it('shorter than 16 characters → refused at admin.token, saying how to make one', () => {
    expect(problemsOf('admin: { token: x }\n')).toEqual(['admin.token: must be at least 16 characters (use "hookrelay secret" to make one)']);
    expect(problemsOf('admin: { token: "fifteen-chars-x" }\n')).toEqual([expect.stringMatching(/^admin\.token: must be at least 16 characters/)]);
  });

  it('16 characters are enough', () => {
    expect(parseConfigText('admin: { token: "sixteen-chars-xy" }\n', {}).admin?.token).toBe('sixteen-chars-xy');
  });
});

describe('${VAR} interpolation', () => {
  it('${VAR} is replaced from the environment, inside a longer string too', () => {
    const config = parseConfigText(
      `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["\${TM_SECRET}", "old-\${TM_SUFFIX}"] }
admin: { token: "\${ADMIN}" }
`,
      { TM_SECRET: 'from-env', TM_SUFFIX: 'rotated', ADMIN: 'admin-token-from-the-env' },
    );
    expect(config.sources[0]).toMatchObject({ secrets: ['from-env', 'old-rotated'] });
    expect(config.admin?.token).toBe('admin-token-from-the-env');
  });

  it('a missing variable → error naming the variable and the path, once', () => {
    const problems = problemsOf(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["\${TAPEMETRIC_SECRET}"] }
`);
    expect(problems).toHaveLength(1);
    expect(problemAt(problems, 'sources[0].secrets[0]')).toContain('TAPEMETRIC_SECRET');
  });

  it('a variable set to the empty string counts as missing', () => {
    expect(problemAt(problemsOf('admin: { token: "${ADMIN}" }\n', { ADMIN: '' }), 'admin.token')).toContain('ADMIN');
  });

  it('${VAR:-fallback} uses the fallback when VAR is unset or empty, and VAR when set', () => {
    const yaml = 'admin: { token: "${ADMIN:-fallback-admin-token}" }\n';
    expect(parseConfigText(yaml, {}).admin?.token).toBe('fallback-admin-token');
    expect(parseConfigText(yaml, { ADMIN: '' }).admin?.token).toBe('fallback-admin-token');
    expect(parseConfigText(yaml, { ADMIN: 'set-in-the-environment' }).admin?.token).toBe('set-in-the-environment');
  });

  it('numbers and flags given through ${VAR} are read as numbers and flags', () => {
    const config = parseConfigText(
      `
destinations:
  - { name: audit, type: http, url: "https://audit.example.com/", concurrency: "\${C}", rate: { max: "\${M}", per: 1s } }
retry: { disable_after: "\${D}" }
egress: { allow_private: "\${P}" }
`,
      { C: '4', M: '10', D: '3', P: 'true' },
    );
    expect(config.retry.disable_after).toBe(3);
    expect(config.egress.allow_private).toBe(true);
    expect(config.destinations[0]).toMatchObject({ concurrency: 4, rate: { max: 10 } });
    expect(problemAt(problemsOf('retry: { disable_after: "${D}" }', { D: 'six' }), 'retry.disable_after')).toMatch(/number/);
  });

  it('$${ is a literal ${ and is not looked up', () => {
    const config = parseConfigText('admin: { token: "$${NOT_A_VAR}-and-${REAL}" }\n', { REAL: 'x' });
    expect(config.admin?.token).toBe('${NOT_A_VAR}-and-x');
  });

  it('a secret full of YAML syntax, given through the environment, is one string and changes nothing else', () => {
    const hostile = 'a", preset: hmac }\n  - { name: injected, preset: tapemetric, secrets: [x] }\n# ]: &anchor *alias {{ $${NOPE}';
    const config = parseConfigText(
      `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["\${TM_SECRET}"] }
`,
      { TM_SECRET: hostile },
    );
    expect(config.sources).toHaveLength(1);
    expect(config.sources[0]).toEqual({ name: 'tapemetric', preset: 'tapemetric', secrets: [hostile] });
  });
});

describe('YAML syntax', () => {
  it('a syntax error → file:line:col', () => {
    const problems = problemsOf('sources:\n  - { name: a, preset: tapemetric\nroutes: []\n');
    expect(problems[0]).toMatch(/^hookrelay\.yaml:3:1: /);
  });

  it('loadConfig names the file it read in a syntax error', () => {
    const file = join(scratch, 'broken.yaml');
    writeFileSync(file, 'admin:\n  token: [unclosed\n');
    const thrown = (() => {
      try {
        loadConfig({ file, env: {} });
      } catch (error) {
        return error as ConfigError;
      }
      return null;
    })();
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(thrown!.problems[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
  });

  it('the same key twice in a mapping → error with its line', () => {
    expect(problemsOf('admin: { token: a }\nadmin: { token: b }\n')[0]).toMatch(/^hookrelay\.yaml:2:1: /);
  });

  it('a config file that cannot be read → error naming the file', () => {
    const file = join(scratch, 'missing.yaml');
    expect(() => loadConfig({ file, env: {} })).toThrow(ConfigError);
    expect(() => loadConfig({ file, env: {} })).toThrow(`${file}: cannot read the config file (ENOENT)`);
  });
});

describe('sources and destinations', () => {
  it('http headers may not replace what hookrelay sets (webhook-*, Retry-Attempt, User-Agent)', () => {
    const problems = problemsOf(`
destinations:
  - { name: audit, type: http, url: "https://audit.example.com/", headers: { User-Agent: curl/8 } }
`);
    expect(problemAt(problems, 'destinations[0].headers')).toContain('user-agent');
  });

  it('unknown preset → error at sources[i].preset listing the valid presets', () => {
    const line = problemAt(problemsOf('sources:\n  - { name: x, preset: tapemetrik, secrets: [s] }\n'), 'sources[0].preset');
    for (const preset of ['tapemetric', 'statuspulse', 'statussentry', 'tape', 'standard-webhooks', 'alertmanager']) {
      expect(line).toContain(preset);
    }
  });

  it('a source without a preset → error at sources[i].preset', () => {
    expect(problemAt(problemsOf('sources:\n  - { name: x, secrets: [s] }\n'), 'sources[0].preset')).toContain('tapemetric');
  });

  it('unknown destination type → error at destinations[i].type listing the types', () => {
    const line = problemAt(problemsOf('destinations:\n  - { name: x, type: matrix, url: "https://a.example.com/" }\n'), 'destinations[0].type');
    for (const type of ['slack', 'pagerduty', 'http', 'teams']) expect(line).toContain(type);
  });

  it('a destination URL that is not http(s) → error at destinations[i].url', () => {
    expect(problemsOf('destinations:\n  - { name: x, type: http, url: "ftp://a.example.com/" }\n')).toEqual([
      expect.stringMatching(/^destinations\[0\]\.url: /),
    ]);
  });
});

describe('durations and retry', () => {
  it('30s, 5m, 1h are read as milliseconds', () => {
    const config = parseConfigText('retry: { schedule: [30s, 5m, 1h], disable_after: 3 }\n', {});
    expect(config.retry).toEqual({ schedule: [30_000, 300_000, 3_600_000], disable_after: 3 });
  });

  it('a bad duration (5x) → error at its path', () => {
    const problems = problemsOf('retry: { schedule: [30s, 5x] }\n');
    expect(problemAt(problems, 'retry.schedule[1]')).toContain('5x');
  });

  it('a bad duration inside a source → error at its path', () => {
    const problems = problemsOf('sources:\n  - { name: sp, preset: statuspulse, secrets: [s], tolerance: soon }\n');
    expect(problemAt(problems, 'sources[0].tolerance')).toContain('soon');
  });

  it('no retry section → schedule 30s, 2m, 10m, 1h, 6h, 24h and disable_after 6', () => {
    expect(parseConfigText('', {}).retry).toEqual({
      schedule: [30_000, 120_000, 600_000, 3_600_000, 21_600_000, 86_400_000],
      disable_after: 6,
    });
  });

  it('retry with only disable_after keeps the default schedule', () => {
    expect(parseConfigText('retry: { disable_after: 2 }\n', {}).retry.schedule).toHaveLength(6);
  });

  it('disable_after 0 → error at retry.disable_after', () => {
    expect(problemsOf('retry: { disable_after: 0 }\n')).toEqual([expect.stringMatching(/^retry\.disable_after: /)]);
  });
});

describe('route matchers and filters', () => {
  const route = (rest: string) => `destinations:\n  - ${HTTP_DESTINATION}\nroutes:\n  - { to: [audit], ${rest} }\n`;

  it.each(['>=warning', 'critical', '<error', '> info', '=error'])('severity %s is accepted', (severity) => {
    expect(parseConfigText(route(`match: { severity: "${severity}" }`), {}).routes).toHaveLength(1);
  });

  it.each(['>=warn', '=>warning', 'CRITICAL', '!=info'])('severity %s → error at match.severity', (severity) => {
    expect(problemsOf(route(`match: { severity: "${severity}" }`))).toEqual([expect.stringMatching(/^routes\[0\]\.match\.severity: /)]);
  });

  it('a severity list with an unknown severity → error at that element', () => {
    const problems = problemsOf(route('match: { severity: [warning, severe] }'));
    expect(problemAt(problems, 'routes[0].match.severity[1]')).toContain('critical');
  });

  it('unknown filter operator → error at its path', () => {
    const line = problemAt(problemsOf(route('filter: { "data.region": { $like: "Maha%" } }')), 'routes[0].filter.data.region.$like');
    expect(line).toContain('$regex');
  });

  it('$in with a value that is not a list → error at its path', () => {
    problemAt(problemsOf(route('filter: { "data.pop": { $in: ap-south-1 } }')), 'routes[0].filter.data.pop.$in');
  });

  it('a regular expression that does not compile → error at its path', () => {
    problemAt(problemsOf(route('filter: { "data.region": { $regex: "Maha(" } }')), 'routes[0].filter.data.region.$regex');
  });

  it('$options with a flag other than i, m, s, u → error at $options', () => {
    problemAt(problemsOf(route('filter: { title: { $regex: x, $options: g } }')), 'routes[0].filter.title.$options');
  });

  it('an error nested in $or names the clause', () => {
    const problems = problemsOf(route('filter: { $or: [ { type: x }, { severity: { $gte: [1] } } ] }'));
    problemAt(problems, 'routes[0].filter.$or[1].severity.$gte');
  });

  it('an unknown top-level operator → error at its path', () => {
    problemAt(problemsOf(route('filter: { $nor: [ { type: x } ] }')), 'routes[0].filter.$nor');
  });

  it('a route without destinations → error at routes[i].to', () => {
    problemAt(problemsOf('routes:\n  - { to: [] }\n'), 'routes[0].to');
  });
});

describe('store', () => {
  it('postgres:// and postgresql:// are store URLs, kept as written', () => {
    expect(parseConfigText('store: postgres://hookrelay@db/hookrelay\n', {}).store).toBe('postgres://hookrelay@db/hookrelay');
    expect(parseConfigText('store: postgresql://db:5433/hookrelay\n', {}).store).toBe('postgresql://db:5433/hookrelay');
  });

  it('a PostgreSQL URL that cannot be read, or names no host → error at store', () => {
    expect(problemAt(problemsOf('store: "postgres://user:p@ss@db:x/hookrelay"\n'), 'store')).toMatch(/cannot be read/);
    expect(problemAt(problemsOf('store: postgres:///hookrelay\n'), 'store')).toMatch(/no host/);
  });

  it('DATABASE_URL is the store when the config names none; an explicit store wins', () => {
    expect(parseConfigText('', { DATABASE_URL: 'postgres://db/hookrelay' }).store).toBe('postgres://db/hookrelay');
    expect(parseConfigText('store: sqlite:/tmp/x.db\n', { DATABASE_URL: 'postgres://db/hookrelay' }).store).toBe('sqlite:/tmp/x.db');
    expect(problemAt(problemsOf('', { DATABASE_URL: 'mysql://db/x' }), 'store')).toMatch(/not a store URL/);
  });

  it('something that is not a store URL → error at store', () => {
    problemAt(problemsOf('store: mysql://db/hookrelay\n'), 'store');
  });

  it('no store → sqlite in HOOKRELAY_DATA_DIR, else ./data', () => {
    expect(parseConfigText('', { HOOKRELAY_DATA_DIR: '/var/lib/hookrelay' }).store).toBe('sqlite:/var/lib/hookrelay/hookrelay.db');
    expect(parseConfigText('', {}).store).toBe('sqlite:data/hookrelay.db');
  });

  it('an explicit sqlite store is kept as written', () => {
    expect(parseConfigText('store: sqlite:/tmp/x.db\n', { HOOKRELAY_DATA_DIR: '/elsewhere' }).store).toBe('sqlite:/tmp/x.db');
  });
});

describe('egress', () => {
  it('allow_private is false unless the file or HOOKRELAY_ALLOW_PRIVATE says so', () => {
    expect(parseConfigText('', {}).egress.allow_private).toBe(false);
    expect(parseConfigText('egress: { allow_private: true }\n', {}).egress.allow_private).toBe(true);
    expect(parseConfigText('', { HOOKRELAY_ALLOW_PRIVATE: '1' }).egress.allow_private).toBe(true);
    expect(parseConfigText('', { HOOKRELAY_ALLOW_PRIVATE: '0' }).egress.allow_private).toBe(false);
  });
});

describe('every problem is reported at once', () => {
  it('unknown keys, a missing variable, a bad duration, a bad reference, a bad filter and the store, together', () => {
    const problems = problemsOf(`
store: mysql://db/hookrelay
colour: blue
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["\${TAPEMETRIC_SECRET}"], extra: 1 }
destinations:
  - { name: oncall, type: pagerduty, routing_key: k }
  - { name: oncall, type: http, url: "https://a.example.com/" }
routes:
  - { to: [oncal], filter: { "data.x": { $foo: 1 } } }
retry: { schedule: [5x] }
`);
    for (const path of [
      'store',
      'colour',
      'sources[0].secrets[0]',
      'sources[0].extra',
      'destinations[1].name',
      'routes[0].to[0]',
      'routes[0].filter.data.x.$foo',
      'retry.schedule[0]',
    ]) {
      problemAt(problems, path);
    }
    expect(problems).toHaveLength(8);
  });
});

describe('findConfigFile', () => {
  it('--config first, then HOOKRELAY_CONFIG, then ./hookrelay.yaml, else zero-config (null)', () => {
    const dir = mkdtempSync(join(scratch, 'cwd-'));
    expect(findConfigFile(undefined, {}, dir)).toBeNull();
    writeFileSync(join(dir, 'hookrelay.yaml'), '');
    expect(findConfigFile(undefined, {}, dir)).toBe(join(dir, 'hookrelay.yaml'));
    expect(findConfigFile(undefined, { HOOKRELAY_CONFIG: 'env.yaml' }, dir)).toBe(join(dir, 'env.yaml'));
    expect(findConfigFile('flag.yaml', { HOOKRELAY_CONFIG: 'env.yaml' }, dir)).toBe(join(dir, 'flag.yaml'));
  });

  it('relative paths in a config file resolve from its folder', () => {
    const file = join(scratch, 'based.yaml');
    writeFileSync(file, 'templates_dir: ./mine\n');
    expect(loadConfig({ file, env: {}, cwd: '/' })).toMatchObject({ file, baseDir: scratch });
  });
});
