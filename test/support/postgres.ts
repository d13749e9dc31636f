import { randomBytes } from 'node:crypto';
import pg from 'pg';

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
  const name = `hookrelay_test_${randomBytes(6).toString('hex')}`;
  await admin((client) => client.query(`CREATE DATABASE ${name}`));
  return {
    name,
    url: `${POSTGRES_SERVER}${name}`,
    drop: () => admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
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
