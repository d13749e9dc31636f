import type { RelayEvent } from '../events/event.ts';
import { digestView } from '../notify/digest.ts';
import type { TemplateContext } from './types.ts';

/**
 * A realistic event built from Tapemetric's own webhook example (seeds/000, "Payload format"),
 * written by hand (close to, not exactly, what the tapemetric source makes of it). Used to check
 * templates at start-up and for dry runs (`destinations/:name/test`).
 */
export const SAMPLE_EVENT: RelayEvent = {
  id: '01JSAMPLE0000000000000000',
  source: 'tapemetric',
  external_id: 'evt_abc123',
  type: 'qos.rebuffer_spike',
  severity: 'critical',
  status: 'firing',
  title: 'Rebuffer spike in Maharashtra: 8.4% (baseline 3.1%)',
  summary: 'Rebuffering on PoP ap-south-1 is at 8.4%, against a baseline of 3.1%. 24,000 sessions affected.',
  dedup_key: 'tapemetric:qos.rebuffer_spike:Maharashtra',
  occurred_at: '2026-04-23T18:28:00Z',
  received_at: '2026-04-23T18:28:01.204Z',
  data: {
    id: 'evt_abc123',
    type: 'qos.rebuffer_spike',
    created_at: '2026-04-23T18:28:00Z',
    tenant_slug: 'tapemetric',
    data: {
      severity: 'critical',
      region: 'Maharashtra',
      current_rate: 8.4,
      baseline_rate: 3.1,
      affected_sessions: 24000,
      pop: 'ap-south-1',
    },
  },
};

/** Everything a sender could put in a text field to break JSON or ping a channel. */
export const HOSTILE_TEXT =
  'Quote " backslash \\ slash / newline \n tab \t bell \u0007 nul \u0000 ' +
  'line-sep \u2028 para-sep \u2029 lone-surrogate \ud800 ' +
  '<!channel> <!here> <!everyone> @channel @here @everyone <@U123ABC> <#C0123|general> ' +
  '<http://evil.example|click me> &amp; & < > {{title}} 🔥👩‍💻 ' +
  // A long tail, so truncation helpers actually cut.
  'x'.repeat(3200);

/**
 * The same event with hostile text in every sender-controlled field, firing or resolved:
 * `prepare` renders a template with both to prove its output is valid JSON whatever arrives.
 */
export function hostileSampleEvent(status: RelayEvent['status']): RelayEvent {
  return {
    ...SAMPLE_EVENT,
    status,
    title: `${SAMPLE_EVENT.title} ${HOSTILE_TEXT}`,
    summary: `${SAMPLE_EVENT.summary} ${HOSTILE_TEXT}`,
    type: `qos.rebuffer_spike"\\<!here>`,
    dedup_key: `${SAMPLE_EVENT.dedup_key}"\n<!channel>`,
    data: {
      ...(SAMPLE_EVENT.data as Record<string, unknown>),
      note: HOSTILE_TEXT,
      'key "with" <!channel>': ['a"b', '<@U123>', null, 1.5, true, { nested: '\u2028' }],
    },
  };
}

/** A TemplateContext for one event, as the dispatcher would build it for a single delivery. */
export function sampleContext(
  event: RelayEvent,
  hookrelay: TemplateContext['hookrelay'] = { version: '0.0.0', destination: 'sample', delivery_id: '01JSAMPLEDELIVERY000000000' },
): TemplateContext {
  return { ...event, events: [event], hookrelay };
}

/**
 * What `prepare` renders a template with: the hostile event firing, resolved, and as a group
 * of three (so `{{#if}}`/`{{#each events}}` branches are checked too), each with a label for
 * the error message.
 */
export function hostileSampleContexts(hookrelay: TemplateContext['hookrelay']): { label: string; context: TemplateContext }[] {
  const firing = hostileSampleEvent('firing');
  const resolved = hostileSampleEvent('resolved');
  const group = [firing, { ...resolved, id: '01JSAMPLE0000000000000001' }, { ...firing, id: '01JSAMPLE0000000000000002', severity: 'warning' as const }];
  return [
    { label: 'a firing sample event', context: sampleContext(firing, hookrelay) },
    { label: 'a resolved sample event', context: sampleContext(resolved, hookrelay) },
    { label: 'a sample group of 3 events', context: { ...sampleContext(firing, hookrelay), events: group } },
    { label: 'a sample storm digest', context: { ...sampleContext(firing, hookrelay), events: group, digest: digestView(group, 2, 'sample') } },
  ];
}
