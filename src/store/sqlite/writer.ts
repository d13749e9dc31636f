/**
 * The SQLite writer: node:sqlite is synchronous, so commits (and their fsync) run off the event
 * loop, in the writer thread (writer-thread.ts), and every write queued while one commit runs
 * shares the next one: group commit, one fsync for many requests. In-thread stores (tests that
 * mutation testing must see) run the same writer on their own thread.
 */
import { closeSync, existsSync, fsyncSync, openSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { realTime } from '../../util/clock.ts';
import { openWriter } from './connection.ts';
import { migrate } from './migrations.ts';
import type { AttemptResult, ClaimBatch, IngestedEvent, RecordedAttempt } from '../store.ts';
import type { Clock } from '../../util/clock.ts';
import { isPackedAttempts, packRecorded, unpackAttempts } from './attempt-codec.ts';
import { packClaimBatch } from './claim-codec.ts';
import { packIngested, unpackIngest } from './ingest-codec.ts';
import type { PackedIngest } from './ingest-codec.ts';
import { createWriteOps } from './writes.ts';
import type { WriteOpName } from './writes.ts';
import { OP_FIELDS, flatResults } from './protocol.ts';
import type { WriterData, WriterMessage, WriterOp, WriterReply, WriterResult, SerializedError } from './protocol.ts';

const MAX_OPS_PER_COMMIT = 2_000;
/**
 * Group commit: every commit rewrites each page it touched and syncs, a cost nearly
 * independent of how many operations share it. Under load, the writer waits COMMIT_DELAY_MS
 * for more before committing, unless a full batch is already waiting; with light traffic it
 * commits at once, adding no latency. Measured with npm run bench: ~8 operations per commit
 * without it, ~30 with it, +25% ingest. The wait was 2 ms until a machine whose commit (fsync
 * included) takes 0.15–0.6 ms: there 1 ms took ingest from 8,835 and 8,954 to 11,228 and 11,309
 * webhooks/s (alternated `--only ingest` runs; 0–1 ms all gave 10,300–11,500), the drain's CPU
 * per delivery unchanged (160–165 µs against 164–174): the writer waited longer than a commit.
 *
 * Loaded means writes arrive fast enough that the wait gathers at least LOADED_BATCH more, not
 * merely that the last commit carried several: at 300 webhooks/s a slow fsync also gathers a
 * few, and holding the next ones for one or two more would add the wait to every event behind
 * it (issue 20, sender → destination p99). The rate is the writes of the last few milliseconds
 * (LOAD_WINDOW_MS, decaying), not those since the last flush: a webhook arriving just after the
 * flush of another's record looked like thousands a second, and held the next write (a tenth of
 * the webhooks at 300/s waited the 2 ms it was). A write is an operation, or one attempt of a batch of
 * records (a drain's turn records many at once).
 */
const LOADED_BATCH = 4;
const COMMIT_DELAY_MS = 1;
const LOAD_WINDOW_MS = 5;
const FULL_BATCH = 64;

/**
 * A dispatcher waits for these before it can send anything more: committed at once, never
 * held back for a fuller batch (a claim every few dozen deliveries costs one commit more).
 */
const URGENT: ReadonlySet<WriteOpName> = new Set(['claimDue', 'claimProbe']);

/**
 * Committed at once as well: a claim, or the record of an attempt whose lane waits for it to send
 * its incident's next update (ChainRequest.urgent: that commit leases it). Other records share
 * the group's wait (a drain's records would otherwise commit one turn's worth at a time).
 * Urgent work commits on its own, ahead of what was queued with it: an incident's next update
 * waits for its record's commit only, not also for the SQL of a burst of ingests (issue 20).
 * An urgent record is answered before its fsync (see `commitInOrder`): the next update goes as
 * soon as the one ahead was answered, not one disk flush later.
 */
function isUrgent(request: WriterOp): boolean {
  if (URGENT.has(request.op)) return true;
  return request.op === 'commitAttempts' && (request.args as readonly AttemptResult[]).some((result) => result.chain?.urgent === true);
}

/**
 * These only move leases (and the batch a claim forms). One lost to a power cut loses nothing —
 * the lease lapses and the work is due again, which recovery at open does anyway — so a commit
 * of nothing else skips its fsync (synchronous = NORMAL, SQLite's WAL guarantee: consistent,
 * possibly rolled back by a power loss). The next FULL commit syncs the WAL they are in as well.
 */
const LEASE_ONLY: ReadonlySet<WriteOpName> = new Set(['claimDue', 'claimProbe', 'extendLeases', 'releaseClaims']);

/**
 * What commits ahead: urgent work, and the records queued before the last of it. Records commit in
 * the order they came: the last record of a chained run leases the incident's next run, and finds
 * it only once the records before it are in (an urgent record of another incident sharing its
 * operation would otherwise take it past them).
 */
function urgentFirst(queued: readonly WriterOp[]): { urgent: WriterOp[]; rest: WriterOp[] } {
  const last = queued.findLastIndex(isUrgent);
  const urgent: WriterOp[] = [];
  const rest: WriterOp[] = [];
  queued.forEach((request, index) => (index <= last && (request.op === 'commitAttempts' || isUrgent(request)) ? urgent : rest).push(request));
  return { urgent, rest };
}

/** Writes an operation carries, for the rate the group commit judges load by. */
function writesIn(request: WriterOp): number {
  return request.op === 'commitAttempts' ? (request.args as readonly AttemptResult[]).length : 1;
}

/** Problems quick_check lists at most: enough to show the damage, bounded output on a ruined file. */
const QUICK_CHECK_PROBLEMS = 10;
/** SQLite's result code for a damaged file (sqlite.org/rescode.html#corrupt). */
const SQLITE_CORRUPT = 11;

/**
 * A damaged file must not start (docs/operating.md): SQLite's quick_check reads every page of
 * the file and checks each b-tree's structure — not that indexes match their tables, which
 * integrity_check adds at about 1.5 times the cost. Its time grows with the file (measured:
 * 0.2 s for a 100 MB file in the page cache). It runs on a read-only connection, before the
 * writer opens: closing a writer would copy the WAL into a file found damaged, and hookrelay
 * leaves such a file as it found it. SQLite itself may give up with SQLITE_CORRUPT before it
 * has a list; either way the open fails with SQLite's code, which the store turns into what to do.
 */
function quickCheck(file: string): { ms: number; bytes: number } {
  if (!existsSync(file) || statSync(file).size === 0) return { ms: 0, bytes: 0 };
  const elapsed = realTime.stopwatch();
  const db = new DatabaseSync(file, { readOnly: true, timeout: 5_000 });
  try {
    const problems = db
      .prepare(`PRAGMA quick_check(${QUICK_CHECK_PROBLEMS})`)
      .all()
      .map((row) => String(Object.values(row)[0]));
    const ms = Math.round(elapsed());
    if (problems.length !== 1 || problems[0] !== 'ok') {
      throw Object.assign(new Error(`PRAGMA quick_check found damage in ${ms} ms: ${problems.join('; ')}`), { errcode: SQLITE_CORRUPT });
    }
    const size = db.prepare('SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()').get();
    return { ms, bytes: Number(size?.bytes ?? 0) };
  } finally {
    db.close();
  }
}

/**
 * Opens the file for writing and runs writes as they arrive, answering through `post`: the writer
 * thread's body, and the store's own thread's when it runs in-thread (SqliteStoreOptions.inThread).
 * `openedAt`: the store's clock when it opened (the writer has no clock of its own: every
 * operation carries the time it needs). `timing` times the group commit's wait and the rate
 * operations arrive at: real time, a batching delay for the disk, not a decision (tests drive it).
 */
export function startWriter(
  data: WriterData,
  post: (reply: WriterReply) => void,
  timing: Pick<Clock, 'after' | 'now'> = { after: realTime.after, now: realTime.stopwatch() },
  disk: WriterDisk = walSync(data.path),
): { receive(message: WriterMessage): void } {
  const { path, maxPageCount, openedAt } = data;
  const checked = quickCheck(path);
  const db = openWriter(path);
  migrate(db);
  if (maxPageCount !== null) db.exec(`PRAGMA max_page_count = ${Math.floor(maxPageCount)}`);
  const ops = createWriteOps(db);
  const run = ops as unknown as Record<WriteOpName, (args: unknown) => unknown>;
  const recovered = ops.recoverLeases(openedAt);
  post({ type: 'ready', recovered, checked });

  let queue: WriterOp[] = [];
  /** 'now': a flush is queued for this turn; a function: a delayed flush, and how to cancel it. */
  let scheduled: 'now' | (() => void) | null = null;
  let closing = false;
  /** A commit of urgent work alone is queued for this turn (the rest waits for company meanwhile). */
  let urgentQueued = false;
  /**
   * Writes that arrived lately, each counted less as it ages (e^(-age / LOAD_WINDOW_MS)): at a
   * steady rate, writes per ms × LOAD_WINDOW_MS.
   */
  let recentWrites = 0;
  let lastArrivalAt = timing.now();

  function receive(message: WriterMessage): void {
    let urgent = false;
    let arriving = 0;
    if (message.type === 'close') closing = true;
    else {
      const { ops } = message;
      for (let at = 0; at < ops.length; at += OP_FIELDS) {
        const name = ops[at + 1] as WriteOpName;
        let args = ops[at + 2];
        if (name === 'ingest') args = unpackIngest(args as PackedIngest);
        else if (isPackedAttempts(args)) args = unpackAttempts(args);
        const op: WriterOp = { type: 'op', id: ops[at] as number, op: name, args };
        queue.push(op);
        arriving += writesIn(op);
        if (isUrgent(op)) urgent = true;
      }
    }
    // Judged by what came before this message (the first burst after a quiet spell goes at once).
    const now = timing.now();
    recentWrites *= Math.exp(-(now - lastArrivalAt) / LOAD_WINDOW_MS);
    lastArrivalAt = now;
    const loaded = (recentWrites / LOAD_WINDOW_MS) * COMMIT_DELAY_MS >= LOADED_BATCH;
    recentWrites += arriving;
    if (scheduled === 'now') return;
    if (urgent && typeof scheduled === 'function' && !closing && queue.length < FULL_BATCH) {
      // What waits for company keeps waiting; what a dispatcher waits for goes now, on its own.
      if (!urgentQueued) {
        urgentQueued = true;
        setImmediate(flushUrgent);
      }
      return;
    }
    if (scheduled === null && loaded && !closing && !urgent && queue.length < FULL_BATCH) {
      scheduled = timing.after(COMMIT_DELAY_MS, flush);
    } else if (scheduled === null || closing || urgent || queue.length >= FULL_BATCH) {
      if (scheduled !== null) scheduled();
      scheduled = 'now';
      setImmediate(flush);
    }
  }

  /**
   * Lease moves first, in a commit of their own without an fsync: a claim never waits for the
   * sync of the records queued with it. Then urgent records, on their own: the lane waiting for
   * one waits for its commit only. Then the rest. (Operations that depend on each other are
   * awaited by their caller one after the other, so they never share a flush.)
   *
   * Urgent records commit without their fsync too (synchronous = NORMAL), are answered, and only
   * then is the WAL synced (by the rest's commit, or on its own): an incident's next update goes
   * while the disk flushes the record of the one before (issue 20, one incident's updates). In
   * WAL mode a commit is in the operating system's hands once COMMIT returns, so a crash of the
   * process loses nothing; a power cut before that flush may roll the record back, and then that
   * update and the ones sent after it are sent again after the restart, in order (docs/delivery.md).
   */
  function commitInOrder(batch: readonly WriterOp[]): void {
    const leases = batch.filter((request) => LEASE_ONLY.has(request.op));
    const { urgent, rest } = urgentFirst(batch.filter((request) => !LEASE_ONLY.has(request.op)));
    /** An urgent part committed and not yet synced by a FULL commit after it. */
    let unsynced = false;
    for (const [part, sync] of [[leases, 'normal'], [urgent, 'normal'], [rest, 'full']] as const) {
      for (let from = 0; from < part.length; from += MAX_OPS_PER_COMMIT) {
        const synced = commit(part.slice(from, from + MAX_OPS_PER_COMMIT), sync);
        if (part === urgent) unsynced = true;
        else if (synced && sync === 'full') unsynced = false;
      }
    }
    if (unsynced) disk.syncWal();
  }

  function serialize(error: unknown): SerializedError {
    if (error instanceof Error) {
      const { code, errcode } = error as { code?: unknown; errcode?: unknown };
      return {
        name: error.name,
        message: error.message,
        code: typeof code === 'string' ? code : null,
        // Extended result codes keep the primary one in their low byte (sqlite.org/rescode.html).
        sqlite: typeof errcode === 'number' ? errcode & 0xff : null,
      };
    }
    return { name: 'Error', message: String(error), code: null, sqlite: null };
  }

  /** The urgent work queued while the rest waits for company (a full flush queued meanwhile takes it first anyway). */
  function flushUrgent(): void {
    urgentQueued = false;
    if (scheduled === 'now') return;
    const { urgent, rest } = urgentFirst(queue);
    queue = rest;
    commitInOrder(urgent);
  }

  function flush(): void {
    scheduled = null;
    const batch = queue;
    queue = [];
    commitInOrder(batch);
    if (closing) {
      db.close();
      disk.close();
      post({ type: 'closed' });
    }
  }

  // Prepared once: exec() would compile them again for every operation.
  const begin = db.prepare('BEGIN IMMEDIATE');
  const savepoint = db.prepare('SAVEPOINT op');
  const release = db.prepare('RELEASE op');
  const rollbackTo = db.prepare('ROLLBACK TO op');
  const rollback = db.prepare('ROLLBACK');
  const commitStatement = db.prepare('COMMIT');
  const syncFull = db.prepare('PRAGMA synchronous = FULL');
  const syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
  let syncing: 'full' | 'normal' = 'full';

  /** FULL for anything that must survive a power cut at once; NORMAL for lease moves and urgent records (synced after their answer). */
  function syncFor(wanted: 'full' | 'normal'): void {
    if (wanted === syncing) return;
    (wanted === 'normal' ? syncNormal : syncFull).run();
    syncing = wanted;
  }

  type Results = WriterResult[];

  /** Recorded attempts, claims and ingested events go back packed (attempt-codec.ts, claim-codec.ts, ingest-codec.ts); the store unpacks them. */
  function answerOf(request: WriterOp, value: unknown): unknown {
    if (request.op === 'commitAttempts') return packRecorded(value as RecordedAttempt[]);
    if (request.op === 'claimDue' || request.op === 'claimProbe') return packClaimBatch(value as ClaimBatch);
    return request.op === 'ingest' ? packIngested(value as IngestedEvent[]) : value;
  }

  /** Fast path: the whole batch in one transaction, no savepoints (they journal every page). */
  function runPlain(batch: WriterOp[]): Results | null {
    const results: Results = [];
    for (const request of batch) {
      try {
        results.push({ id: request.id, ok: true, value: answerOf(request, run[request.op](request.args)) });
      } catch {
        return null;
      }
    }
    return results;
  }

  /** After a failure: each operation in its own savepoint, so one failing does not undo its neighbours. */
  function runIsolated(batch: WriterOp[]): Results {
    const results: Results = [];
    for (const request of batch) {
      savepoint.run();
      try {
        const value = answerOf(request, run[request.op](request.args));
        release.run();
        results.push({ id: request.id, ok: true, value });
      } catch (error) {
        // Disk full or I/O errors roll back the whole transaction: the batch fails with that cause.
        if (!db.isTransaction) throw error;
        rollbackTo.run();
        release.run();
        results.push({ id: request.id, ok: false, error: serialize(error) });
      }
    }
    return results;
  }

  function failAll(batch: WriterOp[], error: unknown): Results {
    const failure = serialize(error);
    return batch.map((request) => ({ id: request.id, ok: false as const, error: failure }));
  }

  /** SQLite may already have rolled back by itself (disk full, I/O error): only roll back what is open. */
  function rollbackIfOpen(): void {
    if (db.isTransaction) rollback.run();
  }

  /** Whether the batch committed (its results may still hold single operations' failures). */
  function commit(batch: WriterOp[], sync: 'full' | 'normal'): boolean {
    let results: Results;
    let committed = false;
    try {
      syncFor(sync);
      begin.run();
      const plain = runPlain(batch);
      if (plain === null) {
        // Operations are functions of their arguments and the database: replaying them is exact.
        rollbackIfOpen();
        begin.run();
        results = runIsolated(batch);
      } else {
        results = plain;
      }
      commitStatement.run();
      committed = true;
    } catch (error) {
      // The batch fails as a whole (nothing of it is stored); the thread lives on for the next one.
      try {
        rollbackIfOpen();
      } catch {
        // nothing more can be done for this batch
      }
      results = failAll(batch, error);
    }
    post({ type: 'results', results: flatResults(results) });
    return committed;
  }

  return { receive };
}

/** The writer's own disk flush: what an urgent record's commit leaves to after its answer. */
export interface WriterDisk {
  /** Makes every commit so far durable against a power cut (an fsync of the WAL). */
  syncWal(): void;
  close(): void;
}

/**
 * fsync of the database's WAL file, what `synchronous = FULL` does at each commit: frames a
 * NORMAL commit wrote are then on the disk. The file stays the same while the writer's connection
 * is open (a checkpoint rewinds it, never replaces it). A failed fsync is not thrown here: the
 * commits it covered were answered already, and the next FULL commit syncs the file again,
 * where SQLite reports the error to the writes it carries.
 */
function walSync(path: string): WriterDisk {
  let fd: number | null = null;
  return {
    syncWal() {
      try {
        fd ??= openSync(`${path}-wal`, 'r');
        fsyncSync(fd);
      } catch {
        // reported by the next FULL commit's own sync (see above)
      }
    },
    close() {
      if (fd !== null) closeSync(fd);
      fd = null;
    },
  };
}
