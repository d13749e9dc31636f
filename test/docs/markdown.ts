/**
 * Just enough of Markdown to check the docs' links the way GitHub renders them: headings and their
 * anchors, links and images, outside code. No network: external links (any `scheme:`) are not
 * checked, only that every relative link names a file of the repository and every `#anchor` a
 * heading of the file it points into.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * GitHub's anchor for a heading's text (github-slugger's rule, which GitHub's own follows): lower
 * case; drop every character in the Unicode categories of other numbers, punctuation other than
 * connectors (`_`), symbols (`→`, emoji, `$`, `` ` ``), controls, format and private-use characters,
 * unassigned code points and separators, except a plain `-` and a plain space, and except
 * alphabetic characters; then each space becomes a `-` (no collapsing: `a → b` is `a--b`).
 */
const DROPPED = /[\p{No}\p{Pd}\p{Ps}\p{Pe}\p{Pi}\p{Pf}\p{Po}\p{S}\p{Cc}\p{Cf}\p{Co}\p{Cn}\p{Z}]/gu;
const ALPHABETIC = /\p{Alphabetic}/u;

export function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(DROPPED, (character) => (character === '-' || character === ' ' || ALPHABETIC.test(character) ? character : ''))
    .replace(/ /g, '-');
}

/** Slugs for the headings of one page, in order: a repeated slug gets `-1`, `-2`, … as on GitHub. */
export function slugger(): (text: string) => string {
  const occurrences = new Map<string, number>();
  return (text) => {
    const original = slug(text);
    let result = original;
    while (occurrences.has(result)) {
      const count = (occurrences.get(original) ?? 0) + 1;
      occurrences.set(original, count);
      result = `${original}-${count}`;
    }
    occurrences.set(result, 0);
    return result;
  };
}

