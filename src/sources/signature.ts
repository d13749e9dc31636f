/**
 * What several sender presets share: HMAC over raw bytes, format checks before constant-time
 * comparison, timestamp parsing and the tolerance window, header and token helpers.
 *
 * Every verifier here is pure: request bytes, configured secrets and an injected clock in,
 * a Verdict out (STYLE.md "Verifiers"; octokit/webhooks-methods.js `src/node/verify.ts`).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { HookrelayError, type ErrorCode } from '../errors.ts';
import { durationSchema } from '../util/schemas.ts';
import { formatDuration } from '../util/format.ts';
import type { InboundRequest, Verdict } from './source.ts';

export const HMAC_ALGORITHMS = ['sha1', 'sha256', 'sha512'] as const;
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number];

/** Digest length in bytes: a signature of any other length is malformed, never compared. */
export const DIGEST_BYTES: Readonly<Record<HmacAlgorithm, number>> = { sha1: 20, sha256: 32, sha512: 64 };

/** Five minutes, the window Stripe and the Standard Webhooks libraries use by default. */
export const DEFAULT_TOLERANCE_MS = 5 * 60_000;

/** `tolerance: 5m`: how far a signed timestamp may drift from our clock, in either direction. */
export const toleranceSchema = durationSchema.default(DEFAULT_TOLERANCE_MS);

export const ACCEPTED: Verdict = { ok: true };

export function rejected(code: ErrorCode, message: string): Verdict {
  return { ok: false, error: new HookrelayError(code, message) };
}

