import { describe, expect, it } from 'vitest';
import type { DestinationDeps } from '../../src/destinations/destination.ts';
import { pagerDutyDestination } from '../../src/destinations/pagerduty.ts';
import { fitPagerDutyEvent } from '../../src/destinations/pagerduty-event.ts';

const config = pagerDutyDestination.schema.parse({ name: 'oncall', type: 'pagerduty', routing_key: 'R0UT1NGKEY0123456789012345678901' });
// acknowledge builds a body; it needs none of the send-time dependencies.
const oncall = pagerDutyDestination.create(config, {} as DestinationDeps);

describe('PagerDuty acknowledge capability', () => {
  it('builds an Events API v2 acknowledge for the dedup key, without the routing key (added at send time)', () => {
    expect(JSON.parse(oncall.acknowledge!('statussentry:inc_42'))).toEqual({ event_action: 'acknowledge', dedup_key: 'statussentry:inc_42' });
  });

  it('a key over 255 characters is cut exactly as its trigger was, so the acknowledge names the same incident', () => {
    const long = `tapemetric:${'r'.repeat(400)}`;
    const trigger = fitPagerDutyEvent({ event_action: 'trigger', dedup_key: long, payload: { summary: 's', source: 'x', severity: 'critical' } }).event;
    const acknowledge = JSON.parse(oncall.acknowledge!(long)) as { dedup_key: string };
    expect(acknowledge.dedup_key).toHaveLength(255);
    expect(acknowledge.dedup_key).toBe(trigger.dedup_key);
  });
});
