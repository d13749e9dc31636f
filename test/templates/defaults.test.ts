import { describe, expect, it } from 'vitest';
import type { RelayEvent } from '../../src/events/event.ts';
import { fitPagerDutyEvent } from '../../src/destinations/pagerduty-event.ts';
import { fitSlackMessage } from '../../src/destinations/slack-message.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { context, event } from './support.ts';

const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '1.2.3' });

// StatusSentry's incident.created example (seeds/004), normalized, then its resolution.
const statusSentryIncident: Partial<RelayEvent> = {
  id: '01JTESTSTATUSSENTRY000000',
  source: 'statussentry',
  external_id: 'evt_8a7b9c0d1e2f3g4h',
  type: 'incident.created',
  severity: 'error',
  status: 'firing',
  title: 'High Latency in EU-West',
  summary: 'Incident inc_987654321 is investigating. Affected: API Gateway (degraded_performance).',
  dedup_key: 'statussentry:inc_987654321',
  occurred_at: '2023-10-27T14:30:00Z',
  received_at: '2023-10-27T14:30:02Z',
  data: {
    id: 'evt_8a7b9c0d1e2f3g4h',
    type: 'incident.created',
    created_at: '2023-10-27T14:30:00Z',
    data: {
      incident_id: 'inc_987654321',
      title: 'High Latency in EU-West',
      status: 'investigating',
      severity: 'major',
      components: [{ id: 'comp_api_gateway', name: 'API Gateway', status: 'degraded_performance' }],
    },
  },
};

interface TextObject {
  type: string;
  text: string;
  emoji?: boolean;
}
interface Block {
  type: string;
  text?: TextObject;
  fields?: TextObject[];
  elements?: TextObject[];
}
interface SlackOutput {
  text: string;
  blocks: Block[];
}

const slack = (overrides: Partial<RelayEvent>, events?: RelayEvent[]): SlackOutput =>
  templates.render('slack/default', 'slack', context(overrides, events)) as SlackOutput;

const fieldTexts = (message: SlackOutput): string[] =>
  message.blocks.find((block) => block.fields !== undefined)?.fields?.map((field) => field.text) ?? [];

describe('slack/default', () => {
  it('a firing Tapemetric alert: header, fields, summary, context and notification text', () => {
    const message = slack({});
    expect(message.text).toBe(':red_circle: Rebuffer spike in Maharashtra: 8.4% (baseline 3.1%) (tapemetric)');
    expect(message.blocks.map((block) => block.type)).toEqual(['header', 'section', 'section', 'context']);
    expect(message.blocks[0]?.text).toEqual({
      type: 'plain_text',
      text: ':red_circle: Rebuffer spike in Maharashtra: 8.4% (baseline 3.1%)',
      emoji: true,
    });
    expect(fieldTexts(message)).toEqual([
      '*Status*\nFiring',
      '*Severity*\n:red_circle: Critical',
      '*Source*\ntapemetric',
      '*Type*\nQoS rebuffer spike (`qos.rebuffer_spike`)',
      '*Dedup key*\n`tapemetric:qos.rebuffer_spike:Maharashtra`',
    ]);
    expect(message.blocks[2]?.text).toEqual({
      type: 'mrkdwn',
      text: 'Rebuffering on PoP ap-south-1 is at 8.4%, against a baseline of 3.1%. 24,000 sessions affected.',
    });
    expect(message.blocks[3]?.elements).toEqual([
      {
        type: 'mrkdwn',
        text: ':clock3: <!date^1776968880^{date_short_pretty} {time}|2026-04-23 18:28 UTC> · tapemetric · event `01JSAMPLE0000000000000000`',
      },
    ]);
  });

  it('a resolved incident looks resolved: ✅ and "Resolved" in header, fields and text', () => {
    const message = slack({ ...statusSentryIncident, status: 'resolved', type: 'incident.resolved' });
    expect(message.blocks[0]?.text?.text).toBe(':white_check_mark: Resolved: High Latency in EU-West');
    expect(message.text).toBe(':white_check_mark: Resolved: High Latency in EU-West (statussentry)');
    expect(fieldTexts(message)[0]).toBe('*Status*\n:white_check_mark: Resolved');
    expect(fieldTexts(message)[1]).toBe('*Severity*\n:large_orange_circle: Error');
  });

  it.each([
    ['critical', ':red_circle:'],
    ['error', ':large_orange_circle:'],
    ['warning', ':large_yellow_circle:'],
    ['info', ':large_blue_circle:'],
  ] as const)('severity %s → %s in the header', (severity, emoji) => {
    expect(slack({ severity }).blocks[0]?.text?.text.startsWith(`${emoji} `)).toBe(true);
  });

  it('no summary → no empty section (Slack would reject it)', () => {
    const message = slack({ summary: '' });
    expect(message.blocks.map((block) => block.type)).toEqual(['header', 'section', 'context']);
    expect(() => fitSlackMessage(message)).not.toThrow();
  });

  it('a group lists its events', () => {
    const events = [
      event({ title: 'Rebuffer spike in Maharashtra' }),
      event({ title: 'Rebuffer spike in Karnataka', severity: 'warning' }),
      event({ title: 'Rebuffer spike in Delhi', status: 'resolved' }),
    ];
    const message = slack({}, events);
    const group = message.blocks.find((block) => block.text?.text.includes('events in this group'));
    expect(group?.text?.text).toBe(
      '*3 events in this group*\n:red_circle: Rebuffer spike in Maharashtra\n:large_yellow_circle: Rebuffer spike in Karnataka\n:white_check_mark: Rebuffer spike in Delhi',
    );
  });

  it('fits Slack as it is: nothing to truncate for an ordinary alert', () => {
    expect(fitSlackMessage(slack(statusSentryIncident)).truncated).toEqual([]);
  });
});

