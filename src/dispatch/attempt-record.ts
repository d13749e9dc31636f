import type { Logger } from 'pino';
import type { SendResult } from '../destinations/http-client.ts';
import { factLogger, loggedTitle } from '../observability/logger.ts';
import type { DeliverySeries, Metrics } from '../observability/metrics.ts';
import type { AttemptResult, BreakerPolicy, ChainRequest, ClaimedDelivery, NotificationEntry, RecordedAttempt, Store } from '../store/store.ts';
import type { Clock } from '../util/clock.ts';

/** What an attempt came to: the retry policy's decision and what the destination answered. */
export interface AttemptDecision {
  readonly outcome: AttemptResult['outcome'];
  readonly next_attempt_at: number | null;
  readonly health: AttemptResult['health'];
  readonly result: SendResult;
}

export interface AttemptRecorderOptions {
  readonly destination: string;
  readonly store: Pick<Store, 'commitAttempts'>;
  readonly owner: string;
  /** Sent with each record: the store opens and closes the circuit by it. */
  readonly breaker: BreakerPolicy;
  /**
   * A success keeps the request it sent (acknowledge reads the dedup key it carried: PagerDuty);
   * otherwise a success stores neither body, failures and retries both (docs/api.md).
   */
  readonly keepsSentBody: boolean;
  /** Some rule reads what this delivery tells the destination (NotificationStage.logsNotifications): its success writes the notification log. */
  readonly logsNotifications: (delivery: ClaimedDelivery) => boolean;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Whether the lane is stopping: a record the store cannot take is then left to the lease's expiry. */
  readonly stopping: () => boolean;
  /**
   * Whether the commit of an attempt that finishes its delivery may lease its incident's next
   * one at once (src/notify/incident-order.ts `chainsNext`): asked before the commit, and told
   * after it what was leased (null: nothing).
   */
  readonly chain: {
    /**
     * May also send the next of a chained run at once (then null: this commit leases nothing).
     * `logs`: this delivery's record writes what a later one's rules read (no run then).
     */
    next(after: ClaimedDelivery, logs: boolean): ChainRequest | null;
    adopt(next: ClaimedDelivery | null, after: ClaimedDelivery, rest: readonly ClaimedDelivery[]): void;
    /** The attempt did not finish its delivery in order (a retry): what was chained behind it goes back. */
    drop(after: ClaimedDelivery): void;
  };
  /** The attempt is recorded (not when its lease was lost meanwhile). */
  readonly onRecorded: (recorded: RecordedAttempt, delivery: ClaimedDelivery, decision: AttemptDecision) => void;
}

/** The line logged for an attempt that did not fail the delivery for good (that one is a `warn`: "delivery failed"). */
const OUTCOME_MESSAGES: Readonly<Record<Exclude<AttemptResult['outcome'], 'failed'>, string>> = {
  succeeded: 'delivered',
  retry: 'delivery attempt failed; will retry',
  superseded: 'delivery superseded',
};

/**
 * The last step of an attempt: counts it in the metrics, commits it with its effects (durably:
 * while the store cannot write, it tries again), then logs one line for it and tells the lane.
 */
export class AttemptRecorder {
  readonly #options: AttemptRecorderOptions;
  /** The per-attempt outcome lines: facts only, so without the redaction's cost. */
  readonly #outcomeLog: Logger;
  readonly #series: DeliverySeries;

  constructor(options: AttemptRecorderOptions) {
    this.#options = options;
    this.#outcomeLog = factLogger(options.logger);
    this.#series = options.metrics.deliverySeries(options.destination);
  }

