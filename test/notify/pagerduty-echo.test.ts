import { describe, expect, it } from 'vitest';
import { incidentChange, messageAfter } from '../../src/notify/pagerduty-echo.ts';
import type { PagerDutyIncidentReport } from '../../src/sources/pagerduty.ts';
import type { IncidentMessage } from '../../src/store/store.ts';

const AT = '2026-11-23T10:05:00.000Z';

function message(overrides: Partial<IncidentMessage> = {}): IncidentMessage {
  return {
    destination: 'ops-bot', dedup_key: 'db:disk', channel: 'C1', ts: '1.2', started_at: '2026-11-23T10:00:00.000Z',
    status: 'firing', resolved_at: null, acknowledged_by: null, acknowledged_at: null, resolved_by: null,
    last_event_id: 'evt_1', updates: 0, version: 1, ...overrides,
  };
}

function report(event_type: string, person: string | null = 'Dana'): PagerDutyIncidentReport {
  return { event_type, incident_id: 'Q1', incident_key: 'db:disk', incident_title: 'Disk full', person, assignees: ['Bob'] };
}

describe('what PagerDuty\'s report changes on an incident\'s card', () => {
  it('acknowledged by a person → acknowledged by "Dana in PagerDuty" at the report\'s time; by no person → by "PagerDuty"', () => {
    expect(incidentChange(message(), report('incident.acknowledged'), AT)?.state).toMatchObject({ acknowledged_by: 'Dana in PagerDuty', acknowledged_at: AT, status: 'firing' });
    expect(incidentChange(message(), report('incident.acknowledged', null), AT)?.state).toMatchObject({ acknowledged_by: 'PagerDuty' });
  });

  it('acknowledged when someone already did (in Slack, or the echo of it) → nothing, not even a line', () => {
    expect(incidentChange(message({ acknowledged_by: 'alice', acknowledged_at: AT }), report('incident.acknowledged'), AT)).toBeNull();
  });

  it('unacknowledged → the acknowledgement is cleared; when none → nothing', () => {
    expect(incidentChange(message({ acknowledged_by: 'alice', acknowledged_at: AT }), report('incident.unacknowledged', null), AT)?.state).toMatchObject({ acknowledged_by: null, acknowledged_at: null });
    expect(incidentChange(message(), report('incident.unacknowledged', null), AT)).toBeNull();
  });

  it('resolved → resolved by whom and when, keeping who acknowledged; already resolved → nothing', () => {
    expect(incidentChange(message({ acknowledged_by: 'alice' }), report('incident.resolved'), AT)?.state).toEqual({
      acknowledged_by: 'alice', acknowledged_at: null, status: 'resolved', resolved_at: AT, resolved_by: 'Dana in PagerDuty',
    });
    expect(incidentChange(message({ status: 'resolved', resolved_at: AT }), report('incident.resolved'), AT)).toBeNull();
  });

  it.each(['incident.reassigned', 'incident.escalated', 'incident.priority_updated'])('%s → a line in the thread, no state change', (type) => {
    expect(incidentChange(message(), report(type), AT)).toEqual({ state: null });
  });

  it('the echo of hookrelay\'s own trigger, and anything after the incident is resolved → nothing', () => {
    expect(incidentChange(message(), report('incident.triggered'), AT)).toBeNull();
    expect(incidentChange(message({ status: 'resolved' }), report('incident.reassigned'), AT)).toBeNull();
  });
});

describe('the message as it stands once the change is stored (the thread line is drawn from it, in the same transaction)', () => {
  it('a changed state → the message with it, one version on; a line only → the message as it is', () => {
    const before = message({ updates: 2, version: 4 });
    const acknowledged = incidentChange(before, report('incident.acknowledged'), AT)!;
    expect(messageAfter(before, acknowledged)).toEqual({ ...before, acknowledged_by: 'Dana in PagerDuty', acknowledged_at: AT, version: 5 });
    expect(messageAfter(before, { state: null })).toBe(before);
  });
});
