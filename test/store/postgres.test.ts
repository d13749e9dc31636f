import { afterAll, beforeAll } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { createTestDatabase, createTestSchema, emptySchema } from '../support/postgres.ts';
import type { TestDatabase } from '../support/postgres.ts';
import { storeContract } from './contract.ts';
import { WAIT_MS } from '../support/wait.ts';

// This run's own database (dropped after) and one schema in it: the first store the contract
// opens migrates it from nothing; before each later test every table is emptied (the record of
// migrations kept), so each store starts empty without migrating a schema again per test.
let database: TestDatabase;
let url: string;
beforeAll(async () => {
  database = await createTestDatabase();
  url = await createTestSchema(database);
});
afterAll(async () => {
  await database?.drop();
});

storeContract('postgres', async () => {
  await emptySchema(url);
  // 300 ingests at once queue for 10 connections: on a busy machine (a mutation run) that wait
  // passes the default 5 s, after which the store counts as unreachable.
  return PostgresStore.open(url, { connectTimeoutMs: WAIT_MS });
});
