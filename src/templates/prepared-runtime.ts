import type Handlebars from 'handlebars';
// Handlebars' own prototype-access rules (the ones every render builds anew), not re-implemented.
import { createProtoAccessControl } from 'handlebars/dist/cjs/handlebars/internal/proto-access.js';

type HandlebarsEnv = ReturnType<typeof Handlebars.create>;

/** Handlebars' hooks for calls of what is not a helper (`{{foo bar}}`, `{{#foo}}`). */
const HOOKS = ['helperMissing', 'blockHelperMissing'] as const;

/**
 * What Handlebars' runtime builds at the start of every render (`ret._setup` in its
 * `runtime.js`): a copy of the environment's helpers, each wrapped so that it is handed
 * `options.lookupProperty`, the two hooks moved out of them, and the prototype-access rules.
 * That is a few objects and a closure per helper per render, on the path of every delivery. They
 * depend on nothing but the environment, so a template gets them built once, and Handlebars takes
 * them ready-made on the path it uses for partials (`partial: true`, which also skips creating
 * `@root`: the render's data carries it).
 *
 * Of Handlebars' helpers only `lookup` reads `options.lookupProperty`; the hooks and hookrelay's
 * helpers never do. So a template that calls `lookup` gets null here and renders the ordinary way.
 */
export function prepareRuntime(env: HandlebarsEnv, called: ReadonlySet<string>): Handlebars.RuntimeOptions | null {
  if (called.has('lookup')) return null;
  const helpers: Record<string, Handlebars.HelperDelegate> = { ...env.helpers };
  const hooks: Record<string, Handlebars.HelperDelegate> = {};
  for (const hook of HOOKS) {
    const helper = helpers[hook];
    if (helper === undefined) continue;
    hooks[hook] = helper;
    delete helpers[hook];
  }
  // `hooks` and `protoAccessControl` are runtime options Handlebars' types do not list.
  return { partial: true, helpers, hooks, protoAccessControl: createProtoAccessControl({}) } as Handlebars.RuntimeOptions;
}
