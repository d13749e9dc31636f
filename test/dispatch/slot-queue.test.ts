import { describe, expect, test } from 'vitest';
import { SlotQueue } from '../../src/dispatch/slot-queue.ts';

/** A queue whose tasks run until the test ends them, recording the order they started in. */
function queueOf(concurrency: number) {
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const queue = new SlotQueue<string>(concurrency, (item) => {
    started.push(item);
    return new Promise<void>((resolve) => finish.set(item, resolve));
  });
  /** Ends a running task and lets the queue see it (its `finally` runs in a microtask). */
  const end = async (item: string): Promise<void> => {
    finish.get(item)!();
    await Promise.resolve();
    await Promise.resolve();
  };
  return { queue, started, end };
}

describe("a lane's slots", () => {
  test('a task starts at once, in add, while a slot is free; the rest wait for a slot', async () => {
    const { queue, started, end } = queueOf(2);
    queue.add('a', 1);
    expect(started).toEqual(['a']);
    queue.add('b', 1);
    queue.add('c', 1);
    expect(started).toEqual(['a', 'b']);
    expect([queue.pending, queue.size]).toEqual([2, 1]);
    await end('a');
    expect(started).toEqual(['a', 'b', 'c']);
  });

  test('waiting work starts highest priority first, and in the order it came within one priority', async () => {
    const { queue, started, end } = queueOf(1);
    queue.add('running', 0);
    queue.add('low-1', 1);
    queue.add('high-1', 3);
    queue.add('low-2', 1);
    queue.add('mid', 2);
    queue.add('high-2', 3);
    for (const item of ['running', 'high-1', 'high-2', 'mid', 'low-1']) await end(item);
    expect(started).toEqual(['running', 'high-1', 'high-2', 'mid', 'low-1', 'low-2']);
  });

  test('nothing starts while paused; start fills every free slot, checking the pause before each', async () => {
    const started: string[] = [];
    const queue: SlotQueue<string> = new SlotQueue<string>(3, (item) => {
      started.push(item);
      // The rate gate pauses from inside the start that fills its window.
      if (item === 'b') queue.pause();
      return new Promise<void>(() => undefined);
    });
    queue.pause();
    queue.add('a', 0);
    queue.add('b', 0);
    queue.add('c', 0);
    expect(started).toEqual([]);
    queue.start();
    expect(started).toEqual(['a', 'b']);
    expect(queue.size).toBe(1);
  });

  test('clear drops what waits; onIdle settles once what runs has ended', async () => {
    const { queue, started, end } = queueOf(1);
    queue.add('a', 0);
    queue.add('b', 0);
    let idle = false;
    const waited = queue.onIdle().then(() => (idle = true));
    queue.clear();
    await Promise.resolve();
    expect(idle).toBe(false);
    await end('a');
    await waited;
    expect(started).toEqual(['a']);
    expect([queue.pending, queue.size]).toEqual([0, 0]);
    await expect(queue.onIdle()).resolves.toBeUndefined();
  });
});
