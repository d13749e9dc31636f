/**
 * PagerDuty's own webhooks about incidents hookrelay paged: acknowledged or resolved in PagerDuty,
 * the incident's slack-bot card says so ("Acknowledged by Dana in PagerDuty") with a line in its
 * thread. Such an event is stored but not routed, so nothing is paged back (no loop), and a change
 * the card already shows — a Slack acknowledgement that PagerDuty echoes back, the echo of
 * hookrelay's own trigger or resolve — changes nothing twice. Events of incidents hookrelay did
 * not page are ordinary events.
 *
 * "Paged by hookrelay": a pagerduty destination's notification log holds the incident's
 * `incident_key` (the dedup key hookrelay sent with the trigger). A template that sends another
 * dedup_key than the event's, or a key cut to PagerDuty's 255 characters, is not recognised, and
 * notes (`incident.annotated`) carry no incident key: those stay ordinary events.
 */
import { actorInPagerDuty } from '../sources/pagerduty.ts';
import type { PagerDutyIncidentReport } from '../sources/pagerduty.ts';
import type { IncidentMessage, IncidentState } from './facts.ts';
import { COMMAND_ROUTE_PREFIX } from './incident-order.ts';

/** The route of the deliveries that bring PagerDuty's change to a slack-bot card (unordered, never superseded). */
export const PAGERDUTY_ECHO_ROUTE = `${COMMAND_ROUTE_PREFIX}pagerduty`;

/** A changed state to store first (null: only a line in the thread), or nothing to do at all. */
export type IncidentChange = { readonly state: IncidentState | null } | null;

function stateOf(message: IncidentMessage): IncidentState {
  return {
    acknowledged_by: message.acknowledged_by,
    acknowledged_at: message.acknowledged_at,
    status: message.status,
    resolved_at: message.resolved_at,
    resolved_by: message.resolved_by,
  };
}

/**
 * What PagerDuty's event changes on the incident's message, decided from the message as stored:
 * acknowledged (unless someone already did, in Slack or PagerDuty), unacknowledged (if it was),
 * resolved (unless it is); reassigned, escalated and the rest are a line in the thread only; the
 * echo of hookrelay's own trigger, and anything after the incident is resolved, change nothing.
 */
export function incidentChange(message: IncidentMessage, report: PagerDutyIncidentReport, at: string): IncidentChange {
  if (report.event_type === 'incident.triggered' || message.status === 'resolved') return null;
  const current = stateOf(message);
  const by = actorInPagerDuty(report.person);
  switch (report.event_type) {
    case 'incident.acknowledged':
      return message.acknowledged_by !== null ? null : { state: { ...current, acknowledged_by: by, acknowledged_at: at } };
    case 'incident.unacknowledged':
      return message.acknowledged_by === null ? null : { state: { ...current, acknowledged_by: null, acknowledged_at: null } };
    case 'incident.resolved':
      return { state: { ...current, status: 'resolved', resolved_at: at, resolved_by: by } };
    default:
      return { state: null };
  }
}

/** The message as it stands once `change` is stored (a changed state is one version on). */
export function messageAfter(message: IncidentMessage, change: NonNullable<IncidentChange>): IncidentMessage {
  return change.state === null ? message : { ...message, ...change.state, version: message.version + 1 };
}
