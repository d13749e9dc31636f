import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLinks, formatProblems, markdownFiles, namedCrossReferences, parseMarkdown, slug, slugger } from './markdown.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe("GitHub's heading anchors", () => {
  // Headings as GitHub renders them: the anchor is made from the heading's text (code spans keep
  // their content, links their text, emphasis goes), then github-slugger's rule. The last ones are
  // github-slugger's fixtures (test/fixtures.json), which it checks against github.com.
  it.each([
    ['Quick start (60 seconds)', 'quick-start-60-seconds'],
    ['Configuration reference (`hookrelay.yaml`)', 'configuration-reference-hookrelayyaml'],
    ['Admin pages (`/admin`)', 'admin-pages-admin'],
    ['Metrics (`GET /metrics`)', 'metrics-get-metrics'],
    ['What `/metrics` exposes', 'what-metrics-exposes'],
    ['What is verified, and how', 'what-is-verified-and-how'],
    ['Slack app: commands, buttons, one message per incident', 'slack-app-commands-buttons-one-message-per-incident'],
    ['The `snake_case` key', 'the-snake_case-key'],
    ['**Bold**, _emphasis_ and [a link](docs/x.md)', 'bold-emphasis-and-a-link'],
    ['sender → destination', 'sender--destination'],
    ['Severity ✅ and 🔴', 'severity--and-'],
    ['`` `t` `` and &amp; entities', 't-and--entities'],
    ['Closing hashes ##', 'closing-hashes'],
    ['heading with a - dash', 'heading-with-a---dash'],
    ['heading with an _ underscore', 'heading-with-an-_-underscore'],
    ['exchange.bind_headers(exchange, routing [, bindCallback])', 'exchangebind_headersexchange-routing--bindcallback'],
    ['apostrophe’s should be trimmed', 'apostrophes-should-be-trimmed'],
    ['I ♥ unicode', 'i--unicode'],
    ['en–dash', 'endash'],
    ['😄 unicode emoji', '-unicode-emoji'],
    ['Привет non-latin 你好', 'привет-non-latin-你好'],
  ])('%s → #%s', (heading, anchor) => {
    const parsed = parseMarkdown(`## ${heading}\n`);
    expect(parsed.headings.map((h) => h.anchor)).toEqual([anchor]);
  });

  it('letters of any script stay (a circled letter is alphabetic though a symbol); other numbers and symbols go', () => {
    expect(slug('Ⓐ 1² x_y')).toBe('ⓐ-1-x_y');
  });

  it('a repeated heading gets -1, -2, … and a heading that already ends in -1 does not collide', () => {
    const next = slugger();
    expect(['echo', 'echo', 'echo 1', 'echo-1', 'echo'].map(next)).toEqual(['echo', 'echo-1', 'echo-1-1', 'echo-1-2', 'echo-2']);
  });

  it('headings, links and images inside fenced code and code spans are not headings or links', () => {
    const parsed = parseMarkdown(['```yaml', '# a comment, not a heading', '[not](a-link.md)', '```', '', 'Text `[nor](this.md)` and [this](yes.md).', '', '~~~', '## nor this', '~~~'].join('\n'));
    expect(parsed.headings).toEqual([]);
    expect(parsed.links).toEqual([{ line: 6, target: 'yes.md' }]);
  });
});

