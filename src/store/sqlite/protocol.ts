import type { RelayEvent } from '../../events/event.ts';
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

/**
 * Operations of one event-loop turn travel together: postMessage has a fixed cost per call. They
 * travel flat, OP_FIELDS values each (id, op, args), as their results come back (RESULT_FIELDS:
 * id, ok, the value or the error): structured clone writes every property name of every object it
 * crosses and rebuilds the object on the other side, and there is one per webhook each way.
 */
export type WriterMessage = { type: 'ops'; ops: unknown[] } | { type: 'close' };
export const OP_FIELDS = 3;
export const RESULT_FIELDS = 3;

/** The ops of a message, flat: what `WriterMessage['ops']` carries. */
export function flatOps(ops: readonly WriterOp[]): unknown[] {
  const flat: unknown[] = [];
  for (const op of ops) flat.push(op.id, op.op, op.args);
  return flat;
}

/** One operation's outcome. */
export type WriterResult = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedError };

/** Results of a commit, flat: what the `results` reply carries. */
export function flatResults(results: readonly WriterResult[]): unknown[] {
  const flat: unknown[] = [];
  for (const result of results) flat.push(result.id, result.ok, result.ok ? result.value : result.error);
  return flat;
}

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
  /** `results`: flatResults of the operations that shared one commit. */
  | { type: 'results'; results: unknown[] };

/** Values an event's fields but its data take, in the order pushEventFields writes them. */
export const EVENT_FIELDS = 11;

/**
 * An event's fields but its data, flat: how an event crosses to the writer (ingest-codec.ts) and
 * back (claim-codec.ts). Its data follows in each codec's own form.
 */
export function pushEventFields(values: unknown[], event: Omit<RelayEvent, 'data'>): void {
  values.push(event.id, event.source, event.external_id, event.type, event.severity, event.status, event.title, event.summary, event.dedup_key, event.occurred_at, event.received_at);
}

/** The event pushEventFields wrote from `at`, with `data`: one object literal, one shape for every event. */
export function eventFromFields(values: readonly unknown[], at: number, data: unknown): RelayEvent {
  return {
    id: values[at] as string,
    source: values[at + 1] as string,
    external_id: values[at + 2] as string | null,
    type: values[at + 3] as string,
    severity: values[at + 4] as RelayEvent['severity'],
    status: values[at + 5] as RelayEvent['status'],
    title: values[at + 6] as string,
    summary: values[at + 7] as string,
    dedup_key: values[at + 8] as string,
    occurred_at: values[at + 9] as string,
    received_at: values[at + 10] as string,
    data,
  };
}
