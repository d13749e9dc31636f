import type { WriteOpName } from './writes.ts';

/** Messages between the SQLite store (event loop thread) and its writer thread. */
export type WriterMessage = { type: 'op'; id: number; op: WriteOpName; args: unknown } | { type: 'close' };

export interface SerializedError {
  name: string;
  message: string;
  code: string | null;
}

export type WriterReply =
  | { type: 'ready'; recovered: number }
  | { type: 'closed' }
  | {
      type: 'results';
      results: Array<{ id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError }>;
    };
