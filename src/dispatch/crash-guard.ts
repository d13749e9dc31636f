import type { ClaimedDelivery } from '../store/store.ts';

/**
 * The crash-loop guard. A delivery that stops hookrelay (a render that runs out of memory, say)
 * would otherwise be leased again at every start and stop it again, for ever. The stores count,
 * per delivery, the times it was found in flight after its worker stopped and, of those, the
 * times its own attempt was under way (src/store/take-over.ts); the rule is here, once.
 *
 * Work is leased ahead of its attempt, so the first stop cannot tell the culprit from the
 * deliveries merely waiting beside it: all of them become suspects. A suspect's attempt is
 * marked in the store before it starts and runs with no other suspect's beside it, so from then
 * on a stop is counted against the attempt that was really under way — the innocent ones go
 * through, and only what keeps stopping the process reaches the limit.
 */

/** Stops during its own attempt after which a delivery is failed instead of leased again. */
export const MAX_INTERRUPTED_ATTEMPTS = 3;

/** Found in flight after a stop before: its attempt is marked and runs apart from other suspects'. */
export function isSuspect(delivery: ClaimedDelivery): boolean {
  return (delivery.interrupted ?? 0) > 0;
}

/** Why the delivery is failed without an attempt, or null when it may be attempted. */
export function crashLoopReason(delivery: ClaimedDelivery): string | null {
  const during = delivery.interrupted_attempts ?? 0;
  if (during < MAX_INTERRUPTED_ATTEMPTS) return null;
  const times = Math.max(delivery.interrupted ?? 0, during);
  return (
    `in flight when hookrelay stopped ${times} times, ${during} of them during its own attempt: not attempted again, ` +
    'as it may be what stops hookrelay (see the log around those stops); replay it once the cause is fixed'
  );
}

/** One suspect's attempt at a time in this process, in the order they ask. */
export class SuspectGate {
  #tail: Promise<void> = Promise.resolve();

  /** Resolves with the function that lets the next suspect go, once the ones before are done. */
  async enter(): Promise<() => void> {
    let leave!: () => void;
    const turn = new Promise<void>((resolve) => (leave = resolve));
    const before = this.#tail;
    this.#tail = before.then(() => turn);
    await before;
    return leave;
  }
}