const ENTITIES: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** The text GitHub shows for a heading's inline Markdown (what its anchor is made from). */
export function inlineText(markdown: string): string {
  const spans: string[] = [];
  // Code spans first: their content is literal (CommonMark strips one space on each side when both are there).
  let text = replaceCodeSpans(markdown, (content) => {
    const normalized = content.replace(/\n/g, ' ');
    spans.push(/^ .*[^ ].* $/.test(normalized) ? normalized.slice(1, -1) : normalized);
    return `\uE000${spans.length - 1}\uE000`;
  });
  text = text
    .replace(/\\([!-/:-@[-`{-~])/g, (_match, character: string) => `\uE001${character.codePointAt(0)}\uE001`)
    // An image shows no text (its alt is not part of the heading's text); a link shows its text.
    .replace(/!\[(?:[^[\]]|\[[^[\]]*\])*\]\([^)]*\)/g, '')
    .replace(/\[((?:[^[\]]|\[[^[\]]*\])*)\]\([^)]*\)/g, '$1')
    .replace(/<((?:https?|mailto):[^>\s]*)>/g, '$1')
    .replace(/<\/?[A-Za-z][^>]*>/g, '')
    .replace(/(\*{1,3}|~~)(?=\S)([\s\S]*?\S)\1/g, '$2')
    .replace(/(^|[^\p{L}\p{N}])(_{1,3})(?=\S)([\s\S]*?\S)\2(?![\p{L}\p{N}])/gu, '$1$3')
    .replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (match, name: string) => {
      if (name.startsWith('#')) {
        const code = name[1] === 'x' || name[1] === 'X' ? Number.parseInt(name.slice(2), 16) : Number.parseInt(name.slice(1), 10);
        return String.fromCodePoint(code);
      }
      return ENTITIES[name.toLowerCase()] ?? match;
    })
    .replace(/\uE001(\d+)\uE001/g, (_match, code: string) => String.fromCodePoint(Number(code)));
  return text.replace(/\uE000(\d+)\uE000/g, (_match, index: string) => spans[Number(index)] ?? '').trim();
}

/**
 * Replaces each code span (a run of N backticks up to the next run of exactly N) by what `replace`
 * returns for its content; a run without a closing one is literal text.
 */
function replaceCodeSpans(text: string, replace: (content: string, start: number, end: number) => string): string {
  let out = '';
  let index = 0;
  while (index < text.length) {
    if (text[index] === '\\' && text[index + 1] === '`') {
      out += text.slice(index, index + 2);
      index += 2;
      continue;
    }
    if (text[index] !== '`') {
      out += text[index];
      index += 1;
      continue;
    }
    let runEnd = index;
    while (text[runEnd] === '`') runEnd += 1;
    const run = runEnd - index;
    let close = -1;
    for (let at = runEnd; at < text.length; ) {
      if (text[at] !== '`') {
        at += 1;
        continue;
      }
      let end = at;
      while (text[end] === '`') end += 1;
      if (end - at === run) {
        close = at;
        break;
      }
      at = end;
    }
    if (close < 0) {
      out += text.slice(index, runEnd);
      index = runEnd;
      continue;
    }
    out += replace(text.slice(runEnd, close), index, close + run);
    index = close + run;
  }
  return out;
}

export interface Heading {
  readonly line: number;
  readonly text: string;
  readonly anchor: string;
}

export interface Link {
  readonly line: number;
  readonly target: string;
}

export interface ParsedMarkdown {
  readonly headings: readonly Heading[];
  readonly links: readonly Link[];
  /** The text outside fenced code and code spans (spans blanked, lines kept), for prose checks. */
  readonly prose: readonly { readonly line: number; readonly text: string }[];
}

const FENCE = /^\s*(`{3,}|~{3,})(.*)$/;
const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/;
const SETEXT_UNDERLINE = /^ {0,3}(=+|-+)[ \t]*$/;
const INLINE_LINK = /!?\[((?:[^[\]]|\[[^[\]]*\])*)\]\(\s*(<[^>\n]*>|[^\s()<>]*(?:\([^\s()]*\)[^\s()<>]*)*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
const REFERENCE_DEFINITION = /^ {0,3}\[[^\]]+\]:[ \t]*(<[^>\n]*>|\S+)/gm;
const HTML_LINK = /<(?:a|img)\b[^>]*?\s(?:href|src)\s*=\s*(?:"([^"]*)"|'([^']*)')/gi;

/** Headings (with GitHub's anchors), links and prose of one Markdown file. */
export function parseMarkdown(source: string): ParsedMarkdown {
  const lines = source.split('\n');
  const anchorFor = slugger();
  const headings: Heading[] = [];
  const links: Link[] = [];
  const prose: { line: number; text: string }[] = [];
  // Blocks of consecutive lines outside fences, separated by blank lines: code spans and links
  // may run over a line break within a paragraph, never across a blank line or a fence.
  let block: { start: number; lines: string[] } | null = null;
  const flush = (): void => {
    if (block) scanBlock(block.start, block.lines.join('\n'), links, prose);
    block = null;
  };
  let fence: { character: string; length: number } | null = null;
  lines.forEach((line, index) => {
    const number = index + 1;
    const fenceMatch = FENCE.exec(line);
    if (fence) {
      if (fenceMatch && fenceMatch[1]?.[0] === fence.character && (fenceMatch[1]?.length ?? 0) >= fence.length && fenceMatch[2]?.trim() === '') fence = null;
      return;
    }
    if (fenceMatch && fenceMatch[1] && !(fenceMatch[1][0] === '`' && fenceMatch[2]?.includes('`'))) {
      flush();
      fence = { character: fenceMatch[1][0] ?? '`', length: fenceMatch[1].length };
      return;
    }
    const heading = ATX_HEADING.exec(line);
    if (heading) {
      flush();
      const text = inlineText(heading[2] ?? '');
      headings.push({ line: number, text, anchor: anchorFor(text) });
      scanBlock(number, heading[2] ?? '', links, prose);
      return;
    }
    const previous = lines[index - 1];
    if (SETEXT_UNDERLINE.test(line) && block && previous !== undefined && previous.trim() !== '' && !previous.includes('|')) {
      // A setext heading: this checker does not give it an anchor, so say so rather than miss it.
      throw new Error(`line ${number}: setext heading ("${previous.trim()}" underlined): write it as an ATX heading (#) so its anchor is checked`);
    }
    if (line.trim() === '') {
      flush();
      return;
    }
    block ??= { start: number, lines: [] };
    block.lines.push(line);
  });
  flush();
  return { headings, links, prose };
}

