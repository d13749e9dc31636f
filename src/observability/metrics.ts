import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueStat } from '../store/store.ts';
import { systemClock } from '../util/clock.ts';

export type { QueueStat } from '../store/store.ts';

export interface MetricsOptions {
  /** The queue gauges' source: read at most once per `queueCacheMs`, however often /metrics is scraped. */
  readonly queues?: () => Promise<readonly QueueStat[]>;
  /**
   * The configured destinations: only their queues have series. The store keeps the state of a
   * destination removed from the config (and any work it had), which is not this process's to show.
   */
  readonly destinations?: readonly string[];
  readonly queueCacheMs?: number;
  readonly now?: () => number;
}

/**
 * Prometheus metrics, named `hookrelay_<noun>_<unit>` (`_total` for counters, `_seconds` for
 * times). Labels are bounded: source (configured names, `(unknown)` otherwise), destination,
 * outcome, rule and decision — never an id.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly #options: MetricsOptions;
  readonly #configured: ReadonlySet<string> | null;
  #queues: { at: number; read: Promise<void> } | null = null;
  readonly #series = new Map<string, DeliverySeries>();

  readonly eventsReceived = new Counter({
    name: 'hookrelay_events_received_total',
    help: 'Requests to /hooks/:source by outcome (accepted, duplicate, answered, or the refusal code)',
    labelNames: ['source', 'outcome'],
    registers: [this.registry],
  });
  readonly ingestDuration = new Histogram({
    name: 'hookrelay_ingest_duration_seconds',
    help: 'From a webhook body received to its answer (verify, route, durable commit)',
    labelNames: ['source'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly commitBatchSize = new Histogram({
    name: 'hookrelay_store_commit_operations',
    help: 'Store writes that shared one commit (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048],
    registers: [this.registry],
  });
  readonly requestLogDropped = new Counter({
    name: 'hookrelay_request_log_dropped_total',
    help: 'Requests log lines dropped rather than queued (a flood of refused requests, or the store failing)',
    registers: [this.registry],
  });
  readonly deliveryAttempts = new Counter({
    name: 'hookrelay_delivery_attempts_total',
    help: 'Delivery attempts by destination and outcome (succeeded, retry, failed, superseded)',
    labelNames: ['destination', 'outcome'],
    registers: [this.registry],
    collect: () => {
      for (const series of this.#series.values()) series.flushAttempts(this.deliveryAttempts);
    },
  });
  readonly deliveries = new Counter({
    name: 'hookrelay_deliveries_total',
    help: 'Deliveries finished, by destination and outcome (succeeded, failed, superseded, muted, skipped, fallback: handed to its fallback)',
    labelNames: ['destination', 'outcome'],
    registers: [this.registry],
    collect: () => {
      for (const series of this.#series.values()) series.flushFinished(this.deliveries);
    },
  });
  readonly ruleDecisions = new Counter({
    name: 'hookrelay_rule_decisions_total',
    help: 'Decisions of the noise rules (mute, inhibit, group, threshold, repeat) about deliveries',
    labelNames: ['rule', 'decision'],
    registers: [this.registry],
  });
  readonly attemptDuration = new Histogram({
    name: 'hookrelay_delivery_attempt_duration_seconds',
    help: 'Time one attempt took, request to response',
    labelNames: ['destination'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  readonly endToEnd = new Histogram({
    name: 'hookrelay_delivery_latency_seconds',
    help: 'From receiving the event to its successful delivery',
    labelNames: ['destination'],
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'hookrelay_queue_depth_deliveries',
    help: 'Deliveries pending or in flight, by destination',
    labelNames: ['destination'],
    registers: [this.registry],
    collect: () => this.#collectQueues(),
  });
  readonly queueOldestAge = new Gauge({
    name: 'hookrelay_queue_oldest_age_seconds',
    help: 'Age of the oldest delivery pending or in flight, by destination (0 when none waits)',
    labelNames: ['destination'],
    registers: [this.registry],
    collect: () => this.#collectQueues(),
  });
  readonly destinationEnabled = new Gauge({
    name: 'hookrelay_destination_enabled',
    help: '1 when the destination is enabled, 0 when disabled',
    labelNames: ['destination'],
    registers: [this.registry],
    collect: () => this.#collectQueues(),
  });

  readonly breakerTransitions = new Counter({
    name: 'hookrelay_destination_circuit_transitions_total',
    help: 'Destination circuit breaker opened (disabled) or closed (enabled again)',
    labelNames: ['destination', 'state'],
    registers: [this.registry],
  });

  constructor(options: MetricsOptions = {}) {
    this.#options = options;
    this.#configured = options.destinations ? new Set(options.destinations) : null;
    // prom-client names its defaults process_* and nodejs_*: the prefix makes them hookrelay_process_*.
    collectDefaultMetrics({ register: this.registry, prefix: 'hookrelay_' });
  }

  /** One destination's delivery series (the send path's), made once per destination. */
  deliverySeries(destination: string): DeliverySeries {
    let series = this.#series.get(destination);
    if (series === undefined) {
      series = new DeliverySeries(destination, this.attemptDuration, this.endToEnd);
      this.#series.set(destination, series);
    }
    return series;
  }

  /** The three queue gauges share one cached read (applied once); a failed read leaves the last values. */
  #collectQueues(): Promise<void> {
    const { queues } = this.#options;
    if (!queues) return Promise.resolve();
    const now = (this.#options.now ?? systemClock.now)();
    if (!this.#queues || now - this.#queues.at >= (this.#options.queueCacheMs ?? 5_000)) {
      this.#queues = {
        at: now,
        read: queues().then(
          (stats) => this.#apply(stats, now),
          () => undefined,
        ),
      };
    }
    return this.#queues.read;
  }

  #apply(stats: readonly QueueStat[], now: number): void {
    this.queueDepth.reset();
    this.queueOldestAge.reset();
    this.destinationEnabled.reset();
    for (const stat of stats) {
      if (this.#configured && !this.#configured.has(stat.destination)) continue;
      const labels = { destination: stat.destination };
      this.queueDepth.set(labels, stat.depth);
      this.queueOldestAge.set(labels, stat.oldest_pending_at === null ? 0 : Math.max(0, (now - stat.oldest_pending_at) / 1_000));
      this.destinationEnabled.set(labels, stat.enabled ? 1 : 0);
    }
  }
}

