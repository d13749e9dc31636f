import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import { BreakerWatch, breakerPolicy, DEFAULT_PROBE_BACKOFF_MS } from '../../src/dispatch/breaker-watch.ts';
import type { CircuitNews } from '../../src/dispatch/breaker-watch.ts';
import type { BreakerChange } from '../../src/notify/breaker.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import { ManualClock } from '../support/clock.ts';

/**
 * The breaker watch on its own: the store's verdicts on the circuit come in as a record or a
 * claim says them, and the test sees what the lane is told to do, what is logged, counted and
 * announced.
 */
let clock: ManualClock;
let metrics: Metrics;
let logged: Array<{ level: number; msg: string; [key: string]: unknown }>;
let changes: BreakerChange[];
let lane: string[];

beforeEach(() => {
  clock = new ManualClock();
  metrics = new Metrics();
  logged = [];
  changes = [];
  lane = [];
});

function watch(autoEnable?: boolean, announce = true, fallback?: string): BreakerWatch {
  return new BreakerWatch({
    fallback,
    destination: 'ops',
    policy: breakerPolicy({ auto_enable: autoEnable }, 3, [10_000, 20_000]),
    clock,
    logger: pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line) as (typeof logged)[number]) }),
    metrics,
    onBreakerChange: announce ? (change) => changes.push(change) : undefined,
    lane: {
      dropHeldWork: () => lane.push('drop held work'),
      wake: (at) => lane.push(`wake at +${at - clock.now()} ms`),
      pump: () => lane.push('pump'),
    },
  });
}

const health = { name: 'ops', consecutive_failures: 3, pending: 12 };
const opened: CircuitNews = { destination: { ...health, enabled: false }, disabled_now: true, enabled_now: false };
const stillOpen: CircuitNews = { destination: { ...health, consecutive_failures: 4, pending: null, enabled: false }, disabled_now: false, enabled_now: false };
const closed: CircuitNews = { destination: { ...health, consecutive_failures: 0, pending: null, enabled: true }, disabled_now: false, enabled_now: true };
const fine: CircuitNews = { destination: { ...health, consecutive_failures: 0, pending: null, enabled: true }, disabled_now: false, enabled_now: false };

async function transitions(state: 'open' | 'closed'): Promise<number> {
  return (await metrics.breakerTransitions.get()).values.find((value) => value.labels.state === state)?.value ?? 0;
}

