import type { IntervalHeldDelivery } from '../../notify/interval-ends.ts';
import type { Logger } from 'pino';
import type { RelayEvent } from '../../events/event.ts';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import type { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { formatBytes } from '../../util/byte-size.ts';
import type { ByteSize } from '../../util/byte-size.ts';
import { ERROR_STATUS, HookrelayError } from '../../errors.ts';
import type { ErrorCode } from '../../errors.ts';
import { systemClock } from '../../util/clock.ts';
import type { Clock } from '../../util/clock.ts';
import type {
  AppendKinds,
  ChangeKinds,
  ClaimRequest,
  HoldKinds,
  LeaseKinds,
  PruneKinds,
  ViewKinds,
  AttemptResult,
  ClaimBatch,
  FallbackHandOff,
  DeliveryQuery,
  EventQuery,
  EventSummary,
  DeliveryRecord,
  AttemptRecord,
  DestinationState,
  EchoApplication,
  EchoApplied,
  HoldRequest,
  ThresholdQuery,
  ThresholdState,
  IncidentMessage,
  NotificationEntry,
  IngestBatch,
  IngestedEvent,
  StoredMute,
  PendingEcho,
  PreparedDelivery,
  PruneOptions,
  QueueStat,
  RecordedAttempt,
  RequestLogEntry,
  RequestQuery,
  RequestRecord,
  Store,
  StoredEvent,
} from '../store.ts';
import { packAttempts, unpackRecorded } from './attempt-codec.ts';
import type { PackedRecorded } from './attempt-codec.ts';
import { unpackClaimBatch } from './claim-codec.ts';
import type { PackedClaimBatch } from './claim-codec.ts';
import { packIngest, unpackIngested } from './ingest-codec.ts';
import type { PackedIngested } from './ingest-codec.ts';
import { openReader } from './connection.ts';
import { DiskReserve, writeCost } from './disk-reserve.ts';
import { InThreadWriter } from './in-thread-writer.ts';
import { RESULT_FIELDS, flatOps } from './protocol.ts';
import type { SerializedError, WriterData, WriterMessage, WriterOp, WriterReply } from './protocol.ts';
import {
  DELIVERY_COLUMNS,
  DESTINATION_STATE_SQL,
  EVENT_COLUMNS,
  ReadStatements,
  attemptFromRow,
  deliveryFromRow,
  destinationStateFromRow,
  eventFromRow,
  eventSummaryFromRow,
  incidentMessageFromRow,
  muteFromRow,
  notificationFromRow,
  requestFromRow,
} from './rows.ts';
import { ACCEPTED_OUTCOMES, callKind } from '../store.ts';
import { deliveryCounts, EVENT_SUMMARY_COLUMNS, eventSearchSql } from '../event-search.ts';
import type { WriteOpName, WriteOps } from './writes.ts';

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** What the write was charged against the disk reserve (DiskReserve.admit). */
  cost: number;
}

/** Coded errors keep their code; anything else from SQLite (disk full, I/O) means the store cannot take writes: 503. */
function revive(error: SerializedError): Error {
  if (error.code !== null && error.code in ERROR_STATUS) return new HookrelayError(error.code as ErrorCode, error.message);
  return new HookrelayError('store_unavailable', `the store could not write: ${error.message}`);
}

/** Writes waiting for the writer thread beyond which ingest is refused with 503 (each is a request in memory). */
const MAX_QUEUED_WRITES = 10_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One process per SQLite file: at open it takes over whatever was in flight, which would
 * duplicate the deliveries of another live process. The lock is SQLite's own exclusive lock on
 * a small file next to the database, taken in one step (no check-then-act) and held by this
 * connection: the kernel drops it when the process dies, however it dies (kill -9), so there is
 * never a stale lock to judge, and two processes starting together cannot both get it.
 */
function acquireLock(lockPath: string, database: string): DatabaseSync {
  refuseOlderHolder(database);
  const lock = new DatabaseSync(lockPath);
  try {
    lock.exec('PRAGMA locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
    lock.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER, host TEXT)');
    return lock;
  } catch (error) {
    lock.close();
    if (/locked|busy/i.test((error as Error).message)) {
      throw new Error(`another hookrelay is using ${database}: one process per SQLite store (give each its own HOOKRELAY_DATA_DIR)`, { cause: error });
    }
    throw error;
  }
}