describe('the link checker finds broken links (a scratch folder)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'hookrelay-docs-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  const write = (path: string, text: string): void => {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), text);
  };
  write(
    'README.md',
    [
      '# Demo',
      '## Setup',
      '## Setup',
      'See [the second](#setup-1), [guide](docs/guide.md#the-arrow--here), [gone](docs/nope.md), [wrong](docs/guide.md#nowhere),',
      '![shot](docs/screenshots/a.png), [away](../outside.md), [web](https://example.com/x#y) and `[code](docs/nope.md)`.',
      '',
      '```md',
      '[fenced](docs/nope.md)',
      '```',
    ].join('\n'),
  );
  write('docs/guide.md', '# The arrow → here\n\nBack to [Setup](../README.md#setup), [a moved heading](../README.md#operating-hookrelay); see "Setup".\n');
  write('docs/screenshots/b.png', '');

  it('names each missing file, missing anchor and link out of the repository, and nothing else', () => {
    expect(formatProblems(checkLinks(scratch, markdownFiles(scratch)))).toEqual([
      'README.md:4: docs/nope.md: no such file (docs/nope.md)',
      'README.md:4: docs/guide.md#nowhere: no heading with the anchor #nowhere in docs/guide.md',
      'README.md:5: docs/screenshots/a.png: no such file (docs/screenshots/a.png)',
      'README.md:5: ../outside.md: points outside the repository',
      'docs/guide.md:3: ../README.md#operating-hookrelay: no heading with the anchor #operating-hookrelay in README.md',
    ]);
  });

  it('names a section referred to by name instead of a link', () => {
    expect(formatProblems(namedCrossReferences(scratch, markdownFiles(scratch)))).toEqual(['docs/guide.md:3: see "Setup": link the section instead']);
  });
});

describe('README.md and docs/', () => {
  const files = markdownFiles(ROOT);

  it('every relative link names a file of the repository and every #anchor a heading of its file', () => {
    expect(files.length).toBeGreaterThan(5);
    expect(formatProblems(checkLinks(ROOT, files))).toEqual([]);
  });

  it('sections are linked, not named ("see \\"Health\\"" says nothing once the section is on another page)', () => {
    expect(formatProblems(namedCrossReferences(ROOT, files))).toEqual([]);
  });

  // Where the README's reference sections went (issue 19, item 6): the anchor each had in the
  // README is now a heading of a docs page, and none of them is left in the README to link to.
  // (The README keeps a short Senders section of its own; the whole one is docs/senders.md.)
  const MOVED: readonly (readonly [string, string])[] = [
    ['the-event-every-route-and-template-sees', 'docs/senders.md'],
    ['severity-and-status-by-sender', 'docs/senders.md'],
    ['configuration-reference-hookrelayyaml', 'docs/configuration.md'],
    ['routes-and-filters', 'docs/configuration.md'],
    ['noise-control', 'docs/configuration.md'],
    ['templates', 'docs/templates.md'],
    ['delivery', 'docs/delivery.md'],
    ['slack-app-commands-buttons-one-message-per-incident', 'docs/slack-app.md'],
    ['operating-hookrelay', 'docs/operating.md'],
    ['admin-pages-admin', 'docs/operating.md'],
    ['admin-api-apiv1', 'docs/operating.md'],
    ['logs', 'docs/operating.md'],
    ['the-requests-log', 'docs/operating.md'],
    ['metrics-get-metrics', 'docs/operating.md'],
    ['health', 'docs/operating.md'],
    ['storage-faults', 'docs/operating.md'],
    ['crash-loops', 'docs/operating.md'],
    ['memory', 'docs/operating.md'],
    ['cli-reference', 'docs/cli.md'],
    ['security', 'docs/security.md'],
    ['what-is-verified-and-how', 'docs/security.md'],
    ['limits', 'docs/security.md'],
    ['what-the-egress-guard-refuses', 'docs/security.md'],
    ['what-metrics-exposes', 'docs/security.md'],
    ['mutation-testing', 'docs/security.md'],
    ['scaling-out', 'docs/scaling-out.md'],
    ['performance', 'docs/performance.md'],
  ];
  const anchorsOf = (file: string): string[] => parseMarkdown(readFileSync(join(ROOT, file), 'utf8')).headings.map((heading) => heading.anchor);

  it.each(MOVED)('#%s is a heading of %s, not of the README', (anchor, file) => {
    expect(anchorsOf(file)).toContain(anchor);
    expect(anchorsOf('README.md')).not.toContain(anchor);
  });
});
