import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { RateGate } from '../../src/dispatch/rate-gate.ts';
import type { Rate } from '../../src/dispatch/rate-gate.ts';
import type { RateGrant, SharedRateLimit } from '../../src/store/shared-rate-limit.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { ManualClock } from '../support/clock.ts';

/** The rate gate on its own: a queue that only says whether it may start, on a clock the test drives. */
class Queue {
  running = true;
  pause(): void {
    this.running = false;
  }
  start(): void {
    this.running = true;
  }
}

/** A shared budget whose answers the test scripts; it records what it was asked. */
class Budget implements SharedRateLimit {
  readonly answers: Array<RateGrant | Error> = [];
  readonly takes: string[] = [];
  readonly pauses: Array<{ destination: string; ms: number }> = [];
  readonly clock: ManualClock | undefined;
  /** Thrown by pause() (the database away). */
  pauseError: Error | null = null;
  constructor(clock?: ManualClock) {
    this.clock = clock;
  }
  async take(destination: string): Promise<RateGrant> {
    this.takes.push(destination);
    const answer = this.answers.shift() ?? { granted: true };
    if (answer instanceof Error) throw answer;
    return answer;
  }
  async pause(destination: string, _rate: Rate, ms: number): Promise<void> {
    if (this.pauseError) throw this.pauseError;
    this.pauses.push({ destination, ms });
  }
  async close(): Promise<void> {}
}

let clock: ManualClock;
let queue: Queue;

beforeEach(() => {
  clock = new ManualClock();
  queue = new Queue();
});

function gate(rate: Rate | null, shared?: SharedRateLimit, logger = silentLogger()): RateGate {
  return new RateGate({ destination: 'slack', rate, clock, logger, queue, shared });
}

/** Whether `promise` has settled yet (read after the clock moved: ManualClock lets settled work run). */
function watched<T>(promise: Promise<T>): { readonly promise: Promise<T>; settled: boolean } {
  const watch = { promise, settled: false };
  void promise.finally(() => (watch.settled = true));
  return watch;
}

describe('rate gate: the local window', () => {
  it('2 per second: the second start closes the window until the first leaves it, a second later on the clock', async () => {
    const rate = gate({ max: 2, per_ms: 1_000 });
    rate.countStart();
    expect(queue.running).toBe(true);
    await clock.advance(300);
    rate.countStart();
    expect(queue.running).toBe(false);
    await clock.advance(699);
    expect(queue.running).toBe(false);
    await clock.advance(1);
    expect(queue.running).toBe(true);
    // The window holds the last two starts: the next one closes it until the second leaves it.
    rate.countStart();
    expect(queue.running).toBe(false);
    await clock.advance(299);
    expect(queue.running).toBe(false);
    await clock.advance(1);
    expect(queue.running).toBe(true);
  });

  it('without a rate, or with a shared budget (it counts this process too), starts are never held here', () => {
    for (const rate of [gate(null), gate({ max: 1, per_ms: 60_000 }, new Budget())]) {
      for (let i = 0; i < 10; i++) rate.countStart();
      expect(queue.running).toBe(true);
    }
  });
});

