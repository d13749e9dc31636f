/**
 * PagerDuty's own webhooks about incidents hookrelay paged, applied: the ingest port that knows
 * them (the incident's key is in a pagerduty destination's notification log), stores the new
 * state the rule decides (src/notify/pagerduty-echo.ts) and queues the card's redraw and thread
 * line as deliveries to each slack-bot destination.
 */
import type { Logger } from 'pino';
import type { RelayEvent } from '../events/event.ts';
import type { Destination } from '../destinations/destination.ts';
import { isIncidentMessenger } from '../destinations/index.ts';
import type { IncidentEcho, IncidentEchoes } from '../ingest/ingestor.ts';
import { readPagerDutyReport } from '../sources/pagerduty.ts';
import type { PagerDutyIncidentReport } from '../sources/pagerduty.ts';
import type { Source } from '../sources/source.ts';
import type { PreparedDelivery, Store } from '../store/store.ts';
import { newId } from '../util/ids.ts';
import { incidentChange, PAGERDUTY_ECHO_ROUTE } from '../notify/pagerduty-echo.ts';

/** Compare-and-set rounds before giving up on a message that keeps changing under us. */
const MAX_ROUNDS = 3;

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
      const message = await store.view('incident_message', messenger.name, dedupKey);
      if (!message) return null;
      const change = incidentChange(message, report, event.occurred_at);
      if (change === null) return null;
      if (change.state !== null && !(await store.change('incident_state', messenger.name, dedupKey, message.version, change.state, options.now()))) continue;
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
    await store.append('prepared', event.id, deliveries, options.now());
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