function scanBlock(start: number, text: string, links: Link[], prose: { line: number; text: string }[]): void {
  const lineOf = (offset: number): number => start + (text.slice(0, offset).match(/\n/g)?.length ?? 0);
  // Code spans become blanks of the same length (line breaks kept), so offsets still give lines.
  const visible = replaceCodeSpans(text, (content, from, to) => ' '.repeat(to - from - (content.match(/\n/g)?.length ?? 0)) + '\n'.repeat(content.match(/\n/g)?.length ?? 0)).replace(
    /\\[!-/:-@[-`{-~]/g,
    '  ',
  );
  for (const match of visible.matchAll(INLINE_LINK)) {
    const target = (match[2] ?? '').replace(/^<|>$/g, '');
    links.push({ line: lineOf(match.index), target });
  }
  for (const match of visible.matchAll(REFERENCE_DEFINITION)) links.push({ line: lineOf(match.index), target: (match[1] ?? '').replace(/^<|>$/g, '') });
  for (const match of visible.matchAll(HTML_LINK)) links.push({ line: lineOf(match.index), target: match[1] ?? match[2] ?? '' });
  visible.split('\n').forEach((line, offset) => prose.push({ line: start + offset, text: line }));
}

/** README.md and every Markdown file under docs/, as paths from the repository's root. */
export function markdownFiles(root: string): string[] {
  const docs = readdirSync(resolve(root, 'docs'), { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.md'))
    .map((path) => `docs/${path.split(sep).join('/')}`)
    .sort();
  return ['README.md', ...docs];
}

export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly message: string;
}

/**
 * Every broken relative link and anchor in `files` (paths relative to `root`): the target file must
 * exist inside `root`, and an anchor must be a heading's anchor in the Markdown file it points into.
 */
export function checkLinks(root: string, files: readonly string[]): Problem[] {
  const parsed = new Map<string, ParsedMarkdown>();
  const parse = (absolute: string): ParsedMarkdown => {
    let result = parsed.get(absolute);
    if (!result) {
      result = parseMarkdown(readFileSync(absolute, 'utf8'));
      parsed.set(absolute, result);
    }
    return result;
  };
  const problems: Problem[] = [];
  for (const file of files) {
    const absolute = resolve(root, file);
    for (const link of parse(absolute).links) {
      const report = (message: string): void => {
        problems.push({ file, line: link.line, message: `${link.target}: ${message}` });
      };
      if (/^[a-z][a-z0-9+.-]*:/i.test(link.target) || link.target.startsWith('//')) continue;
      const hash = link.target.indexOf('#');
      const pathPart = (hash < 0 ? link.target : link.target.slice(0, hash)).replace(/\?.*$/, '');
      let anchor: string | null;
      let decodedPath: string;
      try {
        anchor = hash < 0 ? null : decodeURIComponent(link.target.slice(hash + 1));
        decodedPath = decodeURIComponent(pathPart);
      } catch {
        report('not a valid URL (bad percent-encoding)');
        continue;
      }
      const targetFile = decodedPath === '' ? absolute : decodedPath.startsWith('/') ? resolve(root, `.${decodedPath}`) : resolve(dirname(absolute), decodedPath);
      const inside = relative(root, targetFile);
      if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
        report('points outside the repository');
        continue;
      }
      if (!existsSync(targetFile)) {
        report(`no such file (${inside})`);
        continue;
      }
      if (anchor === null || anchor === '') continue;
      if (statSync(targetFile).isDirectory() || extname(targetFile).toLowerCase() !== '.md') {
        report(`an anchor into ${inside}, which is not a Markdown file, cannot be checked`);
        continue;
      }
      const anchors = parse(targetFile).headings.map((heading) => heading.anchor);
      if (!anchors.includes(anchor)) report(`no heading with the anchor #${anchor} in ${inside.split(sep).join('/')}`);
    }
  }
  return problems;
}

/** Prose that names a section in quotes (`see "Health"`) instead of linking to it: after a move, a name alone no longer says where. */
export function namedCrossReferences(root: string, files: readonly string[]): Problem[] {
  const problems: Problem[] = [];
  for (const file of files) {
    for (const { line, text } of parseMarkdown(readFileSync(resolve(root, file), 'utf8')).prose) {
      for (const match of text.matchAll(/\bsee\s+"([^"]+)"/gi)) problems.push({ file, line, message: `${match[0]}: link the section instead` });
    }
  }
  return problems;
}

export function formatProblems(problems: readonly Problem[]): string[] {
  return problems.map((problem) => `${problem.file}:${problem.line}: ${problem.message}`);
}
