import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fitPagerDutyEvent } from '../../src/destinations/pagerduty-event.ts';
import { BUILTIN_TEMPLATES_DIR, TemplateRenderError, createTemplateEngine } from '../../src/templates/index.ts';
import { context } from './support.ts';

const trigger = (overrides: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) => ({
  event_action: 'trigger',
  dedup_key: 'statussentry:inc_987654321',
  payload: { summary: 'High Latency in EU-West', source: 'statussentry', severity: 'error', ...payload },
  ...overrides,
});

function renderError(action: () => unknown): TemplateRenderError {
  try {
    action();
  } catch (error) {
    if (error instanceof TemplateRenderError) return error;
    throw error;
  }
  throw new Error('expected a TemplateRenderError');
}

describe('fitPagerDutyEvent', () => {
  it('a valid event passes through unchanged', () => {
    const event = trigger({ client: 'hookrelay', links: [{ href: 'https://status.example', text: 'Status' }] }, { custom_details: { a: 1 } });
    expect(fitPagerDutyEvent(event)).toEqual({ event, truncated: [] });
  });

  it('a summary over 1024 characters is cut to 1024 ending in "…"', () => {
    const { event, truncated } = fitPagerDutyEvent(trigger({}, { summary: 's'.repeat(5000) }));
    expect(event.payload?.summary).toHaveLength(1024);
    expect(event.payload?.summary?.endsWith('…')).toBe(true);
    expect(truncated).toEqual(['payload.summary']);
  });

  it('a dedup key over 255 is shortened the same way every time (a resolve still matches its trigger)', () => {
    const key = `k${'x'.repeat(400)}`;
    const triggered = fitPagerDutyEvent(trigger({ dedup_key: key })).event.dedup_key;
    const resolved = fitPagerDutyEvent({ event_action: 'resolve', dedup_key: key }).event.dedup_key;
    expect(triggered).toHaveLength(255);
    expect(triggered).toContain('…');
    expect(resolved).toBe(triggered);
    // Two long keys that differ only at the end stay different incidents.
    const other = fitPagerDutyEvent(trigger({ dedup_key: `${key}2` })).event.dedup_key;
    expect(other).not.toBe(triggered);
    expect(triggered?.endsWith(createHash('sha256').update(key).digest('hex').slice(0, 16))).toBe(true);
  });

  it('an event over 512 KB: custom_details become a cut JSON string ending in "…" and a note', () => {
    const details = { rows: Array.from({ length: 20_000 }, (_, i) => ({ i, text: `row "${i}" ${'z'.repeat(20)}` })) };
    const { event, truncated } = fitPagerDutyEvent(trigger({}, { custom_details: details }));
    const size = Buffer.byteLength(JSON.stringify(event));
    expect(size).toBeLessThanOrEqual(512 * 1024);
    expect(size).toBeGreaterThan(500 * 1024); // kept as much as fits
    const fitted = event.payload?.custom_details as { note: string; truncated_json: string };
    expect(fitted.note).toMatch(/512 KB/);
    expect(fitted.truncated_json.endsWith('…')).toBe(true);
    expect(JSON.stringify(details).startsWith(fitted.truncated_json.slice(0, -1))).toBe(true);
    expect(truncated).toEqual(['payload.custom_details']);
  });

  it('the default template with a huge sender payload still fits', () => {
    const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '1' });
    const rendered = templates.render('pagerduty/default', 'json', context({ data: { blob: 'b'.repeat(700_000) } }));
    const { event } = fitPagerDutyEvent(rendered);
    expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThanOrEqual(512 * 1024);
    expect(event.event_action).toBe('trigger');
  });

  it.each([
    ['not an object', 'trigger', '(top level)'],
    ['an unknown event_action', { event_action: 'open' }, 'event_action: must be one of trigger, acknowledge, resolve'],
    ['an unknown severity', trigger({}, { severity: 'major' }), 'payload.severity: must be one of critical, error, warning, info'],
    ['a trigger without summary', trigger({}, { summary: '' }), 'payload.summary: required for trigger'],
    ['a trigger without source', trigger({}, { source: undefined }), 'payload.source: required for trigger'],
    ['a trigger without payload', { event_action: 'trigger', dedup_key: 'k' }, 'payload: required for trigger'],
    ['a resolve without dedup_key', { event_action: 'resolve' }, 'dedup_key: required for resolve'],
    ['an acknowledge without dedup_key', { event_action: 'acknowledge' }, 'dedup_key: required for acknowledge'],
  ])('%s → TemplateRenderError naming the path', (_, payload, where) => {
    const error = renderError(() => fitPagerDutyEvent(payload, 'pagerduty/custom'));
    expect(error.template).toBe('pagerduty/custom');
    expect(error.message).toContain(`not a valid PagerDuty event: ${where}`);
  });
});
