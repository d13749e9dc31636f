import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { configMute } from '../../src/mutes/config-mutes.ts';
import { MuteRegistry } from '../../src/mutes/mute-registry.ts';
import { muteHold } from '../../src/notify/rules.ts';
import { TimeIntervals, timeIntervalSchema } from '../../src/notify/time-intervals.ts';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { eventually, ManualClock } from '../support/clock.ts';
import { relayEvent } from '../support/events.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookrelay-mutes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A pino logger whose lines the test can read. */
function capturingLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { logger, lines };
}

describe('mutes stored before globs were bounded', () => {
  it('are never tested against events (they match nothing), with one warning naming the mute', async () => {
    const store = await SqliteStore.open(join(dir, 'old-mutes.db'));
    const now = Date.now();
    const title = 'x'.repeat(60);
    // As an older hookrelay stored it: 40 stars and a glob of 300 characters, straight into the store.
    await store.change('create_mute', {
      id: 'mut_OLD',
      matchers: { title: `${'*x'.repeat(40)}${'?'.repeat(220)}!` },
      reason: 'from before the bounds',
      created_by: 'someone',
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + 3_600_000).toISOString(),
      deleted_at: null,
    });
    const { logger, lines } = capturingLogger();
    const mutes = new MuteRegistry(store, logger);
    await mutes.refresh();
    await mutes.refresh();

    const started = performance.now();
    expect(mutes.match(relayEvent({ title: `${title}!` }))).toBeNull();
    expect(mutes.match(relayEvent({ title: 'x'.repeat(1_000_000) }))).toBeNull();
    expect(performance.now() - started).toBeLessThan(200);
    // Still listed, so it can be seen and ended.
    expect(mutes.active().map((mute) => mute.id)).toEqual(['mut_OLD']);
    const warnings = lines.filter((line) => line.mute_id === 'mut_OLD' && line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain('is 301 characters long');

    // A mute within the bounds next to it still works.
    await mutes.create({ matchers: { title: 'x*' }, duration_ms: 60_000, reason: '', created_by: 'test' });
    expect(mutes.match(relayEvent({ title }))?.matchers).toEqual({ title: 'x*' });
    await store.close();
  });
});

describe('mutes on the injected clock', () => {
  it('a mute stops matching when the clock passes its end; one set elsewhere (another replica) is seen at the next refresh', async () => {
    const store = await SqliteStore.open(join(dir, 'clock-mutes.db'));
    const clock = new ManualClock(Date.now());
    const mutes = new MuteRegistry(store, capturingLogger().logger, clock);
    await mutes.start(5_000);
    try {
      const event = relayEvent({ type: 'qos.rebuffer_spike' });
      const mute = await mutes.create({ matchers: { type: 'qos.*' }, duration_ms: 60_000, reason: 'deploy', created_by: 'test' });
      expect(mutes.match(event)?.id).toBe(mute.id);
      await clock.advance(59_000);
      expect(mutes.match(event)?.id).toBe(mute.id);
      await clock.advance(2_000);
      expect(mutes.match(event)).toBeNull();

      await store.change('create_mute', {
        id: 'mut_ELSEWHERE', matchers: { type: 'qos.*' }, reason: '', created_by: 'replica-2',
        created_at: new Date(clock.now()).toISOString(), expires_at: new Date(clock.now() + 600_000).toISOString(), deleted_at: null,
      });
      expect(mutes.match(event)).toBeNull();
      await clock.advance(5_000);
      await eventually(() => mutes.match(event)?.id === 'mut_ELSEWHERE');
    } finally {
      mutes.stop();
      await store.close();
    }
  });
});

describe('mutes from the config', () => {
  it('hold matching events always, or only inside their during intervals (start included, end excluded), before run-time mutes; expiring one is refused with 409', async () => {
    const store = await SqliteStore.open(join(dir, 'config-mutes.db'));
    const clock = new ManualClock(Date.parse('2026-11-29T05:59:00Z'));
    const intervals = new TimeIntervals([timeIntervalSchema.parse({ name: 'nights', time_intervals: [{ times: [{ start_time: '00:00', end_time: '06:00' }] }] })]);
    const configured = [
      configMute({ name: 'batch-jobs', matchers: { type: 'batch.*' }, reason: 'nightly batch noise', during: ['nights'] }, clock.now()),
      configMute({ name: 'staging', matchers: { 'data.env': 'staging' }, reason: 'not production' }, clock.now()),
    ];
    const mutes = new MuteRegistry(store, pino({ level: 'silent' }), clock, { mutes: configured, intervals });
    await mutes.refresh();
    const batch = relayEvent({ type: 'batch.done' });
    expect(mutes.match(batch)?.id).toBe('batch-jobs');
    expect(muteHold(mutes.match(batch))?.note).toBe('muted by batch-jobs (nightly batch noise)');
    expect(mutes.match(relayEvent({ type: 'qos.spike', data: { env: 'staging' } }))?.id).toBe('staging');
    await clock.advance(60_000); // 06:00: the night is over
    expect(mutes.match(batch)).toBeNull();
    expect(mutes.match(relayEvent({ type: 'qos.spike', data: { env: 'staging' } }))?.id).toBe('staging');
    expect(mutes.active().map((mute) => mute.id)).toEqual(['batch-jobs', 'staging']);
    await expect(mutes.delete('staging')).rejects.toMatchObject({ code: 'conflict', status: 409 });
    mutes.stop();
    await store.close();
  });
});
