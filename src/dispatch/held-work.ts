import type { DestinationLimits } from '../destinations/destination.ts';
import { SEVERITY_RANK } from '../events/event.ts';
import type { ClaimedDelivery } from '../store/store.ts';

/**
 * Held work starts in the order the store claims it — highest severity first — so a critical
 * event claimed behind a storm's digests does not wait for them in memory either; a probe
 * goes before anything. A digest counts as its most severe event. (One delivery per incident
 * is held at a time, so this never reorders an incident's events.)
 */
export function queuePriority(delivery: ClaimedDelivery): number {
  if (delivery.probe) return SEVERITY_RANK.critical + 1;
  return delivery.events.reduce((worst, event) => Math.max(worst, SEVERITY_RANK[event.severity]), SEVERITY_RANK[delivery.event.severity]);
}

/**
 * What a lane holds under its leases, and how much more it may claim. Held work is bounded
 * twice: what still waits for an answer (queued or being sent), and everything held, records
 * still committing included — so records that commit slowly never stall sending, nor let held
 * work grow without bound.
 */
export class HeldWork {
  /** Claimed and not finished, by lead delivery id (a grouped batch is one entry). */
  readonly #held = new Map<string, ClaimedDelivery>();
  /** Claimed and started (until its attempt is recorded). */
  readonly #running = new Set<string>();
  /** Attempts answered with a success whose record is being committed, outside the queue's slots. */
  readonly #recordings = new Set<Promise<void>>();
  readonly #highWater: number;
  /** Refill from the store when this few are left. */
  readonly #lowWater: number;
  /** Leases lent to deliveries being committed right now. */
  #reserved = 0;

  constructor(limits: Pick<DestinationLimits, 'concurrency' | 'rate'>) {
    const { concurrency, rate } = limits;
    // Claim ahead of what can start; leases of held work are renewed while it waits. A lane
    // without a rate limit claims deep: a claim can wait for a commit's fsync (a few ms, more
    // on a busy disk) and the work still queued must cover that at full speed.
    this.#highWater = (rate ? concurrency * 2 : concurrency * 8) + (rate?.max ?? 0);
    this.#lowWater = Math.floor(this.#highWater / 2);
  }

  get size(): number {
    return this.#held.size;
  }

  /** How much more may be claimed (or reserved). */
  room(): number {
    return Math.min(this.#highWater - this.#unanswered(), 2 * this.#highWater - this.#held.size) - this.#reserved;
  }

  /**
   * Refill in batches, not one claim per finished attempt, and before the queue runs dry: a claim
   * takes a commit's time, and the work still queued must cover it.
   */
  low(): boolean {
    return this.#unanswered() <= this.#lowWater;
  }

  /** A lease lent to a delivery being committed (it counts as held until adopted or released). */
  reserve(): void {
    this.#reserved += 1;
  }

  unreserve(): void {
    this.#reserved = Math.max(0, this.#reserved - 1);
  }

  /** False when it is held already (a claim can return one whose lease we let lapse). */
  hold(delivery: ClaimedDelivery): boolean {
    if (this.#held.has(delivery.id)) return false;
    this.#held.set(delivery.id, delivery);
    return true;
  }

  started(delivery: ClaimedDelivery): void {
    this.#running.add(delivery.id);
  }

  /** A success's record, committing after its slot was freed: answered, though still held. */
  recording(done: Promise<void>): void {
    this.#recordings.add(done);
  }

  finished(delivery: ClaimedDelivery, recording: Promise<void> | null): void {
    if (recording !== null) this.#recordings.delete(recording);
    this.#running.delete(delivery.id);
    this.#held.delete(delivery.id);
  }

  /** Every id held under our lease (a batch's members included), for renewing. */
  leasedIds(): string[] {
    return [...this.#held.values()].flatMap((delivery) => [delivery.id, ...delivery.member_ids]);
  }

  /** Takes out these, where held and not started (the rest of a chained run, to give it back). */
  take(deliveries: readonly ClaimedDelivery[]): ClaimedDelivery[] {
    const ids = new Set(deliveries.map((delivery) => delivery.id));
    return this.#take((delivery) => ids.has(delivery.id) && !this.#running.has(delivery.id));
  }

  /** Takes out what is held and not started (to give it back). */
  takeWaiting(): ClaimedDelivery[] {
    return this.#take((delivery) => !this.#running.has(delivery.id));
  }

  /** Takes out what is held and started (sends that outlast shutdown's grace). */
  takeRunning(): ClaimedDelivery[] {
    return this.#take((delivery) => this.#running.has(delivery.id));
  }

  /** Settles when the records committing now are done. */
  recorded(): Promise<unknown> {
    return Promise.all([...this.#recordings]);
  }

  /** Claimed work not yet answered (successes whose record is committing are answered). */
  #unanswered(): number {
    return this.#held.size - this.#recordings.size;
  }

  #take(which: (delivery: ClaimedDelivery) => boolean): ClaimedDelivery[] {
    const taken = [...this.#held.values()].filter(which);
    for (const delivery of taken) this.#held.delete(delivery.id);
    return taken;
  }
}
