import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runSample } from '../../src/cli/sample.ts';
import { signBody } from '../../src/cli/sign-body.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createSource, PRESET_NAMES, sourceConfigSchema } from '../../src/sources/index.ts';
import { inbound, testDeps, verdictCode } from '../sources/support.ts';

const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-sample-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Variables that would change what the CLI reads: never inherited. */
const CONFIG_VARIABLES = /^(HOOKRELAY_|SLACK_|PAGERDUTY_|TAPEMETRIC_|STATUSPULSE_|STATUSSENTRY_|TAPE_|ALERTMANAGER_|GRAFANA_|GITHUB_|STRIPE_)/;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** `hookrelay …` as a user runs it, in an empty folder. */
async function hookrelay(args: string[], stdin = ''): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.test(name)));
  const child = spawn(process.execPath, [BIN, ...args], { cwd: mkdtempSync(join(scratch, 'cwd-')), env, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(stdin);
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stdout, stderr };
}

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

// hmac needs its header described: a config file with a source of that preset.
const CONFIG_FILE = join(scratch, 'hookrelay.yaml');
writeFileSync(
  CONFIG_FILE,
  `sources:
  - { name: acme, preset: hmac, header: X-Acme-Signature, prefix: "sha256=", secrets: ["${SECRET}"] }
destinations:
  - { name: audit, type: http, url: "https://8.8.8.8/hook" }
routes:
  - { to: [audit] }
`,
);

/** The source the server would run for this preset, with the secret the CLI signs with. */
function verifier(preset: string) {
  const entry =
    preset === 'hmac'
      ? { name: 'acme', preset, header: 'X-Acme-Signature', prefix: 'sha256=', secrets: [SECRET] }
      : preset === 'tape' || preset === 'alertmanager'
        ? { name: preset, preset, token: SECRET }
        : { name: preset, preset, secrets: [SECRET] };
  return createSource(sourceConfigSchema.parse(entry), testDeps());
}

/** `Name: value` lines of `hookrelay sign`, and its `query: ?…` line. */
function parseSigned(output: string): { headers: Record<string, string>; query: Record<string, string> } {
  const headers: Record<string, string> = {};
  let query: Record<string, string> = {};
  for (const line of output.split('\n').filter((text) => text !== '')) {
    const colon = line.indexOf(': ');
    const name = line.slice(0, colon);
    const value = line.slice(colon + 2);
    if (name === 'query') query = Object.fromEntries(new URLSearchParams(value.replace(/^\?/, '')));
    else headers[name] = value;
  }
  return { headers, query };
}

describe('hookrelay sample', () => {
  it('--help → the usage on stdout, exit 0, no payload', async () => {
    const run = await hookrelay(['sample', '--help']);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toMatch(/^Usage: hookrelay sample <preset \| source>/);
    for (const preset of PRESET_NAMES) expect(run.stdout).toContain(preset);
  });

  it('no preset → the reason and the usage on stderr, exit 2', async () => {
    const run = await hookrelay(['sample']);
    expect([run.code, run.stdout]).toEqual([2, '']);
    expect(run.stderr).toContain('Usage: hookrelay sample');
  });

  // The same command in-process (spawning costs seconds on a loaded machine): what it prints, where.
  async function sampleInProcess(args: string[], help = false): Promise<Run> {
    let stdout = '';
    let stderr = '';
    let code: number | null;
    try {
      code = await runSample({ args, help, load: async () => null, out: (text) => (stdout += text), err: (text) => (stderr += text) });
    } catch (error) {
      code = 2; // main() prints a ConfigError's problems and exits 2
      stderr += (error as Error).message;
    }
    return { code, stdout, stderr };
  }

  it('-h (as parsed) → the usage, exit 0; two presets or an unknown one → exit 2 saying why', async () => {
    expect(await sampleInProcess([], true)).toMatchObject({ code: 0, stderr: '' });
    const two = await sampleInProcess(['github', 'stripe']);
    const unknown = await sampleInProcess(['opsgenie']);
    expect([two.code, two.stdout, unknown.code, unknown.stdout]).toEqual([2, '', 2, '']);
    expect(two.stderr).toContain('one preset at a time');
    expect(unknown.stderr).toContain('"opsgenie" is neither a preset');
  });

  it('"hookrelay sign" through the binary signs a sample the preset verifies', async () => {
    const sample = await hookrelay(['sample', 'tapemetric']);
    const signed = await hookrelay(['sign', '--source', 'tapemetric', '--secret', SECRET], sample.stdout);
    expect([signed.code, signed.stderr]).toEqual([0, '']);
    const { headers } = parseSigned(signed.stdout);
    expect(verdictCode(verifier('tapemetric').verify(inbound(sample.stdout, headers), Date.now()))).toBe('ok');
  });

  it.each(PRESET_NAMES)('%s: the payload, signed by "hookrelay sign", verifies and normalizes', async (preset) => {
    const sample = await hookrelay(['sample', preset]);
    expect([sample.code, sample.stderr]).toEqual([0, '']);
    // What "hookrelay sign" prints (its function, in-process; the binary is run for tapemetric above).
    const signed =
      preset === 'hmac'
        ? signBody({ source: 'acme', secret: undefined, body: Buffer.from(sample.stdout), url: undefined, loaded: loadConfig({ file: CONFIG_FILE, env: {} }) })
        : signBody({ source: preset, secret: SECRET, body: Buffer.from(sample.stdout), url: undefined, loaded: null });
    const { headers, query } = parseSigned(signed);
    const request = inbound(sample.stdout, headers, query);
    const source = verifier(preset);
    expect(verdictCode(source.verify(request, Date.now()))).toBe('ok');
    expect(source.normalize(JSON.parse(sample.stdout), request).length).toBeGreaterThan(0);
  });

  it('two runs print two different events (the quick start never turns into a duplicate)', async () => {
    const first = await hookrelay(['sample', 'tapemetric']);
    const second = await hookrelay(['sample', 'tapemetric']);
    const id = (run: Run) => (JSON.parse(run.stdout) as { id: string }).id;
    expect(id(first)).toMatch(/^evt_/);
    expect(id(first)).not.toBe(id(second));
  });

  it('a source name of the config stands for its preset', async () => {
    const run = await hookrelay(['sample', 'acme', '--config', CONFIG_FILE]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ type: 'deploy.failed', severity: 'error' });
  });
});

describe('hookrelay render --sample', () => {
  it('renders a fresh sample of the preset (GitHub: the event name comes with it, as GitHub sends it)', async () => {
    const run = await hookrelay(['render', '--template', 'slack/default', '--source', 'github', '--sample']);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect((JSON.parse(run.stdout) as { text: string }).text).toContain('CI failed on main in octo-org/hello-world');
  });

  it('a saved GitHub payload renders with --event too (the event name is inferred as "hookrelay sign" does)', async () => {
    const sample = await hookrelay(['sample', 'github']);
    const file = join(scratch, 'github-event.json');
    writeFileSync(file, sample.stdout);
    const run = await hookrelay(['render', '--template', 'slack/default', '--source', 'github', '--event', file]);
    expect([run.code, run.stderr]).toEqual([0, '']);
    expect(run.stdout).toContain('CI failed on main');
  });

  it('--sample with --event → exit 2, saying to pick one; neither → exit 2', async () => {
    const both = await hookrelay(['render', '--template', 'slack/default', '--source', 'stripe', '--sample', '--event', 'x.json']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('not both');
    const neither = await hookrelay(['render', '--template', 'slack/default', '--source', 'stripe']);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('--sample');
  });
});
