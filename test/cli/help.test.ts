import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS as COMMAND_TABLE } from '../../src/cli/commands.ts';
import { hookrelay as runHookrelay, scratchFolder } from './support.ts';

const scratch = scratchFolder();
const hookrelay = (args: string[], options?: Parameters<typeof runHookrelay>[2]) => runHookrelay(scratch, args, options);

/** Every command of the table, so a new one cannot be left out of these checks. */
const COMMANDS = COMMAND_TABLE.map((command) => command.name);

it('the table has every command the README and issues 8 and 9 list', () => {
  expect(COMMANDS).toEqual(expect.arrayContaining(['serve', 'work', 'migrate', 'check', 'render', 'routes test', 'sign', 'sample', 'secret', 'deliveries', 'events', 'replay', 'send-test', 'mute add', 'mute list', 'mute expire']));
});

describe('every command answers --help and -h with its usage, exit 0, doing nothing else', () => {
  for (const name of COMMANDS) {
    it(`hookrelay ${name} --help / -h`, async () => {
      // A server that `serve` would start must not be started: a port and credentials that would make every command act.
      const env = { PORT: '0', SLACK_WEBHOOK_URL: 'https://8.8.8.8/services/T/B/X', HOOKRELAY_ADMIN_TOKEN: 'help-test-admin-token' };
      for (const flag of ['--help', '-h']) {
        const run = await hookrelay([...name.split(' '), flag], { env, stdin: '{}' });
        expect(run.code, `${name} ${flag}`).toBe(0);
        expect(run.stderr).toBe('');
        expect(run.stdout).toMatch(new RegExp(`^Usage: hookrelay ${name}`));
        expect(run.stdout).toContain('-h, --help');
        // Nothing done: no secret printed, no server started (it would log where it listens).
        expect(run.stdout).not.toMatch(/whsec_[A-Za-z0-9+/]{43}=|listening/i);
      }
    });
  }

  it('--help wins over an unknown option or a missing argument', async () => {
    const run = await hookrelay(['replay', '--frobnicate', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: hookrelay replay <delivery-id>/);
  });
});

describe('the command list', () => {
  it.each([[['--help']], [['-h']], [['help']], [[]]])('hookrelay %j lists every command with its summary, exit 0', async (args) => {
    const run = await hookrelay(args);
    expect(run.code).toBe(0);
    for (const name of COMMANDS) expect(run.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });

  it.each([[['help', '--help']], [['help', '-h']]])('hookrelay %j → the command list, exit 0 (help answers --help too)', async (args) => {
    const run = await hookrelay(args);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^hookrelay \S+: signed webhooks in/);
  });

  it('hookrelay help sample -h → the usage of sample', async () => {
    const run = await hookrelay(['help', 'sample', '-h']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: hookrelay sample <preset/);
  });

  it('hookrelay help deliveries → the usage of deliveries', async () => {
    const run = await hookrelay(['help', 'deliveries']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: hookrelay deliveries <destination>/);
  });
});

describe('what answering loads', () => {
  // Help comes from the table alone, and `secret` and the admin API's clients need none of the
  // server: loading every command's implementation (the server, every sender, zod) took half a
  // second at each start, and the tests start the CLI hundreds of times.
  const REPORTER = pathToFileURL(join(import.meta.dirname, '..', 'support', 'report-loaded.js')).href;
  it.each([[['help']], [['sign', '--help']], [['serve', '--help']], [['deliveries', '--help']], [['secret']]])(
    'hookrelay %j loads no package but ipaddr.js, and neither the server nor a sender',
    async (args) => {
      const report = join(scratch, `loaded-${args.join('-')}.json`);
      const run = await hookrelay(args, { env: { NODE_OPTIONS: `--import ${REPORTER}`, HOOKRELAY_TEST_REPORT: report, HOOKRELAY_TEST_MODULES: '1' } });
      expect([run.code, run.stderr]).toEqual([0, '']);
      const { loaded } = JSON.parse(readFileSync(report, 'utf8')) as { loaded: string[] };
      const ours = loaded.flatMap((url) => /\/(src\/.+)$/.exec(url)?.[1] ?? []);
      expect(ours).toContain('src/cli/commands.ts');
      expect(ours.filter((file) => /^src\/(server|runtime)\.ts$|^src\/sources\/(?!preset-names|samples)|^src\/config\//.test(file))).toEqual([]);
      const packages = new Set(loaded.flatMap((url) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? []));
      expect([...packages].filter((name) => name !== 'ipaddr.js')).toEqual([]);
    },
  );
});

describe('bad usage → exit 2 and the usage on stderr', () => {
  it('a missing argument names it', async () => {
    const run = await hookrelay(['replay'], { env: { HOOKRELAY_ADMIN_TOKEN: 'help-test-admin-token' } });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(/^<delivery-id> is required\n\nUsage: hookrelay replay/);
  });

  it('an extra argument names it', async () => {
    const run = await hookrelay(['check', 'hookrelay.yaml']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^unexpected argument "hookrelay\.yaml"\n\nUsage: hookrelay check/);
  });

  it('an unknown option names it, with the usage of that command', async () => {
    const run = await hookrelay(['deliveries', 'ops', '--stauts', 'failed']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Unknown option '--stauts'");
    expect(run.stderr).toContain('Usage: hookrelay deliveries');
  });

  it('an option without its value names it', async () => {
    const run = await hookrelay(['check', '--config']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--config');
    expect(run.stderr).toContain('Usage: hookrelay check');
  });

  it('"routes" alone → the routes commands', async () => {
    const run = await hookrelay(['routes']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('hookrelay routes test --source');
  });
});
