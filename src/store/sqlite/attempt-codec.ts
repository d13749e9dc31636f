/**
 * Attempts and their answers as they cross to and from the writer thread: flat arrays, not
 * objects. Structured clone writes every property name of every object it copies and builds
 * each object again field by field on the other side; an array of values skips the names
 * (measured in issue 20: 4–7 µs to clone an AttemptResult, about 1 µs for its tuple). The
 * breaker policy, the same object for a destination's attempts, travels once per batch.
 */
import { packClaimed, unpackClaimed } from './claim-codec.ts';
import type { AttemptResult, BreakerPolicy, ClaimedDelivery, RecordedAttempt } from '../store.ts';

/** Fields per attempt in PackedAttempts.values, in the order packAttempts writes them. */
const ATTEMPT_FIELDS = 19;

export interface PackedAttempts {
  readonly packed: 'attempts';
  readonly breakers: BreakerPolicy[];
  readonly values: unknown[];
}

export function packAttempts(results: readonly AttemptResult[]): PackedAttempts {
  const breakers: BreakerPolicy[] = [];
  const values: unknown[] = [];
  for (const result of results) {
    let breaker = breakers.indexOf(result.breaker);
    if (breaker === -1) breaker = breakers.push(result.breaker) - 1;
    values.push(
      result.delivery_id,
      result.member_ids.length === 0 ? null : result.member_ids,
      result.destination,
      result.lease_owner,
      result.started_at,
      result.finished_at,
      result.outcome,
      result.next_attempt_at,
      result.request_body,
      result.response_code,
      result.response_body,
      result.latency_ms,
      result.error,
      result.health,
      breaker,
      result.probe ?? null,
      result.notified.length === 0 ? null : result.notified,
      // effects and digest, rare: one slot, null when neither.
      (result.effects ?? null) === null && result.digest === undefined ? null : { effects: result.effects ?? null, digest: result.digest },
      result.chain ?? null,
    );
  }
  return { packed: 'attempts', breakers, values };
}

const NONE: readonly never[] = [];

export function unpackAttempts(packed: PackedAttempts): AttemptResult[] {
  const { breakers, values } = packed;
  const results: AttemptResult[] = [];
  for (let at = 0; at < values.length; at += ATTEMPT_FIELDS) {
    const rare = values[at + 17] as { effects: AttemptResult['effects']; digest: boolean | undefined } | null;
    const probe = values[at + 15] as boolean | null;
    const chain = values[at + 18] as AttemptResult['chain'] | null;
    results.push({
      delivery_id: values[at] as string,
      member_ids: (values[at + 1] as string[] | null) ?? NONE,
      destination: values[at + 2] as string,
      lease_owner: values[at + 3] as string,
      started_at: values[at + 4] as number,
      finished_at: values[at + 5] as number,
      outcome: values[at + 6] as AttemptResult['outcome'],
      next_attempt_at: values[at + 7] as number | null,
      request_body: values[at + 8] as string | null,
      response_code: values[at + 9] as number | null,
      response_body: values[at + 10] as string | null,
      latency_ms: values[at + 11] as number | null,
      error: values[at + 12] as string | null,
      health: values[at + 13] as AttemptResult['health'],
      breaker: breakers[values[at + 14] as number]!,
      ...(probe === null ? {} : { probe }),
      notified: (values[at + 16] as AttemptResult['notified'] | null) ?? NONE,
      effects: rare?.effects ?? null,
      ...(rare?.digest === undefined ? {} : { digest: rare.digest }),
      ...(chain === null ? {} : { chain }),
    });
  }
  return results;
}

export function isPackedAttempts(args: unknown): args is PackedAttempts {
  return (args as Partial<PackedAttempts> | null)?.packed === 'attempts';
}

/** Fields per answer in PackedRecorded.values. */
const RECORDED_FIELDS = 10;

export interface PackedRecorded {
  readonly packed: 'recorded';
  readonly values: unknown[];
}

export function packRecorded(recorded: readonly RecordedAttempt[]): PackedRecorded {
  const values: unknown[] = [];
  for (const each of recorded) {
    const { destination } = each;
    // `next` (a chained lease, src/store/chain-sql.ts): absent when not asked, null when none; `after`: the rest of its run.
    // Both packed as claims are (claim-codec.ts).
    const next = each.next === undefined || each.next === null ? each.next : packClaimed([each.next]);
    values.push(each.recorded, destination.name, destination.enabled, destination.consecutive_failures, destination.pending, each.disabled_now, each.enabled_now, each.incident_stale, next, each.after === undefined ? undefined : packClaimed(each.after));
  }
  return { packed: 'recorded', values };
}

export function unpackRecorded(packed: PackedRecorded): RecordedAttempt[] {
  const { values } = packed;
  const recorded: RecordedAttempt[] = [];
  for (let at = 0; at < values.length; at += RECORDED_FIELDS) {
    recorded.push({
      recorded: values[at] as boolean,
      destination: {
        name: values[at + 1] as string,
        enabled: values[at + 2] as boolean,
        consecutive_failures: values[at + 3] as number,
        pending: values[at + 4] as number | null,
      },
      disabled_now: values[at + 5] as boolean,
      enabled_now: values[at + 6] as boolean,
      incident_stale: values[at + 7] as boolean,
      ...(values[at + 8] === undefined ? {} : { next: values[at + 8] === null ? null : (unpackClaimed(values[at + 8] as unknown[])[0] as ClaimedDelivery) }),
      ...(values[at + 9] === undefined ? {} : { after: unpackClaimed(values[at + 9] as unknown[]) }),
    });
  }
  return recorded;
}
