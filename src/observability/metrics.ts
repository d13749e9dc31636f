import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Prometheus metrics. Labels are bounded: source, destination, outcome — never an id. */
export class Metrics {
  readonly registry = new Registry();
  readonly eventsReceived = new Counter({
    name: 'hookrelay_events_received_total',
    help: 'Requests to /hooks/:source by outcome (accepted, duplicate, or the refusal code)',
    labelNames: ['source', 'outcome'],
    registers: [this.registry],
  });
  readonly deliveryAttempts = new Counter({
    name: 'hookrelay_delivery_attempts_total',
    help: 'Delivery attempts by destination and outcome (succeeded, retry, failed)',
    labelNames: ['destination', 'outcome'],
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
  readonly pending = new Gauge({
    name: 'hookrelay_deliveries_pending',
    help: 'Deliveries waiting or in flight, by destination',
    labelNames: ['destination'],
    registers: [this.registry],
  });
  readonly destinationEnabled = new Gauge({
    name: 'hookrelay_destination_enabled',
    help: '1 when the destination is enabled, 0 when auto-disabled',
    labelNames: ['destination'],
    registers: [this.registry],
  });

  readonly ruleDecisions = new Counter({
    name: 'hookrelay_rule_decisions_total',
    help: 'Deliveries the notification stage held back, by rule (mute, repeat, superseded, …)',
    labelNames: ['rule', 'decision'],
    registers: [this.registry],
  });
  readonly breakerTransitions = new Counter({
    name: 'hookrelay_destination_circuit_transitions_total',
    help: 'Destination circuit breaker opened (disabled) or closed (enabled again)',
    labelNames: ['destination', 'state'],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hookrelay_process_' });
  }
}
