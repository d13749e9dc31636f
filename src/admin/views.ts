import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Handlebars from 'handlebars';

export const VIEWS_DIR = join(dirname(fileURLToPath(import.meta.url)), 'views');

/** What every page gets besides its own data. */
export interface PageFrame {
  readonly title: string;
  /** The nav entry to mark as current. */
  readonly section?: 'overview' | 'events' | 'requests' | 'mutes' | 'secrets' | null;
  readonly csrf?: string | null;
  readonly flash?: { readonly kind: string; readonly text: string } | null;
}

export type RenderPage = (view: string, frame: PageFrame, data?: Record<string, unknown>) => string;

/**
 * The admin pages' Handlebars views (`views/*.hbs`, partials in `views/partials/`), compiled
 * once in an environment of their own, so their helpers never meet the notification templates'.
 * Handlebars escapes every `{{value}}`; the one `{{{…}}}` is the chart's SVG, built from numbers.
 */
export function createViews(dir = VIEWS_DIR): RenderPage {
  const hbs = Handlebars.create();
  hbs.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hbs.registerHelper('time', (iso: unknown) => (typeof iso === 'string' && iso ? iso.replace('T', ' ').replace(/\.\d+Z$|Z$/, ' UTC') : '–'));
  hbs.registerHelper('or', (value: unknown, fallback: unknown) => (value === null || value === undefined || value === '' ? fallback : value));
  const compile = (file: string) => hbs.compile(readFileSync(file, 'utf8'), { strict: false, preventIndent: true });
  for (const file of readdirSync(join(dir, 'partials'))) {
    if (file.endsWith('.hbs')) hbs.registerPartial(basename(file, '.hbs'), readFileSync(join(dir, 'partials', file), 'utf8'));
  }
  const views = new Map<string, ReturnType<typeof hbs.compile>>();
  for (const file of readdirSync(dir)) if (file.endsWith('.hbs')) views.set(basename(file, '.hbs'), compile(join(dir, file)));
  const layout = views.get('layout');
  if (!layout) throw new Error(`no layout.hbs in ${dir}`);
  return (view, frame, data = {}) => {
    const template = views.get(view);
    if (!template) throw new Error(`no admin view "${view}"`);
    const context = { ...data, frame };
    return layout({ frame, body: template(context) });
  };
}
