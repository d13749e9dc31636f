/**
 * Imported first by a test file: every relay it starts (test/support/hookrelay.ts) runs on
 * PostgreSQL, each data folder with a schema of its own (migrated at start) in a database of the
 * file's own (created with its first relay, dropped after its tests). A schema per relay, not a
 * database: CREATE and DROP DATABASE wait for checkpoints (0.7-1.5 s a relay on a loaded machine),
 * CREATE SCHEMA does not. The relays of a file never run at the same time but where a test means
 * them to share a store (the same data folder), and advisory locks and notifications between
 * schemas of one database only wake a relay that then finds nothing of its own.
 * Test files imported after it run unchanged on PostgreSQL.
 */
import { afterAll } from 'vitest';
import { useRelayStores } from './hookrelay.ts';
import { createTestDatabase, createTestSchema } from './postgres.ts';
import type { TestDatabase } from './postgres.ts';

let database: Promise<TestDatabase> | null = null;
const schemas = new Map<string, string>();

useRelayStores({
  async storeFor(dataDir) {
    let url = schemas.get(dataDir);
    if (url === undefined) {
      database ??= createTestDatabase();
      url = await createTestSchema(await database);
      schemas.set(dataDir, url);
    }
    return url;
  },
  async dropped(dataDir) {
    // The schema goes with the file's database.
    schemas.delete(dataDir);
  },
});

afterAll(async () => {
  await (await database)?.drop();
  database = null;
  schemas.clear();
});
