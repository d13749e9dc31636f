import pino from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Destination, OutboundRequest } from '../../src/destinations/destination.ts';
import type { SendResult } from '../../src/destinations/http-client.ts';
import { AttemptRunner } from '../../src/dispatch/attempt-runner.ts';
import type { AttemptLane, AttemptRunnerOptions } from '../../src/dispatch/attempt-runner.ts';
import { breakerPolicy } from '../../src/dispatch/breaker-watch.ts';
import type { CircuitNews } from '../../src/dispatch/breaker-watch.ts';
import { SuspectGate } from '../../src/dispatch/crash-guard.ts';
import type { StageVerdict } from '../../src/notify/pipeline.ts';
import { Metrics } from '../../src/observability/metrics.ts';
import type { AttemptResult, ChainRequest, ClaimedDelivery, FallbackHandOff, HoldKinds, HoldRequest, LeaseKinds, NotificationEntry, RecordedAttempt, Store as StorePort } from '../../src/store/store.ts';
import { TemplateRenderError } from '../../src/templates/types.ts';
import type { TemplateContext } from '../../src/templates/types.ts';
import { newId } from '../../src/util/ids.ts';
import { ManualClock } from '../support/clock.ts';
import { relayEvent } from '../support/events.ts';

/**
 * The attempt runner on its own: a destination, a notification stage, a store and a lane that
 * the test scripts and watches. What a user would notice is what each records: the request sent,
 * the attempt's outcome and health, when it is tried again, and when its slot frees.
 */

const ok = (extra: Partial<SendResult> = {}): SendResult => ({ kind: 'success', status: 200, body: 'ok', retry_after_ms: null, rate_limited: false, error: null, latency_ms: 12, ...extra });
const unavailable: SendResult = { kind: 'retry', status: 503, body: 'down', retry_after_ms: null, rate_limited: false, error: 'HTTP 503', latency_ms: 12 };

function claimed(overrides: Partial<ClaimedDelivery> = {}): ClaimedDelivery {
  const event = relayEvent({ dedup_key: 'db:primary' });
  return { id: newId('dlv'), destination: 'ops', event, member_ids: [], events: [event], attempts: 0, request_body: null, unordered: false, route: 'all', probe: false, rule_keys: [null], ...overrides };
}

/** A store that records what it is asked; records commit when the test lets them (all at once by default). */
class Store {
  readonly records: AttemptResult[] = [];
  readonly held: HoldRequest[] = [];
  readonly marked: string[][] = [];
  /** Thrown by the next record calls, in turn. */
  readonly recordErrors: Error[] = [];
  gate: Promise<void> | null = null;
  answer: Partial<RecordedAttempt> = {};

  async commitAttempts(results: readonly AttemptResult[]): Promise<RecordedAttempt[]> {
    await this.gate;
    const error = this.recordErrors.shift();
    if (error) throw error;
    this.records.push(...results);
    return results.map(() => ({ recorded: true, destination: { name: 'ops', enabled: true, consecutive_failures: 0, pending: null }, disabled_now: false, enabled_now: false, incident_stale: false, ...this.answer }));
  }

  readonly handOffs: FallbackHandOff[] = [];
  readonly holds = (async (kind: keyof HoldKinds, request: HoldRequest | FallbackHandOff): Promise<number | undefined> => {
    if (kind === 'hold') this.held.push(request as HoldRequest);
    if (kind !== 'fallback') return undefined;
    const handOff = request as FallbackHandOff;
    this.handOffs.push(handOff);
    return handOff.ids.length;
  }) as StorePort['holds'];

  readonly leases = (async (kind: keyof LeaseKinds, ids: readonly string[]): Promise<void> => {
    if (kind === 'started') this.marked.push([...ids]);
  }) as StorePort['leases'];

  readonly told: NotificationEntry[] = [];
  async notificationLog(destination: string, dedupKeys: readonly string[]): Promise<NotificationEntry[]> {
    return this.told.filter((entry) => entry.destination === destination && dedupKeys.includes(entry.dedup_key));
  }
}

