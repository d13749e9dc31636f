/**
 * The one clock: everything that decides by time (dispatcher, notification stage, mutes)
 * reads `now()` and schedules through `after()`, so tests drive time instead of sleeping.
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
