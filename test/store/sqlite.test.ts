import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { newId } from '../../src/util/ids.ts';
import { batchOf, relayEvent } from '../support/events.ts';
import { storeContract } from './contract.ts';
import { Ballast } from './full-disk.ts';
import { recordAttempt } from '../support/store.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookrelay-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshPath = (): string => join(dir, `store-${++n}.db`);

// The contract runs the writer in this thread, where mutation testing can see it (npm run mutate);
// the writer thread itself is what the tests below and every end-to-end test run.
storeContract('sqlite', () => SqliteStore.open(freshPath(), { inThread: true }));

describe('sqlite store', () => {
  it('keeps everything across close and reopen of the same file', async () => {
    const path = freshPath();
    const first = await SqliteStore.open(path);
    await first.syncDestinations(['slack']);
    const event = relayEvent({ external_id: 'evt_persist' });
    await first.ingest(batchOf(event, ['slack']));
    await first.close();
    const second = await SqliteStore.open(path);
    expect((await second.view('event', event.id))?.event.external_id).toBe('evt_persist');
    const [dup] = await second.ingest(batchOf(relayEvent({ external_id: 'evt_persist' }), ['slack']));
    expect(dup?.duplicate).toBe(true);
    await second.close();
  });

  it('an operation that cannot be handed to the writer (a function in it) fails alone; the batch beside it commits and the store goes on', async () => {
    const store = await SqliteStore.open(freshPath());
    await store.syncDestinations(['slack']);
    // Both ingests are handed to the writer thread in one message (the same turn of the event loop).
    const broken = relayEvent({ severity: Object.prototype.toString as unknown as 'info' });
    const good = relayEvent({ external_id: 'evt_beside' });
    const [brokenResult, goodResult] = await Promise.allSettled([store.ingest(batchOf(broken, ['slack'])), store.ingest(batchOf(good, ['slack']))]);
    expect(brokenResult.status).toBe('rejected');
    expect(goodResult.status).toBe('fulfilled');
    expect((await store.view('event', good.id))?.event.external_id).toBe('evt_beside');
    await store.ping();
    await store.close();
  });

  it('at open, deliveries a dead process had in flight are due again', async () => {
    const path = freshPath();
    const first = await SqliteStore.open(path);
    await first.syncDestinations(['slack']);
    await first.ingest(batchOf(relayEvent(), ['slack']));
    const claimed = await first.claim('slack', { limit: 1, now: Date.now() + 1, lease_ms: 3_600_000, owner: 'gone' });
    expect(claimed.deliveries).toHaveLength(1);
    await first.close();
    const second = await SqliteStore.open(path);
    expect(second.recoveredLeases).toBe(1);
    const again = await second.claim('slack', { limit: 1, now: Date.now() + 1, lease_ms: 60_000, owner: 'new' });
    expect(again.deliveries.map((d) => d.id)).toEqual(claimed.deliveries.map((d) => d.id));
    await second.close();
  });

  it('at open, each recovered lease counts an interruption, and its attempt when it was marked under way', async () => {
    const path = freshPath();
    const first = await SqliteStore.open(path);
    await first.syncDestinations(['slack']);
    await first.ingest(batchOf(relayEvent(), ['slack']));
    await first.ingest(batchOf(relayEvent(), ['slack']));
    const leased = await first.claim('slack', { limit: 2, now: Date.now() + 1, lease_ms: 3_600_000, owner: 'gone' });
    const [marked, waiting] = leased.deliveries.map((d) => d.id);
    await first.leases('started', [marked!], 'gone');
    await first.close();
    const second = await SqliteStore.open(path);
    expect(second.recoveredLeases).toBe(2);
    const again = await second.claim('slack', { limit: 2, now: Date.now() + 1, lease_ms: 60_000, owner: 'new' });
    const counts = new Map(again.deliveries.map((d) => [d.id, [d.interrupted, d.interrupted_attempts]]));
    expect(counts.get(marked!)).toEqual([1, 1]);
    expect(counts.get(waiting!)).toEqual([1, 0]);
    await second.close();
  });

  it('an operation that fails in a group commit does not undo its neighbours', async () => {
    const store = await SqliteStore.open(freshPath());
    await store.syncDestinations(['slack']);
    const skippedEvent = relayEvent();
    const skipped = { id: newId('dlv'), destination: null, route: null, status: 'skipped' as const };
    await store.ingest({ ...batchOf(skippedEvent, []), events: [{ event: skippedEvent, deliveries: [skipped] }] });
    const before = relayEvent();
    const after = relayEvent();
    // Sent in one tick: the writer takes all three in one transaction.
    const [first, failed, second] = await Promise.allSettled([
      store.ingest(batchOf(before, ['slack'])),
      store.append('replay', skipped.id, newId('dlv'), Date.now()),
      store.ingest(batchOf(after, ['slack'])),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(failed).toMatchObject({ status: 'rejected', reason: { code: 'conflict' } });
    expect(second.status).toBe('fulfilled');
    expect(await store.view('event', before.id)).not.toBeNull();
    expect(await store.view('event', after.id)).not.toBeNull();
    await store.close();
  });

  it('a full disk fails the writes of that commit with store_unavailable, and the store keeps working', async () => {
    const store = await SqliteStore.open(freshPath(), { maxPageCount: 40 });
    await store.syncDestinations(['slack']);
    let failure: unknown = null;
    for (let i = 0; i < 400 && failure === null; i++) {
      const big = relayEvent({ data: { blob: 'x'.repeat(8_000) } });
      await store.ingest(batchOf(big, ['slack'])).catch((error: unknown) => (failure = error));
    }
    expect(failure).toMatchObject({ code: 'store_unavailable' });
    expect(String((failure as Error).message)).toMatch(/full/);
    // The writer thread survived: writes that need no new space still commit, reads work.
    expect(await store.change('enable_destination', 'slack', Date.now())).toMatchObject({ enabled: true });
    expect(await store.view('destinations')).toHaveLength(1);
    // …but it is not ready: an ingest still cannot commit.
    await expect(store.ping()).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringMatching(/cannot commit: .*full/) });
    await store.close();
  });

  it('not ready while the disk is full (ping fails, reads work); ready again once space returns, and ingests commit', async () => {
    const path = freshPath();
    const store = await SqliteStore.open(path, { maxPageCount: 200 });
    await store.syncDestinations(['slack']);
    await store.ingest(batchOf(relayEvent(), ['slack']));
    await expect(store.ping()).resolves.toBeUndefined();
    const ballast = new Ballast(path);
    try {
      ballast.fill(200);
      // A webhook of a few KB needs a fresh page: it cannot commit.
      const refused = relayEvent({ data: { blob: 'x'.repeat(9_000) } });
      await expect(store.ingest(batchOf(refused, ['slack']))).rejects.toMatchObject({ code: 'store_unavailable' });
      await expect(store.ping()).rejects.toMatchObject({ code: 'store_unavailable', message: expect.stringMatching(/full/) });
      // Still full: asking again probes again, and it is still not ready.
      await expect(store.ping()).rejects.toMatchObject({ code: 'store_unavailable' });
      expect(await store.view('event', refused.id)).toBeNull();

      ballast.release();
      await expect(store.ping()).resolves.toBeUndefined();
      const accepted = relayEvent({ data: { blob: 'x'.repeat(9_000) } });
      await store.ingest(batchOf(accepted, ['slack']));
      expect(await store.view('event', accepted.id)).not.toBeNull();
      // The probe leaves nothing behind.
      const reader = new DatabaseSync(path, { readOnly: true });
      expect(reader.prepare(`SELECT COUNT(*) AS count FROM receipts WHERE id = 'probe'`).get()).toEqual({ count: 0 });
      reader.close();
    } finally {
      ballast.close();
      await store.close();
    }
  });

  it('a store another live process holds is refused; once it is killed (kill -9) the store opens at once', async () => {
    const path = freshPath();
    const holder = openerProcess(path, 30_000);
    try {
      expect(await firstLine(holder)).toBe('OPEN');
      await expect(SqliteStore.open(path)).rejects.toThrow('another hookrelay is using');
    } finally {
      holder.kill('SIGKILL');
      await once(holder, 'exit');
    }
    const store = await SqliteStore.open(path);
    await store.close();
  });

  it('processes starting together after a crash: exactly one gets the store (no check-then-act)', async () => {
    const path = freshPath();
    // What a crashed older hookrelay leaves: a lock file naming a process that is gone.
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await once(gone, 'exit');
    writeFileSync(`${path}.lock`, JSON.stringify({ pid: gone.pid, host: hostname() }));
    const racers = Array.from({ length: 4 }, () => openerProcess(path, 3_000));
    try {
      const answers = await Promise.all(racers.map(firstLine));
      expect(answers.filter((answer) => answer === 'OPEN')).toHaveLength(1);
      expect(answers.filter((answer) => answer === 'REFUSED')).toHaveLength(3);
    } finally {
      for (const racer of racers) racer.kill('SIGKILL');
      await Promise.all(racers.map((racer) => (racer.exitCode === null ? once(racer, 'exit') : undefined)));
    }
  });

  it('an older hookrelay still holding the store (its <db>.lock names a live process) is respected', async () => {
    const path = freshPath();
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      writeFileSync(`${path}.lock`, JSON.stringify({ pid: other.pid, host: hostname() }));
      await expect(SqliteStore.open(path)).rejects.toThrow(`another hookrelay (pid ${other.pid}) is using`);
    } finally {
      other.kill('SIGKILL');
      await once(other, 'exit');
    }
    const store = await SqliteStore.open(path);
    expect(existsSync(`${path}.lock`)).toBe(false);
    await store.close();
  });

  it('back-pressure: ingests beyond the write queue are refused with store_unavailable at once, not queued', async () => {
    const store = await SqliteStore.open(freshPath(), { maxQueuedWrites: 2 });
    try {
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.ingest(batchOf(relayEvent(), []))));
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(2);
      expect(results.filter((result) => result.status === 'rejected').map((result) => (result as PromiseRejectedResult).reason.code)).toEqual([
        'store_unavailable', 'store_unavailable', 'store_unavailable',
      ]);
      // Once the queue drains, ingest works again.
      await expect(store.ingest(batchOf(relayEvent(), []))).resolves.toHaveLength(1);
    } finally {
      await store.close();
    }
  });

  it('the answers of one turn are committed as one batch (one writer operation), each caller getting its own', async () => {
    const store = await SqliteStore.open(freshPath());
    await store.syncDestinations(['slack']);
    for (let i = 0; i < 12; i++) await store.ingest(batchOf(relayEvent({ dedup_key: `inc_${i}` }), ['slack']));
    const now = Date.now() + 1;
    const claimed = (await store.claim('slack', { limit: 12, now, lease_ms: 60_000, owner: 'worker' })).deliveries;
    const commits: number[] = [];
    store.observeCommits((operations) => commits.push(operations));
    const result = (id: string, owner: string) => ({
      delivery_id: id,
      member_ids: [],
      destination: 'slack',
      lease_owner: owner,
      started_at: now,
      finished_at: now + 5,
      outcome: 'succeeded' as const,
      next_attempt_at: null,
      request_body: '{"text":"hi"}',
      response_code: 200,
      response_body: 'ok',
      latency_ms: 5,
      error: null,
      health: 'success' as const,
      breaker: { disable_after: 3, probe_backoff_ms: null },
      notified: [],
    });
    // One tick, as a lane's answers arrive; the fifth one's lease belongs to someone else now.
    const answers = await Promise.all(claimed.map((delivery, index) => recordAttempt(store, result(delivery.id, index === 4 ? 'gone' : 'worker'))));
    expect(answers.map((answer) => answer.recorded)).toEqual(claimed.map((_, index) => index !== 4));
    expect(commits).toEqual([1]);
    expect((await store.view('deliveries', { destination: 'slack', status: 'succeeded', limit: 50 })).length).toBe(11);
    await store.close();
  });

  it('a claim queued with records is answered before their commit (and its fsync): the dispatcher never waits for a sync to get work', async () => {
    const store = await SqliteStore.open(freshPath());
    await store.syncDestinations(['slack', 'pager']);
    for (let i = 0; i < 20; i++) await store.ingest(batchOf(relayEvent(), ['slack', 'pager']));
    const now = Date.now() + 1;
    const claimed = await store.claim('slack', { limit: 20, now, lease_ms: 60_000, owner: 'worker' });
    expect(claimed.deliveries).toHaveLength(20);
    const answered: string[] = [];
    // One tick: the records and the claim reach the writer together.
    const records = claimed.deliveries.map((delivery) =>
      recordAttempt(store, {
          delivery_id: delivery.id,
          member_ids: [],
          destination: 'slack',
          lease_owner: 'worker',
          started_at: now,
          finished_at: now + 5,
          outcome: 'succeeded',
          next_attempt_at: null,
          request_body: '{"text":"hi"}',
          response_code: 200,
          response_body: 'ok',
          latency_ms: 5,
          error: null,
          health: 'success',
          breaker: { disable_after: 3, probe_backoff_ms: null },
          notified: [],
        })
        .then(() => answered.push('record')),
    );
    const claim = store.claim('pager', { limit: 20, now, lease_ms: 60_000, owner: 'worker' }).then((batch) => {
      answered.push('claim');
      return batch;
    });
    expect((await claim).deliveries).toHaveLength(20);
    await Promise.all(records);
    expect(answered[0]).toBe('claim');
    expect(answered).toHaveLength(21);
    expect((await store.view('deliveries', { destination: 'slack', status: 'succeeded', limit: 50 })).length).toBe(20);
    await store.close();
  });

  it("an open circuit's work crosses the writer thread to its fallback: claimed for it, handed over once by the lease's owner", async () => {
    // The contract runs these stories in this thread; here the claim and the hand-over travel as writer messages.
    const store = await SqliteStore.open(freshPath());
    await store.syncDestinations(['pager', 'slack']);
    const t0 = Date.now();
    const event = relayEvent({ dedup_key: 'inc_thread' });
    const id = newId('dlv');
    await store.ingest({ ...batchOf(event, [], t0), events: [{ event, deliveries: [{ id, destination: 'pager', route: 'r', status: 'pending', incident_key: 'inc_thread' }] }] });
    const lease = { lease_ms: 60_000, owner: 'me' };
    await store.claim('pager', { ...lease, limit: 1, now: t0 + 10 });
    const opened = await recordAttempt(store, {
      delivery_id: id, member_ids: [], destination: 'pager', lease_owner: 'me', started_at: t0 + 20, finished_at: t0 + 20,
      outcome: 'retry', next_attempt_at: t0 + 999_999, request_body: '{}', response_code: 503, response_body: null, latency_ms: 1,
      error: 'HTTP 503', health: 'failure', breaker: { disable_after: 1, probe_backoff_ms: [10_000] }, notified: [],
    });
    expect(opened.disabled_now).toBe(true);
    const claimed = await store.claim('pager', { ...lease, limit: 10, now: t0 + 30, for_fallback: true });
    expect(claimed.deliveries.map((d) => d.id)).toEqual([id]);
    const copy = newId('dlv');
    const handOff = { ids: [id], fallback_ids: [copy], lease_owner: 'me', destination: 'pager', fallback: 'slack', fallback_ordered: true, now: t0 + 40 };
    expect(await store.holds('fallback', { ...handOff, lease_owner: 'someone-else' })).toBe(0);
    expect(await store.holds('fallback', handOff)).toBe(1);
    expect(await store.holds('fallback', { ...handOff, fallback_ids: [newId('dlv')] })).toBe(0);
    expect(await store.view('delivery', id)).toMatchObject({ status: 'skipped', sent_via: { destination: 'slack', delivery_id: copy } });
    const [atSlack] = (await store.claim('slack', { ...lease, limit: 10, now: t0 + 50 })).deliveries;
    expect(atSlack).toMatchObject({ id: copy, fallback_for: { destination: 'pager', delivery_id: id } });
    await store.close();
  });

  it('refuses work after close with store_unavailable', async () => {
    const store = await SqliteStore.open(freshPath());
    await store.close();
    await expect(store.ingest(batchOf(relayEvent(), []))).rejects.toMatchObject({ code: 'store_unavailable' });
  });
});

/** A process that opens the store, prints OPEN (holding it for `holdMs`) or REFUSED. */
function openerProcess(path: string, holdMs: number) {
  const store = new URL('../../src/store/sqlite/sqlite-store.ts', import.meta.url).href;
  const script = `
    const { SqliteStore } = await import(${JSON.stringify(store)});
    try {
      await SqliteStore.open(${JSON.stringify(path)});
      console.log('OPEN');
      setTimeout(() => process.exit(0), ${holdMs});
    } catch {
      console.log('REFUSED');
      process.exit(0);
    }`;
  // A file, not --eval: the store's writer thread inherits the process's flags.
  const file = `${path}.opener-${Math.random().toString(36).slice(2)}.mjs`;
  writeFileSync(file, script);
  return spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'ignore'] });
}

async function firstLine(child: ReturnType<typeof spawn>): Promise<string> {
  let text = '';
  for await (const chunk of child.stdout!) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.trim();
}
