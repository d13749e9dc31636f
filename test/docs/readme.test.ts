import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { markdownFiles, parseMarkdown } from './markdown.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');

/** The README's `## <title>` section, up to the next `## `. */
function section(title: string): string {
  const start = README.indexOf(`\n## ${title}\n`);
  expect(start, `README has a "## ${title}" section`).toBeGreaterThan(0);
  const end = README.indexOf('\n## ', start + 1);
  return README.slice(start, end < 0 ? undefined : end);
}

describe('the README is a page a newcomer reads to the end (issue 19, item 6)', () => {
  it('is at most 250 lines', () => {
    expect(README.split('\n').length).toBeLessThanOrEqual(250);
  });

  it('gives the two commands', () => {
    expect(README).toContain('npm ci && npm start');
    expect(README).toContain('npm ci && npm test');
  });

  it('its Reference list links every page of docs/, and every page links back to the README', () => {
    const pages = markdownFiles(ROOT).filter((file) => file.startsWith('docs/'));
    const listed = parseMarkdown(section('Reference')).links.map((link) => link.target);
    expect([...listed].sort()).toEqual(pages);
    for (const page of pages) expect(parseMarkdown(readFileSync(join(ROOT, page), 'utf8')).links.map((link) => link.target), page).toContain('../README.md');
  });

  it('every docs page opens with a one-line title and a paragraph saying what it covers', () => {
    for (const page of markdownFiles(ROOT).filter((file) => file.startsWith('docs/'))) {
      const [title, blank, covers] = readFileSync(join(ROOT, page), 'utf8').split('\n');
      expect(title, page).toMatch(/^# \S/);
      expect(blank, page).toBe('');
      expect(covers, page).toMatch(/^[A-Z`]/);
    }
  });

  it('the example hookrelay.yaml is a config hookrelay accepts, routing to the destinations it defines', () => {
    const example = /```yaml\n([\s\S]*?)```/.exec(section('Destinations'))?.[1];
    expect(example).toBeDefined();
    const env = {
      TAPEMETRIC_SECRET: 'tapemetric-secret',
      GITHUB_WEBHOOK_SECRET: 'github-secret',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T000/B000/XXXX',
      PAGERDUTY_ROUTING_KEY: '0123456789abcdef0123456789abcdef',
    };
    const config = parseConfigText(example ?? '', env);
    expect(config.sources.map((source) => source.name)).toEqual(['tapemetric', 'github']);
    expect(config.routes.flatMap((route) => route.to)).toEqual(['ops-slack', 'oncall']);
  });
});
