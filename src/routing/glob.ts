/**
 * Globs for event fields (`type: "qos.*"`, mute matchers `data.region=Maha*`): `*` is any
 * run of characters, `?` one character, `\` makes the next character literal, everything else
 * is literal, case-sensitive, whole value. Path globbers (picomatch, minimatch) stop `*` at `/`
 * and treat dots specially, which is wrong for event types and free-text fields, hence this one.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  let escaped = false;
  for (const char of glob) {
    if (escaped) {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      escaped = false;
    } else if (char === '\\') escaped = true;
    else if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  if (escaped) source += '\\\\';
  // 'u': `?` is one character even outside the BMP (an emoji is two UTF-16 units).
  return new RegExp(`^${source}$`, 'su');
}

export function globMatcher(glob: string): (value: string) => boolean {
  if (!/[*?\\]/.test(glob)) return (value) => value === glob;
  const pattern = globToRegExp(glob);
  return (value) => pattern.test(value);
}

/** A glob matching exactly this text (a dedup key may contain `*`). */
export function literalGlob(text: string): string {
  return text.replace(/[*?\\]/g, '\\$&');
}
