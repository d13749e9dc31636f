/**
 * "Did you mean" for names a user typed: config keys, destination and source names, presets,
 * template helpers. Optimal string alignment distance (Damerau-Levenshtein with adjacent
 * transpositions), so `secerts` is one edit from `secrets`, as a typist would count it.
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols).fill(0);
  const at = (i: number, j: number): number => d[i * cols + j]!;
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      d[i * cols + j] = best;
    }
  }
  return at(a.length, b.length);
}

/**
 * The known name closest to `typed`, when it is close enough to be a slip rather than another
 * word: at most a quarter of its length in edits (at least 1), case ignored.
 */
export function closestName(typed: string, known: Iterable<string>): string | null {
  const limit = Math.max(1, Math.floor(typed.length / 4));
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const distance = editDistance(typed.toLowerCase(), candidate.toLowerCase());
    if (distance <= limit && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** ` (did you mean "oncall"?)` for a near miss, else ` (known: a, b)` when `listKnown`, else ''. */
export function didYouMean(typed: string, known: readonly string[], options: { listKnown?: boolean } = {}): string {
  const close = closestName(typed, known);
  if (close !== null) return ` (did you mean "${close}"?)`;
  return options.listKnown !== false && known.length > 0 ? ` (known: ${known.join(', ')})` : '';
}