/** The lane as the runner sees it, recording every call in order. */
class Lane implements AttemptLane {
  stopped = false;
  budget = true;
  readonly calls: string[] = [];
  readonly givenBack: string[] = [];
  readonly rate = {
    takeBudget: async (): Promise<boolean> => this.budget,
    tooManyRequests: (ms: number): void => void this.calls.push(`pause ${ms} ms`),
  };
  begin(delivery: ClaimedDelivery): void {
    this.calls.push(`begin ${delivery.id}`);
  }
  end(delivery: ClaimedDelivery, recording: Promise<void> | null): void {
    this.calls.push(`end ${delivery.id}${recording ? ' (record committing)' : ''}`);
  }
  async giveBack(deliveries: readonly ClaimedDelivery[]): Promise<void> {
    this.givenBack.push(...deliveries.map((delivery) => delivery.id));
  }
  wake(at: number): void {
    this.calls.push(`wake at +${at - clock.now()} ms`);
  }
  async pump(): Promise<void> {
    this.calls.push('pump');
  }
  /** The room the lane offers for an incident's next delivery (none unless a test gives it). */
  chain: ChainRequest | null = null;
  /** For each chain asked for: whether its record writes what a later delivery reads (no run then). */
  readonly chainLogs: boolean[] = [];
  chainNext(_after: ClaimedDelivery, logs = false): ChainRequest | null {
    this.chainLogs.push(logs);
    return this.chain;
  }
  adoptNext(next: ClaimedDelivery | null, after: ClaimedDelivery): void {
    this.calls.push(`chained ${next?.id ?? 'nothing'} after ${after.id}`);
  }
  /** Runs this lane never chains (none is adopted here). */
  dropRun(): void {}
}

let clock: ManualClock;
let store: Store;
let lane: Lane;
let sent: OutboundRequest[];
let contexts: TemplateContext[];
let respond: (request: OutboundRequest) => Promise<SendResult>;
let renderWith: (context: TemplateContext) => string;
let verdict: (delivery: ClaimedDelivery) => StageVerdict;
let circuit: { enabled: boolean | null; news: CircuitNews[]; afterAttempt(recorded: CircuitNews, error: string | null): void };
let refreshed: string[];
/** Redraws an incident's message (slack-bot); the test may make it fail. */
let refresh: (dedupKey: string) => Promise<void>;
let logged: Array<{ level: number; msg: string; [field: string]: unknown }>;
let metrics: Metrics;

beforeEach(() => {
  clock = new ManualClock();
  store = new Store();
  lane = new Lane();
  sent = [];
  contexts = [];
  refreshed = [];
  refresh = async (dedupKey) => void refreshed.push(dedupKey);
  logged = [];
  metrics = new Metrics();
  respond = async () => ok();
  renderWith = (context) => JSON.stringify({ id: context.id });
  verdict = (delivery) => ({ send: delivery, held: [] });
  circuit = { enabled: true, news: [], afterAttempt: (recorded) => void circuit.news.push(recorded) };
});

const destination: Destination = {
  name: 'ops',
  type: 'http',
  template: 'http/default',
  limits: { concurrency: 1, rate: null, timeout_ms: 5_000 },
  urls: [],
  prepare: () => undefined,
  render: (context) => {
    contexts.push(context);
    return renderWith(context);
  },
  send: async (request) => {
    sent.push(request);
    return respond(request);
  },
  refreshIncident: (dedupKey) => refresh(dedupKey),
};

function runner(suspects = new SuspectGate(), to: Destination = destination, fallback?: AttemptRunnerOptions['fallback']): AttemptRunner {
  return new AttemptRunner({ ...(fallback ? { fallback } : {}), ...runnerOptions(suspects, to) });
}

function runnerOptions(suspects = new SuspectGate(), to: Destination = destination): ConstructorParameters<typeof AttemptRunner>[0] {
  return {
    destination: to,
    store,
    stage: { decide: async (delivery) => verdict(delivery) },
    retry: { schedule: [1_000, 2_000], disable_after: 3 },
    breaker: breakerPolicy({}, 3, [10_000]),
    owner: 'me',
    version: 'test',
    clock,
    logger: pino({ level: 'info' }, { write: (line: string) => logged.push(JSON.parse(line) as (typeof logged)[number]) }),
    metrics,
    suspects,
    lane,
    circuit,
  };
}

/** A record gate the test opens. */
function holdRecords(): () => void {
  let open!: () => void;
  store.gate = new Promise<void>((resolve) => (open = resolve));
  return open;
}

