import type { Store } from '../../src/store/store.ts';

/** What every call of a stopped process's store answers. */
export class ProcessStopped extends Error {
  constructor() {
    super('the process stopped (test/support/stopping-store.ts)');
  }
}

export interface StoppingStore {
  /** The store the server uses: the real one until the stop. */
  readonly store: Store;
  /** Settles once the chosen call has committed and the process counts as stopped. */
  readonly stopped: Promise<void>;
}

/**
 * A store whose process "stops" right after a chosen call commits (`stopAfter(method, args)`
 * answers true for it): that call goes through, every later one but `close` fails with
 * ProcessStopped, as if the process were gone — nothing it would have done next reaches the store. The interleaving is
 * forced, not waited for; a new server on the same store is the restart.
 */
export function stoppingStore(store: Store, stopAfter: (method: string, args: readonly unknown[]) => boolean): StoppingStore {
  let stopped = false;
  let stop!: () => void;
  const settled = new Promise<void>((resolve) => (stop = resolve));
  const wrapped = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      if (property === 'close') return method.bind(target);
      return (...args: unknown[]): unknown => {
        if (stopped) return Promise.reject(new ProcessStopped());
        const last = stopAfter(String(property), args);
        // Refused from the moment the last call is made: whatever the process starts meanwhile
        // (a claim woken by the commit's own notification) never reaches the store.
        if (last) stopped = true;
        const result = method.apply(target, args);
        if (!last) return result;
        return Promise.resolve(result).then((answer: unknown) => {
          stop();
          return answer;
        });
      };
    },
  });
  return { store: wrapped, stopped: settled };
}
