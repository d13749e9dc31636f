/**
 * A run-time mute's end telling what it held (mute-ends.test.ts), unchanged, through a server
 * whose store is PostgreSQL.
 */
import '../support/use-postgres.ts';
import './mute-ends.test.ts';
