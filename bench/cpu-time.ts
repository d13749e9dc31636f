/**
 * CPU time a process spent, per thread, read from Linux's scheduler statistics
 * (/proc/<pid>/task/<tid>/schedstat: nanoseconds on a CPU). On two shared cores a drain is
 * CPU-bound, so deliveries/s follow from the CPU each delivery costs the sender and the
 * receiver together: these figures say where a ratio comes from, and what it could at most be.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU nanoseconds of each live thread, by thread id, with the thread's name. */
export type ThreadTimes = ReadonlyMap<number, { readonly name: string; readonly ns: number }>;

/** Null where /proc is missing (not Linux) or the process has gone. */
export function threadTimes(pid: number): ThreadTimes | null {
  const times = new Map<number, { name: string; ns: number }>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  for (const tid of tids) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      times.set(Number(tid), { name, ns });
    } catch {
      // the thread ended between the listing and the read: its time is lost either way
    }
  }
  return times;
}

/** CPU µs spent between two readings, grouped by thread name (a thread born in between counts from 0). */
export function cpuSpentUs(before: ThreadTimes, after: ThreadTimes): Record<string, number> {
  const spent: Record<string, number> = {};
  for (const [tid, thread] of after) {
    const from = before.get(tid)?.ns ?? 0;
    spent[thread.name] = (spent[thread.name] ?? 0) + (thread.ns - from) / 1_000;
  }
  return spent;
}

export const totalUs = (spent: Readonly<Record<string, number>>): number => Object.values(spent).reduce((sum, us) => sum + us, 0);
