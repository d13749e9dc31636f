/**
 * Fallback destinations (fallback.test.ts), unchanged, through a server whose store is
 * PostgreSQL: the open circuit's claims for the fallback, the hand-over in one transaction, and
 * the fallback's lane woken by the store's announcement.
 */
import '../support/use-postgres.ts';
import './fallback.test.ts';
