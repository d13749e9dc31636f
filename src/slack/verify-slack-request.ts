/**
 * Slack's request signing (Slack "Verifying requests from Slack"): `X-Slack-Signature` is
 * `v0=` + hex HMAC-SHA256 of `v0:<X-Slack-Request-Timestamp>:<raw body>` with the signing
 * secret. Bolt's own check refuses old timestamps only, so a request signed a year ahead, or
 * the same signed request sent twice, passed; this one refuses both.
 */
import { createHmac } from 'node:crypto';
import { HookrelayError } from '../errors.ts';
import { equalDigests } from '../sources/signature.ts';

/** Slack's window, in either direction ("more than five minutes from local time"). */
export const SLACK_TOLERANCE_MS = 5 * 60_000;

const SIGNATURE = /^v0=([0-9a-f]{64})$/;
const TIMESTAMP = /^\d{1,12}$/;

export interface VerifiedSlackRequest {
  /** The signature, remembered to refuse the same request again. */
  readonly signature: string;
  /** When it stops being acceptable anyway (timestamp + tolerance), in ms. */
  readonly expires_at: number;
}

/**
 * A pure function of the request and the clock: format first, then the window, then the
 * HMAC compared in constant time. Throws a coded HookrelayError (401) for any refusal.
 */
export function verifySlackRequest(
  headers: Readonly<Record<string, string | string[] | undefined>>,
  rawBody: Buffer,
  signingSecret: string,
  now: number,
): VerifiedSlackRequest {
  const signature = headers['x-slack-signature'];
  const timestamp = headers['x-slack-request-timestamp'];
  if (typeof signature !== 'string' || typeof timestamp !== 'string') {
    throw new HookrelayError('signature_missing', 'X-Slack-Signature and X-Slack-Request-Timestamp are required');
  }
  const hex = SIGNATURE.exec(signature)?.[1];
  if (!hex || !TIMESTAMP.test(timestamp)) {
    throw new HookrelayError('signature_malformed', 'X-Slack-Signature must be v0= and 64 hex digits; X-Slack-Request-Timestamp whole seconds');
  }
  const signedAt = Number(timestamp) * 1_000;
  if (Math.abs(now - signedAt) > SLACK_TOLERANCE_MS) {
    throw new HookrelayError('signature_expired', 'X-Slack-Request-Timestamp is more than 5 minutes from our clock (in the past or the future)');
  }
  const expected = createHmac('sha256', signingSecret).update(`v0:${timestamp}:`).update(rawBody).digest();
  if (!equalDigests(expected, Buffer.from(hex, 'hex'))) {
    throw new HookrelayError('signature_mismatch', 'the Slack signature does not match (wrong signing secret, or the body was changed)');
  }
  return { signature: hex, expires_at: signedAt + SLACK_TOLERANCE_MS };
}

/** Refuses (throws `signature_replayed`) a verified Slack request already received within its window. */
export interface ReplayGuard {
  admit(request: VerifiedSlackRequest, now: number): void | Promise<void>;
}

const replayed = (): HookrelayError => new HookrelayError('signature_replayed', 'this Slack request was already received (a replay); nothing was run');

/**
 * Signatures already seen, each kept until its timestamp leaves the window (after that the
 * window check refuses it anyway), so the set holds at most the last 10 minutes of requests.
 * In memory: one process (the SQLite store's single process). Several replicas behind one URL
 * use `SharedSeenSignatures`.
 */
export class SeenSignatures implements ReplayGuard {
  readonly #expiries = new Map<string, number>();
  readonly #capacity: number;
  #nextSweep = 0;

  constructor(capacity = 50_000) {
    this.#capacity = capacity;
  }

  /** Records a verified request; throws when the same one was seen before in its window. */
  admit(request: VerifiedSlackRequest, now: number): void {
    this.#forgetExpired(now);
    if ((this.#expiries.get(request.signature) ?? -Infinity) >= now) throw replayed();
    if (this.#expiries.size >= this.#capacity) {
      // Forgetting a live signature would let it be replayed: refuse instead (only correctly
      // signed requests get here, so filling it takes that many genuine Slack requests).
      throw new HookrelayError('store_unavailable', 'too many Slack requests in the last 5 minutes; try again shortly');
    }
    this.#expiries.set(request.signature, request.expires_at);
  }

  get size(): number {
    return this.#expiries.size;
  }

  /** At most once a second, so a full set costs one pass per second, not one per request. */
  #forgetExpired(now: number): void {
    if (now < this.#nextSweep && this.#expiries.size < this.#capacity) return;
    this.#nextSweep = now + 1_000;
    for (const [signature, expires] of this.#expiries) {
      if (expires < now) this.#expiries.delete(signature);
    }
  }
}

/**
 * The seen set in the store several replicas share (`Store.admitOnce`: one INSERT … ON CONFLICT
 * per request), so a signed request replayed to another replica is refused as well.
 */
export class SharedSeenSignatures implements ReplayGuard {
  readonly #admitOnce: (signature: string, expiresAt: number, now: number) => Promise<boolean>;

  constructor(admitOnce: (signature: string, expiresAt: number, now: number) => Promise<boolean>) {
    this.#admitOnce = admitOnce;
  }

  async admit(request: VerifiedSlackRequest, now: number): Promise<void> {
    if (!(await this.#admitOnce(request.signature, request.expires_at, now))) throw replayed();
  }
}
