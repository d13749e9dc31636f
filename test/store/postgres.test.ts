import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { createTestDatabase } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { storeContract } from './contract.ts';

// This run's own database (dropped after); each test gets an empty schema of its own in it,
// so every store the contract opens starts empty and migrates from nothing.
let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(async () => {
  await database?.drop();
});

async function freshSchemaUrl(): Promise<string> {
  const schema = `t_${randomBytes(5).toString('hex')}`;
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.end();
  return `${database.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

storeContract('postgres', async () => PostgresStore.open(await freshSchemaUrl()));
