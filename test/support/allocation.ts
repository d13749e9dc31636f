/**
 * Bytes this thread's JavaScript heap has allocated, counted from V8's own statistics, for
 * checks that must not depend on timing (the allocation guard, the bench's KB per delivery).
 *
 * V8 does not keep a running total of bytes allocated, but every collection reports the heap's
 * used size before and after it (v8.GCProfiler, one record per GC), and what a collection
 * freed had been allocated before it. So between two readings
 *
 *   allocated = used(now) − used(then) + Σ over the GCs in between of (used before − used after)
 *
 * exactly, whatever the GCs did meanwhile (scavenges, promotions, full marks). Counted per
 * isolate: a worker thread's allocations (the SQLite writer's) are its own.
 */
import { GCProfiler, getHeapStatistics } from 'node:v8';

export interface AllocationMeter {
  /** Bytes allocated since the meter started. */
  read(): number;
  stop(): void;
}

export function startAllocationMeter(): AllocationMeter {
  let profiler: GCProfiler | null = new GCProfiler();
  profiler.start();
  const startUsed = getHeapStatistics().used_heap_size;
  let freed = 0;
  const collect = (): void => {
    if (profiler === null) return;
    const result = profiler.stop();
    for (const gc of result?.statistics ?? []) freed += gc.beforeGC.heapStatistics.usedHeapSize - gc.afterGC.heapStatistics.usedHeapSize;
  };
  return {
    read() {
      collect();
      const used = getHeapStatistics().used_heap_size;
      profiler = new GCProfiler();
      profiler.start();
      return used - startUsed + freed;
    },
    stop() {
      collect();
      profiler = null;
    },
  };
}