describe('breaker watch', () => {
  it('the attempt that opens the circuit: held work goes back, the lane looks for its probe now, and people are told when the probe goes', async () => {
    const circuit = watch();
    circuit.setEnabled(true);
    circuit.afterAttempt(opened, 'HTTP 503');

    expect(circuit.enabled).toBe(false);
    expect(lane).toEqual(['drop held work', 'wake at +0 ms']);
    expect(changes).toEqual([{ destination: 'ops', state: 'open', consecutive_failures: 3, last_error: 'HTTP 503', probe_at: clock.now() + 10_000 }]);
    expect(await transitions('open')).toBe(1);
    const line = logged.find((entry) => entry.msg.startsWith('DESTINATION DISABLED'));
    expect(line).toMatchObject({ level: 50, destination: 'ops', consecutive_failures: 3, last_error: 'HTTP 503', pending: 12 });
    expect(line?.msg).toContain(`a probe goes at ${new Date(clock.now() + 10_000).toISOString()}`);
  });

  it('with a fallback the log line says where its deliveries go meanwhile, not that they wait', () => {
    const circuit = watch(undefined, true, 'ops-slack');
    circuit.setEnabled(true);
    circuit.afterAttempt(opened, 'HTTP 503');
    const line = logged.find((entry) => entry.msg.startsWith('DESTINATION DISABLED'))?.msg;
    expect(line).toContain('Its deliveries go to its fallback "ops-slack" meanwhile, marked as such; a probe goes at');
    expect(line).not.toContain('wait as pending');
  });

  it('auto_enable: false → no probe time, and the log line says how to enable it by hand', () => {
    const circuit = watch(false);
    circuit.setEnabled(true);
    circuit.afterAttempt(opened, 'HTTP 401');

    expect(circuit.probes).toBe(false);
    expect(changes).toEqual([{ destination: 'ops', state: 'open', consecutive_failures: 3, last_error: 'HTTP 401', probe_at: null }]);
    expect(logged.find((entry) => entry.msg.startsWith('DESTINATION DISABLED'))?.msg).toContain('POST /api/v1/destinations/ops/enable');
  });

  it('a failed probe while open: no second announcement and nothing more to drop, but the lane looks for the next probe', async () => {
    const circuit = watch();
    circuit.setEnabled(true);
    circuit.afterAttempt(opened, 'HTTP 503');
    lane.length = 0;
    circuit.afterAttempt(stillOpen, 'HTTP 503');

    expect(lane).toEqual(['wake at +0 ms']);
    expect(changes).toHaveLength(1);
    expect(await transitions('open')).toBe(1);
  });

  it('the probe that closes the circuit: the backlog flows at once and people are told', async () => {
    const circuit = watch();
    circuit.setEnabled(true);
    circuit.afterAttempt(opened, 'HTTP 503');
    lane.length = 0;
    circuit.afterAttempt(closed, null);

    expect(circuit.enabled).toBe(true);
    expect(lane).toEqual(['pump']);
    expect(changes.at(-1)).toEqual({ destination: 'ops', state: 'closed', consecutive_failures: 0, last_error: null, probe_at: null });
    expect(await transitions('closed')).toBe(1);
    expect(logged).toContainEqual(expect.objectContaining({ level: 40, destination: 'ops', msg: expect.stringMatching(/^DESTINATION ENABLED AGAIN: "ops"/) }));
  });

  it('with nobody to announce changes to (no Slack), the circuit still opens and closes for the lane, and is logged', () => {
    const circuit = watch(true, false);
    circuit.setEnabled(true);
    circuit.afterAttempt(opened, 'HTTP 503');
    circuit.afterAttempt(closed, null);

    expect(lane).toEqual(['drop held work', 'wake at +0 ms', 'pump']);
    expect(logged.map((entry) => entry.msg.split(':')[0])).toEqual(['DESTINATION DISABLED', 'DESTINATION ENABLED AGAIN']);
  });

  it('an ordinary success says nothing and asks nothing of the lane', async () => {
    const circuit = watch();
    circuit.setEnabled(true);
    circuit.afterAttempt(fine, null);

    expect(lane).toEqual([]);
    expect(changes).toEqual([]);
    expect(await transitions('open')).toBe(0);
  });

  it('a claim that read the circuit open (another replica opened it) drops held work once; one that read it closed lets work flow', () => {
    const circuit = watch();
    circuit.setEnabled(true);
    circuit.fromClaim(false, circuit.news);
    expect(circuit.enabled).toBe(false);
    expect(lane).toEqual(['drop held work']);

    circuit.fromClaim(false, circuit.news);
    circuit.fromClaim(true, circuit.news);
    expect(circuit.enabled).toBe(true);
    expect(lane).toEqual(['drop held work']);
    // The store's word on a transition another process made: not announced here.
    expect(changes).toEqual([]);
  });

  it("a claim that began before this lane's own news does not overrule it", () => {
    const circuit = watch();
    circuit.setEnabled(true);
    const claimBegan = circuit.news;
    circuit.afterAttempt(opened, 'HTTP 503');
    // The claim read the circuit still closed, before the attempt above was recorded.
    circuit.fromClaim(true, claimBegan);
    expect(circuit.enabled).toBe(false);

    // An enable through this process wins over a claim that read the open circuit before it.
    const secondClaim = circuit.news;
    circuit.setEnabled(true);
    circuit.fromClaim(false, secondClaim);
    expect(circuit.enabled).toBe(true);
  });

  it('a claim without a word on the circuit changes nothing; before the store said, the state is unknown', () => {
    const circuit = watch();
    expect(circuit.enabled).toBeNull();
    circuit.fromClaim(undefined, circuit.news);
    expect(circuit.enabled).toBeNull();
    // Unknown → open (the state at start was never read): nothing was held on a known-good circuit.
    circuit.fromClaim(false, circuit.news);
    expect(lane).toEqual([]);
  });

  it('the policy: probes back off as configured, or by default; auto_enable: false never probes', () => {
    expect(breakerPolicy({}, 5, undefined)).toEqual({ disable_after: 5, probe_backoff_ms: DEFAULT_PROBE_BACKOFF_MS });
    expect(breakerPolicy({ auto_enable: true }, 5, [1_000])).toEqual({ disable_after: 5, probe_backoff_ms: [1_000] });
    expect(breakerPolicy({ auto_enable: false }, 5, [1_000])).toEqual({ disable_after: 5, probe_backoff_ms: null });
  });
});