/** hookrelay before this version named its holder in `<db>.lock`: a live one still counts. */
function refuseOlderHolder(database: string): void {
  let holder: { pid?: unknown; host?: unknown } | null;
  try {
    holder = JSON.parse(readFileSync(`${database}.lock`, 'utf8')) as { pid?: unknown; host?: unknown };
  } catch {
    return;
  }
  if (holder && holder.host === hostname() && typeof holder.pid === 'number' && holder.pid !== process.pid && alive(holder.pid)) {
    throw new Error(`another hookrelay (pid ${holder.pid}) is using ${database}: one process per SQLite store (give each its own HOOKRELAY_DATA_DIR)`);
  }
  rmSync(`${database}.lock`, { force: true });
}

/** SQLite's primary result codes (https://sqlite.org/rescode.html). */
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_NOTADB = 26;

/**
 * A write failed because nothing can be committed now, not because of what it wrote: the disk
 * (or `max_page_count`) is full — ENOSPC reaches SQLite as SQLITE_FULL — or the disk fails.
 */
function cannotCommit(error: SerializedError): boolean {
  return error.sqlite === SQLITE_FULL || error.sqlite === SQLITE_IOERR;
}

/** node:sqlite errors carry SQLite's result code as `errcode` (extended codes keep the primary one in the low byte). */
function sqliteCode(error: unknown): number | null {
  const code = (error as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code & 0xff : null;
}

/** SQLite says the file is damaged, or is not a database at all (sqlite.org/rescode.html). */
function isCorruption(code: number | null): boolean {
  return code === SQLITE_CORRUPT || code === SQLITE_NOTADB;
}

/**
 * A store that cannot be opened because the file is damaged (or is not a SQLite file at all)
 * says which file, and the ways out: SQLite's own "file is not a database" says none.
 */
function explainOpenFailure(error: Error, file: string): Error {
  if (!isCorruption(sqliteCode(error))) return error;
  // The WAL and shared-memory files belong to that database: left behind, SQLite would replay
  // the old WAL into the new, empty one.
  const moves = [file, `${file}-wal`, `${file}-shm`]
    .filter((path) => path === file || existsSync(path))
    .map((path) => `mv ${shellQuote(path)} ${shellQuote(`${path}.corrupt`)}`);
  const [sql, recovered] = [shellQuote(`${file}.sql`), shellQuote(`${file}.recovered`)];
  return new Error(
    [
      `the SQLite store ${file} looks corrupt (SQLite says: ${error.message}); hookrelay did not change it.`,
      'Restore it from a backup (stop hookrelay, put the backup in its place, start again),',
      // .recover needs an sqlite3 built with the sqlite_dbpage table (sqlite.org's builds are);
      // without it, it fails and the && stops before anything is replaced.
      'or recover what SQLite can still read into a new file (sqlite3 3.29 or later, with .recover), see how many events it kept, and start on it:',
      `  sqlite3 ${shellQuote(file)} .recover > ${sql} && sqlite3 ${recovered} < ${sql} && sqlite3 ${recovered} 'SELECT COUNT(*) FROM events'`,
      `  ${moves.join(' && ')} && mv ${recovered} ${shellQuote(file)}`,
      'or move it aside to start with an empty store (its events, deliveries and mutes are then not available to hookrelay):',
      `  ${moves.join(' && ')}`,
    ].join('\n'),
    { cause: error },
  );
}

/** A path as one shell word. */
function shellQuote(path: string): string {
  return /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

export interface SqliteStoreOptions {
  /** Caps the file at this many pages: writes beyond fail as a full disk would (SQLITE_FULL). */
  readonly maxPageCount?: number;
  /** Ingests waiting for the writer beyond which ingest is refused (default 10,000). */
  readonly maxQueuedWrites?: number;
  /** `store.min_free`: free space on the file's volume kept from new events (null or absent: DiskReserve's default). */
  readonly minFree?: ByteSize | null;
  /** The server's clock: the disk's re-checks, and the times of writes that take none from their caller (tests drive it). */
  readonly clock?: Clock;
  /** The start-up check's duration, the disk reserve's changes, and a damaged file (what to do). */
  readonly logger?: Logger;
  /**
   * Run the writer on this thread instead of a writer thread (tests only: mutation testing sees
   * code in the test's thread alone). The same writer, messages and group commits; no fsync
   * off the event loop.
   */
  readonly inThread?: boolean;
}

/** The writer thread, or the same writer on this thread (InThreadWriter). */
type WriterPort = EventEmitter & { postMessage(message: WriterMessage): void };

/** Writes that put new work in the store: never taken onto a damaged file. */
const NEW_WORK: ReadonlySet<WriteOpName> = new Set(['ingest', 'replayDelivery', 'enqueuePrepared']);

/**
 * The embedded store: one SQLite file owned by one process. Writes go to a writer
 * thread (group commit); reads use a read-only connection on this thread.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite';
  /** Deliveries that were in flight when the previous process stopped, made due again at open. */
  readonly recoveredLeases: number;
  readonly #worker: WriterPort;
  readonly #reader: DatabaseSync;
  readonly #sql: ReadStatements;
  readonly #pending = new Map<number, Pending>();
  /** Operations of this event-loop turn, posted together at its end. */
  #outbox: WriterOp[] = [];
  /**
   * The attempts committed in this event-loop turn: one `commitAttempts` operation in the outbox
   * that later answers of the same turn join (each destination's breaker is then read and
   * written once for all of them), closed when the outbox is posted.
   */
  #attempts: { readonly id: number; readonly results: AttemptResult[]; readonly answer: Promise<RecordedAttempt[]> } | null = null;
  #nextId = 1;
  #failure: Error | null = null;
  #commitListener: ((operations: number) => void) | null = null;
  #closed: Promise<void> | null = null;
  /**
   * Why the last commit that failed could not commit (a full disk), until a probe write commits
   * again: while set, the store is not ready, even though reads still work.
   */
  #cannotCommit: string | null = null;

  /**
   * Why the file is damaged (SQLite said so while running), or null: from then on the store is
   * not ready and takes no new work, until a person replaces the file.
   */
  #damage: string | null = null;

  /** Holds the store's exclusive lock while open (see acquireLock). */
  readonly #lock: DatabaseSync;

  readonly #maxQueuedWrites: number;
  readonly #file: string;
  readonly #logger: Logger | undefined;
  readonly #clock: Clock;
  /** Set once the store is open (the reserve reads the file's size through the reader). */
  #reserve: DiskReserve | null = null;

  private constructor(
    worker: WriterPort,
    reader: DatabaseSync,
    recovered: number,
    lock: DatabaseSync,
    options: { file: string; maxQueuedWrites: number; logger: Logger | undefined; clock: Clock },
  ) {
    this.#maxQueuedWrites = options.maxQueuedWrites;
    this.#clock = options.clock;
    this.#file = options.file;
    this.#logger = options.logger;
    this.#lock = lock;
    this.#worker = worker;
    this.#reader = reader;
    this.#sql = new ReadStatements(reader, (error) => {
      if (isCorruption(sqliteCode(error))) this.#damaged((error as Error).message);
    });
    this.recoveredLeases = recovered;
    worker.on('message', (reply: WriterReply) => {
      if (reply.type !== 'results') return;
      // One reply per commit: its results are the operations that shared it.
      const { results } = reply;
      this.#commitListener?.(results.length / RESULT_FIELDS);
      for (let at = 0; at < results.length; at += RESULT_FIELDS) {
        const pending = this.#pending.get(results[at] as number);
        if (!pending) continue;
        this.#pending.delete(results[at] as number);
        this.#reserve?.answered(pending.cost);
        if (results[at + 1] === true) pending.resolve(results[at + 2]);
        else pending.reject(revive(results[at + 2] as SerializedError));
      }
      for (let at = 0; at < results.length; at += RESULT_FIELDS) {
        if (results[at + 1] === true) continue;
        const error = results[at + 2] as SerializedError;
        if (cannotCommit(error)) this.#cannotCommit = error.message;
        if (isCorruption(error.sqlite)) this.#damaged(error.message);
      }
    });
    worker.on('error', (error) => this.#fail(error));
    worker.on('exit', (code) => this.#fail(new Error(`SQLite writer thread exited (code ${code})`)));
  }

  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const file = resolve(path);
    mkdirSync(dirname(file), { recursive: true });
    const lock = acquireLock(`${file}-lock`, file);
    const clock = options.clock ?? systemClock;
    // The writer cannot read this thread's clock: it gets the time it recovers leases at.
    const data: WriterData = { path: file, maxPageCount: options.maxPageCount ?? null, openedAt: clock.now() };
    const worker: WriterPort = options.inThread
      ? new InThreadWriter(data)
      : // The thread's name in `top -H` and /proc (and in the bench's CPU accounting).
        new Worker(new URL('./writer-thread.ts', import.meta.url), { name: 'sqlite-writer', workerData: data });
    const ready = await new Promise<Extract<WriterReply, { type: 'ready' }>>((done, failed) => {
      worker.once('error', () => lock.close());
      const onMessage = (reply: WriterReply): void => {
        if (reply.type === 'ready') {
          worker.off('error', onError);
          worker.off('message', onMessage);
          done(reply);
        }
      };
      worker.on('message', onMessage);
      const onError = (error: Error): void => failed(explainOpenFailure(error, file));
      worker.once('error', onError);
    });
    // A new file has nothing to check.
    if (ready.checked.bytes > 0) {
      options.logger?.info(
        { file, bytes: ready.checked.bytes, ms: ready.checked.ms },
        `store checked: PRAGMA quick_check found no damage in ${formatBytes(ready.checked.bytes)} (${ready.checked.ms} ms)`,
      );
    }
    const reader = openReader(file);
    const store = new SqliteStore(worker, reader, ready.recovered, lock, {
      file,
      maxQueuedWrites: options.maxQueuedWrites ?? MAX_QUEUED_WRITES,
      logger: options.logger,
      clock,
    });
    const size = reader.prepare('SELECT page_count * page_size AS bytes FROM pragma_page_count(), pragma_page_size()');
    // Reads the disk once before the store is used (a reading that fails is logged and retried).
    store.#reserve = await DiskReserve.start({
      dir: dirname(file),
      file,
      logicalSize: () => Number(size.get()?.bytes ?? 0),
      minFree: options.minFree ?? null,
      clock,
      ...(options.logger ? { logger: options.logger } : {}),
    });
    return store;
  }

  /**
   * SQLite found the file damaged while running: the store is not ready and takes no new work
   * from now on (writing onto damaged pages can spread the damage); what was stored is still
   * delivered as far as the file can be read. Said once, with what to do.
   */
  #damaged(message: string): void {
    if (this.#damage !== null) return;
    this.#damage = `the SQLite store ${this.#file} is damaged (SQLite says: ${message})`;
    this.#logger?.error(
      { file: this.#file },
      `${this.#damage}: new events are refused (503) and /readyz answers 503 until the file is replaced. ` +
        'Stop hookrelay, then restore the file from a backup, or recover what SQLite can still read into a new file ' +
        `(sqlite3 ${shellQuote(this.#file)} .recover) and put that in its place; ` +
        'starting again checks the file and prints the exact commands',
    );
  }

  #fail(error: Error): void {
    if (this.#closed) return;
    this.#failure ??= error;
    for (const pending of this.#pending.values()) {
      pending.reject(new HookrelayError('store_unavailable', `the store failed: ${error.message}`));
    }
    this.#pending.clear();
  }

  #write<K extends WriteOpName>(op: K, args: Parameters<WriteOps[K]>[0]): Promise<ReturnType<WriteOps[K]>> {
    if (this.#failure || this.#closed) {
      return Promise.reject(
        new HookrelayError('store_unavailable', `the store is ${this.#closed ? 'closed' : `failed: ${this.#failure?.message}`}`),
      );
    }
    if (this.#damage !== null && NEW_WORK.has(op)) {
      return Promise.reject(new HookrelayError('store_unavailable', `${this.#damage}; it takes no new events until it is replaced`));
    }
    // Back-pressure: a commit that cannot keep up makes senders retry, rather than memory grow.
    if (op === 'ingest' && this.#pending.size >= this.#maxQueuedWrites) {
      return Promise.reject(new HookrelayError('store_unavailable', 'the store is busy: its write queue is full; retry shortly'));
    }
    const cost = this.#reserve ? writeCost(op, args) : 0;
    const refused = this.#reserve?.admit(cost, op === 'ingest') ?? null;
    if (refused !== null) return Promise.reject(new HookrelayError('store_unavailable', refused));
    const id = this.#nextId++;
    return new Promise((resolvePromise, reject) => {
      this.#pending.set(id, { resolve: resolvePromise as (value: unknown) => void, reject, cost });
      if (this.#outbox.length === 0) setImmediate(() => this.#post());
      this.#outbox.push({ type: 'op', id, op, args });
    });
  }

  #post(): void {
    const ops = this.#outbox;
    this.#outbox = [];
    this.#attempts = null;
    if (ops.length === 0) return;
    // Attempts and ingests cross packed (attempt-codec.ts, ingest-codec.ts): their batch is final once posted.
    for (const op of ops) {
      if (op.op === 'commitAttempts') op.args = packAttempts(op.args as AttemptResult[]);
      else if (op.op === 'ingest') op.args = packIngest(op.args as IngestBatch);
    }
    try {
      this.#worker.postMessage({ type: 'ops', ops: flatOps(ops) } satisfies WriterMessage);
    } catch {
      // An operation that cannot be cloned (a function among its arguments: a bug) fails alone,
      // as its caller's error; the others of the batch still go, and nothing is thrown here,
      // outside every request, where it would end the process.
      for (const op of ops) {
        try {
          this.#worker.postMessage({ type: 'ops', ops: flatOps([op]) } satisfies WriterMessage);
        } catch (error) {
          const pending = this.#pending.get(op.id);
          this.#pending.delete(op.id);
          this.#reserve?.answered(pending?.cost ?? 0);
          pending?.reject(new Error(`the store could not take a ${op.op}: ${(error as Error).message}`, { cause: error }));
        }
      }
    }
  }

  syncDestinations(names: readonly string[]): Promise<void> {
    return this.#write('syncDestinations', names).then(() => undefined);
  }

  ingest(batch: IngestBatch): Promise<IngestedEvent[]> {
    // Packed when posted (ingest-codec.ts), without the parsed payload of an event whose data is the body.
    return this.#write('ingest', batch).then((packed) => unpackIngested(packed as unknown as PackedIngested));
  }

  commitAttempts(results: readonly AttemptResult[]): Promise<RecordedAttempt[]> {
    if (results.length === 0) return Promise.resolve([]);
    const answer = this.#queueAttempts(results);
    // A lane waits for this one to send its incident's next update (ChainRequest.urgent): it goes
    // to the writer now, with what this turn queued so far, not after the rest of the turn (under
    // load, a burst of ingest requests handled in the same turn).
    if (results.some((result) => result.chain?.urgent === true)) this.#post();
    return answer;
  }

  #queueAttempts(results: readonly AttemptResult[]): Promise<RecordedAttempt[]> {
    const open = this.#attempts;
    const pending = open ? this.#pending.get(open.id) : undefined;
    if (open && pending) {
      // Joins this turn's batch: posted with it (the array is cloned when the outbox is posted).
      const start = open.results.length;
      open.results.push(...results);
      const cost = this.#reserve ? writeCost('commitAttempts', results) : 0;
      this.#reserve?.admit(cost, false);
      pending.cost += cost;
      return open.answer.then((all) => all.slice(start, start + results.length));
    }
    const batch = [...results];
    const queued = this.#outbox.length;
    const answer = this.#write('commitAttempts', batch).then((packed) => unpackRecorded(packed as unknown as PackedRecorded));
    const op = this.#outbox[queued];
    if (this.#outbox.length > queued && op?.op === 'commitAttempts') this.#attempts = { id: op.id, results: batch, answer };
    return answer.then((all) => all.slice(0, results.length));
  }

  #extendLeases(ids: readonly string[], owner: string, until: number): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#write('extendLeases', { ids, owner, until }).then(() => undefined);
  }

  #releaseClaims(ids: readonly string[], owner: string): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#write('releaseClaims', { ids, owner, now: this.#clock.now() }).then(() => undefined);
  }

  #markAttemptStarted(ids: readonly string[], owner: string): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.#write('markAttemptStarted', { ids, owner }).then(() => undefined);
  }

  #enableDestination(name: string, now: number): Promise<DestinationState | null> {
    return this.#write('enableDestination', { name, now });
  }

  #replayDelivery(id: string, newId: string, now: number): Promise<DeliveryRecord | null> {
    return this.#write('replayDelivery', { id, newId, now });
  }

  #pruneDeliveries(options: PruneOptions): Promise<number> {
    return this.#write('prune', options);
  }

  #createMute(mute: StoredMute): Promise<StoredMute> {
    return this.#write('createMute', mute);
  }

  #deleteMute(id: string, now: number): Promise<StoredMute | null> {
    return this.#write('deleteMute', { id, now });
  }

  async #listMutes(options: { now: number; all?: boolean }): Promise<StoredMute[]> {
    const sql = options.all
      ? 'SELECT * FROM mutes ORDER BY created_at DESC LIMIT 500'
      : 'SELECT * FROM mutes WHERE deleted_at IS NULL AND expires_at > ? ORDER BY expires_at';
    const rows = options.all ? this.#sql.get(sql).all() : this.#sql.get(sql).all(options.now);
    return rows.map(muteFromRow);
  }

  #enqueuePrepared(eventId: string, deliveries: readonly PreparedDelivery[], now: number): Promise<DeliveryRecord[]> {
    return this.#write('enqueuePrepared', { eventId, deliveries, now });
  }

  #handToFallback(handOff: FallbackHandOff): Promise<number> {
    return this.#write('handToFallback', handOff);
  }

  async #heldBy(marker: string): Promise<IntervalHeldDelivery[]> {
    return this.#sql
      .get(
        `SELECT d.id, d.destination, e.source, e.dedup_key, e.status, e.occurred_at FROM deliveries d INDEXED BY deliveries_held_by
         JOIN events e ON e.id = d.event_id WHERE d.held_by = ? AND d.status = 'muted'`,
      )
      .all(marker)
      .map((row) => ({
        id: String(row.id),
        destination: String(row.destination),
        source: String(row.source),
        dedup_key: String(row.dedup_key),
        status: String(row.status),
        occurred_at: String(row.occurred_at),
      }));
  }

  #releaseHeld(args: { readonly marker: string; readonly ids: readonly string[]; readonly note: string; readonly now: number }): Promise<string[]> {
    return this.#write('releaseHeld', args);
  }

  #holdDeliveries(hold: HoldRequest): Promise<void> {
    if (hold.ids.length === 0) return Promise.resolve();
    return this.#write('holdDeliveries', hold).then(() => undefined);
  }

  async thresholdState(query: ThresholdQuery): Promise<ThresholdState> {
    const count = this.#sql
      .get(
        `SELECT COUNT(*) AS n FROM deliveries INDEXED BY deliveries_by_rule
         WHERE destination = ? AND route = ? AND rule_key = ? AND id <= ? AND created_at >= ?`,
      )
      .get(query.destination, query.route, query.rule_key, query.up_to_id, query.since);
    const fired = this.#sql
      .get(
        `SELECT id FROM deliveries INDEXED BY deliveries_by_rule
         WHERE destination = ? AND route = ? AND rule_key = ? AND created_at >= ? AND status = 'succeeded'
         ORDER BY id DESC LIMIT 1`,
      )
      .get(query.destination, query.route, query.rule_key, query.since);
    return { count: Number(count?.n ?? 0), fired: fired ? String(fired.id) : null };
  }

  async firingIncidents(limit: number): Promise<RelayEvent[]> {
    return this.#sql
      .get(
        `SELECT ${EVENT_COLUMNS} FROM incidents i INDEXED BY incidents_firing JOIN events e ON e.id = i.event_id
         WHERE i.status = 'firing' ORDER BY i.updated_at DESC LIMIT ?`,
      )
      .all(limit)
      .map(eventFromRow);
  }

  async notificationLog(destination: string, dedupKeys: readonly string[]): Promise<NotificationEntry[]> {
    const one = this.#sql.get('SELECT * FROM notification_log WHERE destination = ? AND dedup_key = ?');
    return [...new Set(dedupKeys)].flatMap((key) => {
      const row = one.get(destination, key);
      return row ? [notificationFromRow(row)] : [];
    });
  }

  async #getIncidentMessage(destination: string, dedupKey: string): Promise<IncidentMessage | null> {
    const row = this.#sql.get('SELECT * FROM incident_messages WHERE destination = ? AND dedup_key = ?').get(destination, dedupKey);
    return row ? incidentMessageFromRow(row) : null;
  }

  #acknowledgeIncident(destination: string, dedupKey: string, by: string, now: number): Promise<IncidentMessage | null> {
    return this.#write('acknowledgeIncident', { destination, dedupKey, by, now });
  }

  #applyEcho(application: EchoApplication): Promise<EchoApplied> {
    return this.#write('applyEcho', application);
  }

  async #pendingEchoes(limit: number): Promise<PendingEcho[]> {
    return this.#sql
      .get('SELECT event_id, dedup_key, created_at FROM pending_echoes ORDER BY created_at, event_id LIMIT ?')
      .all(limit)
      .map((row) => ({ event_id: String(row.event_id), dedup_key: String(row.dedup_key), created_at: Number(row.created_at) }));
  }

  async #destinationStates(): Promise<DestinationState[]> {
    return this.#sql.get(`${DESTINATION_STATE_SQL} ORDER BY s.name`).all().map(destinationStateFromRow);
  }

  async #listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    const where: string[] = [];
    const params: Array<string | number> = [];
    if (query.destination !== undefined) {
      where.push('destination = ?');
      params.push(query.destination);
    }
    if (query.status !== undefined) {
      where.push('status = ?');
      params.push(query.status);
    }
    if (query.event_id !== undefined) {
      where.push('event_id = ?');
      params.push(query.event_id);
    }
    if (query.before !== undefined) {
      where.push('id < ?');
      params.push(query.before);
    }
    const sql = `SELECT ${DELIVERY_COLUMNS} FROM deliveries ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return this.#sql
      .get(sql)
      .all(...params, query.limit)
      .map(deliveryFromRow);
  }

  async #getDelivery(id: string): Promise<(DeliveryRecord & { attempt_log: AttemptRecord[] }) | null> {
    const row = this.#sql.get(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE id = ?`).get(id);
    if (!row) return null;
    const attempts = this.#sql
      .get('SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY attempt')
      .all(id)
      .map(attemptFromRow);
    return { ...deliveryFromRow(row), attempt_log: attempts };
  }

  async #getEvent(id: string): Promise<StoredEvent | null> {
    const row = this.#sql
      .get(`SELECT ${EVENT_COLUMNS}, r.headers AS raw_headers, r.body AS raw_body FROM events e JOIN receipts r ON r.id = e.receipt_id WHERE e.id = ?`)
      .get(id);
    if (!row) return null;
    const deliveries = this.#sql
      .get(`SELECT ${DELIVERY_COLUMNS} FROM deliveries WHERE event_id = ? ORDER BY id`)
      .all(id)
      .map(deliveryFromRow);
    return {
      event: eventFromRow(row),
      raw: { headers: JSON.parse(String(row.raw_headers)) as Record<string, string>, body: String(row.raw_body) },
      deliveries,
    };
  }

  async #searchEvents(query: EventQuery): Promise<EventSummary[]> {
    const params: Array<string | number> = [];
    const { where, limit } = eventSearchSql(query, (value) => (params.push(value), '?'), 'sqlite');
    const events = this.#sql
      .get(`SELECT ${EVENT_SUMMARY_COLUMNS} FROM events e ${where} ORDER BY e.id DESC LIMIT ?`)
      .all(...params, limit)
      .map(eventSummaryFromRow);
    if (events.length === 0) return [];
    const counts = deliveryCounts(
      this.#sql
        .get(`SELECT event_id, status, COUNT(*) AS count FROM deliveries WHERE event_id IN (${events.map(() => '?').join(', ')}) GROUP BY event_id, status`)
        .all(...events.map((event) => event.id)),
    );
    return events.map((event) => ({ ...event, deliveries: counts.get(event.id) ?? {} }));
  }

  observeCommits(listener: (operations: number) => void): void {
    this.#commitListener = listener;
  }

  async #queueStats(): Promise<QueueStat[]> {
    return this.#sql
      .get(
        `SELECT s.name, s.enabled, COUNT(d.id) AS depth, MIN(d.created_at) AS oldest
         FROM destination_state s LEFT JOIN deliveries d ON d.destination = s.name AND d.status IN ('pending', 'in_flight')
         GROUP BY s.name ORDER BY s.name`,
      )
      .all()
      .map((row) => ({
        destination: String(row.name),
        enabled: Number(row.enabled) === 1,
        depth: Number(row.depth),
        oldest_pending_at: row.oldest === null ? null : Number(row.oldest),
      }));
  }

  #recordRequests(entries: readonly RequestLogEntry[]): Promise<void> {
    if (entries.length === 0) return Promise.resolve();
    return this.#write('recordRequests', entries).then(() => undefined);
  }

  async #listRequests(query: RequestQuery): Promise<RequestRecord[]> {
    const where: string[] = [];
    const params: Array<string | number> = [];
    if (query.source !== undefined) {
      where.push('source = ?');
      params.push(query.source);
    }
    if (query.outcome === 'refused') {
      where.push(`outcome NOT IN (${ACCEPTED_OUTCOMES.map(() => '?').join(', ')})`);
      params.push(...ACCEPTED_OUTCOMES);
    } else if (query.outcome !== undefined) {
      where.push('outcome = ?');
      params.push(query.outcome);
    }
    if (query.before !== undefined) {
      where.push('id < ?');
      params.push(query.before);
    }
    const sql = `SELECT * FROM requests ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return this.#sql
      .get(sql)
      .all(...params, query.limit)
      .map(requestFromRow);
  }

  #pruneRequests(options: { keep: number; before: number }): Promise<number> {
    return this.#write('pruneRequests', options);
  }


  append<K extends keyof AppendKinds>(kind: K, ...args: AppendKinds[K]['args']): Promise<AppendKinds[K]['answer']> {
    return callKind<AppendKinds, K>(
      {
        prepared: (eventId, deliveries, now) => this.#enqueuePrepared(eventId, deliveries, now),
        replay: (id, newId, now) => this.#replayDelivery(id, newId, now),
        requests: (entries) => this.#recordRequests(entries),
      },
      kind,
      args,
    );
  }

  claim(destination: string, request: ClaimRequest): Promise<ClaimBatch> {
    const op = request.probe === true ? 'claimProbe' : 'claimDue';
    // Claims come back packed from the writer thread (claim-codec.ts).
    return this.#write(op, { destination, ...request }).then((packed) => unpackClaimBatch(packed as unknown as PackedClaimBatch));
  }

  holds<K extends keyof HoldKinds>(kind: K, ...args: HoldKinds[K]['args']): Promise<HoldKinds[K]['answer']> {
    return callKind<HoldKinds, K>(
      { hold: (hold) => this.#holdDeliveries(hold), release: (release) => this.#releaseHeld(release), fallback: (handOff) => this.#handToFallback(handOff) },
      kind,
      args,
    );
  }

  leases<K extends keyof LeaseKinds>(kind: K, ...args: LeaseKinds[K]['args']): Promise<LeaseKinds[K]['answer']> {
    return callKind<LeaseKinds, K>(
      {
        extend: (ids, owner, until) => this.#extendLeases(ids, owner, until),
        release: (ids, owner) => this.#releaseClaims(ids, owner),
        started: (ids, owner) => this.#markAttemptStarted(ids, owner),
      },
      kind,
      args,
    );
  }

  change<K extends keyof ChangeKinds>(kind: K, ...args: ChangeKinds[K]['args']): Promise<ChangeKinds[K]['answer']> {
    return callKind<ChangeKinds, K>(
      {
        acknowledge: (destination, dedupKey, by, now) => this.#acknowledgeIncident(destination, dedupKey, by, now),
        apply_echo: (application) => this.#applyEcho(application),
        create_mute: (mute) => this.#createMute(mute),
        delete_mute: (id, now) => this.#deleteMute(id, now),
        enable_destination: (name, now) => this.#enableDestination(name, now),
      },
      kind,
      args,
    );
  }

  view<K extends keyof ViewKinds>(kind: K, ...args: ViewKinds[K]['args']): Promise<ViewKinds[K]['answer']> {
    return callKind<ViewKinds, K>(
      {
        destinations: () => this.#destinationStates(),
        queue: () => this.#queueStats(),
        deliveries: (query) => this.#listDeliveries(query),
        delivery: (id) => this.#getDelivery(id),
        event: (id) => this.#getEvent(id),
        events: (query) => this.#searchEvents(query),
        requests: (query) => this.#listRequests(query),
        mutes: (options) => this.#listMutes(options),
        incident_message: (destination, dedupKey) => this.#getIncidentMessage(destination, dedupKey),
        held: (marker) => this.#heldBy(marker),
        echoes: (limit) => this.#pendingEchoes(limit),
      },
      kind,
      args,
    );
  }

  prune<K extends keyof PruneKinds>(kind: K, ...args: PruneKinds[K]['args']): Promise<PruneKinds[K]['answer']> {
    return callKind<PruneKinds, K>({ deliveries: (options) => this.#pruneDeliveries(options), requests: (options) => this.#pruneRequests(options) }, kind, args);
  }

  /**
   * Ready means able to take new events, not only to read: not while the file is damaged, nor
   * while its disk is below `store.min_free` (as of the last reading, every few seconds); after
   * a commit failed for lack of space, each ping tries a probe write and the store is ready
   * again once one commits.
   */
  async ping(): Promise<void> {
    if (this.#failure) throw new HookrelayError('store_unavailable', `the store failed: ${this.#failure.message}`);
    if (this.#damage !== null) throw new HookrelayError('store_unavailable', this.#damage);
    const low = this.#reserve?.problem;
    if (low) throw new HookrelayError('store_unavailable', low);
    this.#sql.get('SELECT 1').get();
    if (this.#cannotCommit === null) return;
    try {
      await this.#write('probeSpace', undefined);
    } catch (error) {
      throw new HookrelayError('store_unavailable', `the store cannot commit: ${this.#cannotCommit}`, { cause: error });
    }
    this.#cannotCommit = null;
  }

  close(): Promise<void> {
    this.#reserve?.stop();
    this.#closed ??= new Promise<void>((done) => {
      const finish = (): void => {
        this.#reader.close();
        this.#lock.close();
        done();
      };
      if (this.#failure) {
        finish();
        return;
      }
      this.#worker.once('exit', finish);
      this.#post();
      this.#worker.postMessage({ type: 'close' } satisfies WriterMessage);
    });
    return this.#closed;
  }
}
