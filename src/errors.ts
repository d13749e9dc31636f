/**
 * One family of coded errors, mapped to HTTP once at the edge (src/http).
 * Tests assert the code, never the message.
 */
export const ERROR_STATUS = {
  // ingest
  unknown_source: 404,
  payload_too_large: 413,
  /** Content-Encoding other than gzip, deflate, br (or identity). */
  unsupported_encoding: 415,
  /** Content-Encoding says gzip/deflate/br but the bytes do not decompress. */
  invalid_compression: 400,
  /** JSON must be UTF-8 (RFC 8259 §8.1). */
  invalid_utf8: 400,
  /** Arrays/objects nested deeper than MAX_JSON_DEPTH. */
  nesting_too_deep: 400,
  signature_missing: 401,
  signature_malformed: 401,
  signature_mismatch: 401,
  signature_expired: 401,
  /** A signed request received a second time (Slack requests). */
  signature_replayed: 401,
  token_missing: 401,
  token_invalid: 401,
  invalid_json: 400,
  invalid_payload: 400,
  handshake_failed: 502,
  store_unavailable: 503,
  // admin API
  unauthorized: 401,
  /** Too many wrong admin tokens from one address (src/http/admin-throttle.ts); Retry-After says when to try again. */
  too_many_attempts: 429,
  admin_disabled: 404,
  not_found: 404,
  invalid_request: 400,
  conflict: 409,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class HookrelayError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'HookrelayError';
    this.code = code;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** Start-up problems (config, templates): printed one per line, exit code 2. */
export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
