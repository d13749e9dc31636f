import { describe, expect, it } from 'vitest';
import { renderingOf } from '../../src/destinations/index.ts';
import { threadKeyOf } from '../../src/destinations/incident-thread.ts';
import { fitSlackMessage } from '../../src/destinations/slack-message.ts';
import { digestView } from '../../src/notify/digest.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine, sampleContext } from '../../src/templates/index.ts';
import type { TemplateContext } from '../../src/templates/index.ts';
import { HOSTILE_TEXT } from '../../src/templates/sample-event.ts';
import { relayEvent } from '../support/events.ts';

/** The default templates draw a storm digest: the count, the worst N, "+K more" — and stay safe with hostile text. */

const templates = createTemplateEngine({ dirs: [BUILTIN_TEMPLATES_DIR], version: '9.9.9' });

function digestContext(count: number, worst: number): TemplateContext {
  const events = Array.from({ length: count }, (_, i) =>
    relayEvent({
      type: 'HighLatency',
      dedup_key: `fp-${i}`,
      severity: i === 7 ? 'critical' : 'warning',
      title: i === 7 ? `The worst one ${HOSTILE_TEXT}` : `Latency #${i}`,
      occurred_at: new Date(Date.parse('2026-11-29T10:00:00Z') + i * 1_000).toISOString(),
    }),
  );
  return { ...sampleContext(events[0]!, { version: '9.9.9', destination: 'ops', delivery_id: 'dlv_01JDIGEST' }), events, digest: digestView(events, worst, 'all') };
}

describe('default templates render a storm digest', () => {
  it('slack/default: the count in the text and header, the worst N (critical first), "+K more"; sender text cannot ping', () => {
    const message = fitSlackMessage(templates.render('slack/default', 'slack', digestContext(1_200, 5)), 'slack/default').message as unknown as {
      text: string;
      blocks: Array<{ type: string; text?: { text: string } }>;
    };
    expect(message.text).toContain('Storm digest: 1,200 events of HighLatency');
    expect(message.blocks[0]!.text!.text).toContain('1,200 events: HighLatency');
    const worst = message.blocks.find((block) => block.text?.text.startsWith('*Worst 5*'))!.text!.text;
    expect(worst.match(/^:large_yellow_circle: Latency #/gm)).toHaveLength(4);
    expect(worst.split('\n')[1]).toContain('The worst one');
    expect(worst).toContain('*+1,195 more*');
    expect(JSON.stringify(message)).not.toMatch(/<!channel>|<!here>|<@U123ABC>/);
  });

  it('slack-bot/default: a message of its own, without the incident buttons', () => {
    const card = fitSlackMessage(templates.render('slack-bot/default', 'slack', digestContext(12, 3)), 'slack-bot/default').message;
    const text = JSON.stringify(card);
    expect(text).toContain('Storm digest: 12 events of HighLatency');
    expect(text).toContain('+9 more');
    expect(text).not.toContain('hookrelay_acknowledge');
  });

  it('http/envelope: "hookrelay.digest" with the counts and the worst events normalized', () => {
    const body = templates.render('http/envelope', 'json', digestContext(12, 3)) as { type: string; digest: Record<string, unknown> & { worst: Array<{ dedup_key: string }> } };
    expect(body.type).toBe('hookrelay.digest');
    expect(body.digest).toMatchObject({ count: 12, incidents: 12, firing: 12, more: 9, label: 'HighLatency' });
    expect(body.digest.worst.map((event) => event.dedup_key)).toEqual(['fp-7', 'fp-11', 'fp-10']);
  });

  it.each(['teams', 'discord', 'google_chat', 'email'])('%s/default: one message for the group, valid for the service, its own thread', (type) => {
    const rendering = renderingOf(type);
    const context = digestContext(1_200, 5);
    const rendered = templates.render(`${type}/default`, rendering.mode, context);
    const message = rendering.fit ? rendering.fit(rendered, `${type}/default`, context) : rendered;
    const text = JSON.stringify(message);
    expect(text).toContain('1,200 events');
    expect(text).toContain('+1,195 more');
    expect(text).toContain('The worst one');
    // Sender text neither pings nor becomes markup (@everyone means nothing in Google Chat or email: HTML is what is escaped there).
    expect(text).not.toMatch(/<!channel>|<@U123ABC>|<users\/all>/);
    if (type === 'teams' || type === 'discord') expect(text).not.toContain('@everyone');
    if (type === 'google_chat') expect((message as { thread: { threadKey: string } }).thread.threadKey).toBe(threadKeyOf(context));
    if (type === 'email') expect((message as { thread: string }).thread).not.toBe(threadKeyOf({ dedup_key: context.dedup_key }));
  });

  it('a user template is checked at start-up with a sample digest too', () => {
    expect(() => templates.prepare('slack/default', 'slack')).not.toThrow();
  });
});
