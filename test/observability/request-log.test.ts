import { describe, expect, it } from 'vitest';
import { Metrics } from '../../src/observability/metrics.ts';
import { REQUEST_EXCERPT_BYTES, RequestRecorder, requestLogEntry } from '../../src/observability/request-log.ts';
import type { IngestStore, RequestLogEntry } from '../../src/store/store.ts';
import { silentLogger } from '../../src/observability/logger.ts';

/** A store whose writes finish only when the test says so: a store busy with a flood. */
function slowStore() {
  const writes: RequestLogEntry[][] = [];
  const finishers: Array<() => void> = [];
  return {
    writes,
    finishOne: () => finishers.shift()?.(),
    store: {
      append: ((_kind: 'requests', entries: readonly RequestLogEntry[]): Promise<void> => {
        writes.push([...entries]);
        return new Promise<void>((resolve) => finishers.push(resolve));
      }) as IngestStore['append'],
    },
  };
}

const refused = (index: number) =>
  requestLogEntry({ source: 'tapemetric', address: '203.0.113.7', status: 401, outcome: 'signature_mismatch', body_bytes: 10, body: Buffer.from(`{"n":${index}}`), received_at: index });

async function dropped(metrics: Metrics): Promise<number> {
  return (await metrics.requestLogDropped.get()).values[0]?.value ?? 0;
}

describe('RequestRecorder', () => {
  it('a flood of refusals: one write at a time, the buffer bounded, the rest dropped and counted', async () => {
    const metrics = new Metrics();
    const slow = slowStore();
    const recorder = new RequestRecorder({ store: slow.store, metrics, logger: silentLogger(), maxBuffered: 100, batchSize: 50, flushMs: 60_000 });
    for (let i = 0; i < 10_000; i++) recorder.record(refused(i));
    // The first full batch went to the store; while it is written at most 100 more wait.
    expect(slow.writes).toHaveLength(1);
    expect(slow.writes[0]).toHaveLength(50);
    expect(recorder.buffered).toBe(100);
    expect(await dropped(metrics)).toBe(10_000 - 150);

    slow.finishOne();
    await new Promise((resolve) => setImmediate(resolve));
    expect(slow.writes).toHaveLength(2);
    expect(slow.writes[1]![0]!.received_at).toBe(50);
    const flushed = recorder.flush();
    for (let i = 0; i < 5; i++) {
      slow.finishOne();
      await new Promise((resolve) => setImmediate(resolve));
    }
    await flushed;
    expect(slow.writes.flat()).toHaveLength(150);
  });

  it('a few refusals are written together after flushMs, not one write each', async () => {
    const writes: RequestLogEntry[][] = [];
    const recorder = new RequestRecorder({
      store: { append: (async (_kind: 'requests', entries: readonly RequestLogEntry[]) => void writes.push([...entries])) as IngestStore['append'] },
      metrics: new Metrics(),
      logger: silentLogger(),
      flushMs: 20,
    });
    for (let i = 0; i < 3; i++) recorder.record(refused(i));
    expect(writes).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(writes).toEqual([[refused(0), refused(1), refused(2)].map((entry, i) => ({ ...entry, id: writes[0]![i]!.id }))]);
  });

  it('refused bodies keep at most a short excerpt; accepted ones keep none', () => {
    const body = Buffer.from('x'.repeat(10_000));
    const line = requestLogEntry({ source: 's', address: null, status: 400, outcome: 'invalid_json', body_bytes: body.length, body, received_at: 0 });
    expect(line.excerpt).toHaveLength(REQUEST_EXCERPT_BYTES);
    expect(line.body_bytes).toBe(10_000);
    expect(requestLogEntry({ source: 's', address: null, status: 202, outcome: 'accepted', body_bytes: 3, body: Buffer.from('{} '), received_at: 0 }).excerpt).toBeNull();
    expect(requestLogEntry({ source: 'n'.repeat(5_000), address: null, status: 404, outcome: 'unknown_source', body_bytes: 0, received_at: 0 }).source).toHaveLength(100);
  });
});