describe('rate gate: too many requests', () => {
  it("holds every start until the destination's time, even when the window reopens sooner", async () => {
    const rate = gate({ max: 1, per_ms: 1_000 });
    rate.countStart();
    rate.tooManyRequests(5_000);
    expect(rate.paused).toBe(true);
    await clock.advance(4_999);
    expect(queue.running).toBe(false);
    await clock.advance(1);
    expect(queue.running).toBe(true);
    expect(rate.paused).toBe(false);
  });

  it('a second answer replaces the first pause', async () => {
    const rate = gate(null);
    rate.tooManyRequests(5_000);
    await clock.advance(1_000);
    rate.tooManyRequests(1_000);
    await clock.advance(1_000);
    expect(queue.running).toBe(true);
  });

  it('with a shared budget, every replica is told to hold off as long', () => {
    const budget = new Budget();
    gate({ max: 1, per_ms: 1_000 }, budget).tooManyRequests(2_500);
    expect(budget.pauses).toEqual([{ destination: 'slack', ms: 2_500 }]);
  });

  it('a Retry-After shorter than the full window: starts stay held until the window reopens too', async () => {
    const rate = gate({ max: 1, per_ms: 10_000 });
    rate.countStart();
    rate.tooManyRequests(2_000);
    await clock.advance(2_000);
    expect(rate.paused).toBe(false);
    expect(queue.running).toBe(false);
    await clock.advance(8_000);
    expect(queue.running).toBe(true);
  });

  it('a shared pause that cannot be written is logged for the destination; this lane still holds off', async () => {
    const budget = new Budget();
    budget.pauseError = new Error('connection refused');
    const logged: Array<{ msg: string; destination: string }> = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line) as { msg: string; destination: string }) });
    gate({ max: 1, per_ms: 1_000 }, budget, logger).tooManyRequests(2_500);
    await clock.advance(0);
    expect(logged).toEqual([expect.objectContaining({ msg: 'could not pause the shared rate budget', destination: 'slack' })]);
    expect(queue.running).toBe(false);
    await clock.advance(2_500);
    expect(queue.running).toBe(true);
  });

  it('once stopped, nothing pauses or starts the queue again', async () => {
    const rate = gate({ max: 1, per_ms: 1_000 });
    rate.countStart();
    rate.stop();
    queue.running = false;
    await clock.advance(10_000);
    expect(queue.running).toBe(false);
    queue.running = true;
    rate.tooManyRequests(1_000);
    expect(queue.running).toBe(true);
    expect(rate.paused).toBe(false);
  });
});

describe('rate gate: the shared budget', () => {
  it('granted at once without a shared budget or without a rate', async () => {
    expect(await gate({ max: 1, per_ms: 1_000 }).takeBudget()).toBe(true);
    const budget = new Budget();
    expect(await gate(null, budget).takeBudget()).toBe(true);
    expect(budget.takes).toEqual([]);
  });

  it('spent: waits the time the budget names, on the clock, then asks again', async () => {
    const budget = new Budget();
    budget.answers.push({ granted: false, retry_in_ms: 500 }, { granted: true });
    const taken = watched(gate({ max: 1, per_ms: 1_000 }, budget).takeBudget());
    // The budget answers (over I/O, here at once); the wait counts from its answer.
    await clock.advance(0);
    await clock.advance(499);
    expect(taken.settled).toBe(false);
    expect(budget.takes).toHaveLength(1);
    await clock.advance(1);
    expect(await taken.promise).toBe(true);
    expect(budget.takes).toHaveLength(2);
  });

  it("waits on the budget's own clock when it has one", async () => {
    const budgetClock = new ManualClock();
    const budget = new Budget(budgetClock);
    budget.answers.push({ granted: false, retry_in_ms: 500 });
    const taken = watched(gate({ max: 1, per_ms: 1_000 }, budget).takeBudget());
    await clock.advance(10_000);
    expect(taken.settled).toBe(false);
    await budgetClock.advance(500);
    expect(await taken.promise).toBe(true);
  });

  it('a budget that cannot be read is asked again a second later, and nothing goes meanwhile', async () => {
    const budget = new Budget();
    const logged: Array<{ msg: string; destination: string }> = [];
    budget.answers.push(new Error('connection refused'));
    const logger = pino({ level: 'warn' }, { write: (line: string) => logged.push(JSON.parse(line) as { msg: string; destination: string }) });
    const taken = watched(gate({ max: 1, per_ms: 1_000 }, budget, logger).takeBudget());
    await clock.advance(0);
    await clock.advance(999);
    expect(taken.settled).toBe(false);
    await clock.advance(1);
    expect(await taken.promise).toBe(true);
    expect(logged).toEqual([expect.objectContaining({ msg: 'could not read the shared rate budget; trying again shortly', destination: 'slack' })]);
  });

  it('stopping wakes a waiting attempt at once: not granted', async () => {
    const budget = new Budget();
    budget.answers.push({ granted: false, retry_in_ms: 60_000 });
    const rate = gate({ max: 1, per_ms: 1_000 }, budget);
    const taken = rate.takeBudget();
    await clock.advance(0);
    rate.stop();
    expect(await taken).toBe(false);
    expect(budget.takes).toHaveLength(1);
  });
});
