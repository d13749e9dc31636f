import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { hmacHex } from '../support/signers.ts';
import { hookrelay as runHookrelay, lines, PUBLIC_URL, scratchFolder, shell, TAPEMETRIC_PAYLOAD, writeScratchFile } from './support.ts';

const PACKAGE = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const scratch = scratchFolder();
const hookrelay = (args: string[], options?: Parameters<typeof runHookrelay>[2]) => runHookrelay(scratch, args, options);
const file = (name: string, text: string): string => writeScratchFile(scratch, name, text);

const TAPEMETRIC_EVENT = file('tapemetric-event.json', JSON.stringify(TAPEMETRIC_PAYLOAD));

describe('hookrelay check', () => {
  it('a good file → exit 0 and a one-line summary naming the file', async () => {
    const config = file(
      'good.yaml',
      `
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s] }
  - { name: sentry, preset: statussentry, secrets: [t] }
destinations:
  - { name: audit, type: http, url: "${PUBLIC_URL}" }
routes:
  - { to: [audit] }
`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(0);
    expect(lines(run.stdout)).toEqual([expect.stringContaining(config)]);
    expect(run.stdout).toMatch(/2 sources, 1 destinations, 1 routes/);
  });

  it('a file with several mistakes → exit 2, every one on stderr, one per line', async () => {
    const config = file(
      'bad.yaml',
      `
colour: blue
sources:
  - { name: tapemetric, preset: tapemetrik, secrets: [s] }
destinations:
  - { name: oncall, type: http, url: "${PUBLIC_URL}", retries: 3 }
routes:
  - { to: [oncal] }
retry: { schedule: [5x] }
`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    const problems = lines(run.stderr);
    expect(problems.map((line) => line.slice(0, line.indexOf(': '))).sort()).toEqual(
      ['colour', 'destinations[0].retries', 'retry.schedule[0]', 'routes[0].to[0]', 'sources[0].preset'].sort(),
    );
    expect(problems).toContain('routes[0].to[0]: unknown destination "oncal" (did you mean "oncall"?)');
  });

  it('a template that does not compile → exit 2 naming the file and line', async () => {
    const templates = join(scratch, 'broken-templates');
    file('broken-templates/slack/broken.hbs', '{\n  "text": "{{#if title}}unclosed"\n}\n');
    const config = file(
      'broken-template.yaml',
      `
templates_dir: ${templates}
destinations:
  - { name: ops, type: slack, url: "${PUBLIC_URL}", template: slack/broken }
`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/slack\/broken\.hbs:\d+/);
  });

  it('a template that does not exist → exit 2 naming it', async () => {
    const config = file(
      'missing-template.yaml',
      `
destinations:
  - { name: ops, type: slack, url: "${PUBLIC_URL}", template: slack/nowhere }
`,
    );
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('slack/nowhere');
  });

  it('a destination on loopback without egress.allow_private → exit 2 naming destinations[0].url', async () => {
    const config = file('private.yaml', 'destinations:\n  - { name: local, type: http, url: "http://127.0.0.1/x" }\n');
    const run = await hookrelay(['check', '--config', config]);
    expect(run.code).toBe(2);
    const problems = lines(run.stderr).filter((line) => !line.startsWith('warning: '));
    expect(problems).toEqual([expect.stringMatching(/^destinations\[0\]\.url: .*allow_private/)]);
  });

  it('the same file with HOOKRELAY_ALLOW_PRIVATE=1 → exit 0', async () => {
    const config = file('private-allowed.yaml', 'destinations:\n  - { name: local, type: http, url: "http://127.0.0.1/x" }\n');
    expect((await hookrelay(['check', '--config', config], { env: { HOOKRELAY_ALLOW_PRIVATE: '1' } })).code).toBe(0);
  });

  it('--config pointing nowhere → exit 2 naming the file', async () => {
    const run = await hookrelay(['check', '--config', join(scratch, 'absent.yaml')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('absent.yaml');
  });

  it('HOOKRELAY_CONFIG is used when there is no --config', async () => {
    const config = file('from-env.yaml', 'colour: blue\n');
    const run = await hookrelay(['check'], { env: { HOOKRELAY_CONFIG: config } });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^colour: /);
  });

  it('./hookrelay.yaml is used when there is neither', async () => {
    const cwd = mkdtempSync(join(scratch, 'with-local-'));
    writeFileSync(join(cwd, 'hookrelay.yaml'), `destinations:\n  - { name: a, type: http, url: "${PUBLIC_URL}" }\n`);
    const run = await hookrelay(['check'], { cwd });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('hookrelay.yaml');
  });

  it('no config and no SLACK_WEBHOOK_URL → exit 2 saying to set it', async () => {
    const run = await hookrelay(['check']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('SLACK_WEBHOOK_URL');
  });

  it('zero-config with SLACK_WEBHOOK_URL and a secret → exit 0', async () => {
    const run = await hookrelay(['check'], { env: { SLACK_WEBHOOK_URL: 'https://8.8.8.8/services/T/B/X', TAPEMETRIC_SECRET: 's' } });
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/zero-config.*1 sources, 1 destinations/);
  });
});

describe('hookrelay secret', () => {
  it('prints whsec_ + base64 of 32 random bytes, new each time', async () => {
    const first = await hookrelay(['secret']);
    const second = await hookrelay(['secret']);
    for (const run of [first, second]) {
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^whsec_[A-Za-z0-9+/]{43}=\n$/);
      expect(Buffer.from(run.stdout.trim().slice('whsec_'.length), 'base64')).toHaveLength(32);
    }
    expect(first.stdout).not.toBe(second.stdout);
  });
});

describe('hookrelay sign', () => {
  const body = '{"id":"evt_abc123","type":"qos.rebuffer_spike","data":{"region":"Maharashtra"}}\n';
  const NO_SECRET =
    'hookrelay sign: --secret is required: no config file (--config, HOOKRELAY_CONFIG or ./hookrelay.yaml) has a source "tapemetric" whose secret to sign with';

  it('Tapemetric: prints the signature header, which verifies with an independent HMAC of stdin', async () => {
    const run = await hookrelay(['sign', '--source', 'tapemetric', '--secret', 'S3CRET'], { stdin: body });
    expect(run.code).toBe(0);
    const header = lines(run.stdout).find((line) => line.toLowerCase().startsWith('x-tapemetric-signature:'));
    expect(header?.split(': ')[1]).toBe(`sha256=${hmacHex('S3CRET', body)}`);
  });

  it('StatusSentry: t=<ts>,v1=<hex> verifies with an independent HMAC of "t.body"', async () => {
    const run = await hookrelay(['sign', '--source', 'statussentry', '--secret', 'S3CRET'], { stdin: body });
    expect(run.code).toBe(0);
    const value = lines(run.stdout).find((line) => line.toLowerCase().startsWith('x-statussentry-signature:'))?.split(': ')[1];
    const [, timestamp, digest] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(value ?? '') ?? [];
    expect(digest).toBe(hmacHex('S3CRET', `${timestamp}.${body}`));
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(60);
  });

  it('with --url → a curl command with the URL, the signed headers, one content type and the body', async () => {
    const url = 'http://localhost:3000/hooks/tapemetric';
    const run = await hookrelay(['sign', '--source', 'tapemetric', '--secret', 'S3CRET', '--url', url], { stdin: body });
    expect(run.code).toBe(0);
    const command = run.stdout;
    expect(command).toMatch(new RegExp(`^curl .*'${url}'`));
    expect(command).toContain(`-H 'X-Tapemetric-Signature: sha256=${hmacHex('S3CRET', body)}'`);
    expect(command.match(/-H 'content-type:/gi)).toHaveLength(1);
    expect(command).toContain(`--data-binary '${body}'`);
  });

  it('no --secret and no configured source → exit 2 with one line saying so, instead of a signature that never verifies', async () => {
    const run = await hookrelay(['sign', '--source', 'tapemetric'], { stdin: body });
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`${NO_SECRET}\n`);
  });

  // Issue 18 item 11: sign read a config only with --config, and none with unset variables.
  const signatureOf = (stdout: string): string | undefined =>
    lines(stdout)
      .find((line) => line.toLowerCase().startsWith('x-tapemetric-signature:'))
      ?.split(': ')[1];
  const DEPLOYED = `
sources:
  - { name: acme, preset: tapemetric, secrets: ["\${TAPEMETRIC_SECRET}"] }
destinations:
  - { name: ops, type: slack, url: "\${SLACK_WEBHOOK_URL}" }
routes:
  - { to: [ops] }
admin: { token: "\${HOOKRELAY_ADMIN_TOKEN}" }
`;
  const folderWith = (text: string): string => {
    const cwd = mkdtempSync(join(scratch, 'sign-'));
    writeFileSync(join(cwd, 'hookrelay.yaml'), text);
    return cwd;
  };

  it('./hookrelay.yaml: a configured source signs with its own secret, no --config needed', async () => {
    const run = await hookrelay(['sign', '--source', 'acme'], { stdin: body, cwd: folderWith(DEPLOYED), env: { TAPEMETRIC_SECRET: 'S3CRET' } });
    expect([run.code, run.stderr]).toEqual([0, 'note: destinations[0].url uses SLACK_WEBHOOK_URL, which is not set (not needed to sign)\nnote: admin.token uses HOOKRELAY_ADMIN_TOKEN, which is not set (not needed to sign)\n']);
    expect(signatureOf(run.stdout)).toBe(`sha256=${hmacHex('S3CRET', body)}`);
  });

  it('HOOKRELAY_CONFIG: a configured source signs with its own secret', async () => {
    const config = file('sign-from-env.yaml', 'sources:\n  - { name: acme, preset: tapemetric, secrets: [S3CRET] }\n');
    const run = await hookrelay(['sign', '--source', 'acme'], { stdin: body, env: { HOOKRELAY_CONFIG: config } });
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(signatureOf(run.stdout)).toBe(`sha256=${hmacHex('S3CRET', body)}`);
  });

  it('a preset the config does not name, with --secret → signed, whatever the config leaves unset', async () => {
    const run = await hookrelay(['sign', '--source', 'tapemetric', '--secret', 'S3CRET', '--config', join(folderWith(DEPLOYED), 'hookrelay.yaml')], { stdin: body });
    expect(run.code).toBe(0);
    expect(signatureOf(run.stdout)).toBe(`sha256=${hmacHex('S3CRET', body)}`);
  });

  it('a configured source whose secret is unset: --secret signs with that; without it → exit 2 naming the variable', async () => {
    const cwd = folderWith(DEPLOYED);
    const given = await hookrelay(['sign', '--source', 'acme', '--secret', 'OTHER'], { stdin: body, cwd });
    expect(given.code).toBe(0);
    expect(signatureOf(given.stdout)).toBe(`sha256=${hmacHex('OTHER', body)}`);
    const missing = await hookrelay(['sign', '--source', 'acme'], { stdin: body, cwd });
    expect([missing.code, missing.stdout]).toEqual([2, '']);
    expect(missing.stderr).toBe('sources[0].secrets[0]: environment variable TAPEMETRIC_SECRET is not set (needed to sign as "acme"; or give --secret)\n');
  });

  it('a preset the config does not name, without --secret → exit 2 naming the config file', async () => {
    const cwd = folderWith('sources:\n  - { name: acme, preset: tapemetric, secrets: [S3CRET] }\n');
    const run = await hookrelay(['sign', '--source', 'tapemetric'], { stdin: body, cwd });
    expect(run.code).toBe(2);
    expect(run.stderr).toBe(`hookrelay sign: --secret is required: ${join(cwd, 'hookrelay.yaml')} has no source named "tapemetric" whose secret to sign with\n`);
  });

  it('quick-start pipe: when sign fails, its one line is all stderr shows (no EPIPE stack from sample)', async () => {
    // The README's pipe, run by bash. sample writes only once sign has exited and the pipe's read
    // end is closed, as happens whenever sign fails first: that write is the one that gets EPIPE.
    const folder = mkdtempSync(join(scratch, 'pipe-'));
    const [exited, codes] = [join(folder, 'sign-exited'), join(folder, 'exit-codes')];
    const run = await shell(
      scratch,
      [
        `{ until [ -e '${exited}' ]; do sleep 0.05; done; "$NODE" "$HOOKRELAY" sample tapemetric; echo "sample $?" >> '${codes}'; } \\`,
        // The group gives sign the pipe (through fd 4) and keeps no copy: the read end closes when sign exits.
        `  | { "$NODE" "$HOOKRELAY" sign --source tapemetric --url http://127.0.0.1:9/hooks/tapemetric 0<&4 4<&- & exec 4<&- 0</dev/null;`,
        `      wait $!; echo "sign $?" >> '${codes}'; touch '${exited}'; } 4<&0 \\`,
        '  | sh',
      ].join('\n'),
    );
    expect(run.stderr).toBe(`${NO_SECRET}\n`);
    expect(lines(readFileSync(codes, 'utf8'))).toEqual(['sign 2', 'sample 1']);
  });

  it('no --source → exit 2 with usage', async () => {
    const run = await hookrelay(['sign', '--secret', 'S'], { stdin: body });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--source');
    expect(run.stderr).toContain('Usage:');
  });
});

describe('hookrelay render', () => {
  it('slack/default for the Tapemetric example → the Block Kit message that would be sent', async () => {
    const run = await hookrelay(['render', '--template', 'slack/default', '--source', 'tapemetric', '--event', TAPEMETRIC_EVENT]);
    expect(run.code).toBe(0);
    const message = JSON.parse(run.stdout) as {
      text: string;
      blocks: Array<{ type: string; text?: { type: string; text: string }; fields?: Array<{ text: string }> }>;
    };
    expect(message.text).toContain('Rebuffer spike in Maharashtra');
    expect(message.text).toContain('(tapemetric)');
    expect(message.blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text', text: expect.stringContaining('Rebuffer spike in Maharashtra') } });
    const fields = message.blocks.flatMap((block) => block.fields ?? []).map((field) => field.text);
    expect(fields).toContain('*Severity*\n:red_circle: Critical');
    expect(fields).toContain('*Status*\nFiring');
    expect(fields).toContain('*Dedup key*\n`qos.rebuffer_spike:Maharashtra`');
    expect(message.blocks.map((block) => block.text?.text)).toContain('8.4 vs baseline 3.1 · 24,000 sessions affected');
  });

  it('a user template used by a slack destination is escaped for Slack, wherever its folder', async () => {
    file('render-templates/team/alerts.hbs', '{ "text": "{{title}}" }\n');
    const config = file(
      'render.yaml',
      `templates_dir: ./render-templates
sources:
  - { name: tapemetric, preset: tapemetric, secrets: [s] }
destinations:
  - { name: ops, type: slack, url: "https://hooks.slack.com/services/T/B/X", template: team/alerts }
`,
    );
    const event = file('hostile.json', JSON.stringify({ id: 'e', type: 'qos.x', data: { region: '<!channel>' } }));
    const run = await hookrelay(['render', '--config', config, '--template', 'team/alerts', '--source', 'tapemetric', '--event', event]);
    expect(run.code).toBe(0);
    const message = JSON.parse(run.stdout) as { text: string };
    expect(message.text).toContain('&lt;!channel&gt;');
    expect(message.text).not.toContain('<!channel>');
  });

  it('pagerduty/default → an Events API v2 trigger', async () => {
    const run = await hookrelay(['render', '--template', 'pagerduty/default', '--source', 'tapemetric', '--event', TAPEMETRIC_EVENT]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      event_action: 'trigger',
      dedup_key: expect.stringContaining('qos.rebuffer_spike:Maharashtra'),
      payload: { severity: 'critical', summary: expect.stringContaining('Rebuffer spike in Maharashtra') },
    });
  });

  it('an --event file that does not exist → exit 2 naming --event', async () => {
    const run = await hookrelay(['render', '--template', 'slack/default', '--source', 'tapemetric', '--event', 'nowhere.json']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^--event nowhere\.json: /);
  });

  it('an --event file that is not JSON → exit 2 naming --event', async () => {
    const event = file('not-json.json', '{"id": ');
    const run = await hookrelay(['render', '--template', 'slack/default', '--source', 'tapemetric', '--event', event]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--event ${event}: `);
  });

  it('a --source that is neither configured nor a preset → exit 2 listing the presets', async () => {
    const run = await hookrelay(['render', '--template', 'slack/default', '--source', 'tapemetrik', '--event', TAPEMETRIC_EVENT]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('tapemetric');
  });

  it('no --template → exit 2 with usage', async () => {
    const run = await hookrelay(['render', '--source', 'tapemetric', '--event', TAPEMETRIC_EVENT]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--template');
    expect(run.stderr).toContain('Usage:');
  });
});

describe('usage', () => {
  it('an unknown command → exit 2 with usage on stderr', async () => {
    const run = await hookrelay(['frobnicate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('frobnicate');
    expect(run.stderr).toContain('Usage:');
  });

  it('an unknown option → exit 2 with usage on stderr', async () => {
    const run = await hookrelay(['check', '--confg', 'x.yaml']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--confg');
    expect(run.stderr).toContain('Usage:');
  });

  it('--version prints the package version', async () => {
    const run = await hookrelay(['--version']);
    expect(run).toMatchObject({ code: 0, stdout: `${PACKAGE.version}\n` });
  });

  it('no command → usage on stdout, exit 0', async () => {
    const run = await hookrelay([]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage:');
  });
});