describe("attempt runner: an incident's next update, leased by the commit of the one ahead", () => {
  const chain: ChainRequest = { lease_ms: 60_000, storm: null };

  it('a success asks its commit for the next one; the lane starts what it leased as soon as the record is in', async () => {
    lane.chain = chain;
    const delivery = claimed();
    const next = claimed();
    store.answer = { next };
    const open = holdRecords();
    await runner().attempt(delivery);
    expect(lane.calls).toEqual([`begin ${delivery.id}`, `end ${delivery.id} (record committing)`]);
    open();
    await clock.advance(0);
    expect(store.records).toEqual([expect.objectContaining({ delivery_id: delivery.id, outcome: 'succeeded', chain })]);
    expect(lane.calls).toEqual([`begin ${delivery.id}`, `end ${delivery.id} (record committing)`, `chained ${next.id} after ${delivery.id}`]);
  });

  it('a failure that gives up asks too, and the next one is held before the slot frees', async () => {
    lane.chain = chain;
    respond = async () => unavailable;
    const delivery = claimed({ attempts: 2 });
    const next = claimed();
    store.answer = { next };
    await runner().attempt(delivery);
    expect(store.records[0]).toMatchObject({ outcome: 'failed', chain });
    expect(lane.calls).toEqual([`begin ${delivery.id}`, `chained ${next.id} after ${delivery.id}`, `end ${delivery.id}`]);
  });

  it('nothing is asked for a retry (it stays first of its incident), a replay or command, a probe, or by a lane that takes no work now', async () => {
    lane.chain = chain;
    respond = async () => unavailable;
    await runner().attempt(claimed());
    respond = async () => ok();
    await runner().attempt(claimed({ unordered: true }));
    await runner().attempt(claimed({ probe: true }));
    lane.chain = null;
    await runner().attempt(claimed());
    await clock.advance(0);
    expect(store.records).toHaveLength(4);
    expect(store.records.map((record) => record.chain)).toEqual([undefined, undefined, undefined, undefined]);
    expect(lane.calls.filter((call) => call.startsWith('chained'))).toEqual([]);
  });

  it('a lease lost meanwhile: nothing recorded, and the lane is told nothing was leased', async () => {
    lane.chain = chain;
    store.answer = { recorded: false, next: null };
    const delivery = claimed();
    const open = holdRecords();
    await runner().attempt(delivery);
    open();
    await clock.advance(0);
    expect(lane.calls).toEqual([`begin ${delivery.id}`, `end ${delivery.id} (record committing)`, `chained nothing after ${delivery.id}`]);
    expect(circuit.news).toEqual([]);
  });
});

