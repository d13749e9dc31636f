import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AttemptResult, ChainRequest } from '../../src/store/store.ts';
import { RESULT_FIELDS, flatOps } from '../../src/store/sqlite/protocol.ts';
import type { WriterMessage, WriterOp, WriterReply } from '../../src/store/sqlite/protocol.ts';
import { startWriter } from '../../src/store/sqlite/writer.ts';
import { ManualClock, eventually } from '../support/clock.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookrelay-group-commit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** The writer on this thread, its group commit's timing on a driven clock, every wait it asked for listed. */
function openWriter() {
  const clock = new ManualClock();
  const waits: number[] = [];
  const answered = new Set<number>();
  /** The operations of each commit, in the order they were answered. */
  const commits: number[][] = [];
  /** Answers and the writer's own syncs of the WAL, in the order they happened. */
  const disk: string[] = [];
  const writer = startWriter(
    { path: join(dir, `store-${++n}.db`), maxPageCount: null, openedAt: clock.now() },
    (reply: WriterReply) => {
      if (reply.type !== 'results') return;
      const ids = reply.results.filter((_, at) => at % RESULT_FIELDS === 0) as number[];
      for (const id of ids) answered.add(id);
      commits.push(ids);
      disk.push(`answered ${ids.join(',')}`);
    },
    {
      now: () => clock.now(),
      after: (ms, task) => {
        waits.push(ms);
        return clock.after(ms, task);
      },
    },
    { syncWal: () => disk.push('synced'), close: () => undefined },
  );
  let nextId = 0;
  const send = (ops: Array<Pick<WriterOp, 'op' | 'args'>>): number[] => {
    const sent = ops.map((op) => ({ type: 'op' as const, id: ++nextId, ...op }));
    writer.receive({ type: 'ops', ops: flatOps(sent) } satisfies WriterMessage);
    return sent.map((op) => op.id);
  };
  return { clock, waits, answered, commits, disk, send };
}

const sync = { op: 'syncDestinations' as const, args: ['slack'] };

/** Records of `count` attempts (of a delivery this store does not hold: recorded as not ours, which is all the commit needs). */
function record(chain: ChainRequest | null, count = 1): Pick<WriterOp, 'op' | 'args'> {
  const result: AttemptResult = {
    delivery_id: 'dlv_unknown',
    member_ids: [],
    destination: 'slack',
    lease_owner: 'lane',
    started_at: 1,
    finished_at: 2,
    outcome: 'succeeded',
    next_attempt_at: null,
    request_body: null,
    response_code: 200,
    response_body: null,
    latency_ms: 1,
    error: null,
    health: 'success',
    breaker: { disable_after: 5, probe_backoff_ms: null },
    notified: [],
    ...(chain ? { chain } : {}),
  };
  return { op: 'commitAttempts', args: Array.from({ length: count }, () => result) };
}

/**
 * Twenty operations in no time (the driven clock stands still), 4 a ms over the writer's 5 ms
 * window: the writer counts as loaded, and would wait for company next.
 */
async function load(writer: ReturnType<typeof openWriter>, count = 20): Promise<void> {
  const ids = writer.send(Array.from({ length: count }, () => sync));
  await eventually(() => ids.every((id) => writer.answered.has(id)));
}