describe('pagerduty/default', () => {
  it('a firing event triggers, with summary, source, severity, timestamp, class and the payload as details', () => {
    const rendered = templates.render('pagerduty/default', 'json', context(statusSentryIncident));
    expect(rendered).toEqual({
      event_action: 'trigger',
      dedup_key: 'statussentry:inc_987654321',
      payload: {
        summary: 'High Latency in EU-West',
        source: 'statussentry',
        severity: 'error',
        timestamp: '2023-10-27T14:30:00.000Z',
        class: 'incident.created',
        custom_details: statusSentryIncident.data,
      },
      client: 'hookrelay',
    });
    expect(rendered).not.toHaveProperty('routing_key');
    expect(fitPagerDutyEvent(rendered).truncated).toEqual([]);
  });

  it('a resolved event resolves the same dedup key', () => {
    const rendered = templates.render('pagerduty/default', 'json', context({ ...statusSentryIncident, status: 'resolved' }));
    const { event: fitted } = fitPagerDutyEvent(rendered);
    expect(fitted.event_action).toBe('resolve');
    expect(fitted.dedup_key).toBe('statussentry:inc_987654321');
  });

  it('a 2,000-character title becomes a 1,024-character summary ending in "…"', () => {
    const rendered = templates.render('pagerduty/default', 'json', context({ title: 'x'.repeat(2000) }));
    const summary = fitPagerDutyEvent(rendered).event.payload?.summary ?? '';
    expect(summary).toHaveLength(1024);
    expect(summary.endsWith('…')).toBe(true);
  });
});

describe('http/envelope', () => {
  it('wraps the normalized event and passes the sender payload through untouched', () => {
    const data = { text: 'a "quoted" <b>bold</b> \\ line\u2028', n: 24000, rate: 8.4, ok: true, none: null, list: [1, { x: [] }] };
    const rendered = templates.render('http/envelope', 'json', context({ ...statusSentryIncident, data }));
    expect(rendered).toEqual({
      type: 'hookrelay.event',
      event: {
        id: '01JTESTSTATUSSENTRY000000',
        source: 'statussentry',
        type: 'incident.created',
        severity: 'error',
        status: 'firing',
        title: 'High Latency in EU-West',
        summary: 'Incident inc_987654321 is investigating. Affected: API Gateway (degraded_performance).',
        dedup_key: 'statussentry:inc_987654321',
        occurred_at: '2023-10-27T14:30:00Z',
        received_at: '2023-10-27T14:30:02Z',
      },
      payload: data,
    });
  });

  it('a payload that is not an object (null, a string) still gives valid JSON', () => {
    expect((templates.render('http/envelope', 'json', context({ data: null })) as { payload: unknown }).payload).toBeNull();
    expect((templates.render('http/envelope', 'json', context({ data: 'plain "text"' })) as { payload: unknown }).payload).toBe('plain "text"');
  });
});
