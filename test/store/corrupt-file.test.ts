import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/hookrelay.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-corrupt-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Variables that would change what the CLI reads (config, zero-config secrets): never inherited. */
const CONFIG_VARIABLES = /^(HOOKRELAY_|SLACK_|PAGERDUTY_|TAPEMETRIC_|STATUSPULSE_|STATUSSENTRY_|TAPE_|ALERTMANAGER_)/;

async function serve(config: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !CONFIG_VARIABLES.test(name)));
  const child = spawn(process.execPath, [BIN, 'serve', '--config', config, '--port', '0'], { cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  // A store that opened would keep serving: the test would time out instead of passing.
  const [code] = (await once(child, 'close')) as [number | null];
  return { code, stderr, stdout };
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

describe('hookrelay serve with a corrupt SQLite file', () => {
  it.each([
    ['not a SQLite file at all', (): Buffer => Buffer.from('this is a text file, not a database\n'.repeat(200))],
    ['a SQLite header over garbage pages', (): Buffer => Buffer.concat([Buffer.from('SQLite format 3\0'), Buffer.alloc(8_176, 0xa5)])],
  ])('%s → exit 1, names the file, says it looks corrupt and how to restore or move it aside; the file is untouched', async (_case, bytes) => {
    const dir = mkdtempSync(join(scratch, 'data dir-'));
    const database = join(dir, 'hookrelay.db');
    writeFileSync(database, bytes());
    const before = sha256(database);
    const config = join(dir, 'hookrelay.yaml');
    writeFileSync(config, `store: "sqlite:${database}"\nsources: []\ndestinations: []\nroutes: []\n`);

    const run = await serve(config);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(database);
    expect(run.stderr).toMatch(/looks corrupt/);
    expect(run.stderr).toMatch(/backup/);
    // The folder has a space: the command is quoted so that it can be pasted as is.
    expect(run.stderr).toContain(`mv '${database}' '${database}.corrupt'`);
    expect(sha256(database)).toBe(before);
  });
});
