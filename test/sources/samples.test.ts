import { describe, expect, it } from 'vitest';
import { createSource, PRESET_NAMES, sourceConfigSchema } from '../../src/sources/index.ts';
import type { PresetName } from '../../src/sources/index.ts';
import { SAMPLES, samplePayload } from '../../src/sources/samples.ts';
import { inbound, testDeps, verdictCode } from './support.ts';

/** A source of each preset, configured as a user would (hmac needs its header described). */
const CONFIG: Record<string, Record<string, unknown>> = {
  tapemetric: { secrets: ['s1'] },
  statuspulse: { secrets: ['s1'] },
  statussentry: { secrets: ['s1'] },
  tape: { token: 't1' },
  'standard-webhooks': { secrets: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] },
  alertmanager: { token: 't1' },
  hmac: { header: 'X-Acme-Signature', prefix: 'sha256=', secrets: ['s1'] },
  grafana: { secrets: ['s1'], timestamp_header: 'X-Grafana-Alerting-Signature-Timestamp' },
  github: { secrets: ['s1'] },
  stripe: { secrets: ['whsec_s1'] },
  pagerduty: { secrets: ['pd-s1', 'pd-s2'] },
};

function source(preset: string) {
  return createSource(sourceConfigSchema.parse({ name: preset, preset, ...CONFIG[preset] }), testDeps());
}

/** The sample as the server would see it: signed by the preset, as `hookrelay sign` does. */
function receive(preset: PresetName, nowMs: number) {
  const rawBody = Buffer.from(samplePayload(preset, nowMs));
  const signed = source(preset).sign(rawBody, nowMs);
  const request = inbound(rawBody, signed.headers, signed.query ?? {});
  return { verdict: source(preset).verify(request, nowMs), events: source(preset).normalize(JSON.parse(rawBody.toString('utf8')), request) };
}

describe('hookrelay sample payloads', () => {
  it('every preset has a sample', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...PRESET_NAMES].sort());
    expect(Object.keys(CONFIG).sort()).toEqual([...PRESET_NAMES].sort());
  });

  it.each(PRESET_NAMES)('%s: the sample, signed by its preset, verifies and normalizes', (preset) => {
    const nowMs = Date.now();
    const { verdict, events } = receive(preset, nowMs);
    expect(verdictCode(verdict)).toBe('ok');
    expect(events.length).toBeGreaterThan(0);
    for (const event of events) {
      expect(event.title).not.toBe('');
      // Fresh times: the event happened about now, not at the date of a document's example
      // (a sender that gives no time, Tape, gets the receive time at ingest).
      expect(Math.abs(Date.parse(event.occurred_at ?? new Date(nowMs).toISOString()) - nowMs)).toBeLessThan(10 * 60_000);
    }
  });

  it.each(PRESET_NAMES)('%s: two samples are two events, never a duplicate', (preset) => {
    const nowMs = Date.now();
    const [first] = receive(preset, nowMs).events;
    const [second] = receive(preset, nowMs).events;
    // The sender's id when it has one (duplicates are caught on it), else the incident it opens.
    const identity = (event: typeof first) => event?.external_id ?? event?.dedup_key;
    expect(identity(first)).toBeDefined();
    expect(identity(first)).not.toBe(identity(second));
  });

  it('times follow the clock given', () => {
    const at = Date.parse('2030-01-02T03:04:05Z');
    const payload = JSON.parse(samplePayload('tapemetric', at)) as { created_at: string };
    expect(payload.created_at).toBe('2030-01-02T03:04:05.000Z');
  });
});
