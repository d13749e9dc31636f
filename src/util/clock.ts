/**
 * The one clock: everything that decides by time (dispatcher, notification stage, mutes)
 * reads `now()` and schedules through `after()`, so tests drive time instead of sleeping.
 * The server creates it (src/server.ts) and passes it to every part; nothing else in src/
 * reads the machine's time (eslint.config.js enforces it).
 */
export interface Clock {
  now(): number;
  /** Runs `task` once `ms` have passed; the returned function cancels it. Never keeps the process alive. */
  after(ms: number, task: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  after(ms, task) {
    const timer = setTimeout(task, Math.max(0, ms));
    timer.unref();
    return () => clearTimeout(timer);
  },
};

/** Runs `task` every `ms` on the clock (the next run is scheduled after this one); the returned function stops it. */
export function every(clock: Clock, ms: number, task: () => void): () => void {
  let cancel: (() => void) | null = null;
  let stopped = false;
  const run = (): void => {
    if (stopped) return;
    task();
    if (!stopped) cancel = clock.after(ms, run);
  };
  cancel = clock.after(ms, run);
  return () => {
    stopped = true;
    cancel?.();
  };
}

/**
 * The machine's own time, for I/O only: a deadline on a socket or a request in flight, a
 * reconnect's backoff, the SQLite writer thread's commit batching, and latencies measured for
 * logs and metrics. Time a test drives does not pass while bytes travel, so these never follow
 * the Clock — and for the same reason they never decide what is sent, or when.
 */
export const realTime = {
  /**
   * Runs `task` after `ms` of real time; the returned function cancels it. It keeps the process
   * alive unless `unref` (an attempt in flight keeps it alive anyway through its socket).
   */
  after(ms: number, task: () => void, options: { readonly unref?: boolean } = {}): () => void {
    const timer = setTimeout(task, Math.max(0, ms));
    if (options.unref) timer.unref();
    return () => clearTimeout(timer);
  },
  /** A stopwatch started now: each call answers the real milliseconds since (fractional). */
  stopwatch(): () => number {
    const started = performance.now();
    return () => performance.now() - started;
  },
};