describe('attempt runner: outcomes', () => {
  it('a success: the request drawn from the template goes out, the slot frees while its record commits, then the breaker hears of it', async () => {
    const delivery = claimed();
    const open = holdRecords();
    await runner().attempt(delivery);
    expect(sent).toEqual([expect.objectContaining({ delivery_id: delivery.id, attempt: 1, body: JSON.stringify({ id: delivery.event.id }) })]);
    expect(lane.calls).toEqual([`begin ${delivery.id}`, `end ${delivery.id} (record committing)`]);
    expect(circuit.news).toEqual([]);

    open();
    await clock.advance(0);
    expect(store.records).toEqual([expect.objectContaining({ delivery_id: delivery.id, outcome: 'succeeded', health: 'success', lease_owner: 'me', response_code: 200, next_attempt_at: null })]);
    expect(store.records[0]!.notified).toEqual([expect.objectContaining({ destination: 'ops', dedup_key: 'db:primary', delivery_id: delivery.id, sent_at: clock.now() })]);
    expect(circuit.news).toHaveLength(1);
    expect(logged.map((line) => line.msg)).toEqual(['delivered']);
  });

  it('a success stores neither body (a retry keeps both): what went out is in the event and its template', async () => {
    await runner().attempt(claimed());
    respond = async () => unavailable;
    await runner().attempt(claimed());
    const [success, retry] = store.records;
    expect(success).toMatchObject({ outcome: 'succeeded', request_body: null, response_body: null, response_code: 200 });
    expect(retry).toMatchObject({ outcome: 'retry', response_body: 'down', response_code: 503 });
    expect(retry!.request_body).toBe(sent[1]!.body);
  });

  it('a destination that acknowledges incidents (PagerDuty) keeps the request a success sent: acknowledge reads its dedup key', async () => {
    const acknowledging: Destination = { ...destination, acknowledge: (dedupKey) => JSON.stringify({ dedup_key: dedupKey }) };
    await runner(new SuspectGate(), acknowledging).attempt(claimed());
    expect(store.records[0]).toMatchObject({ outcome: 'succeeded', request_body: sent[0]!.body, response_body: null });
  });

  it('a fallback copy sent to a stateful destination (a slack-bot card) asks for no run: its record writes what the next copy reads', async () => {
    const stage = { decide: async (delivery: ClaimedDelivery) => verdict(delivery), logsNotifications: () => false };
    const copy = () => claimed({ fallback_for: { destination: 'oncall', delivery_id: 'dlv_original' } });
    await new AttemptRunner({ ...runnerOptions(new SuspectGate(), { ...destination, stateful: true }), stage }).attempt(copy());
    await new AttemptRunner({ ...runnerOptions(), stage }).attempt(copy());
    expect(lane.chainLogs).toEqual([true, false]);
  });

  it('a success tells the notification log nothing where the stage says no rule reads it', async () => {
    const quiet = new AttemptRunner({
      ...runnerOptions(),
      stage: { decide: async (delivery) => verdict(delivery), logsNotifications: () => false },
    });
    await quiet.attempt(claimed());
    expect(store.records[0]).toMatchObject({ outcome: 'succeeded', notified: [] });
  });

  it('a failure keeps its slot until recorded, and comes back on the retry schedule', async () => {
    respond = async () => unavailable;
    const delivery = claimed();
    const open = holdRecords();
    const attempt = runner().attempt(delivery);
    await clock.advance(0);
    expect(sent).toHaveLength(1);
    expect(lane.calls).toEqual([`begin ${delivery.id}`]);
    open();
    await attempt;
    const [record] = store.records;
    expect(record).toMatchObject({ outcome: 'retry', health: 'failure', error: 'HTTP 503', notified: [] });
    // The first step of the schedule, ±20 %.
    const wait = record!.next_attempt_at! - clock.now();
    expect(wait).toBeGreaterThanOrEqual(800);
    expect(wait).toBeLessThanOrEqual(1_200);
    expect(lane.calls).toEqual([`begin ${delivery.id}`, `wake at +${wait} ms`, `end ${delivery.id}`]);
  });

  it('the last step of the schedule fails the delivery for good (a warning)', async () => {
    respond = async () => unavailable;
    await runner().attempt(claimed({ attempts: 2, request_body: '{"kept":true}' }));
    expect(sent[0]).toMatchObject({ attempt: 3, body: '{"kept":true}' });
    expect(contexts).toEqual([]);
    expect(store.records[0]).toMatchObject({ outcome: 'failed', next_attempt_at: null, request_body: '{"kept":true}' });
    expect(logged).toEqual([expect.objectContaining({ level: 40, msg: 'delivery failed' })]);
  });

  it('a probe that succeeds keeps its slot until recorded: the circuit closes before the backlog takes the slot', async () => {
    const probe = claimed({ probe: true });
    await runner().attempt(probe);
    expect(lane.calls).toEqual([`begin ${probe.id}`, `end ${probe.id}`]);
    expect(store.records[0]).toMatchObject({ probe: true, outcome: 'succeeded', breaker: { disable_after: 3, probe_backoff_ms: [10_000] } });
  });

  it('429 with Retry-After: the lane pauses as long, and the retry comes back then (not on the schedule)', async () => {
    respond = async () => ({ ...unavailable, status: 429, retry_after_ms: 7_000, rate_limited: true, error: 'HTTP 429' });
    await runner().attempt(claimed());
    expect(store.records[0]).toMatchObject({ outcome: 'retry', health: 'neutral', next_attempt_at: clock.now() + 7_000 });
    expect(lane.calls).toContain('pause 7000 ms');
  });

  it('a template that cannot draw the event fails it without contacting the destination or counting against its health', async () => {
    renderWith = () => {
      throw new TemplateRenderError('http/default', 'output over 1 MB');
    };
    const delivery = claimed();
    const open = holdRecords();
    const attempt = runner().attempt(delivery);
    await clock.advance(0);
    // A failure: it keeps its slot until recorded.
    expect(lane.calls).toEqual([`begin ${delivery.id}`]);
    open();
    await attempt;
    expect(sent).toEqual([]);
    expect(store.records[0]).toMatchObject({ outcome: 'failed', health: 'neutral', error: 'template http/default: output over 1 MB', request_body: null });
  });

  it('a template failing in another template it uses names both', async () => {
    renderWith = () => {
      throw new TemplateRenderError('http/partial', 'unknown helper "nope"');
    };
    await runner().attempt(claimed());
    expect(store.records[0]).toMatchObject({ outcome: 'failed', error: 'template http/default: http/partial: unknown helper "nope"' });
  });

  it('anything else that stops the request being drawn is retried, still without touching health', async () => {
    renderWith = () => {
      throw new Error('store closed');
    };
    await runner().attempt(claimed());
    expect(store.records[0]).toMatchObject({ outcome: 'retry', health: 'neutral', error: 'could not prepare the request: store closed' });
  });

  it('a send that throws is a retry with its message, and the time it took', async () => {
    let hangUp!: () => void;
    respond = () => new Promise<SendResult>((_resolve, reject) => (hangUp = () => reject(new Error('socket hang up'))));
    const attempt = runner().attempt(claimed());
    await clock.advance(0);
    expect(sent).toHaveLength(1);
    await clock.advance(3_000);
    hangUp();
    await attempt;
    expect(store.records[0]).toMatchObject({ outcome: 'retry', health: 'failure', error: 'socket hang up', latency_ms: 3_000 });
  });

  it("the template sees the threshold that let it go, and a digest's view", async () => {
    const member = relayEvent({ dedup_key: 'db:replica' });
    const digest = claimed({ digest: true, member_ids: ['dlv_2'], rule_keys: [null, null] });
    verdict = (delivery) => ({ send: { ...delivery, events: [delivery.event, member] }, held: [], threshold: { count: 5, within_ms: 600_000 } });
    await runner().attempt(digest);
    expect(contexts[0]).toMatchObject({ threshold: { count: 5, within: '10m' }, digest: { count: 2 }, hookrelay: { version: 'test', destination: 'ops', delivery_id: digest.id } });
    // Without a storm setting, a digest names up to five worst incidents: both here.
    expect(contexts[0]!.digest!.worst).toHaveLength(2);
    expect(store.records[0]).toMatchObject({ digest: true, member_ids: ['dlv_2'] });
  });

  it("a digest names as many worst incidents as the destination's storm.worst says", async () => {
    const member = relayEvent({ dedup_key: 'db:replica' });
    const digest = claimed({ digest: true, member_ids: ['dlv_2'], rule_keys: [null, null] });
    await runner(new SuspectGate(), { ...destination, storm: { horizon_ms: 60_000, worst: 1 } }).attempt({ ...digest, events: [digest.event, member] });
    expect(contexts[0]!.digest).toMatchObject({ count: 2, more: 1 });
    expect(contexts[0]!.digest!.worst).toHaveLength(1);
  });
});

