/**
 * A lane's slots (scheduler.ts): held deliveries start through it, at most `concurrency` at once,
 * the highest priority first and, within one priority, in the order they were added; nothing
 * starts while it is paused (the rate gate's hold). It does what the lane used of p-queue, which
 * builds per task an options copy, an id, a symbol, a promise, a record of the running task and
 * several events: ~4 KB and a few µs per delivery on the send path (issue 20).
 *
 * A task starts synchronously in `add` when a slot is free, and each start is checked against the
 * pause on its own (the rate gate pauses from inside the task it counts): as p-queue did.
 */
export class SlotQueue<T> {
  readonly #concurrency: number;
  readonly #run: (item: T) => Promise<void>;
  /** Waiting items and their priorities, highest priority first (parallel arrays: no entry objects). */
  #items: T[] = [];
  #priorities: number[] = [];
  #running = 0;
  #paused = false;
  #idle: Array<() => void> = [];
  readonly #done = (): void => {
    this.#running -= 1;
    this.#startNext();
    this.#settleIdle();
  };

  constructor(concurrency: number, run: (item: T) => Promise<void>) {
    this.#concurrency = concurrency;
    this.#run = run;
  }

  /** Waiting to start. */
  get size(): number {
    return this.#items.length;
  }

  /** Started and not settled. */
  get pending(): number {
    return this.#running;
  }

  add(item: T, priority: number): void {
    const priorities = this.#priorities;
    // After every waiting item of the same or a higher priority.
    let low = 0;
    let high = priorities.length;
    if (high === 0 || priorities[high - 1]! >= priority) low = high;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (priorities[middle]! >= priority) low = middle + 1;
      else high = middle;
    }
    if (low === priorities.length) {
      this.#items.push(item);
      priorities.push(priority);
    } else {
      this.#items.splice(low, 0, item);
      priorities.splice(low, 0, priority);
    }
    this.#startNext();
  }

  pause(): void {
    this.#paused = true;
  }

  /** Starts what the slots allow (once the pause is lifted). */
  start(): void {
    if (!this.#paused) return;
    this.#paused = false;
    while (this.#startNext());
  }

  /** Drops everything still waiting (started tasks run on). */
  clear(): void {
    this.#items = [];
    this.#priorities = [];
    this.#settleIdle();
  }

  /** Settles when nothing waits and nothing runs. */
  onIdle(): Promise<void> {
    if (this.#running === 0 && this.#items.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #startNext(): boolean {
    if (this.#paused || this.#running >= this.#concurrency || this.#items.length === 0) return false;
    const item = this.#items.shift()!;
    this.#priorities.shift();
    this.#running += 1;
    // A task that fails rejects the promise `finally` returns, unhandled, as p-queue's `add` did
    // (the lane's task, AttemptRunner.attempt, catches everything).
    void this.#run(item).finally(this.#done);
    return true;
  }

  #settleIdle(): void {
    if (this.#idle.length === 0 || this.#running > 0 || this.#items.length > 0) return;
    const waiting = this.#idle;
    this.#idle = [];
    for (const resolve of waiting) resolve();
  }
}
