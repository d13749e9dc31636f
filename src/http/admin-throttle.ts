import { createRequire } from 'node:module';
import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import type * as RateLimiterFlexible from 'rate-limiter-flexible';
import type { RateLimiterMemory } from 'rate-limiter-flexible';

/** The library, loaded with the first throttle: a relay without admin pages never loads it (memory). */
const rateLimiterFlexible = (): typeof RateLimiterFlexible => createRequire(import.meta.url)('rate-limiter-flexible') as typeof RateLimiterFlexible;

/** Wrong admin tokens one client address may send per window before it is refused… */
export const ADMIN_FAILURES_PER_WINDOW = 10;
export const ADMIN_FAILURE_WINDOW_MS = 60_000;
/** …and for how long it is refused then (every attempt, right or wrong, gets 429 meanwhile). */
export const ADMIN_BLOCK_MS = 5 * 60_000;

export interface AdminThrottleOptions {
  readonly failuresPerWindow?: number;
  readonly windowMs?: number;
  readonly blockMs?: number;
  /** Says once per block which address went over the limit. */
  readonly logger?: Logger;
}

/**
 * The client an attempt is counted against: an IPv4 address, or an IPv6 /64 (one host usually
 * holds a whole /64 and could otherwise take a fresh address for every guess). An IPv4-mapped
 * IPv6 address (`::ffff:10.0.0.1`, Node's form on a dual-stack socket) is its IPv4 address.
 */
export function clientKey(address: string | undefined): string {
  if (!address) return 'unknown';
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  return `${parsed.toNormalizedString().split(':').slice(0, 4).join(':')}::/64`;
}

const seconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1_000));

/**
 * Throttles admin token guessing per client address (the admin API's Bearer token and the
 * sign-in form count together): after `failuresPerWindow` wrong tokens within `windowMs`, the
 * address gets 429 for `blockMs`, **whatever token it sends**. Letting the right token through a
 * block would tell a guesser which guess was right (200 among the 429s), so the throttle would
 * not slow guessing at all; the cost is that someone sharing the guesser's address (NAT, a proxy)
 * waits out the block too. Other addresses are never affected, and signed-in browser sessions
 * keep working.
 *
 * The counts live in this process (rate-limiter-flexible's `RateLimiterMemory`): each replica
 * counts its own. That library reads `Date.now()` and has no clock to inject.
 */
export class AdminThrottle {
  readonly #library: typeof RateLimiterFlexible;
  readonly #limiter: RateLimiterMemory;
  readonly #failures: number;
  readonly #windowS: number;
  readonly #logger: Logger | undefined;

  constructor(options: AdminThrottleOptions = {}) {
    this.#failures = options.failuresPerWindow ?? ADMIN_FAILURES_PER_WINDOW;
    this.#windowS = (options.windowMs ?? ADMIN_FAILURE_WINDOW_MS) / 1_000;
    this.#logger = options.logger;
    this.#library = rateLimiterFlexible();
    this.#limiter = new this.#library.RateLimiterMemory({
      keyPrefix: 'admin-token',
      points: this.#failures,
      duration: this.#windowS,
      blockDuration: (options.blockMs ?? ADMIN_BLOCK_MS) / 1_000,
    });
  }

  /** Seconds until `address` may try again, or null when it may try now. Asked before any token is compared. */
  async blocked(address: string | undefined): Promise<number | null> {
    const state = await this.#limiter.get(clientKey(address));
    if (state === null || state.consumedPoints <= this.#failures || state.msBeforeNext <= 0) return null;
    return seconds(state.msBeforeNext);
  }

  /** Counts a wrong token from `address`: seconds to wait when this one went over the limit, else null. */
  async failed(address: string | undefined): Promise<number | null> {
    const key = clientKey(address);
    try {
      await this.#limiter.consume(key);
      return null;
    } catch (outcome) {
      // The library rejects with a RateLimiterRes when the points are spent, with an Error otherwise.
      if (!(outcome instanceof this.#library.RateLimiterRes)) throw outcome;
      const wait = seconds(outcome.msBeforeNext);
      this.#logger?.warn(
        { address: key, failures: this.#failures, retry_after_s: wait },
        `admin token guessing throttled: more than ${this.#failures} wrong admin tokens from ${key} within ${this.#windowS} s; every attempt from it gets 429 for ${wait} s`,
      );
      return wait;
    }
  }
}
