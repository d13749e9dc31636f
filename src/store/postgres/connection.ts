import pg from 'pg';
import type { CustomTypesConfig, PoolClient, QueryResultRow } from 'pg';
import { HookrelayError } from '../../errors.ts';

const INT8_OID = 20;

/**
 * Times are BIGINT milliseconds and counts are BIGINT: both fit a double exactly, so they are
 * read as numbers (pg's default is a string), for this pool only.
 */
const TYPES: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as CustomTypesConfig['getTypeParser'],
};

export interface PoolSettings {
  /** Connections this process keeps to PostgreSQL. */
  readonly max?: number;
  /** How long to wait for a connection before the store counts as unreachable. */
  readonly connectTimeoutMs?: number;
}

export function createPool(url: string, settings: PoolSettings = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.max ?? 10,
    connectionTimeoutMillis: settings.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
    // A database that stops answering must not hold requests for ever: each ends in 503 instead.
    query_timeout: 30_000,
    application_name: 'hookrelay',
    types: TYPES,
  });
  // An idle connection the server closed (restart, pg_terminate_backend) is dropped by the pool;
  // without a listener its 'error' event would end the process.
  pool.on('error', () => undefined);
  return pool;
}

/** SQLSTATE classes meaning "the database cannot take this now", not "this request is wrong". */
const UNAVAILABLE_STATES = /^(08|53|57P0|57014|58)/;

/**
 * Whether an error means the store cannot be reached or cannot commit (connection refused or
 * lost, the server shutting down, out of resources, a timeout): ingest answers 503 then.
 */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (UNAVAILABLE_STATES.test(code) || /^E[A-Z]+$/.test(code))) return true;
  return /Connection terminated|timeout|Client has encountered a connection error|Cannot use a pool after calling end/i.test(error.message);
}

/** Errors of this transaction that another try may not meet (a deadlock, a serialization conflict). */
function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
}

/** Coded errors stay; an unreachable database becomes `store_unavailable` (503 with Retry-After); anything else is a bug. */
export function translate(error: unknown): unknown {
  if (error instanceof HookrelayError) return error;
  if (isUnavailable(error)) {
    return new HookrelayError('store_unavailable', `the store cannot be reached: ${(error as Error).message}`, { cause: error });
  }
  return error;
}

/**
 * PostgreSQL text cannot hold U+0000 (it is refused as invalid UTF-8), while JSON strings and
 * request paths can carry it (`"\u0000"`, `%00`): it is stored as U+FFFD instead of failing the write.
 */
function storable(value: unknown): unknown {
  return typeof value === 'string' && value.includes('\u0000') ? value.replaceAll('\u0000', '\uFFFD') : value;
}

function storableParams(params: readonly unknown[]): unknown[] {
  return params.map((value) => (Array.isArray(value) ? value.map(storable) : storable(value)));
}

/** One connection inside a transaction. */
export interface Tx {
  rows<R extends QueryResultRow = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  one<R extends QueryResultRow = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R | undefined>;
  /** Rows changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

function txOf(client: PoolClient): Tx {
  return {
    async rows(sql, params = []) {
      return (await client.query(sql, storableParams(params))).rows;
    },
    async one(sql, params = []) {
      return (await client.query(sql, storableParams(params))).rows[0];
    },
    async run(sql, params = []) {
      return (await client.query(sql, storableParams(params))).rowCount ?? 0;
    },
  };
}

const MAX_TRIES = 5;

/**
 * Runs `work` in one READ COMMITTED transaction and commits. A deadlock or serialization
 * failure is tried again (the work is a function of its arguments); errors are translated.
 */
export async function transaction<T>(pool: pg.Pool, work: (tx: Tx) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const { client, broke, giveBack } = await checkOut(pool);
    let committing = false;
    try {
      await client.query('BEGIN');
      const result = await work(txOf(client));
      committing = true;
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(broke);
      if (isRetryable(error) && attempt < MAX_TRIES) continue;
      // A pooled connection that died while idle (the server restarted) fails the first statement
      // on it; before COMMIT was sent nothing was written, so once more on a fresh connection.
      if (isUnavailable(error) && !committing && attempt === 1) continue;
      throw translate(error);
    } finally {
      giveBack();
    }
  }
}

/**
 * A connection of the pool for one try. A checked-out connection the server drops emits 'error'
 * on the client: unheard, it would end the process. One that failed (that event, or `broke`) is
 * not given back for reuse.
 */
async function checkOut(pool: pg.Pool): Promise<{ client: PoolClient; broke: (error: unknown) => void; giveBack: () => void }> {
  let client: PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw translate(error);
  }
  let broken: unknown = null;
  const onError = (error: Error): void => {
    broken = error;
  };
  client.on('error', onError);
  return {
    client,
    broke: (error) => {
      broken ??= error;
    },
    giveBack: () => {
      client.off('error', onError);
      client.release(broken instanceof Error ? broken : undefined);
    },
  };
}

/**
 * One statement that is its own transaction (no BEGIN or COMMIT: one round trip), e.g. a call of
 * a function that writes. A deadlock or serialization failure rolled the whole of it back, so it
 * is tried again; errors are translated. A pooled connection that died while idle (the server
 * restarted) fails the statement sent on it, and whether it was received cannot be told: it is
 * sent once more on a fresh connection, so `sql` must be safe to repeat (the ingest call is: its
 * ids are made before it, and a repeat of one that committed finds its own rows).
 */
export async function statement<R extends QueryResultRow = Record<string, unknown>>(pool: pg.Pool, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  for (let attempt = 1; ; attempt++) {
    const { client, broke, giveBack } = await checkOut(pool);
    try {
      return (await client.query<R>(sql, storableParams(params))).rows;
    } catch (error) {
      if (isUnavailable(error)) broke(error);
      if (isRetryable(error) && attempt < MAX_TRIES) continue;
      if (isUnavailable(error) && attempt === 1) continue;
      throw translate(error);
    } finally {
      giveBack();
    }
  }
}

/** A single statement outside a transaction (reads). */
export async function query<R extends QueryResultRow = Record<string, unknown>>(pool: pg.Pool, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  try {
    return (await pool.query<R>(sql, storableParams(params))).rows;
  } catch (error) {
    throw translate(error);
  }
}
