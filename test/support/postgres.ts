import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { expect, vi } from 'vitest';

/** The machine's PostgreSQL (CI starts it: .ci/run); override with HOOKRELAY_TEST_POSTGRES. */
export const POSTGRES_SERVER = process.env.HOOKRELAY_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/';

export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Ends every connection to it and drops it. */
  drop(): Promise<void>;
}

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: `${POSTGRES_SERVER}postgres` });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A database of its own for one test file or test: `hookrelay_test_<random>`, dropped after. */
export async function createTestDatabase(): Promise<TestDatabase> {
  if (process.env.STRYKER_MUTATOR_WORKER !== undefined) return mutationRunDatabase();
  const name = `hookrelay_test_${randomBytes(6).toString('hex')}`;
  await admin(async (client) => {
    await client.query(`CREATE DATABASE ${name}`);
    // Its commits do not wait for the WAL flush (~6 ms each on this machine's disk). What a commit
    // means to every session, the relay's and the test's, is unchanged: committed rows are visible
    // and survive a process killed mid-way; only a crash of PostgreSQL itself, which no test causes,
    // could lose the last of them.
    await client.query(`ALTER DATABASE ${name} SET synchronous_commit = off`);
  });
  return {
    name,
    url: `${POSTGRES_SERVER}${name}`,
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

/**
 * Under `npm run mutate` a worker process runs the same test files again for every mutant, one
 * file at a time. DROP DATABASE waits for a checkpoint (seconds on a busy machine, more than
 * most mutants' tests take), so there a database is made once per worker process and test file,
 * `hookrelay_mut_<pid>_<file>`, and emptied, not dropped: every connection to it ended and every
 * schema dropped, before the file's tests and after them. No other process uses it, so it is as
 * much the file's own as a new one (advisory locks and notifications are per database). The
 * databases outlive the run: `npm run mutate:clean` drops them.
 */
async function mutationRunDatabase(): Promise<TestDatabase> {
  const file = createHash('sha256').update(expect.getState().testPath ?? '').digest('hex').slice(0, 8);
  const name = `hookrelay_mut_${process.pid}_${file}`;
  const url = `${POSTGRES_SERVER}${name}`;
  const empty = async (): Promise<void> => {
    await terminateConnections(name);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>(
        `SELECT quote_ident(nspname) AS name FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'`,
      );
      if (rows.length > 0) await client.query(`DROP SCHEMA ${rows.map((row) => row.name).join(', ')} CASCADE`);
      await client.query('CREATE SCHEMA public');
    } finally {
      await client.end();
    }
  };
  const exists = await admin((client) => client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]));
  if (exists.rowCount === 0) await admin((client) => client.query(`CREATE DATABASE ${name}`));
  await empty();
  return { name, url, drop: empty };
}

/** Ends every connection to the database as a server restart would (pg_terminate_backend). */
export async function terminateConnections(name: string): Promise<number> {
  return admin(async (client) => {
    const { rowCount } = await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    return rowCount ?? 0;
  });
}

/** An empty schema of its own in `database`, as a store URL (its connections use it as search_path). */
export async function createTestSchema(database: TestDatabase): Promise<string> {
  const schema = `t_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
  } finally {
    await client.end();
  }
  return `${database.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/**
 * Empties every table of the schema `url` names but the record of its migrations, so a store
 * opened on it next starts empty on the schema as migrated (its open finds nothing to migrate).
 * Cheaper than a fresh schema for each test: migrating one is most of a store test's time.
 */
export async function emptySchema(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      `SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'`,
    );
    // DELETE, not TRUNCATE: on tables this small it is the cheaper (TRUNCATE makes new files).
    if (rows.length > 0) await client.query(rows.map((row) => `DELETE FROM ${row.name};`).join(' '));
  } finally {
    await client.end();
  }
}

/** Drops the databases `npm run mutate` left (see mutationRunDatabase), but those of processes still running. Answers their names. */
export async function dropMutationRunDatabases(): Promise<string[]> {
  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const { rows } = await admin((client) => client.query<{ datname: string }>(`SELECT datname FROM pg_database WHERE datname LIKE 'hookrelay\\_mut\\_%'`));
  const left = rows.map((row) => row.datname).filter((name) => !alive(Number(name.split('_')[2])));
  for (const name of left) await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  return left;
}

/**
 * Every statement any pg client sends from here on (a pool's connections are pg.Clients), as
 * sent: one entry per round trip. Undone by vi.restoreAllMocks().
 */
export function countStatements(): { readonly sent: string[] } {
  const sent: string[] = [];
  const original = pg.Client.prototype.query;
  vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (this: pg.Client, ...args: unknown[]) {
    const first = args[0];
    sent.push(typeof first === 'string' ? first : String((first as { text?: unknown }).text));
    return (original as (...each: unknown[]) => unknown).apply(this, args) as never;
  });
  return { sent };
}