describe('the SQLite writer’s group commit', () => {
  it('a record no one waits on for latency waits, once the writer is loaded, for others to share its commit', async () => {
    const writer = openWriter();
    await load(writer);
    const [id] = writer.send([record({ lease_ms: 60_000, storm: null })]);
    expect(writer.waits).toEqual([1]);
    await writer.clock.advance(1);
    await eventually(() => writer.answered.has(id!));
  });

  it('as many operations gathered over a slow commit’s time (a moderate rate) do not make the next one wait', async () => {
    const writer = openWriter();
    // Four in 10 ms: at that rate the group's 1 ms would gather less than one more.
    await writer.clock.advance(10);
    await load(writer, 4);
    const [id] = writer.send([sync]);
    expect(writer.waits).toEqual([]);
    await eventually(() => writer.answered.has(id!));
  });

  it('a drain’s records count by attempt: one turn’s batch of 20 is load, and the next write waits', async () => {
    const writer = openWriter();
    await writer.clock.advance(2);
    const [records] = writer.send([record({ lease_ms: 60_000, storm: null }, 20)]);
    await eventually(() => writer.answered.has(records!));
    writer.send([sync]);
    expect(writer.waits).toEqual([1]);
  });

  it('one write arriving just after another’s flush is not load: the next write does not wait (300 webhooks/s and their records)', async () => {
    const writer = openWriter();
    // Every 3.3 ms a webhook, and 0.1 ms after it the record of the one before: none waits.
    for (let step = 0; step < 10; step += 1) {
      await writer.clock.advance(3.2);
      const [ingest] = writer.send([sync]);
      expect(writer.waits).toEqual([]);
      await eventually(() => writer.answered.has(ingest!));
      await writer.clock.advance(0.1);
      const [recorded] = writer.send([record({ lease_ms: 60_000, storm: null })]);
      expect(writer.waits).toEqual([]);
      await eventually(() => writer.answered.has(recorded!));
    }
  });

  it('the record whose lane waits for it to send its incident’s next update is committed at once, not held for the group’s wait', async () => {
    const writer = openWriter();
    await load(writer);
    const [id] = writer.send([record({ lease_ms: 60_000, storm: null, urgent: true })]);
    expect(writer.waits).toEqual([]);
    // Answered without the driven clock moving.
    await eventually(() => writer.answered.has(id!));
  });

  it('an urgent record arriving while others wait for company commits on its own at once; they keep waiting for company', async () => {
    const writer = openWriter();
    await load(writer);
    const [waiting] = writer.send([sync]);
    expect(writer.waits).toEqual([1]);
    const [urgent] = writer.send([record({ lease_ms: 60_000, storm: null, urgent: true })]);
    // Answered without the driven clock moving, in a commit of its own.
    await eventually(() => writer.answered.has(urgent!));
    expect(writer.commits.at(-1)).toEqual([urgent]);
    expect(writer.answered.has(waiting!)).toBe(false);
    await writer.clock.advance(1);
    await eventually(() => writer.answered.has(waiting!));
    expect(writer.waits).toEqual([1]);
  });

  it('an urgent record queued with other writes commits first, on its own: its lane does not wait for their SQL', async () => {
    const writer = openWriter();
    // Not loaded: everything queued goes at once.
    const ids = writer.send([sync, sync, record({ lease_ms: 60_000, storm: null, urgent: true }), sync]);
    await eventually(() => ids.every((id) => writer.answered.has(id)));
    expect(writer.waits).toEqual([]);
    expect(writer.commits).toEqual([[ids[2]], [ids[0], ids[1], ids[3]]]);
  });

  it('an urgent record is answered before the disk flush, and the WAL is synced right after its answer', async () => {
    const writer = openWriter();
    const [id] = writer.send([record({ lease_ms: 60_000, storm: null, urgent: true })]);
    await eventually(() => writer.answered.has(id!));
    expect(writer.disk).toEqual([`answered ${id}`, 'synced']);
  });

  it('a commit that must be durable before its answer syncs on its own (no flush of the writer’s), and also syncs the urgent record answered before it', async () => {
    const writer = openWriter();
    const [plain] = writer.send([sync]);
    await eventually(() => writer.answered.has(plain!));
    expect(writer.disk).toEqual([`answered ${plain}`]);
    const [urgent, rest] = writer.send([record({ lease_ms: 60_000, storm: null, urgent: true }), sync]);
    await eventually(() => writer.answered.has(rest!));
    expect(writer.disk).toEqual([`answered ${plain}`, `answered ${urgent}`, `answered ${rest}`]);
  });

  it('records queued before an urgent one commit with it, in their order: a chained run’s last record finds the ones before it in', async () => {
    const writer = openWriter();
    await load(writer);
    // A run's record: no chain of its own, so it waits for company.
    const [member] = writer.send([record(null)]);
    expect(writer.waits).toEqual([1]);
    // The run's last record shares its operation with another incident's urgent one.
    const argsOf = (op: Pick<WriterOp, 'args'>) => op.args as AttemptResult[];
    const [last] = writer.send([{ op: 'commitAttempts', args: [...argsOf(record({ lease_ms: 60_000, storm: null, run: 8 })), ...argsOf(record({ lease_ms: 60_000, storm: null, urgent: true }))] }]);
    await eventually(() => writer.answered.has(last!));
    expect(writer.commits.at(-1)).toEqual([member, last]);
  });
});