describe('attempt runner: before the send', () => {
  it('the circuit opened while it waited: given back untouched; a probe still goes', async () => {
    circuit.enabled = false;
    const waiting = claimed();
    await runner().attempt(waiting);
    expect(lane.givenBack).toEqual([waiting.id]);
    expect(sent).toEqual([]);
    expect(store.records).toEqual([]);
    await runner().attempt(claimed({ probe: true }));
    expect(sent).toHaveLength(1);
  });

  it('what the notification stage holds is recorded as held; a batch shrinks to what still goes', async () => {
    const batch = claimed({ member_ids: ['dlv_muted'], rule_keys: [null, null] });
    verdict = (delivery) => ({ send: { ...delivery, member_ids: [] }, held: [{ ids: ['dlv_muted'], hold: { rule: 'mute', status: 'muted', note: 'muted by mut_1' } }] });
    await runner().attempt(batch);
    expect(store.held).toEqual([{ ids: ['dlv_muted'], lease_owner: 'me', status: 'muted', note: 'muted by mut_1', now: clock.now(), probe_of: null, held_by: null }]);
    expect(store.records[0]).toMatchObject({ delivery_id: batch.id, member_ids: [] });
    expect(logged.map((line) => line.msg)).toEqual(['delivery held: muted by mut_1', 'delivered']);
    expect(logged[0]).toMatchObject({ destination: 'ops', title: batch.event.title, rule: 'mute', note: 'muted by mut_1', deliveries: ['dlv_muted'] });
    const decisions = (await metrics.ruleDecisions.get()).values.map(({ labels, value }) => ({ ...labels, value }));
    expect(decisions).toEqual([{ rule: 'mute', decision: 'muted', value: 1 }]);
  });

  it('a held probe: the next delivery is probed at once', async () => {
    const probe = claimed({ probe: true });
    verdict = (delivery) => ({ send: null, held: [{ ids: [delivery.id], hold: { rule: 'repeat', status: 'skipped', note: 'repeat within 4h' } }] });
    await runner().attempt(probe);
    expect(store.held[0]).toMatchObject({ ids: [probe.id], probe_of: 'ops' });
    expect(lane.calls).toEqual([`begin ${probe.id}`, 'pump', `end ${probe.id}`]);
    expect(sent).toEqual([]);
    // Held, and that is all: nothing went wrong.
    expect(logged.map((line) => line.msg)).toEqual(['delivery held: repeat within 4h']);

    // Any other delivery held whole: its slot simply frees.
    const ordinary = claimed();
    lane.calls.length = 0;
    await runner().attempt(ordinary);
    expect(lane.calls).toEqual([`begin ${ordinary.id}`, `end ${ordinary.id}`]);
  });

  it('stopping while it waited for the rate budget: given back, not sent', async () => {
    lane.budget = false;
    const delivery = claimed();
    await runner().attempt(delivery);
    expect(lane.givenBack).toEqual([delivery.id]);
    expect(sent).toEqual([]);
  });

  it('after three stops during its own attempt, a delivery is failed without an attempt and the reason says why', async () => {
    await runner().attempt(claimed({ interrupted: 3, interrupted_attempts: 3, attempts: 4 }));
    expect(sent).toEqual([]);
    expect(store.records[0]).toMatchObject({ outcome: 'failed', health: 'neutral' });
    expect(logged).toEqual([expect.objectContaining({ msg: 'delivery failed', attempt: 5 })]);
    expect(store.records[0]!.error).toMatch(/^in flight when hookrelay stopped 3 times, 3 of them during its own attempt/);
  });

  it('the reason counts every stop it was in flight for, not only those during its attempt, and says how to send it once fixed', async () => {
    // In flight at five stops: twice merely waiting beside the culprit, then three times its own attempt.
    await runner().attempt(claimed({ interrupted: 5, interrupted_attempts: 3, attempts: 4 }));
    expect(store.records[0]!.error).toBe(
      'in flight when hookrelay stopped 5 times, 3 of them during its own attempt: not attempted again, ' +
        'as it may be what stops hookrelay (see the log around those stops); replay it once the cause is fixed',
    );
  });

  it('suspects of a crash loop: marked before their attempt, and attempted one at a time, each until recorded', async () => {
    const [first, second] = [claimed({ interrupted: 1 }), claimed({ interrupted: 1 })];
    const suspects = new SuspectGate();
    const open = holdRecords();
    const attempts = [runner(suspects).attempt(first), runner(suspects).attempt(second)];
    await clock.advance(0);
    expect(store.marked).toEqual([[first.id]]);
    expect(sent.map((request) => request.delivery_id)).toEqual([first.id]);
    open();
    await Promise.all(attempts);
    expect(store.marked).toEqual([[first.id], [second.id]]);
    // A suspect's success keeps its slot too: the next suspect waits for its record.
    expect(lane.calls).toEqual([`begin ${first.id}`, `begin ${second.id}`, `end ${first.id}`, `end ${second.id}`]);
  });

  it('a suspect still waiting its turn when the lane stops is given back, neither marked nor sent', async () => {
    const [first, second] = [claimed({ interrupted: 1 }), claimed({ interrupted: 1 })];
    const suspects = new SuspectGate();
    const open = holdRecords();
    const attempts = [runner(suspects).attempt(first), runner(suspects).attempt(second)];
    await clock.advance(0);
    lane.stopped = true;
    open();
    await Promise.all(attempts);
    expect(store.marked).toEqual([[first.id]]);
    expect(sent.map((request) => request.delivery_id)).toEqual([first.id]);
    expect(lane.givenBack).toEqual([second.id]);
  });

  it('anything unexpected before the send (the notification stage failing) is logged, and the slot frees', async () => {
    verdict = () => {
      throw new Error('store closed');
    };
    const delivery = claimed();
    await runner().attempt(delivery);
    expect(sent).toEqual([]);
    expect(lane.calls).toEqual([`begin ${delivery.id}`, `end ${delivery.id}`]);
    expect(logged).toEqual([
      expect.objectContaining({ level: 50, msg: 'delivery attempt failed unexpectedly; its lease will expire', delivery_id: delivery.id, destination: 'ops', err: expect.objectContaining({ message: 'store closed' }) }),
    ]);
  });
});

