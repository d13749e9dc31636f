/**
 * Imported first by a test file: every relay it starts (test/support/hookrelay.ts) runs on
 * PostgreSQL, each data folder with a database of its own (created, migrated at start, dropped
 * when the relay that made it closes). Test files imported after it run unchanged on PostgreSQL.
 */
import { afterAll } from 'vitest';
import { useRelayStores } from './hookrelay.ts';
import { createTestDatabase } from './postgres.ts';
import type { TestDatabase } from './postgres.ts';

const databases = new Map<string, TestDatabase>();

useRelayStores({
  async storeFor(dataDir) {
    let database = databases.get(dataDir);
    if (!database) {
      database = await createTestDatabase();
      databases.set(dataDir, database);
    }
    return database.url;
  },
  async dropped(dataDir) {
    const database = databases.get(dataDir);
    databases.delete(dataDir);
    await database?.drop();
  },
});

afterAll(async () => {
  for (const database of databases.values()) await database.drop();
  databases.clear();
});
