import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { RelayEvent } from '../../src/events/event.ts';
import { SAMPLE_EVENT, sampleContext, type TemplateContext } from '../../src/templates/index.ts';

// One scratch folder per test file, removed when the file's tests are done.
const root = mkdtempSync(path.join(tmpdir(), 'hookrelay-templates-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh folder of user templates: `{ "slack/custom": "…" }` → `<dir>/slack/custom.hbs`. */
export function templateDir(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(path.join(root, 'dir-'));
  for (const [name, source] of Object.entries(files)) writeTemplate(dir, name, source);
  return dir;
}

export function writeTemplate(dir: string, name: string, source: string): string {
  const file = path.join(dir, `${name}.hbs`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, source);
  return file;
}

/** The Tapemetric example event with some fields replaced. */
export function event(overrides: Partial<RelayEvent> = {}): RelayEvent {
  return { ...SAMPLE_EVENT, ...overrides };
}

export function context(overrides: Partial<RelayEvent> = {}, events?: RelayEvent[]): TemplateContext {
  const one = event(overrides);
  return { ...sampleContext(one, { version: '9.9.9', destination: 'ops-slack', delivery_id: 'dlv_1' }), events: events ?? [one] };
}

/** Every string anywhere inside a parsed JSON value. */
export function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(stringsIn);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => [key, ...stringsIn(item)]);
  }
  return [];
}

/** What sender text could use to ping or to forge a link (see Slack "Formatting text"). */
export const HOSTILE = [
  '<!channel> <!here> <!everyone> <@U123> <#C42|general> <!subteam^S1|@team>',
  '@channel @here @everyone',
  '<http://evil.example|click me> <https://evil.example>',
  'quote " backslash \\ newline \n tab \t bell \u0007',
  'line-sep \u2028 para-sep \u2029 emoji 🔥👩‍💻',
].join(' ');