describe('attempt runner: fallback destinations', () => {
  const told: string[] = [];
  const fallbackTo = (): AttemptRunnerOptions['fallback'] => ({
    to: { name: 'ops-slack', ordered: true },
    describe: (name) => (name === 'oncall' ? { name: 'oncall', type: 'pagerduty' } : undefined),
    handedOver: (name) => void told.push(name),
  });

  it('circuit open: what its rules let go is handed to the fallback (not sent, not given back), and the fallback lane is told', async () => {
    told.length = 0;
    circuit.enabled = false;
    const delivery = claimed({ member_ids: ['dlv_member'], events: [relayEvent({ dedup_key: 'a' }), relayEvent({ dedup_key: 'b' })] });
    await runner(undefined, destination, fallbackTo()).attempt(delivery);
    expect(sent).toEqual([]);
    expect(lane.givenBack).toEqual([]);
    expect(store.handOffs).toEqual([
      expect.objectContaining({ ids: [delivery.id, 'dlv_member'], destination: 'ops', fallback: 'ops-slack', fallback_ordered: true, lease_owner: 'me', now: clock.now() }),
    ]);
    expect(store.handOffs[0]!.fallback_ids).toHaveLength(2);
    expect(told).toEqual(['ops-slack']);
    expect(logged.map((line) => line.msg)).toEqual(['circuit open: handed to fallback ops-slack']);
  });

  it('what the rules hold is held, not handed over; the probe goes to the destination itself; a replay waits for it', async () => {
    circuit.enabled = false;
    const held = claimed();
    verdict = (delivery) => ({ send: null, held: [{ ids: [delivery.id], hold: { rule: 'mute', status: 'muted', note: 'muted by mut_1' } }] });
    await runner(undefined, destination, fallbackTo()).attempt(held);
    expect(store.held).toEqual([expect.objectContaining({ ids: [held.id], status: 'muted' })]);
    verdict = (delivery) => ({ send: delivery, held: [] });
    const probe = claimed({ probe: true });
    await runner(undefined, destination, fallbackTo()).attempt(probe);
    const replay = claimed({ unordered: true });
    await runner(undefined, destination, fallbackTo()).attempt(replay);
    expect(store.handOffs).toEqual([]);
    expect(sent.map((request) => request.delivery_id)).toEqual([probe.id]);
    expect(lane.givenBack).toEqual([replay.id]);
  });

  it('a resolve of an incident a stateful destination holds open is copied and kept for it; one already copied is never handed over again', async () => {
    circuit.enabled = false;
    const pagerduty: Destination = { ...destination, stateful: true };
    store.told.push({ destination: 'ops', dedup_key: 'db:primary', status: 'firing', occurred_at: '2026-04-23T18:00:00.000Z', delivery_id: 'dlv_trigger', sent_at: 0 });
    const resolve = claimed({ event: relayEvent({ dedup_key: 'db:primary', status: 'resolved' }), events: [relayEvent({ dedup_key: 'db:primary', status: 'resolved' })] });
    const other = claimed({ event: relayEvent({ dedup_key: 'other', status: 'resolved' }), events: [relayEvent({ dedup_key: 'other', status: 'resolved' })] });
    await runner(undefined, pagerduty, fallbackTo()).attempt(resolve);
    await runner(undefined, pagerduty, fallbackTo()).attempt(other);
    expect(store.handOffs.map((handOff) => handOff.keep)).toEqual([[resolve.id], []]);
    await runner(undefined, pagerduty, fallbackTo()).attempt({ ...resolve, sent_via_fallback: true });
    expect(store.handOffs).toHaveLength(2);
    expect(lane.givenBack).toEqual([resolve.id]);
  });

  it("a fallback's copy is drawn with this destination's template, marked, and tells the notification log nothing", async () => {
    const copy = claimed({ fallback_for: { destination: 'oncall', delivery_id: 'dlv_original' } });
    await runner(undefined, destination, fallbackTo()).attempt(copy);
    expect(contexts[0]!.fallback).toEqual({ destination: 'oncall', type: 'pagerduty', label: 'PagerDuty', delivery_id: 'dlv_original', marker: 'via fallback: PagerDuty destination `oncall` is unavailable' });
    expect(store.records[0]).toMatchObject({ outcome: 'succeeded', notified: [] });
  });
});

