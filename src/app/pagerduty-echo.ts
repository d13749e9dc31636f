/**
 * PagerDuty's own webhooks about incidents hookrelay paged, applied: the ingest port that knows
 * them (the incident's key is in a pagerduty destination's notification log), and the apply that
 * stores the new state the rule decides (src/notify/pagerduty-echo.ts) together with the card's
 * redraw and thread line as deliveries to each slack-bot destination.
 *
 * A 202 is a promise: the echo is recorded as pending in the ingest's own transaction, and its
 * apply — every state change, every delivery, and the echo no longer pending — is one store
 * transaction (`change('apply_echo', …)`). A process that stops after the ingest commit leaves
 * the echo pending, and the next start applies it (`recover`); one that stops after the apply
 * commit leaves nothing pending, so no thread line is ever added twice.
 */
import type { Logger } from 'pino';
import type { RelayEvent } from '../events/event.ts';
import type { Destination } from '../destinations/destination.ts';
import { isIncidentMessenger } from '../destinations/index.ts';
import type { IncidentEcho, IncidentEchoes } from '../ingest/ingestor.ts';
import { readPagerDutyReport } from '../sources/pagerduty.ts';
import type { PagerDutyIncidentReport } from '../sources/pagerduty.ts';
import type { Source } from '../sources/source.ts';
import type { EchoApplication, EchoStateChange, PreparedDelivery, Store } from '../store/store.ts';
import { newId } from '../util/ids.ts';
import { incidentChange, messageAfter, PAGERDUTY_ECHO_ROUTE } from '../notify/pagerduty-echo.ts';

/** Rounds of deciding before giving up on messages that keep changing under us. */
const MAX_ROUNDS = 3;
/** Pending echoes read per round at start-up. */
const RECOVER_PAGE = 100;

export interface PagerDutyEchoOptions {
  readonly store: Pick<Store, 'view' | 'change' | 'notificationLog'>;
  readonly destinations: readonly Destination[];
  /** Wakes the dispatcher for these destinations (the card deliveries are stored). */
  readonly notify: (destinations: Iterable<string>) => void;
  readonly logger: Logger;
  readonly now: () => number;
}

export interface PagerDutyEchoes extends IncidentEchoes {
  /**
   * Applies the echoes accepted but not applied — their process stopped first, or their apply
   * failed — received before `receivedBefore` (ms; default all). Answers how many it applied.
   */
  recover(receivedBefore?: number): Promise<number>;
}

/** The ingest port: which events are PagerDuty's reports on incidents hookrelay paged, and what they change. */
export function pagerDutyEchoes(options: PagerDutyEchoOptions): PagerDutyEchoes {
  const { store, logger } = options;
  const pagers = options.destinations.filter((destination) => destination.type === 'pagerduty').map((destination) => destination.name);
  const messengers = options.destinations.filter(isIncidentMessenger);

  /** What the report changes on each slack-bot destination's message, decided from the messages as stored now. */
  const decide = async (dedupKey: string, report: PagerDutyIncidentReport | null, event: RelayEvent): Promise<EchoApplication> => {
    const states: EchoStateChange[] = [];
    const deliveries: PreparedDelivery[] = [];
    for (const messenger of messengers) {
      const message = report === null ? null : await store.view('incident_message', messenger.name, dedupKey);
      if (!message || report === null) continue;
      const change = incidentChange(message, report, event.occurred_at);
      if (change === null) continue;
      if (change.state !== null) states.push({ destination: messenger.name, dedup_key: dedupKey, version: message.version, state: change.state });
      const id = newId('dlv');
      const body = await messenger.noteRequest(dedupKey, event, id, messageAfter(message, change));
      if (body !== null) deliveries.push({ id, destination: messenger.name, route: PAGERDUTY_ECHO_ROUTE, request_body: body });
    }
    return { event_id: event.id, states, deliveries, now: options.now() };
  };

  /** Decides and applies in one transaction; decides again when a message changed meanwhile. */
  const apply = async (dedupKey: string, report: PagerDutyIncidentReport | null, event: RelayEvent): Promise<void> => {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const application = await decide(dedupKey, report, event);
      const outcome = await store.change('apply_echo', application);
      if (outcome === 'stale') continue;
      if (outcome === 'applied' && application.deliveries.length > 0) {
        const destinations = application.deliveries.map((delivery) => delivery.destination);
        options.notify(destinations);
        logger.info({ event_id: event.id, dedup_key: dedupKey, type: report?.event_type, destinations }, 'PagerDuty\'s change applied to the incident\'s Slack messages');
      }
      return;
    }
    logger.warn({ event_id: event.id, dedup_key: dedupKey }, 'the incident message kept changing; PagerDuty\'s change was not applied to it');
    // No longer pending: the next start would meet the same contention, and the event stays stored.
    await store.change('apply_echo', { event_id: event.id, states: [], deliveries: [], now: options.now() });
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
          dedup_key: dedupKey,
          apply: () => apply(dedupKey, report, event),
        };
      }
      return null;
    },
    async recover(receivedBefore = Number.POSITIVE_INFINITY): Promise<number> {
      let recovered = 0;
      for (;;) {
        const pending = (await store.view('echoes', RECOVER_PAGE)).filter((echo) => echo.created_at < receivedBefore);
        let failed = 0;
        for (const echo of pending) {
          try {
            // An event pruned meanwhile (or not PagerDuty's report any more) changes nothing: the echo just ends.
            const stored = await store.view('event', echo.event_id);
            const event = stored?.event ?? null;
            if (event === null) await store.change('apply_echo', { event_id: echo.event_id, states: [], deliveries: [], now: options.now() });
            else await apply(echo.dedup_key, readPagerDutyReport(event.data), event);
            recovered += 1;
          } catch (error) {
            failed += 1;
            logger.error({ err: error, event_id: echo.event_id, dedup_key: echo.dedup_key }, 'could not apply PagerDuty\'s report to its Slack messages (it stays pending)');
          }
        }
        // A page with failures is not read again now: they would come first again.
        if (failed > 0 || pending.length < RECOVER_PAGE) return recovered;
      }
    },
  };
}
