/**
 * Sizes in the config (`store.min_free: 256MB`) and in messages. Units count in powers of 1024,
 * as `df -h` does, so a figure in a message can be compared with what `df -h` shows.
 */
const UNIT_BYTES: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};
const SIZE = /^(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)?$/i;
const SHARE = /^(\d+(?:\.\d+)?)\s*%$/;

/** A size in bytes, or a share of the volume the file is on. */
export type ByteSize = { readonly bytes: number } | { readonly percent: number };

/** `"256MB"`, `"1GB"`, `"512KiB"`, `"1048576"` (bytes), `"5%"` (of the volume); null when malformed. */
export function parseByteSize(text: string): ByteSize | null {
  const trimmed = text.trim();
  const share = SHARE.exec(trimmed);
  if (share) {
    const percent = Number(share[1]);
    return percent <= 100 ? { percent } : null;
  }
  const size = SIZE.exec(trimmed);
  if (!size) return null;
  return { bytes: Math.round(Number(size[1]) * UNIT_BYTES[(size[2] ?? 'b').toLowerCase()]!) };
}

/** Bytes for people: `800 KB`, `3.96 MB`, `12.5 MB`, `1.5 GB` (three significant digits at most). */
export function formatBytes(bytes: number): string {
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  let unit = 'bytes';
  for (const next of ['KB', 'MB', 'GB', 'TB']) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  if (unit === 'bytes') return `${sign}${value} bytes`;
  // Near a limit the difference shows: 3.96 MB free is below 4 MB.
  const fixed = value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
  const text = fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed;
  return `${sign}${text} ${unit}`;
}

/** A size as the config wrote it, for messages: `256 MB`, `5 % of the volume`. */
export function describeByteSize(size: ByteSize): string {
  return 'percent' in size ? `${size.percent} % of the volume` : formatBytes(size.bytes);
}
