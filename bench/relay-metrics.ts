/**
 * hookrelay's own counters, read from its Prometheus endpoint: how many events it
 * committed, how many deliveries succeeded, how many still wait. The bench uses them to
 * know exactly when a backlog has drained (autocannon's own count misses requests that
 * were committed while autocannon was already closing the connection).
 */
export interface RelayCounters {
  readonly accepted: number;
  readonly delivered: number;
  readonly pending: number;
}

/** Sum of every sample of `name` whose label set contains `labels` (e.g. `outcome="accepted"`). */
function sample(text: string, name: string, labels: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) || !line.includes(labels)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) total += value;
  }
  return total;
}

export async function readCounters(url: string): Promise<RelayCounters> {
  const response = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET /metrics answered ${response.status}: ${text.slice(0, 200)}`);
  return {
    accepted: sample(text, 'hookrelay_events_received_total', 'outcome="accepted"'),
    delivered: sample(text, 'hookrelay_delivery_attempts_total', 'outcome="succeeded"'),
    // Pending or in flight, by destination (read from the store, cached by hookrelay for up to 5 s).
    pending: sample(text, 'hookrelay_queue_depth_deliveries', 'destination='),
  };
}

/**
 * Polls until nothing is pending. Resolves with the final counters and how long it took;
 * `drained` is false when `timeoutMs` ran out first (the bench says so instead of hanging).
 */
export async function waitForDrain(url: string, timeoutMs: number): Promise<RelayCounters & { drained: boolean; ms: number }> {
  const started = Date.now();
  for (;;) {
    const counters = await readCounters(url);
    const ms = Date.now() - started;
    if (counters.pending === 0) return { ...counters, drained: true, ms };
    if (ms > timeoutMs) return { ...counters, drained: false, ms };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
