/**
 * What a claimed delivery brings with it (src/notify/claim-members.ts): the queries a store reads
 * in order, and who joins from what each found. Both stores run these through the contract suite.
 */
import { describe, expect, it } from 'vitest';
import { memberQueries, membersOf } from '../../src/notify/claim-members.ts';
import type { DigestRow, LeadFacts } from '../../src/notify/claim-members.ts';
import { MAX_BATCH } from '../../src/notify/grouping.ts';
import { MAX_DIGEST } from '../../src/notify/storm.ts';

const fresh: LeadFacts = { id: 'd1', group_key: null, batch_id: null, route: 'all', type: 'qos.drop', attempts: 0, request_body: null, replay_of: null };
const storm = { capacity: 10 };
const row = (id: string, extra: Partial<DigestRow> = {}): DigestRow => ({
  id,
  incident_key: null,
  ahead: 0,
  batch_id: null,
  attempts: 0,
  request_body: null,
  replay_of: null,
  route: 'all',
  ...extra,
});

describe('which deliveries a store reads for a lead', () => {
  it('an ungrouped lead without a storm brings nothing; in a storm it asks for the due events of its route and type', () => {
    expect(memberQueries(fresh, null, 5)).toEqual([]);
    expect(memberQueries(fresh, storm, 5)).toEqual([
      { kind: 'digest', route: 'all', group_key: null, type: 'qos.drop', due_by: 5, limit: MAX_DIGEST, open_messages: false },
    ]);
  });

  it('a grouped lead forms its group\'s batch, after a digest of the group during a storm', () => {
    const grouped = { ...fresh, group_key: 'g' };
    expect(memberQueries(grouped, null, 5)).toEqual([{ kind: 'group', group_key: 'g', limit: MAX_BATCH + 1 }]);
    expect(memberQueries(grouped, storm, 5).map((query) => query.kind)).toEqual(['digest', 'group']);
  });

  it('a batch formed before brings its members again, never a new digest; a digest\'s without a cap', () => {
    expect(memberQueries({ ...fresh, group_key: 'g', batch_id: 'd0' }, storm, 5)).toEqual([{ kind: 'batch', batch_id: 'd0', limit: MAX_BATCH + 1 }]);
    expect(memberQueries({ ...fresh, batch_id: 'digest:d0' }, storm, 5)).toEqual([{ kind: 'batch', batch_id: 'digest:d0', limit: null }]);
  });

  it('a lead whose incident message is open (slack-bot) updates it instead of folding; a retry never folds', () => {
    const keep = { capacity: 10, keep_incident_messages: true };
    expect(memberQueries({ ...fresh, open_message: true }, keep, 5)).toEqual([]);
    expect(memberQueries({ ...fresh, open_message: true }, storm, 5).map((query) => query.kind)).toEqual(['digest']);
    expect(memberQueries({ ...fresh, attempts: 1 }, storm, 5)).toEqual([]);
  });
});

describe('who joins', () => {
  it('a group\'s waiting deliveries, oldest first, the lead excluded, at most MAX_BATCH; the batch is named after the lead', () => {
    const query = { kind: 'group', group_key: 'g', limit: MAX_BATCH + 1 } as const;
    expect(membersOf(fresh, query, [row('d3'), row('d1'), row('d2')])).toEqual({ ids: ['d2', 'd3'], form: 'd1', digest: false });
    const many = Array.from({ length: MAX_BATCH + 1 }, (_, index) => row(`e${String(index).padStart(5, '0')}`));
    expect(membersOf(fresh, query, many)?.ids).toHaveLength(MAX_BATCH);
    expect(membersOf(fresh, query, [])).toEqual({ ids: [], form: 'd1', digest: false });
  });

  it('a formed batch keeps its id; a digest batch goes as a digest again', () => {
    expect(membersOf(fresh, { kind: 'batch', batch_id: 'd0', limit: MAX_BATCH + 1 }, [row('d0'), row('d1')])).toEqual({ ids: ['d0'], form: null, digest: false });
    expect(membersOf(fresh, { kind: 'batch', batch_id: 'digest:d1', limit: null }, [row('d1'), row('d2')])).toEqual({ ids: ['d2'], form: null, digest: true });
  });

  it('a digest takes fresh work only, none with an open message, in incident order; alone, it is no digest', () => {
    const query = { kind: 'digest', route: 'all', group_key: null, type: 'qos.drop', due_by: 5, limit: MAX_DIGEST, open_messages: true } as const;
    const found = [row('d1'), row('d2', { attempts: 1 }), row('d3', { open_message: true }), row('d4', { incident_key: 'a', ahead: 1 }), row('d5')];
    expect(membersOf(fresh, query, found)).toEqual({ ids: ['d5'], form: 'digest:d1', digest: true });
    expect(membersOf(fresh, query, [row('d1'), row('d2', { replay_of: 'd0' })])).toBeNull();
  });
});
