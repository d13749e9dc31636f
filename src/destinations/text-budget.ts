import { truncateToLength } from '../templates/index.ts';
import { formatPath, isRecord } from '../util/objects.ts';

/** One text of a message that may be shortened to fit the whole message into the service's limit. */
export interface TextSlot {
  readonly owner: Record<string, unknown>;
  readonly key: string;
  /** Where it is, for the list of what was cut: `blocks[0].text.text`. */
  readonly path: string;
  readonly original: string;
  /** Cut without splitting markup (see truncateToLength). */
  readonly markup: boolean;
}

/** A slot for `owner[key]`, which must hold text. */
export function textSlot(owner: Record<string, unknown>, key: string, path: string, markup: boolean): TextSlot {
  return { owner, key, path, original: String(owner[key]), markup };
}

/**
 * Cuts `owner[key]` to the service's own limit for that text (with a visible "…"), recording
 * `path` in `truncated` when it was cut; returns its slot for the whole-message budget.
 */
export function cutToLimit(owner: Record<string, unknown>, key: string, max: number, path: string, truncated: string[], markup = true): TextSlot {
  const text = String(owner[key]);
  const cut = truncateToLength(text, max, { markup });
  if (cut !== text) {
    owner[key] = cut;
    truncated.push(path);
  }
  return textSlot(owner, key, path, markup);
}

/** A slot (markup-aware) for every text under one of `keys`, wherever it is nested in `value`: what a reader sees of a card. */
export function textSlotsAt(value: unknown, keys: ReadonlySet<string>, path: readonly PropertyKey[] = [], slots: TextSlot[] = []): TextSlot[] {
  if (Array.isArray(value)) value.forEach((item, index) => textSlotsAt(item, keys, [...path, index], slots));
  else if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (typeof item === 'string' && keys.has(key)) slots.push(textSlot(value, key, formatPath([...path, key]), true));
      else textSlotsAt(item, keys, [...path, key], slots);
    }
  }
  return slots;
}

/** Applies one common cap to every slot: only texts longer than `cap` change. */
function applyCap(slots: readonly TextSlot[], cap: number): void {
  for (const slot of slots) slot.owner[slot.key] = truncateToLength(slot.original, cap, { markup: slot.markup });
}

/**
 * Shrinks the longest texts first until `fits()`: a binary search for the largest common cap
 * that fits, so short texts are never touched before long ones. Returns false when texts cut
 * to `floor` characters (default 1) still do not fit (the message is large for other reasons).
 */
export function shrinkTextsToFit(slots: readonly TextSlot[], fits: () => boolean, floor = 1): boolean {
  if (fits()) return true;
  let low = floor;
  let high = Math.max(1, ...slots.map((slot) => slot.original.length));
  applyCap(slots, low);
  if (!fits()) return false;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    applyCap(slots, middle);
    if (fits()) low = middle;
    else high = middle - 1;
  }
  applyCap(slots, low);
  return true;
}

/** The paths of the slots whose text is not what it was. */
export function cutPaths(slots: readonly TextSlot[]): string[] {
  return slots.filter((slot) => slot.owner[slot.key] !== slot.original).map((slot) => slot.path);
}

/**
 * For a message too large for its number of items (card elements, widgets) even with texts cut
 * to `floor`: the most leading items that fit with texts of at least `floor` characters (a
 * binary search), then their texts cut further as needed. `withItems(kept)` rebuilds the message
 * with that many items (and a line saying how many were left out) and returns its texts.
 * Returns the slots of the message that fits, or null when not even one-character texts fit.
 */
export function fitLeadingItems(count: number, withItems: (kept: number) => TextSlot[], fits: () => boolean, floor: number): TextSlot[] | null {
  let low = 0;
  let high = Math.max(0, count - 1);
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (shrinkTextsToFit(withItems(middle), fits, floor)) low = middle;
    else high = middle - 1;
  }
  const slots = withItems(low);
  return shrinkTextsToFit(slots, fits) ? slots : null;
}