describe('attempt runner: the record', () => {
  it("a success whose record fails unexpectedly after its slot freed is logged, not lost in a promise", async () => {
    circuit.afterAttempt = () => {
      throw new Error('breaker broke');
    };
    const delivery = claimed();
    await runner().attempt(delivery);
    await clock.advance(0);
    expect(logged.map((line) => line.msg)).toEqual(['delivered', 'delivery attempt failed unexpectedly; its lease will expire']);
  });

  it('a store that cannot write is asked again, backing off on the clock, until the record is in', async () => {
    store.recordErrors.push(new Error('disk full'), new Error('disk full'));
    const attempt = runner().attempt(claimed({ probe: true }));
    await clock.advance(0);
    await clock.advance(249);
    expect(store.records).toEqual([]);
    await clock.advance(1);
    // Twice as long before the next try.
    await clock.advance(499);
    expect(store.records).toEqual([]);
    await clock.advance(1);
    await attempt;
    expect(store.records).toHaveLength(1);
    const retries = logged.filter((line) => line.msg === 'could not record a delivery attempt; trying again');
    expect(retries).toHaveLength(2);
    // Each says which delivery waits to be recorded, and why.
    expect(retries[0]).toMatchObject({ level: 50, destination: 'ops', delivery_id: expect.any(String), outcome: 'succeeded', err: { message: 'disk full' } });
  });

  it('while stopping, a record the store cannot take is left to the lease (the delivery goes again)', async () => {
    store.recordErrors.push(new Error('disk full'));
    const attempt = runner().attempt(claimed({ probe: true }));
    lane.stopped = true;
    await attempt;
    expect(store.records).toEqual([]);
    expect(logged).toEqual([
      expect.objectContaining({ msg: 'could not record a delivery attempt before shutdown; it will be attempted again', delivery_id: expect.any(String), err: expect.objectContaining({ message: 'disk full' }) }),
    ]);
    expect(circuit.news).toEqual([]);
  });

  it('a lease lost meanwhile: nothing logged as delivered, and the breaker hears nothing', async () => {
    store.answer = { recorded: false };
    await runner().attempt(claimed());
    await clock.advance(0);
    expect(logged).toEqual([]);
    expect(circuit.news).toEqual([]);
  });

  it("the incident's message changed while this was drawn (an acknowledgement): it is redrawn", async () => {
    await runner().attempt(claimed());
    await clock.advance(0);
    expect(refreshed).toEqual([]);
    store.answer = { incident_stale: true };
    await runner().attempt(claimed());
    await clock.advance(0);
    expect(refreshed).toEqual(['db:primary']);
  });

  it('a redraw that fails is a warning: the attempt stays recorded as it was', async () => {
    store.answer = { incident_stale: true };
    refresh = async () => {
      throw new Error('slack unavailable');
    };
    await runner().attempt(claimed());
    await clock.advance(0);
    expect(store.records[0]).toMatchObject({ outcome: 'succeeded' });
    expect(logged.at(-1)).toMatchObject({ level: 40, msg: 'could not redraw the incident message', destination: 'ops', err: expect.objectContaining({ message: 'slack unavailable' }) });
  });

  it('each attempt is one log line with what the operating docs list: a retried batch', async () => {
    respond = async () => unavailable;
    const batch = claimed({ member_ids: ['dlv_2', 'dlv_3'], rule_keys: [null, null, null], digest: true });
    await runner().attempt(batch);
    const [record] = store.records;
    expect(logged).toEqual([
      {
        level: 30,
        time: expect.any(Number),
        pid: expect.any(Number),
        hostname: expect.any(String),
        msg: 'delivery attempt failed; will retry',
        destination: 'ops',
        title: batch.event.title,
        outcome: 'retry',
        status: 503,
        latency_ms: 12,
        attempt: 1,
        delivery_id: batch.id,
        event_id: batch.event.id,
        error: 'HTTP 503',
        next_attempt_at: new Date(record!.next_attempt_at!).toISOString(),
        batch_size: 3,
        digest: true,
      },
    ]);
  });

  it('each attempt is one log line: a probe that succeeded says so, with no error, retry time or batch', async () => {
    const probe = claimed({ probe: true });
    await runner().attempt(probe);
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ msg: 'delivered', outcome: 'succeeded', status: 200, attempt: 1, delivery_id: probe.id, probe: true });
    for (const absent of ['error', 'next_attempt_at', 'batch_size', 'digest']) expect(logged[0]).not.toHaveProperty(absent);
  });

  it('the metrics count attempts, and deliveries once finished (each of a batch); latency and time since receipt in seconds', async () => {
    const event = relayEvent({ dedup_key: 'db:primary', received_at: new Date(clock.now() - 90_000).toISOString() });
    await runner().attempt(claimed({ event, events: [event], member_ids: ['dlv_2', 'dlv_3'], rule_keys: [null, null, null] }));
    respond = async () => unavailable;
    await runner().attempt(claimed());
    await runner().attempt(claimed({ attempts: 2 }));
    const counted = async (counter: Metrics['deliveries']): Promise<Record<string, number>> =>
      Object.fromEntries((await counter.get()).values.map(({ labels, value }) => [`${labels.destination} ${labels.outcome}`, value]));
    expect(await counted(metrics.deliveryAttempts)).toEqual({ 'ops succeeded': 1, 'ops retry': 1, 'ops failed': 1 });
    expect(await counted(metrics.deliveries)).toEqual({ 'ops succeeded': 3, 'ops failed': 1 });
    const sum = async (histogram: Metrics['endToEnd']): Promise<unknown> =>
      (await histogram.get()).values.find((value) => value.metricName?.endsWith('_sum') && value.labels.destination === 'ops')?.value;
    expect(await sum(metrics.attemptDuration)).toBeCloseTo(0.036);
    // Only the success counts from receipt to delivery.
    expect(await sum(metrics.endToEnd)).toBe(90);
  });

  it("what the send changed (Slack's posted message) is recorded with the attempt, so later events update that message", async () => {
    const posted = { kind: 'posted', dedup_key: 'db:primary', channel: 'C1', ts: '1700000000.000100', started_at: '2026-11-29T10:00:00Z', status: 'firing', resolved_at: null, last_event_id: 'evt_1' } as const;
    respond = async () => ok({ effects: { incident_message: posted } });
    await runner().attempt(claimed());
    respond = async () => ok();
    await runner().attempt(claimed());
    expect(store.records.map((record) => record.effects)).toEqual([{ incident_message: posted }, null]);
  });

  it('a replay or a command tells the destination nothing new: its success adds nothing to the notification log', async () => {
    await runner().attempt(claimed({ unordered: true }));
    expect(store.records[0]).toMatchObject({ outcome: 'succeeded', notified: [] });
  });

  it('a stopped lane starts nothing', async () => {
    lane.stopped = true;
    await runner().attempt(claimed());
    expect(lane.calls).toEqual([]);
    expect(sent).toEqual([]);
  });
});
