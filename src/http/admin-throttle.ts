import ipaddr from 'ipaddr.js';
import type { Logger } from 'pino';
import { systemClock } from '../util/clock.ts';
import type { Clock } from '../util/clock.ts';

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
  /** The server's clock: windows and blocks run on it (default: the system clock). */
  readonly clock?: Clock;
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

/** Expired counts are swept once a window has passed since the last sweep, or once the map has grown past this (and past twice its size at the last sweep). */
const SWEEP_FROM = 1_024;

/** One client's wrong tokens: counted until the window ends, or, once over the limit, until its block ends. */
interface Count {
  failures: number;
  until: number;
}

/**
 * Throttles admin token guessing per client address (the admin API's Bearer token and the
 * sign-in form count together): after `failuresPerWindow` wrong tokens within `windowMs`, the
 * address gets 429 for `blockMs`, **whatever token it sends**. Letting the right token through a
 * block would tell a guesser which guess was right (200 among the 429s), so the throttle would
 * not slow guessing at all; the cost is that someone sharing the guesser's address (NAT, a proxy)
 * waits out the block too. Other addresses are never affected, and signed-in browser sessions
 * keep working.
 *
 * The counts live in this process (each replica counts its own), on the server's clock: a
 * window starts with an address's first wrong token; the one over the limit starts the block,
 * which later attempts do not extend (as rate-limiter-flexible's `RateLimiterMemory`, which this
 * replaces, counted: that library reads the machine's time and has no clock to inject). Memory
 * is bounded by the addresses seen within a window or a block: expired counts are swept.
 */
export class AdminThrottle {
  readonly #counts = new Map<string, Count>();
  readonly #failures: number;
  readonly #windowMs: number;
  readonly #blockMs: number;
  readonly #logger: Logger | undefined;
  readonly #clock: Clock;
  #sweepAt = SWEEP_FROM;
  #nextSweep = Number.NEGATIVE_INFINITY;

  constructor(options: AdminThrottleOptions = {}) {
    this.#failures = options.failuresPerWindow ?? ADMIN_FAILURES_PER_WINDOW;
    this.#windowMs = options.windowMs ?? ADMIN_FAILURE_WINDOW_MS;
    this.#blockMs = options.blockMs ?? ADMIN_BLOCK_MS;
    this.#logger = options.logger;
    this.#clock = options.clock ?? systemClock;
  }

  /** Addresses whose count is kept (running, or expired and not swept yet): what the throttle holds in memory. */
  get counted(): number {
    return this.#counts.size;
  }

  /** Seconds until `address` may try again, or null when it may try now. Asked before any token is compared. */
  async blocked(address: string | undefined): Promise<number | null> {
    const now = this.#clock.now();
    const count = this.#current(clientKey(address), now);
    if (count === null || count.failures <= this.#failures) return null;
    return seconds(count.until - now);
  }

  /** Counts a wrong token from `address`: seconds to wait when this one went over the limit, else null. */
  async failed(address: string | undefined): Promise<number | null> {
    const key = clientKey(address);
    const now = this.#clock.now();
    this.#sweep(now);
    const count = this.#current(key, now) ?? { failures: 0, until: now + this.#windowMs };
    count.failures += 1;
    this.#counts.set(key, count);
    if (count.failures <= this.#failures) return null;
    if (count.failures === this.#failures + 1) count.until = now + this.#blockMs;
    const wait = seconds(count.until - now);
    this.#logger?.warn(
      { address: key, failures: this.#failures, retry_after_s: wait },
      `admin token guessing throttled: more than ${this.#failures} wrong admin tokens from ${key} within ${this.#windowMs / 1_000} s; every attempt from it gets 429 for ${wait} s`,
    );
    return wait;
  }

  /** The address's count, or null when it has none still running. */
  #current(key: string, now: number): Count | null {
    const count = this.#counts.get(key);
    if (count === undefined) return null;
    if (count.until > now) return count;
    this.#counts.delete(key);
    return null;
  }

  /**
   * Drops expired counts at most once a window, or sooner once the map has doubled since the last
   * sweep (amortised: a constant cost per wrong token, and memory within twice the live counts).
   */
  #sweep(now: number): void {
    if (this.#counts.size < this.#sweepAt && now < this.#nextSweep) return;
    for (const [key, count] of this.#counts) if (count.until <= now) this.#counts.delete(key);
    this.#sweepAt = Math.max(SWEEP_FROM, this.#counts.size * 2);
    this.#nextSweep = now + this.#windowMs;
  }
}
