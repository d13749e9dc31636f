/**
 * Ingests and their answers cross to the writer thread packed (src/store/sqlite/ingest-codec.ts):
 * what arrives is what was sent, field for field, through a real structured clone.
 */
import { describe, expect, it } from 'vitest';
import { packIngest, packIngested, unpackIngest, unpackIngested } from '../../src/store/sqlite/ingest-codec.ts';
import type { IngestBatch, IngestedEvent, NewEvent } from '../../src/store/store.ts';
import type { RelayEvent } from '../../src/events/event.ts';

const event = (id: string, data: unknown): RelayEvent => ({
  id, source: 'alerts', external_id: `ext-${id}`, type: 'alert', severity: 'critical', status: 'firing', title: 'Disk full', summary: '98 %',
  dedup_key: 'disk:db1', occurred_at: '2026-12-07T00:00:00.000Z', received_at: '2026-12-07T00:00:01.000Z', data,
});

const ordinary: NewEvent = {
  event: event('evt_1', null),
  data_is_body: true,
  deliveries: [
    { id: 'dlv_1', destination: 'ops', route: 'r0', status: 'pending', lease: { owner: 'lane', until: 30_000 }, incident_key: 'disk:db1', priority: 3 },
    { id: 'dlv_2', destination: 'chat', route: 'r1', status: 'pending', group: { key: 'g', wait_ms: 1_000, interval_ms: 60_000 }, incident_key: null, priority: 3, rule_key: 'disk:db1' },
    { id: 'dlv_3', destination: 'pager', route: 'r2', status: 'muted', note: 'mut_1', held_by: 'interval:night' },
  ],
};
const rare: NewEvent = {
  // An event of several in one body: its data is its own, not the body.
  event: { ...event('evt_2', { alerts: [{ labels: { a: '1' } }], n: 2 }), external_id: null },
  deliveries: [{ id: 'dlv_4', destination: null, route: null, status: 'skipped', note: 'no route matched' }],
  track_incident: true,
  echo: { dedup_key: 'disk:db1' },
};

const batch: IngestBatch = {
  receipt: { id: 'rcp_1', source: 'alerts', received_at: 1_000, headers: { 'content-type': 'application/json', 'x-sig': 'sha256=ab' }, body: '{"n":2}' },
  events: [ordinary, rare],
  request: { id: 'req_1', received_at: 1_000, source: 'alerts', address: '127.0.0.1', status: 202, outcome: 'accepted', reason: null, body_bytes: 7, excerpt: null },
};

/** What the writer gets: the batch, the receipt's headers as the JSON text it stores. */
const asStored = (sent: IngestBatch): unknown => ({ ...sent, receipt: { ...sent.receipt, headers: JSON.stringify(sent.receipt.headers) } });

describe('ingest codec', () => {
  it('a batch arrives as sent, request line, echo, group, lease and hold included, its headers as their JSON text', () => {
    expect(unpackIngest(structuredClone(packIngest(batch)))).toEqual(asStored(batch));
    expect(JSON.parse(unpackIngest(structuredClone(packIngest(batch))).receipt.headers)).toEqual(batch.receipt.headers);
  });

  it('a batch without a request line or headers arrives as sent', () => {
    const bare: IngestBatch = { receipt: { ...batch.receipt, headers: {} }, events: [{ ...rare, echo: null }] };
    expect(unpackIngest(structuredClone(packIngest(bare)))).toEqual(asStored(bare));
  });

  it('absent optional fields stay absent, not undefined-valued (toStrictEqual)', () => {
    expect(unpackIngest(structuredClone(packIngest(batch)))).toStrictEqual(asStored(batch));
  });

  it('an event whose data is the body crosses without its parsed payload', () => {
    const parsed = { ...ordinary, event: { ...ordinary.event, data: { big: 'x'.repeat(100) } } };
    const [arrived] = unpackIngest(structuredClone(packIngest({ ...batch, events: [parsed] }))).events;
    expect(arrived!.event.data).toBeNull();
  });

  it('answers arrive as sent: fresh, waiting, released and duplicates', () => {
    const answers: IngestedEvent[] = [
      { id: 'evt_1', duplicate: false },
      { id: 'evt_2', duplicate: false, waiting: ['dlv_1'], released: ['ops'] },
      { id: 'evt_0', duplicate: true },
    ];
    expect(unpackIngested(structuredClone(packIngested(answers)))).toEqual(answers);
  });
});
