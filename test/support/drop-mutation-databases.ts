/** `npm run mutate:clean`: drops the PostgreSQL databases a mutation run left (test/support/postgres.ts). */
import { dropMutationRunDatabases } from './postgres.ts';

const dropped = await dropMutationRunDatabases();
console.log(dropped.length === 0 ? 'no database left by a mutation run' : `dropped ${dropped.join(', ')}`);
