import type { Logger } from 'pino';
import type { Destination } from '../destinations/destination.ts';
import { failure } from '../destinations/http-client.ts';
import type { SendResult } from '../destinations/http-client.ts';
import { digestView } from '../notify/digest.ts';
import { fallbackView, handsOff, waitsForOriginal } from '../notify/fallback.ts';
import type { FallbackOriginal } from '../notify/fallback.ts';
import type { NotificationStage, StageVerdict } from '../notify/pipeline.ts';
import { loggedTitle } from '../observability/logger.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { BreakerPolicy, ChainRequest, ClaimedDelivery, RecordedAttempt, Store } from '../store/store.ts';
import { TemplateRenderError } from '../templates/types.ts';
import type { TemplateContext } from '../templates/types.ts';
import type { Clock } from '../util/clock.ts';
import { formatDuration } from '../util/format.ts';
import { newId } from '../util/ids.ts';
import { AttemptRecorder } from './attempt-record.ts';
import type { AttemptDecision } from './attempt-record.ts';
import type { BreakerWatch } from './breaker-watch.ts';
import { crashLoopReason, isSuspect } from './crash-guard.ts';
import type { SuspectGate } from './crash-guard.ts';
import type { RateGate } from './rate-gate.ts';
import { decide, retryAfterWait } from './retry-policy.ts';
import type { RetryPolicy } from './retry-policy.ts';

/** The lane an attempt runs in (the scheduler): its slots, its rate and its claims. */
export interface AttemptLane {
  readonly stopped: boolean;
  readonly rate: Pick<RateGate, 'takeBudget' | 'tooManyRequests'>;
  begin(delivery: ClaimedDelivery): void;
  end(delivery: ClaimedDelivery, recording: Promise<void> | null): void;
  giveBack(deliveries: readonly ClaimedDelivery[]): Promise<void>;
  wake(at: number): void;
  pump(): Promise<void>;
  /** Whether the commit of an attempt may lease its incident's next delivery (AttemptResult.chain); null when the lane takes none now. */
  chainNext(after: ClaimedDelivery, logs?: boolean): ChainRequest | null;
  /** What the commit of `after`'s attempt leased, started in the lane (null: nothing). */
  adoptNext(next: ClaimedDelivery | null, after: ClaimedDelivery, rest: readonly ClaimedDelivery[]): void;
  /** What a chained run held behind this one goes back to the store (it did not finish in order). */
  dropRun(after: ClaimedDelivery): void;
}

export interface AttemptRunnerOptions {
  readonly destination: Destination;
  readonly store: Pick<Store, 'leases' | 'holds' | 'commitAttempts' | 'notificationLog'>;
  /** Decides, per delivery about to go out, whether it goes (mutes, repeats, late retries). */
  readonly stage: Pick<NotificationStage, 'decide'> & Partial<Pick<NotificationStage, 'logsNotifications'>>;
  readonly retry: RetryPolicy;
  readonly breaker: BreakerPolicy;
  readonly owner: string;
  readonly version: string;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Suspects of a crash loop (crash-guard.ts) are attempted one at a time across all lanes. */
  readonly suspects: SuspectGate;
  readonly lane: AttemptLane;
  readonly circuit: Pick<BreakerWatch, 'enabled' | 'afterAttempt'>;
  /**
   * Fallbacks (src/notify/fallback.ts): this destination's own (where its work goes while its
   * circuit is open), how other destinations are named in a copy's marker, and who is told
   * that a fallback has new work.
   */
  readonly fallback?: {
    readonly to: Pick<Destination, 'name' | 'ordered'> | null;
    readonly describe: (name: string) => FallbackOriginal | undefined;
    readonly handedOver: (fallback: string) => void;
  };
}

/** The reason once: "template http/x: output over 1 MB", not "template http/x: http/x: output over 1 MB". */
function templateReason(error: TemplateRenderError, template: string): string {
  return error.template === template ? error.reason : error.message;
}

/**
 * One attempt of a held delivery, in a slot of its lane: the crash-loop guard, the notification
 * stage's decision (what is held back is recorded as held), the shared rate budget, the request
 * drawn from its template, the send, the retry policy's decision, and its record.
 */
export class AttemptRunner {
  readonly #options: AttemptRunnerOptions;
  readonly #recorder: AttemptRecorder;

