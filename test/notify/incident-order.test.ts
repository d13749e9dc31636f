/**
 * Per-incident order at ingest (src/notify/incident-order.ts), for rows whose optional fields
 * are absent rather than null.
 */
import { describe, expect, it } from 'vitest';
import { isUnordered, leaseAtIngest } from '../../src/notify/incident-order.ts';

describe('incident order', () => {
  it('an event\'s delivery with no replay or route given keeps its incident\'s order', () => {
    expect(isUnordered({})).toBe(false);
    expect(isUnordered({ route: 'default' })).toBe(false);
  });

  it('work that asked for no lease is not reported as waiting for one', () => {
    expect(leaseAtIngest(undefined, { behind: true, enabled: false })).toEqual({ lease: null, waits: false });
  });
});
