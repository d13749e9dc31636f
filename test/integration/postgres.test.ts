/**
 * The end-to-end tests of delivery (ingest → delivery → retry, replay, the circuit breaker,
 * per-incident order at PagerDuty), ingest (duplicate detection, refusals store nothing) and the
 * notification engine, unchanged, through servers whose store is PostgreSQL.
 */
import '../support/use-postgres.ts';
import './delivery.test.ts';
import './ingest.test.ts';
import './notification-engine.test.ts';

import { describe, expect, it } from 'vitest';
import { startRelay } from '../support/hookrelay.ts';

describe('the relays of this file', () => {
  it('run on PostgreSQL', async () => {
    const relay = await startRelay('sources: []\n');
    try {
      expect(relay.server.store.kind).toBe('postgres');
      expect((await fetch(`${relay.url}/readyz`)).status).toBe(200);
    } finally {
      await relay.close();
    }
  });
});