/**
 * A destination's metrics on the send path, counted per delivery. prom-client validates and
 * hashes a label set on every `inc`/`observe`; here the two counters add to plain numbers, which
 * their `collect` (run at each scrape, and by `get()`) hands to prom-client, and the histograms
 * get one label object made once.
 */
export class DeliverySeries {
  readonly #destination: string;
  readonly #labels: { readonly destination: string };
  readonly #attemptDuration: Histogram;
  readonly #endToEnd: Histogram;
  readonly #attempts = new Map<string, number>();
  readonly #finished = new Map<string, number>();

  constructor(destination: string, attemptDuration: Histogram, endToEnd: Histogram) {
    this.#destination = destination;
    this.#labels = { destination };
    this.#attemptDuration = attemptDuration;
    this.#endToEnd = endToEnd;
  }

  /** `hookrelay_delivery_attempts_total{destination, outcome}` + 1. */
  attempted(outcome: string): void {
    this.#attempts.set(outcome, (this.#attempts.get(outcome) ?? 0) + 1);
  }

  /** `hookrelay_deliveries_total{destination, outcome}` + `count`. */
  finished(outcome: string, count: number): void {
    this.#finished.set(outcome, (this.#finished.get(outcome) ?? 0) + count);
  }

  attemptSeconds(seconds: number): void {
    this.#attemptDuration.observe(this.#labels, seconds);
  }

  latencySeconds(seconds: number): void {
    this.#endToEnd.observe(this.#labels, seconds);
  }

  flushAttempts(counter: Counter): void {
    flush(this.#attempts, this.#destination, counter);
  }

  flushFinished(counter: Counter): void {
    flush(this.#finished, this.#destination, counter);
  }
}

function flush(counts: Map<string, number>, destination: string, counter: Counter): void {
  for (const [outcome, count] of counts) if (count > 0) counter.inc({ destination, outcome }, count);
  counts.clear();
}