  constructor(options: AttemptRunnerOptions) {
    this.#options = options;
    this.#recorder = new AttemptRecorder({
      destination: options.destination.name,
      store: options.store,
      owner: options.owner,
      breaker: options.breaker,
      keepsSentBody: options.destination.acknowledge !== undefined,
      // A stage that cannot tell (a test's) logs every success.
      logsNotifications: (delivery) => options.stage.logsNotifications?.(delivery, options.destination) ?? true,
      clock: options.clock,
      logger: options.logger,
      metrics: options.metrics,
      stopping: () => options.lane.stopped,
      chain: {
        // A stateful destination's record (a Slack card's state) is read by its next send, a fallback copy's too.
        next: (after, logs) => options.lane.chainNext(after, logs || options.destination.stateful === true),
        adopt: (next, after, rest) => options.lane.adoptNext(next, after, rest),
        drop: (after) => options.lane.dropRun(after),
      },
      onRecorded: (recorded, delivery, decision) => this.#recorded(recorded, delivery, decision),
    });
  }

  /** The queue's task for a held delivery: settles when its slot is free (see AttemptLane.end for the rest). */
  async attempt(claimed: ClaimedDelivery): Promise<void> {
    const { lane } = this.#options;
    if (lane.stopped) return;
    lane.begin(claimed);
    let recording: Promise<void> | null = null;
    let leaveGate: (() => void) | null = null;
    try {
      // Disabled while this waited: it goes to the fallback, or back to pending untouched (only the probe goes).
      if (this.#options.circuit.enabled === false && !claimed.probe) {
        const fallback = this.#options.fallback?.to ?? null;
        if (fallback && handsOff(claimed, true, fallback.name)) await this.#handOver(claimed, fallback);
        else await lane.giveBack([claimed]);
        return;
      }
      const crashLoop = crashLoopReason(claimed);
      if (crashLoop !== null) {
        // Failed without an attempt: the reason is the error; the destination's health is untouched.
        const result = failure('permanent', crashLoop, 0);
        await this.#recorder.record(claimed, claimed.attempts + 1, this.#options.clock.now(), null, { outcome: 'failed', next_attempt_at: null, health: 'neutral', result });
        return;
      }
      const suspect = isSuspect(claimed);
      if (suspect) {
        leaveGate = await this.#options.suspects.enter();
        if (lane.stopped) {
          await lane.giveBack([claimed]);
          return;
        }
        // Durable before anything of the attempt runs: a stop from here on counts against it.
        await this.#options.store.leases('started', [claimed.id, ...claimed.member_ids], this.#options.owner);
      }
      const verdict = await this.#notificationStage(claimed);
      if (verdict.send) {
        if (!(await lane.rate.takeBudget())) {
          // Stopping while it waited for the rate budget: not sent, so back to pending untouched.
          await lane.giveBack([verdict.send]);
          return;
        }
        const sent = await this.#send(verdict.send, verdict.threshold);
        // The destination's concurrency bounds requests, not bookkeeping: after a success the
        // slot takes the next request while this record commits. Anything else keeps its slot
        // until recorded, so a failing destination gets no more requests than before its
        // breaker knows. The delivery stays held (in flight in the store) until recorded, so
        // the next event of its incident still waits for it.
        // A suspect's attempt lasts until it is recorded (the next suspect waits for that).
        if (sent.freesSlot && !suspect) recording = sent.recorded.catch((error: unknown) => this.#failedUnexpectedly(claimed, error));
        else await sent.recorded;
      }
    } catch (error) {
      this.#failedUnexpectedly(claimed, error);
    } finally {
      leaveGate?.();
      lane.end(claimed, recording);
    }
  }

  /**
   * The circuit is open: judged by this destination's rules as if it were to go, what would go is
   * handed to the fallback (one transaction: the original finished, the copy added there).
   */
  async #handOver(claimed: ClaimedDelivery, fallback: Pick<Destination, 'name' | 'ordered'>): Promise<void> {
    const { store, owner, clock, logger, destination, metrics } = this.#options;
    const verdict = await this.#notificationStage(claimed);
    const send = verdict.send;
    if (!send) return;
    const ids = [send.id, ...send.member_ids];
    const copies = ids.map(() => newId('dlv'));
    const handed = await store.holds('fallback', {
      ids,
      fallback_ids: copies,
      lease_owner: owner,
      destination: destination.name,
      fallback: fallback.name,
      fallback_ordered: fallback.ordered !== false,
      now: clock.now(),
      keep: await this.#waitingForOriginal(send, ids),
    });
    if (handed === 0) return;
    metrics.deliveries.inc({ destination: destination.name, outcome: 'fallback' }, handed);
    if (logger.isLevelEnabled('info')) {
      logger.info(
        { destination: destination.name, fallback: fallback.name, title: loggedTitle(send.event.title), deliveries: ids, fallback_deliveries: copies },
        `circuit open: handed to fallback ${fallback.name}`,
      );
    }
    this.#options.fallback?.handedOver(fallback.name);
  }

  /** Of a hand-over, the resolves that must still reach this destination: it holds their incident open. */
  async #waitingForOriginal(send: ClaimedDelivery, ids: readonly string[]): Promise<string[]> {
    const { destination, store } = this.#options;
    if (destination.stateful !== true || !send.events.some((event) => event.status === 'resolved')) return [];
    const log = await store.notificationLog(destination.name, send.events.map((event) => event.dedup_key));
    const told = new Map(log.map((entry) => [entry.dedup_key, entry]));
    return ids.filter((_, index) => {
      const event = send.events[index];
      return event !== undefined && waitsForOriginal(event, told.get(event.dedup_key) ?? null, true);
    });
  }

  #failedUnexpectedly(claimed: ClaimedDelivery, error: unknown): void {
    this.#options.logger.error({ err: error, delivery_id: claimed.id, destination: this.#options.destination.name }, 'delivery attempt failed unexpectedly; its lease will expire');
  }

  /** Holds back what the noise rules say (logged with the rule), and returns what still goes, or null. */
  async #notificationStage(delivery: ClaimedDelivery): Promise<StageVerdict> {
    const { stage, store, metrics, logger, destination, clock } = this.#options;
    const verdict = await stage.decide(delivery, destination);
    for (const { ids, hold } of verdict.held) {
      const probeOf = delivery.probe ? destination.name : null;
      await store.holds('hold', {
        ids,
        lease_owner: this.#options.owner,
        status: hold.status,
        note: hold.note,
        now: clock.now(),
        probe_of: probeOf,
        held_by: hold.held_by ?? null,
      });
      metrics.ruleDecisions.inc({ rule: hold.rule, decision: hold.status }, ids.length);
      if (logger.isLevelEnabled('info')) {
        logger.info({ destination: destination.name, title: loggedTitle(delivery.event.title), rule: hold.rule, note: hold.note, deliveries: ids }, `delivery held: ${hold.note}`);
      }
    }
    if (verdict.send === null && delivery.probe) {
      // The probe itself was held: probe again with the next delivery at once.
      void this.#options.lane.pump();
    }
    return verdict;
  }

  /**
   * Renders and sends; resolves once the destination answered, with the record of the attempt
   * under way and whether the queue's slot may serve the next request meanwhile (a success).
   */
  async #send(delivery: ClaimedDelivery, threshold?: StageVerdict['threshold']): Promise<{ readonly recorded: Promise<void>; readonly freesSlot: boolean }> {
    const { destination, clock, retry } = this.#options;
    const attempt = delivery.attempts + 1;
    const started = clock.now();
    let body = delivery.request_body;
    if (body === null) {
      try {
        body = await destination.render(this.#context(delivery, threshold));
      } catch (error) {
        // A template that cannot render this event is our problem, not the destination's: it
        // fails without touching the destination's health. Anything else (the store, for
        // destinations that read state while rendering) is retried.
        const template = error instanceof TemplateRenderError;
        const reason = template ? `template ${destination.template}: ${templateReason(error, destination.template)}` : `could not prepare the request: ${(error as Error).message}`;
        const result = failure(template ? 'permanent' : 'retry', reason, 0);
        const decision = template ? { outcome: 'failed' as const, next_attempt_at: null } : decide(retry, attempt, result, clock.now());
        return { recorded: this.#recorder.record(delivery, attempt, started, null, { ...decision, health: 'neutral', result }), freesSlot: false };
      }
    }
    let result: SendResult;
    try {
      result = await destination.send({ delivery_id: delivery.id, attempt, body, event: delivery.event, events: delivery.events });
    } catch (error) {
      result = failure('retry', (error as Error).message, clock.now() - started);
    }
    const decision = decide(retry, attempt, result, clock.now());
    // As long as the retry waits (Retry-After, capped), so the lane and the retry come back together.
    if (result.rate_limited) this.#options.lane.rate.tooManyRequests(retryAfterWait(result) ?? 1_000);
    // A probe keeps its slot: the breaker closes (and the backlog flows) once it is recorded.
    return { recorded: this.#recorder.record(delivery, attempt, started, body, { ...decision, result }), freesSlot: decision.outcome === 'succeeded' && !delivery.probe };
  }

  #context(delivery: ClaimedDelivery, threshold?: StageVerdict['threshold']): TemplateContext {
    const { destination, version } = this.#options;
    const fallbackFor = delivery.fallback_for;
    return {
      ...delivery.event,
      events: delivery.events,
      ...(fallbackFor ? { fallback: fallbackView(fallbackFor, this.#options.fallback?.describe(fallbackFor.destination)) } : {}),
      ...(threshold ? { threshold: { count: threshold.count, within: formatDuration(threshold.within_ms) } } : {}),
      ...(delivery.digest ? { digest: digestView(delivery.events, destination.storm?.worst ?? 5, delivery.route) } : {}),
      hookrelay: { version, destination: destination.name, delivery_id: delivery.id },
    };
  }

  /** Recorded: redraw the incident's message if it changed meanwhile, tell the breaker, and come back for the retry. */
  #recorded(recorded: RecordedAttempt, delivery: ClaimedDelivery, decision: AttemptDecision): void {
    const { destination, logger, circuit, lane } = this.#options;
    if (recorded.incident_stale && destination.refreshIncident) {
      destination.refreshIncident(delivery.event.dedup_key).catch((error: unknown) => {
        logger.warn({ err: error, destination: destination.name }, 'could not redraw the incident message');
      });
    }
    circuit.afterAttempt(recorded, decision.result.error);
    if (decision.next_attempt_at !== null) lane.wake(decision.next_attempt_at);
  }
}
