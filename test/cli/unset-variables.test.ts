import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hookrelay as runHookrelay, lines, scratchFolder, TAPEMETRIC_PAYLOAD, writeScratchFile } from './support.ts';

// Issue 18 item 10: the offline commands (render, routes test, sample) ran only with every
// variable of the config set, the admin token included. Each test here failed on that code.

const scratch = scratchFolder();
const hookrelay = (args: string[], options?: Parameters<typeof runHookrelay>[2]) => runHookrelay(scratch, args, options);
const file = (name: string, text: string): string => writeScratchFile(scratch, name, text);

const EVENT = file('tapemetric.json', JSON.stringify(TAPEMETRIC_PAYLOAD));

// The config of a deployment whose secrets live in the server's environment, not the operator's shell.
// (The test runner never passes HOOKRELAY_*, DATABASE_URL, SLACK_*, PAGERDUTY_* or TAPEMETRIC_* on.)
const DEPLOYED = `
store: \${DATABASE_URL}
sources:
  - { name: tm, preset: tapemetric, secrets: ["\${TAPEMETRIC_SECRET}"] }
destinations:
  - { name: ops, type: slack, url: "\${SLACK_WEBHOOK_URL}" }
  - { name: oncall, type: pagerduty, routing_key: "\${PAGERDUTY_ROUTING_KEY}" }
routes:
  - { name: all, to: [ops, oncall] }
admin:
  token: \${HOOKRELAY_ADMIN_TOKEN}
slack_app:
  signing_secret: \${SLACK_SIGNING_SECRET}
`;
const CONFIG = file('deployed.yaml', DEPLOYED);

/** The notes an offline command prints for that config, in the file's order. */
const notesFor = (purpose: string): string[] =>
  [
    ['store', 'DATABASE_URL'],
    ['sources[0].secrets[0]', 'TAPEMETRIC_SECRET'],
    ['destinations[0].url', 'SLACK_WEBHOOK_URL'],
    ['destinations[1].routing_key', 'PAGERDUTY_ROUTING_KEY'],
    ['admin.token', 'HOOKRELAY_ADMIN_TOKEN'],
    ['slack_app.signing_secret', 'SLACK_SIGNING_SECRET'],
  ].map(([path, variable]) => `note: ${path} uses ${variable}, which is not set (not needed to ${purpose})`);

/** A folder whose ./hookrelay.yaml is `text`, as an operator runs the CLI next to it. */
function folderWith(text: string): string {
  const cwd = mkdtempSync(join(scratch, 'deployment-'));
  writeFileSync(join(cwd, 'hookrelay.yaml'), text);
  return cwd;
}

describe('offline commands with variables unset that they do not use', () => {
  it('render (./hookrelay.yaml) → the Slack message, exit 0; each unset variable is a note on stderr', async () => {
    const run = await hookrelay(['render', '--template', 'slack/default', '--source', 'tm', '--event', EVENT], { cwd: folderWith(DEPLOYED) });
    expect(run.code).toBe(0);
    expect((JSON.parse(run.stdout) as { text: string }).text).toContain('Rebuffer spike in Maharashtra');
    expect(lines(run.stderr)).toEqual(notesFor('render'));
  });

  it('routes test → both deliveries and what each destination would get, exit 0, with the notes', async () => {
    const run = await hookrelay(['routes', 'test', '--source', 'tm', '--event', EVENT, '--config', CONFIG, '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { note: string | null; events: Array<{ deliveries: Array<{ destination: string; request: Record<string, unknown> | null }> }> };
    expect(result.note).toBeNull();
    const deliveries = result.events[0]!.deliveries;
    expect(deliveries.map((delivery) => delivery.destination)).toEqual(['ops', 'oncall']);
    expect(deliveries[0]!.request).toMatchObject({ text: expect.stringContaining('Rebuffer spike in Maharashtra') });
    expect(deliveries[1]!.request).toMatchObject({ event_action: 'trigger' });
    // The routing key is added when sending: the placeholder that stood in for it is not shown.
    expect(run.stdout).not.toContain('unset');
    expect(lines(run.stderr)).toEqual(notesFor('test routes'));
  });

  it('sample of a configured source (HOOKRELAY_CONFIG) → its preset\'s payload, exit 0, with the notes', async () => {
    const run = await hookrelay(['sample', 'tm'], { env: { HOOKRELAY_CONFIG: CONFIG } });
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ type: 'qos.rebuffer_spike' });
    expect(lines(run.stderr)).toEqual(notesFor('print a sample'));
  });
});

describe('offline commands with a variable unset that they use', () => {
  it('render: templates_dir or a destination\'s template from an unset variable → exit 2 naming each and what needs it', async () => {
    const config = file(
      'templates-from-env.yaml',
      `templates_dir: \${HOOKRELAY_TEMPLATES}\n${DEPLOYED.replace('type: slack,', 'type: slack, template: "${HOOKRELAY_TEMPLATE}",')}`,
    );
    const run = await hookrelay(['render', '--template', 'slack/default', '--source', 'tm', '--event', EVENT, '--config', config]);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(lines(run.stderr)).toEqual([
      'templates_dir: environment variable HOOKRELAY_TEMPLATES is not set (needed to render)',
      'destinations[0].template: environment variable HOOKRELAY_TEMPLATE is not set (needed to render)',
    ]);
  });

  it('routes test: a route filter from an unset variable → exit 2 naming it', async () => {
    const config = file(
      'filter-from-env.yaml',
      DEPLOYED.replace('{ name: all, to: [ops, oncall] }', '{ name: all, to: [ops, oncall], filter: { data.region: "${HOOKRELAY_REGION}" } }'),
    );
    const run = await hookrelay(['routes', 'test', '--source', 'tm', '--event', EVENT, '--config', config]);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(lines(run.stderr)).toEqual(['routes[0].filter.data.region: environment variable HOOKRELAY_REGION is not set (needed to test routes)']);
  });

  it('sample: a source\'s preset from an unset variable → exit 2 naming it', async () => {
    const config = file('preset-from-env.yaml', DEPLOYED.replace('preset: tapemetric', 'preset: "${HOOKRELAY_PRESET}"'));
    const run = await hookrelay(['sample', 'tm', '--config', config]);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(lines(run.stderr)).toEqual(['sources[0].preset: environment variable HOOKRELAY_PRESET is not set (needed to print a sample)']);
  });
});

describe('serve, work and check still need every variable', () => {
  it.each([['check'], ['serve', '--port', '0'], ['work']])('%s → exit 2, every unset variable a problem', async (...args) => {
    const run = await hookrelay([...args, '--config', CONFIG], { env: { HOOKRELAY_DATA_DIR: join(scratch, 'data') } });
    expect(run.code).toBe(2);
    expect(lines(run.stderr)).toEqual([
      'store: environment variable DATABASE_URL is not set',
      'sources[0].secrets[0]: environment variable TAPEMETRIC_SECRET is not set',
      'destinations[0].url: environment variable SLACK_WEBHOOK_URL is not set',
      'destinations[1].routing_key: environment variable PAGERDUTY_ROUTING_KEY is not set',
      'admin.token: environment variable HOOKRELAY_ADMIN_TOKEN is not set',
      'slack_app.signing_secret: environment variable SLACK_SIGNING_SECRET is not set',
    ]);
  });
});
