import { stat, statfs } from 'node:fs/promises';
import type { Logger } from 'pino';
import { describeByteSize, formatBytes } from '../../util/byte-size.ts';
import type { ByteSize } from '../../util/byte-size.ts';
import type { Clock } from '../../util/clock.ts';
import type { IngestBatch, RequestLogEntry, AttemptResult } from '../store.ts';
import type { WriteOpName } from './writes.ts';

/**
 * Without `store.min_free`: 5 % of the volume — the share ext4 keeps back for root by default,
 * so that a full disk still leaves room to repair it — at most 1 GB, which on a large volume
 * is still hours of attempt records and many times what a prune's WAL needs (about 8 MB).
 */
export const DEFAULT_MIN_FREE: ByteSize = { percent: 5 };
export const DEFAULT_MIN_FREE_CAP = 1024 ** 3;

/** The volume is looked at this often without traffic (readiness comes back within it). */
export const DISK_CHECK_EVERY_MS = 5_000;

/** Page size of stores hookrelay creates (connection.ts): SQLite writes whole pages. */
const PAGE = 8192;
/**
 * B-tree pages one write may rewrite besides those holding its own text: a page in each table
 * and index it touches (receipt, event, sender id, four on deliveries, the requests log, …)
 * and the parents of a page that splits.
 */
const TOUCHED_PAGES = 12;
/** A prune rewrites the pages it deletes from; what it deletes is not known beforehand. */
const PRUNE_PAGES = 256;

/** A write of `text` bytes: its text twice (WAL frame, then file page) and the b-tree pages it rewrites. */
function charge(text: number): number {
  return 2 * (text + PAGE) + TOUCHED_PAGES * PAGE;
}

/** What the smallest event is charged (~120 KB): with less room than this above the reserve, no event fits. */
const SMALLEST_EVENT = charge(2048);

/**
 * What a write may add to the disk, at most: its text twice (a frame in the WAL at commit,
 * then a page of the file when the WAL is checkpointed into it) and the b-tree pages it
 * rewrites. Many writes share a commit and its pages, so this counts high; a re-check of the
 * disk then gives the difference back.
 */
export function writeCost(op: WriteOpName, args: unknown): number {
  switch (op) {
    case 'ingest': {
      const batch = args as IngestBatch;
      let text = batch.receipt.body.length + 512;
      for (const name in batch.receipt.headers) text += name.length + (batch.receipt.headers[name]?.length ?? 0);
      for (const item of batch.events) {
        // An event's data comes from the body: stored apart, it is at most about as long again.
        text += 1024 + (item.data_is_body ? 0 : batch.receipt.body.length) + 512 * item.deliveries.length;
      }
      return charge(text);
    }
    case 'commitAttempts': {
      let text = 0;
      for (const result of args as readonly AttemptResult[]) {
        text += (result.request_body?.length ?? 0) + (result.response_body?.length ?? 0) + (result.error?.length ?? 0);
        text += 1024 * (1 + result.member_ids.length + result.notified.length);
      }
      return charge(text);
    }
    case 'recordRequests':
      return charge((args as readonly RequestLogEntry[]).reduce((sum, entry) => sum + 512 + (entry.excerpt?.length ?? 0) + (entry.reason?.length ?? 0), 0));
    case 'claimDue':
      return charge(512 * (args as { limit: number }).limit);
    case 'prune':
    case 'pruneRequests':
      return PRUNE_PAGES * PAGE;
    default:
      return charge(1024);
  }
}

export interface DiskReserveOptions {
  /** The folder of the store's file: the volume whose space is watched. */
  readonly dir: string;
  /** The store's file (its size on disk now). */
  readonly file: string;
  /** The file's size as SQLite sees it (pages committed to the WAL included). */
  readonly logicalSize: () => number;
  readonly minFree: ByteSize | null;
  readonly clock: Clock;
  readonly logger?: Logger;
}

/**
 * Keeps `store.min_free` of the store's volume free of new events. Free space is read with
 * statfs on a timer (DISK_CHECK_EVERY_MS) and whenever writes since the last reading may have
 * used half of the room above the reserve — never for each ingest. Between two readings, each
 * write is charged what it may add to the disk (writeCost) as it is handed to the writer, on
 * the event loop, one at a time: an ingest is refused when the room left after every write
 * charged so far cannot take its charge, so however many ingests arrive between two readings,
 * together they cannot take the disk below the reserve. Other writes (recording attempts,
 * leases, pruning) are charged but never refused: the reserve is theirs to use.
 */
export class DiskReserve {
  readonly #options: DiskReserveOptions;
  /** The reserve in bytes (a share is resolved against the volume's size). */
  #minFree = 0;
  /** Free bytes at the last reading, less what the next checkpoint will add to the file. */
  #free = Number.POSITIVE_INFINITY;
  /** Charges of writes handed to the writer and not answered yet. */
  #inFlight = 0;
  /** Charges of writes answered since the reading in use began (it may not have seen them). */
  #answered = 0;
  /** The same, since the reading in progress began. */
  #answeredDuringCheck = 0;
  #checking: Promise<void> | null = null;
  /** Why new events are refused (below the reserve at the last reading), or null. */
  #low: string | null = null;
  #cancelTimer: (() => void) | null = null;
  #stopped = false;
  /** The last reading failed (said once, not every few seconds). */
  #unreadable = false;

