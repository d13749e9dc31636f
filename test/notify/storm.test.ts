/**
 * Who joins a storm digest (src/notify/storm.ts): events without an incident all fold, and an
 * incident whose earlier event cannot join keeps its later ones out too.
 */
import { describe, expect, it } from 'vitest';
import { digestMembers, foldable } from '../../src/notify/storm.ts';

describe('storm digest membership', () => {
  it('every event without an incident key joins', () => {
    expect(digestMembers('d1', [
      { id: 'd1', incident_key: null, ahead: 0 },
      { id: 'd2', incident_key: null, ahead: 0 },
      { id: 'd3', incident_key: null, ahead: 0 },
    ])).toEqual(['d2', 'd3']);
  });

  it('an incident busy or in flight elsewhere keeps all its events out, the later ones too', () => {
    expect(digestMembers('d1', [
      { id: 'd1', incident_key: 'x', ahead: 0 },
      { id: 'd2', incident_key: 'c', ahead: 0, busy: true },
      { id: 'd3', incident_key: 'c', ahead: 1 },
      { id: 'd4', incident_key: 'e', ahead: 0, blocked: true },
      { id: 'd5', incident_key: 'e', ahead: 1 },
      { id: 'd6', incident_key: 'x', ahead: 1 },
    ])).toEqual(['d6']);
  });

  it('fresh work whose batch is not given folds', () => {
    expect(foldable({ attempts: 0, request_body: null, replay_of: null, route: 'all' }, 'command:')).toBe(true);
  });
});
