import type { Clock } from '../../src/util/clock.ts';
import { WAIT_MS } from './wait.ts';

/** A clock that moves only when a test says so; due tasks run in time order as it advances. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #tasks = new Map<number, { at: number; task: () => void }>();

  constructor(start = Date.parse('2026-11-29T10:00:00Z')) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, task: () => void): () => void {
    const id = this.#seq++;
    this.#tasks.set(id, { at: this.#now + Math.max(0, ms), task });
    return () => this.#tasks.delete(id);
  }

  /** Moves time forward, running each task that falls due (and letting the work it starts settle). */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    for (;;) {
      const next = [...this.#tasks.entries()].filter(([, t]) => t.at <= until).sort((a, b) => a[1].at - b[1].at || a[0] - b[0])[0];
      if (!next) break;
      this.#tasks.delete(next[0]);
      this.#now = Math.max(this.#now, next[1].at);
      next[1].task();
      await settle();
    }
    this.#now = until;
    await settle();
  }

  /**
   * Moves time forward at once, as a machine resumed from sleep sees it: each task due by then
   * runs once, late, in time order, and what it schedules counts from the new time (a task that
   * repeats every 5 s runs once over a 30-day jump, not half a million times). For spans of
   * hours and days; `advance` when the order of tasks within the span is what a test is about.
   */
  async jump(ms: number): Promise<void> {
    this.#now += ms;
    for (;;) {
      const due = [...this.#tasks.entries()].filter(([, t]) => t.at <= this.#now).sort((a, b) => a[1].at - b[1].at || a[0] - b[0]);
      if (due.length === 0) break;
      for (const [id, { task }] of due) {
        if (!this.#tasks.delete(id)) continue;
        task();
      }
      await settle();
    }
    await settle();
  }
}

/** Lets promises, the store's writer thread and loopback sockets catch up (real I/O, no clock involved). */
export async function settle(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** Waits (bounded, real time) until `check` holds: for the outcome of real I/O, never to prove a timing. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
