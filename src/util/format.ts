/**
 * Numbers and durations for people, shared by source summaries, templates and Slack replies.
 * Written out rather than through Intl.NumberFormat: this runs several times per event on the
 * ingest path, and Intl's formatting costs microseconds per call (seen in npm run bench).
 */

/** `24,000`, `8.4`; `maxDecimals` digits at most (default 3), or exactly `decimals`. */
export function formatNumber(value: number, options: { readonly decimals?: number; readonly maxDecimals?: number } = {}): string {
  if (!Number.isFinite(value)) return String(value);
  // toFixed switches to exponent notation from 1e21: leave those rare giants to Intl.
  if (Math.abs(value) >= 1e21) return value.toLocaleString('en-US');
  const exact = options.decimals === undefined ? undefined : Math.min(20, Math.max(0, Math.trunc(options.decimals)));
  let text = Math.abs(value).toFixed(exact ?? Math.min(20, Math.max(0, options.maxDecimals ?? 3)));
  if (exact === undefined && text.includes('.')) text = withoutTrailingZeros(text);
  const point = text.indexOf('.');
  const whole = point === -1 ? text : text.slice(0, point);
  const grouped = whole.length > 3 ? groupThousands(whole) : whole;
  const sign = value < 0 && /[1-9]/.test(text) ? '-' : '';
  return point === -1 ? `${sign}${grouped}` : `${sign}${grouped}${text.slice(point)}`;
}

/** `8.40` → `8.4`, `3.000` → `3` (the text has a decimal point). */
function withoutTrailingZeros(text: string): string {
  let end = text.length;
  while (text.charCodeAt(end - 1) === 0x30) end -= 1;
  if (text.charCodeAt(end - 1) === 0x2e) end -= 1;
  return text.slice(0, end);
}

/** `24000` → `24,000`: a comma before every third digit from the right. */
function groupThousands(digits: string): string {
  const head = digits.length % 3 || 3;
  let grouped = digits.slice(0, head);
  for (let at = head; at < digits.length; at += 3) grouped += `,${digits.slice(at, at + 3)}`;
  return grouped;
}

const DURATION_UNITS: readonly [string, number][] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];

/** Milliseconds as the two largest units: `450ms`, `2m 30s`, `1h`, `3d 4h`. */
export function formatDuration(ms: number): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.round(Math.abs(ms));
  if (rest < 1000) return `${sign}${rest}ms`;
  const parts: string[] = [];
  for (const [unit, size] of DURATION_UNITS) {
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0 || parts.length > 0) parts.push(`${count}${unit}`);
    if (parts.length === 2) break;
  }
  return sign + parts.filter((part) => !/^0\D/.test(part)).join(' ');
}

/**
 * Acronyms that event types and field names carry in lower case (`qos.`, `_api_`, `cpu_`),
 * written the way people write them. Keyed by the lower-case word.
 */
const ACRONYMS: ReadonlyMap<string, string> = new Map(
  [
    'API', 'APIs', 'AWS', 'CDN', 'CPU', 'CPUs', 'CSV', 'DB', 'DBs', 'DNS', 'GCP', 'GPU', 'HTTP', 'HTTPS', 'ID', 'IDs', 'IO', 'IP', 'IPs',
    'JSON', 'JWT', 'OOM', 'QoS', 'QoE', 'RAM', 'SDK', 'SLA', 'SLAs', 'SLO', 'SLOs', 'SMS', 'SMTP', 'SQL', 'SSH', 'SSL', 'SSO', 'TCP', 'TLS',
    'TTL', 'UDP', 'UI', 'URL', 'URLs', 'VM', 'VMs', 'VPN',
  ].map((acronym) => [acronym.toLowerCase(), acronym]),
);

/**
 * Sentences made from the texts seen last: a sender repeats a few event types, and humanize runs
 * for every event (its title). Bounded: short texts only, emptied when full, so odd types cannot grow it.
 */
const humanized = new Map<string, string>();
const HUMANIZED_KEPT = 256;
const HUMANIZED_LENGTH = 100;

/** `qos.rebuffer_spike` → `QoS rebuffer spike`; `HTTP_error` and `HTTPError` → `HTTP error`; `api_latency` → `API latency`. */
export function humanize(text: string): string {
  if (text.length > HUMANIZED_LENGTH) return humanizeNow(text);
  let sentence = humanized.get(text);
  if (sentence === undefined) {
    if (humanized.size >= HUMANIZED_KEPT) humanized.clear();
    humanized.set(text, (sentence = humanizeNow(text)));
  }
  return sentence;
}

function humanizeNow(text: string): string {
  const words = text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    // `HTTPError` → `HTTP Error`, but a plural acronym (`APIs`) stays one word.
    .replace(/([A-Z]+)([A-Z][a-z]+)/g, (whole: string, caps: string, word: string) => (ACRONYMS.has(whole.toLowerCase()) ? whole : `${caps} ${word}`))
    .split(/[\s._-]+/)
    .filter((word) => word !== '')
    .map((word) => ACRONYMS.get(word.toLowerCase()) ?? (word === word.toUpperCase() ? word : word.toLowerCase()));
  const sentence = words.join(' ');
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}