/** HMAC of the parts concatenated, fed as bytes: the raw body is never turned into a string. */
export function hmacDigest(algorithm: HmacAlgorithm, key: string | Buffer, parts: readonly (string | Buffer)[]): Buffer {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** `<timestamp>.<body>`: the signed content of StatusPulse (003), StatusSentry and the generic preset. */
export function timestampedContent(timestamp: string, rawBody: Buffer): (string | Buffer)[] {
  return [`${timestamp}.`, rawBody];
}

/**
 * Constant time for buffers of equal length; false (without comparing) when lengths differ.
 * Callers check the format first, so a length difference never depends on the secret.
 */
export function equalDigests(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * True when any received signature equals the digest computed with any configured secret
 * (rotation: several secrets on our side, several signatures on the sender's).
 * Every pair is compared, so the time taken does not tell which secret matched.
 */
export function anySignatureMatches<Key>(
  keys: readonly Key[],
  received: readonly Buffer[],
  digestFor: (key: Key) => Buffer,
): boolean {
  let matched = false;
  for (const key of keys) {
    const expected = digestFor(key);
    for (const signature of received) {
      if (equalDigests(expected, signature)) matched = true;
    }
  }
  return matched;
}

/** A header by name (any case); an empty or whitespace-only value counts as missing. */
export function readHeader(request: InboundRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

const HEX = /^[0-9a-f]+$/i;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** `text` as a digest of exactly `bytes` bytes in hex (either case), or null when it is not one. */
export function decodeHexDigest(text: string, bytes: number): Buffer | null {
  if (text.length !== bytes * 2 || !HEX.test(text)) return null;
  return Buffer.from(text, 'hex');
}

/** `text` as a digest of exactly `bytes` bytes in standard base64 (padding optional), or null. */
export function decodeBase64Digest(text: string, bytes: number): Buffer | null {
  if (!BASE64.test(text)) return null;
  const unpadded = text.replace(/=+$/, '');
  if (unpadded.length !== Math.ceil((bytes * 4) / 3)) return null;
  const decoded = Buffer.from(unpadded, 'base64');
  return decoded.length === bytes ? decoded : null;
}

/** Length of a padded base64 digest, for messages ("44 base64 characters"). */
export function base64Length(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

const UNIX_SECONDS = /^\d{1,12}$/;
const UNIX_NUMBER = /^\d{1,16}(?:\.\d+)?$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;
/** Below this a number is seconds (1e11 s is the year 5138); at or above it, milliseconds. */
const MILLISECONDS_FROM = 1e11;

/** Whole unix seconds, as StatusSentry's `t=` and Standard Webhooks' `webhook-timestamp` carry; ms or null. */
export function parseUnixSeconds(text: string): number | null {
  return UNIX_SECONDS.test(text) ? Number(text) * 1_000 : null;
}

/**
 * A timestamp in any form a sender uses: unix seconds, unix milliseconds or ISO 8601 with a zone.
 * StatusPulse's documents name the header but not its format, so all three are accepted.
 * Returns epoch milliseconds, or null when the text is none of these.
 */
export function parseFlexibleTimestamp(text: string): number | null {
  if (UNIX_NUMBER.test(text)) {
    const value = Number(text);
    return value >= MILLISECONDS_FROM ? Math.round(value) : Math.round(value * 1_000);
  }
  if (ISO_8601.test(text)) {
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

/**
 * The tolerance window, in both directions: too old is a replay, too far ahead is a wrong clock
 * or a request prepared for later replay (Standard Webhooks `verifyTimestamp`).
 */
export function checkTolerance(
  header: string,
  timestampMs: number,
  nowMs: number,
  toleranceMs: number,
): Verdict {
  const drift = nowMs - timestampMs;
  if (drift > toleranceMs) {
    return rejected(
      'signature_expired',
      `${header} is ${formatDuration(drift)} old; at most ${formatDuration(toleranceMs)} is allowed ` +
        '(a replayed request, or the sender\'s clock is behind)',
    );
  }
  if (-drift > toleranceMs) {
    return rejected(
      'signature_expired',
      `${header} is ${formatDuration(-drift)} in the future; at most ${formatDuration(toleranceMs)} is allowed ` +
        '(the sender\'s clock is ahead)',
    );
  }
  return ACCEPTED;
}

/** Digest of a token, so tokens of any length compare in constant time as equal-length buffers. */
function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Whether `given` equals any configured token, compared in constant time. */
export function tokenMatches(tokens: readonly string[], given: string): boolean {
  const received = [tokenDigest(given)];
  return anySignatureMatches(tokens, received, tokenDigest);
}

/**
 * One signature in one header, optionally over `<timestamp>.<body>`: the shape Tapemetric,
 * StatusPulse (both documents) and the generic `hmac` preset share, so each is configuration.
 */
export interface HeaderSignatureScheme {
  /** As the sender's documents spell it, for messages and `sign()`; looked up in any case. */
  readonly header: string;
  /** Literal text before the digest, e.g. `sha256=`; may be empty. */
  readonly prefix: string;
  readonly encoding: 'hex' | 'base64';
  readonly algorithm: HmacAlgorithm;
  /** When set, the signed content is `<timestamp header value>.<body>` and the timestamp must be fresh. */
  readonly timestamp?: { readonly header: string; readonly toleranceMs: number } | undefined;
  /** Added to a mismatch message: the likely cause for this sender. */
  readonly mismatchHint?: string | undefined;
}

/** `X-Signature must be "sha256=" followed by 64 hex characters`: the expected format, never a value. */
export function describeSignatureFormat(scheme: HeaderSignatureScheme): string {
  const bytes = DIGEST_BYTES[scheme.algorithm];
  const digest =
    scheme.encoding === 'hex'
      ? `${bytes * 2} hex characters`
      : `${base64Length(bytes)} base64 characters`;
  const what = `(HMAC-${scheme.algorithm.toUpperCase()})`;
  return scheme.prefix === ''
    ? `${scheme.header} must be ${digest} ${what}`
    : `${scheme.header} must be "${scheme.prefix}" followed by ${digest} ${what}`;
}

function decodeSignature(scheme: HeaderSignatureScheme, value: string): Buffer | null {
  if (!value.startsWith(scheme.prefix)) return null;
  const digest = value.slice(scheme.prefix.length);
  const bytes = DIGEST_BYTES[scheme.algorithm];
  return scheme.encoding === 'hex' ? decodeHexDigest(digest, bytes) : decodeBase64Digest(digest, bytes);
}

/** Verifies a request signed per `scheme` with any of `secrets`: format first, then freshness, then the digest. */
export function verifyHeaderSignature(
  scheme: HeaderSignatureScheme,
  secrets: readonly string[],
  request: InboundRequest,
  nowMs: number,
): Verdict {
  const value = readHeader(request, scheme.header);
  if (value === undefined) {
    return rejected('signature_missing', `the ${scheme.header} header is required`);
  }
  const signature = decodeSignature(scheme, value);
  if (signature === null) return rejected('signature_malformed', describeSignatureFormat(scheme));

  let content: (string | Buffer)[] = [request.rawBody];
  if (scheme.timestamp) {
    const { header, toleranceMs } = scheme.timestamp;
    const timestamp = readHeader(request, header);
    if (timestamp === undefined) {
      return rejected(
        'signature_missing',
        `the ${header} header is required: ${scheme.header} signs "<${header}>.<body>"`,
      );
    }
    const timestampMs = parseFlexibleTimestamp(timestamp);
    if (timestampMs === null) {
      return rejected(
        'signature_malformed',
        `${header} must be unix seconds, unix milliseconds or an ISO 8601 time with a zone`,
      );
    }
    const fresh = checkTolerance(header, timestampMs, nowMs, toleranceMs);
    if (!fresh.ok) return fresh;
    content = timestampedContent(timestamp, request.rawBody);
  }

  const matched = anySignatureMatches(secrets, [signature], (secret) =>
    hmacDigest(scheme.algorithm, secret, content),
  );
  if (matched) return ACCEPTED;
  const signed = scheme.timestamp ? `"<${scheme.timestamp.header}>.<body>"` : 'the raw body';
  return rejected(
    'signature_mismatch',
    `${scheme.header} does not match an HMAC-${scheme.algorithm.toUpperCase()} of ${signed} ` +
      `with any configured secret${scheme.mismatchHint ? `; ${scheme.mismatchHint}` : ''}`,
  );
}

/** The headers a sender following `scheme` sends: `hookrelay sign` and benchmarks. Timestamps in unix seconds. */
export function signHeaderSignature(
  scheme: HeaderSignatureScheme,
  secret: string,
  rawBody: Buffer,
  nowMs: number,
): Record<string, string> {
  const headers: Record<string, string> = {};
  let content: (string | Buffer)[] = [rawBody];
  if (scheme.timestamp) {
    const timestamp = String(Math.floor(nowMs / 1_000));
    headers[scheme.timestamp.header] = timestamp;
    content = timestampedContent(timestamp, rawBody);
  }
  const digest = hmacDigest(scheme.algorithm, secret, content).toString(scheme.encoding);
  headers[scheme.header] = `${scheme.prefix}${digest}`;
  return headers;
}

/** `sign()` uses the first configured secret or token (the schemas require at least one). */
export function firstOf(list: readonly string[], what: string): string {
  const [first] = list;
  if (first === undefined) throw new Error(`no ${what} configured`);
  return first;
}

/** A `t=<unix seconds>,v1=<hex>[,v1=…]` header (Stripe, StatusSentry): its timestamp and signatures. */
export interface TimestampedSignatures {
  readonly timestamp: string;
  readonly timestampMs: number;
  readonly signatures: Buffer[];
}

/**
 * Parses a `t=…,v1=…,v1=…` header, or says what is wrong with it (after `format`, the header's
 * documented shape). Several `v1=` entries are allowed (secret rotation); other schemes (`v0=`,
 * a future `v2=`) are not ours to check and are ignored.
 */
export function parseTimestampedSignatures(value: string, format: string): TimestampedSignatures | string {
  let timestamp: string | undefined;
  const signatures: Buffer[] = [];
  for (const entry of value.split(',')) {
    const separator = entry.indexOf('=');
    if (separator <= 0) return `${format}; "${entry.trim().slice(0, 12)}" is not a key=value entry`;
    const key = entry.slice(0, separator).trim();
    const text = entry.slice(separator + 1).trim();
    if (key === 't') {
      if (timestamp !== undefined) return `${format}; t= appears more than once`;
      timestamp = text;
    } else if (key === 'v1') {
      const digest = decodeHexDigest(text, 32);
      if (digest === null) return `${format}; a v1= entry is not 64 hex characters`;
      signatures.push(digest);
    }
  }
  if (timestamp === undefined) return `${format}; t= is missing`;
  const timestampMs = parseUnixSeconds(timestamp);
  if (timestampMs === null) return `${format}; t= must be whole unix seconds`;
  if (signatures.length === 0) return `${format}; no v1= entry`;
  return { timestamp, timestampMs, signatures };
}

/** The headers of a `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` sender (Stripe, StatusSentry), signed with the first secret. */
export function signTimestampedSignatures(secrets: readonly string[], header: string, rawBody: Buffer, nowMs: number): Record<string, string> {
  const t = String(Math.floor(nowMs / 1_000));
  const digest = hmacDigest('sha256', firstOf(secrets, 'secret'), timestampedContent(t, rawBody));
  return { 'Content-Type': 'application/json', [header]: `t=${t},v1=${digest.toString('hex')}` };
}
