/**
 * Globs for event fields (`type: "qos.*"`, mute matchers `data.region=Maha*`): `*` is any
 * run of characters, `?` one character, everything else literal, case-sensitive, whole value.
 * Path globbers (picomatch, minimatch) stop `*` at `/` and treat dots specially, which is
 * wrong for event types and free-text fields, hence this small one.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 's');
}

export function globMatcher(glob: string): (value: string) => boolean {
  if (!glob.includes('*') && !glob.includes('?')) return (value) => value === glob;
  const pattern = globToRegExp(glob);
  return (value) => pattern.test(value);
}