  async record(delivery: ClaimedDelivery, attempt: number, started: number, body: string | null, decision: AttemptDecision): Promise<void> {
    const { result } = decision;
    const { destination, clock, logger, store } = this.#options;
    const finished = clock.now();
    // The attempt's log line, built only when it is written (the send path runs per delivery).
    const line = (): Record<string, unknown> => ({
      destination,
      title: loggedTitle(delivery.event.title),
      outcome: decision.outcome,
      status: result.status,
      latency_ms: result.latency_ms,
      attempt,
      delivery_id: delivery.id,
      event_id: delivery.event.id,
      ...(result.error ? { error: result.error } : {}),
      ...(decision.next_attempt_at ? { next_attempt_at: new Date(decision.next_attempt_at).toISOString() } : {}),
      ...(delivery.member_ids.length > 0 ? { batch_size: delivery.member_ids.length + 1 } : {}),
      ...(delivery.probe ? { probe: true } : {}),
      ...(delivery.digest ? { digest: true } : {}),
      ...(delivery.fallback_for ? { fallback_for: delivery.fallback_for.destination } : {}),
    });
    const series = this.#series;
    series.attempted(decision.outcome);
    if (decision.outcome !== 'retry') series.finished(decision.outcome, 1 + delivery.member_ids.length);
    series.attemptSeconds(result.latency_ms / 1_000);
    const succeeded = decision.outcome === 'succeeded';
    const logs = this.#options.logsNotifications(delivery);
    if (succeeded) series.latencySeconds((finished - Date.parse(delivery.event.received_at)) / 1_000);
    const attemptResult: AttemptResult = {
      delivery_id: delivery.id,
      member_ids: delivery.member_ids,
      destination,
      lease_owner: this.#options.owner,
      started_at: started,
      finished_at: finished,
      outcome: decision.outcome,
      next_attempt_at: decision.next_attempt_at,
      // A success's bodies are not stored (the store's largest write per delivery, issue 20):
      // what went out is in the event and its template, what failed keeps both for the operator.
      request_body: succeeded && !this.#options.keepsSentBody ? null : body,
      response_code: result.status,
      response_body: succeeded ? null : result.body,
      latency_ms: result.latency_ms,
      error: result.error,
      health: decision.health,
      breaker: this.#options.breaker,
      probe: delivery.probe,
      notified: succeeded && logs ? this.#notified(delivery, finished) : [],
      effects: result.effects ?? null,
      ...(delivery.digest ? { digest: true } : {}),
    };
    // Finishing an ordered delivery: its incident's next one goes (a chained run's next, at once),
    // or may be leased by the same commit.
    const inOrder = decision.outcome !== 'retry' && !delivery.unordered && !delivery.probe;
    const chain = inOrder ? this.#options.chain.next(delivery, logs) : null;
    if (!inOrder) this.#options.chain.drop(delivery);
    // The attempt happened: its record (and effects, such as a posted Slack message) must not be
    // lost, or a retry would send it again. While the store cannot write, keep the work held (its
    // lease renewed) and try again; the moment the store takes writes, it is recorded.
    let recorded: RecordedAttempt | undefined;
    try {
      for (let wait = 250; ; wait = Math.min(wait * 2, 5_000)) {
        try {
          [recorded] = await store.commitAttempts([chain ? { ...attemptResult, chain } : attemptResult]);
          break;
        } catch (error) {
          if (this.#options.stopping()) {
            logger.error({ ...line(), err: error }, 'could not record a delivery attempt before shutdown; it will be attempted again');
            return;
          }
          logger.error({ ...line(), err: error }, 'could not record a delivery attempt; trying again');
          await new Promise<void>((resume) => clock.after(wait, resume));
        }
      }
    } finally {
      // Before the lane hears this one is done, so the next of its incident is held when it refills.
      if (chain) this.#options.chain.adopt(recorded?.recorded ? (recorded.next ?? null) : null, delivery, recorded?.recorded ? (recorded.after ?? []) : []);
    }
    // Not recorded: the lease was lost meanwhile, and another worker owns the delivery now.
    if (!recorded?.recorded) return;
    const outcomeLog = this.#outcomeLog;
    if (decision.outcome === 'failed') {
      if (outcomeLog.isLevelEnabled('warn')) outcomeLog.warn(line(), 'delivery failed');
    } else if (outcomeLog.isLevelEnabled('info')) {
      outcomeLog.info(line(), OUTCOME_MESSAGES[decision.outcome]);
    }
    this.#options.onRecorded(recorded, delivery, decision);
  }

  /** What the destination was told, for the notification log (replays and commands tell nothing new). */
  #notified(delivery: ClaimedDelivery, at: number): NotificationEntry[] {
    // A fallback's copy is not the fallback's own story of the incident (src/notify/fallback.ts).
    if (delivery.unordered || delivery.fallback_for) return [];
    const ids = [delivery.id, ...delivery.member_ids];
    return delivery.events.map((event, index) => ({
      destination: this.#options.destination,
      dedup_key: event.dedup_key,
      status: event.status,
      occurred_at: event.occurred_at,
      delivery_id: ids[index]!,
      sent_at: at,
    }));
  }
}
