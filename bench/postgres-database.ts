/**
 * A PostgreSQL database of the bench's own for each measured hookrelay, on the machine's
 * server (`HOOKRELAY_BENCH_POSTGRES`, default postgres://postgres@127.0.0.1:5432/), dropped after.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const POSTGRES_SERVER = process.env.HOOKRELAY_BENCH_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/';

export interface BenchDatabase {
  readonly url: string;
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

const created = new Set<string>();

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `hookrelay_bench_${randomBytes(5).toString('hex')}`;
  try {
    await admin((client) => client.query(`CREATE DATABASE ${name}`));
  } catch (error) {
    throw new Error(`the PostgreSQL phases need a server at ${POSTGRES_SERVER} (HOOKRELAY_BENCH_POSTGRES): ${(error as Error).message}`, { cause: error });
  }
  created.add(name);
  return {
    url: `${POSTGRES_SERVER}${name}`,
    async drop() {
      created.delete(name);
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    },
  };
}

/** Drops whatever is left (the bench's finally block). */
export async function dropAllBenchDatabases(): Promise<void> {
  for (const name of [...created]) {
    created.delete(name);
    await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => undefined);
  }
}
