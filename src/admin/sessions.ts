import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** A message shown once on the next page (Post/Redirect/Get). */
export interface Flash {
  readonly kind: 'ok' | 'error';
  readonly text: string;
}

export interface AdminSession {
  readonly id: string;
  /** Sent back in a hidden field of every form; a POST without it is refused (CSRF). */
  readonly csrf: string;
  readonly expires: number;
  flash: Flash | null;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Constant-time equality of two secrets of any length (hashing first makes the lengths equal). */
export function sameSecret(given: string, expected: string): boolean {
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Signed-in browsers, in memory: a session is worth only as much as the admin token that made
 * it, so it lives no longer than `ttlMs` and ends at sign-out. Memory is bounded: beyond
 * `max` sessions the oldest is dropped (a Map keeps insertion order). Sessions are per process;
 * several replicas behind one address need sticky sessions.
 */
export class AdminSessions {
  readonly #sessions = new Map<string, AdminSession>();
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;

  constructor(options: { ttlMs: number; max: number; now: () => number }) {
    this.#ttlMs = options.ttlMs;
    this.#max = options.max;
    this.#now = options.now;
  }

  get ttlMs(): number {
    return this.#ttlMs;
  }

  create(): AdminSession {
    const now = this.#now();
    for (const [id, session] of this.#sessions) if (session.expires <= now) this.#sessions.delete(id);
    while (this.#sessions.size >= this.#max) this.#sessions.delete(this.#sessions.keys().next().value as string);
    const session: AdminSession = {
      id: randomBytes(32).toString('base64url'),
      csrf: randomBytes(32).toString('base64url'),
      expires: now + this.#ttlMs,
      flash: null,
    };
    this.#sessions.set(session.id, session);
    return session;
  }

  /** The live session with this id, or null (unknown, signed out or expired). */
  get(id: string | undefined): AdminSession | null {
    if (!id) return null;
    const session = this.#sessions.get(id);
    if (!session) return null;
    if (session.expires <= this.#now()) {
      this.#sessions.delete(id);
      return null;
    }
    return session;
  }

  delete(id: string): void {
    this.#sessions.delete(id);
  }
}
