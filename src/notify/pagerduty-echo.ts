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
import type { Logger } from 'pino';
import type { RelayEvent } from '../events/event.ts';
import type { Destination } from '../destinations/destination.ts';
import { isIncidentMessenger } from '../destinations/index.ts';
import type { IncidentEcho, IncidentEchoes } from '../ingest/ingestor.ts';
import { actorInPagerDuty, readPagerDutyReport } from '../sources/pagerduty.ts';
import type { PagerDutyIncidentReport } from '../sources/pagerduty.ts';
import type { Source } from '../sources/source.ts';
import { COMMAND_ROUTE_PREFIX } from '../store/store.ts';
import type { IncidentMessage, IncidentState, PreparedDelivery, Store } from '../store/store.ts';
import { newId } from '../util/ids.ts';

/** The route of the deliveries that bring PagerDuty's change to a slack-bot card (unordered, never superseded). */
export const PAGERDUTY_ECHO_ROUTE = `${COMMAND_ROUTE_PREFIX}pagerduty`;

/** A changed state to store first (null: only a line in the thread), or nothing to do at all. */
export type IncidentChange = { readonly state: IncidentState | null } | null;

/** Compare-and-set rounds before giving up on a message that keeps changing under us. */
const MAX_ROUNDS = 3;

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

export interface PagerDutyEchoOptions {
  readonly store: Store;
  readonly destinations: readonly Destination[];
  /** Wakes the dispatcher for these destinations (the card deliveries are stored). */
  readonly notify: (destinations: Iterable<string>) => void;
  readonly logger: Logger;
  readonly now: () => number;
}

/** The ingest port: which events are PagerDuty's reports on incidents hookrelay paged, and what they change. */
export function pagerDutyEchoes(options: PagerDutyEchoOptions): IncidentEchoes {
  const { store, logger } = options;
  const pagers = options.destinations.filter((destination) => destination.type === 'pagerduty').map((destination) => destination.name);
  const messengers = options.destinations.filter(isIncidentMessenger);

  /** One slack-bot destination: the state written over the version it was decided on, then its delivery prepared. */
  const prepare = async (
    messenger: (typeof messengers)[number],
    dedupKey: string,
    report: PagerDutyIncidentReport,
    event: RelayEvent,
  ): Promise<PreparedDelivery | null> => {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const message = await store.getIncidentMessage(messenger.name, dedupKey);
      if (!message) return null;
      const change = incidentChange(message, report, event.occurred_at);
      if (change === null) return null;
      if (change.state !== null && !(await store.setIncidentState(messenger.name, dedupKey, message.version, change.state, options.now()))) continue;
      const id = newId('dlv');
      const body = await messenger.noteRequest(dedupKey, event, id);
      return body === null ? null : { id, destination: messenger.name, route: PAGERDUTY_ECHO_ROUTE, request_body: body };
    }
    logger.warn({ destination: messenger.name, dedup_key: dedupKey }, 'the incident message kept changing; PagerDuty\'s change was not applied to it');
    return null;
  };

  const apply = async (dedupKey: string, report: PagerDutyIncidentReport, event: RelayEvent): Promise<void> => {
    const deliveries: PreparedDelivery[] = [];
    for (const messenger of messengers) {
      const delivery = await prepare(messenger, dedupKey, report, event);
      if (delivery) deliveries.push(delivery);
    }
    if (deliveries.length === 0) return;
    await store.enqueuePrepared(event.id, deliveries, options.now());
    options.notify(deliveries.map((delivery) => delivery.destination));
    logger.info({ event_id: event.id, dedup_key: dedupKey, type: report.event_type, destinations: deliveries.map((d) => d.destination) }, 'PagerDuty\'s change applied to the incident\'s Slack messages');
  };

  return {
    watches: (source: Source) => source.preset === 'pagerduty' && pagers.length > 0,
    async match(_source: Source, event: RelayEvent): Promise<IncidentEcho | null> {
      const report = readPagerDutyReport(event.data);
      if (report === null || report.incident_key === null) return null;
      const dedupKey = report.incident_key;
      for (const pager of pagers) {
        const [told] = await store.notificationLog(pager, [dedupKey]);
        if (!told) continue;
        return {
          note: `PagerDuty's ${report.event_type} of incident ${JSON.stringify(dedupKey)}, paged through ${pager}: applied to its Slack messages, not routed`,
          apply: () => apply(dedupKey, report, event),
        };
      }
      return null;
    },
  };
}
