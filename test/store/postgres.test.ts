import { afterAll, beforeAll } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { createTestDatabase, createTestSchema } from '../support/postgres.ts';
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

storeContract('postgres', async () => PostgresStore.open(await createTestSchema(database)));
