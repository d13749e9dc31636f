/**
 * Templates turn values into JSON text (`{{json data}}`, `{{value}}` of an object), and
 * JSON.stringify recurses: a value nested some thousands of levels deep throws "Maximum call
 * stack size exceeded", which would make a delivery fail forever. Ingest refuses bodies nested
 * deeper than 64 levels (src/ingest/json-body.ts); this bound is higher, so every accepted
 * event renders exactly, and anything deeper (an event stored before that limit) still
 * renders, with the levels beyond it replaced by a visible marker.
 */
export const MAX_RENDER_DEPTH = 100;

/** What stands in for arrays and objects beyond MAX_RENDER_DEPTH. */
export const TOO_DEEP = '[nested too deep]';

type Json = { toJSON?: unknown };

/**
 * Arrays and objects deeper than `max` levels? The recursion stops at `max + 1` levels, so it is
 * safe for any depth, and it allocates nothing: it runs over every value a template prints as
 * JSON, once per delivery.
 */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  return deeperThan(value, max);
}

/** `value` (an array or object at some level) has more than `levelsLeft` levels of arrays and objects. */
function deeperThan(value: unknown, levelsLeft: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (levelsLeft === 0) return true;
  if (Array.isArray(value)) {
    for (const item of value as readonly unknown[]) if (item !== null && typeof item === 'object' && deeperThan(item, levelsLeft - 1)) return true;
    return false;
  }
  for (const key in value) {
    if (!Object.hasOwn(value, key)) continue;
    const item = (value as Record<string, unknown>)[key];
    if (item !== null && typeof item === 'object' && deeperThan(item, levelsLeft - 1)) return true;
  }
  return false;
}

/**
 * `value` itself when it nests at most MAX_RENDER_DEPTH levels (the common case costs one
 * walk and no copy); otherwise a copy cut at that depth. The copy recurses at most
 * MAX_RENDER_DEPTH levels, so it cannot overflow the stack either.
 */
export function withinRenderDepth(value: unknown): unknown {
  return nestsDeeperThan(value, MAX_RENDER_DEPTH) ? cut(value, MAX_RENDER_DEPTH) : value;
}

function cut(value: unknown, levels: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  // toJSON first (Dates), as JSON.stringify would.
  const json = value as Json;
  if (typeof json.toJSON === 'function') return cut((json.toJSON as () => unknown)(), levels);
  if (levels === 0) return TOO_DEEP;
  if (Array.isArray(value)) return value.map((item: unknown) => cut(item, levels - 1));
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, cut(item, levels - 1)]));
}