  private constructor(options: DiskReserveOptions) {
    this.#options = options;
  }

  /** Reads the volume once (so the store starts knowing its space), then every DISK_CHECK_EVERY_MS. */
  static async start(options: DiskReserveOptions): Promise<DiskReserve> {
    const reserve = new DiskReserve(options);
    await reserve.check();
    reserve.#schedule();
    return reserve;
  }

  /** Why new events are refused now (readiness), or null. */
  get problem(): string | null {
    return this.#low;
  }

  /**
   * A write is about to be handed to the writer: charges it, or, for a refusable one (an
   * ingest) that the room above the reserve cannot take, says why it is refused.
   */
  admit(cost: number, refusable: boolean): string | null {
    const room = this.#free - this.#minFree - this.#inFlight - this.#answered;
    if (refusable) {
      if (this.#low !== null) return this.#low;
      if (room < cost) {
        void this.check();
        return `disk: ${formatBytes(Math.max(0, this.#free - this.#inFlight - this.#answered))} free counting the writes in progress, not enough above ${this.#describeMinFree()} for this event`;
      }
    }
    this.#inFlight += cost;
    // Half of the room at the last reading may be used: read again before the rest is charged.
    if (this.#low === null && this.#inFlight + this.#answered >= (this.#free - this.#minFree) / 2) void this.check();
    return null;
  }

  /** The writer answered a write (committed or not): its charge stays until a reading starts after it. */
  answered(cost: number): void {
    this.#inFlight -= cost;
    this.#answered += cost;
    if (this.#checking) this.#answeredDuringCheck += cost;
  }

  /** Reads the volume's free space now (one reading at a time). */
  check(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#checking ??= this.#read().finally(() => {
      this.#checking = null;
    });
    return this.#checking;
  }

  stop(): void {
    this.#stopped = true;
    this.#cancelTimer?.();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#cancelTimer = this.#options.clock.after(DISK_CHECK_EVERY_MS, () => {
      void this.check().finally(() => this.#schedule());
    });
  }

  async #read(): Promise<void> {
    this.#answeredDuringCheck = 0;
    let volume: { free: number; total: number };
    let fileSize: number;
    try {
      const [fs, file] = await Promise.all([statfs(this.#options.dir), stat(this.#options.file)]);
      // bavail: what an unprivileged process may still use (root may use ext4's own reserve too).
      volume = { free: fs.bavail * fs.bsize, total: fs.blocks * fs.bsize };
      fileSize = file.size;
    } catch (error) {
      if (!this.#unreadable) {
        this.#options.logger?.warn({ err: error, dir: this.#options.dir }, 'could not read the free space of the store\'s disk; trying again every few seconds');
      }
      this.#unreadable = true;
      return;
    }
    this.#unreadable = false;
    if (this.#stopped) return;
    // Pages committed to the WAL beyond the file's end: the next checkpoint adds them to the file.
    // Read after statfs, so that it counts at least what statfs did not see.
    let pending: number;
    try {
      pending = Math.max(0, this.#options.logicalSize() - fileSize);
    } catch {
      return;
    }
    const setting = this.#options.minFree ?? DEFAULT_MIN_FREE;
    this.#minFree = 'percent' in setting ? Math.round((volume.total * setting.percent) / 100) : setting.bytes;
    if (this.#options.minFree === null) this.#minFree = Math.min(this.#minFree, DEFAULT_MIN_FREE_CAP);
    this.#free = volume.free - pending;
    this.#answered = this.#answeredDuringCheck;
    // Ready means an event can be taken: not when the room above the reserve is too small for any.
    const free = `disk: ${formatBytes(Math.max(0, this.#free))} free`;
    const low =
      this.#free < this.#minFree
        ? `${free}, below ${this.#describeMinFree()}`
        : this.#free - this.#minFree < SMALLEST_EVENT
          ? `${free}, no room for new events above ${this.#describeMinFree()}`
          : null;
    if (low !== null && this.#low === null) {
      this.#options.logger?.warn(
        { dir: this.#options.dir, free_bytes: this.#free, min_free_bytes: this.#minFree },
        `${low}: new events are refused (503) until space returns; deliveries and pruning go on`,
      );
    } else if (low === null && this.#low !== null) {
      this.#options.logger?.info(
        { dir: this.#options.dir, free_bytes: this.#free, min_free_bytes: this.#minFree },
        `disk: ${formatBytes(this.#free)} free again, above ${this.#describeMinFree()}: new events are taken again`,
      );
    }
    this.#low = low;
  }

  #describeMinFree(): string {
    const setting = this.#options.minFree;
    const bytes = formatBytes(this.#minFree);
    if (setting === null) return `store.min_free ${bytes} (the default: ${describeByteSize(DEFAULT_MIN_FREE)}, at most ${formatBytes(DEFAULT_MIN_FREE_CAP)})`;
    return 'percent' in setting ? `store.min_free ${bytes} (${describeByteSize(setting)})` : `store.min_free ${bytes}`;
  }
}
