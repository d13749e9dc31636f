/** What the figures were measured on: they mean little without it. */
import { execFileSync } from 'node:child_process';
import { readFileSync, realpathSync } from 'node:fs';
import { arch, cpus, freemem, loadavg, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';

export interface Environment {
  readonly node: string;
  readonly platform: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGb: number;
  readonly freeMemoryGb: number;
  /** 1, 5 and 15 minute load averages when the bench started: other work on the machine skews every figure. */
  readonly loadAverage: readonly number[];
  readonly hookrelayVersion: string;
  /** The checkout that was measured. */
  readonly hookrelayRoot: string;
  /** Its git commit, "(src/ modified)" when the working tree differs; null outside git. */
  readonly commit: string | null;
}

function gitCommit(root: string): string | null {
  try {
    // A `git archive` snapshot in /tmp has no .git of its own: do not report the enclosing repo's.
    const top = execFileSync('git', ['rev-parse', '--show-toplevel'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (realpathSync(top) !== realpathSync(root)) return null;
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root, encoding: 'utf8' }).trim();
    return dirty ? `${head} (src/ modified)` : head;
  } catch {
    return null;
  }
}

export function environment(root: string): Environment {
  const list = cpus();
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
  return {
    node: process.version,
    platform: `${platform()} ${release()} ${arch()}`,
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGb: Math.round((freemem() / 2 ** 30) * 10) / 10,
    loadAverage: loadavg().map((value) => Math.round(value * 100) / 100),
    hookrelayVersion: pkg.version,
    hookrelayRoot: root,
    commit: gitCommit(root),
  };
}
