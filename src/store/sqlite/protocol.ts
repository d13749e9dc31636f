import type { WriteOpName } from './writes.ts';

/** What the writer opens with: the file, its cap, and the store's clock when it opened. */
export interface WriterData {
  readonly path: string;
  readonly maxPageCount: number | null;
  readonly openedAt: number;
}

/** Messages between the SQLite store (event loop thread) and its writer thread. */
export interface WriterOp {
  type: 'op';
  id: number;
  op: WriteOpName;
  args: unknown;
}

/** Operations of one event-loop turn travel together: postMessage has a fixed cost per call. */
export type WriterMessage = { type: 'ops'; ops: WriterOp[] } | { type: 'close' };

export interface SerializedError {
  name: string;
  message: string;
  code: string | null;
  /** SQLite's primary result code (SQLITE_FULL is 13), when SQLite raised it. */
  sqlite: number | null;
}

export type WriterReply =
  /** `checked`: how long the start-up quick_check of a file of `bytes` took. */
  | { type: 'ready'; recovered: number; checked: { ms: number; bytes: number } }
  | { type: 'closed' }
  | {
      type: 'results';
      results: Array<{ id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError }>;
    };
