import type { Logger } from 'pino';
import { SEVERITY_RANK } from '../events/event.ts';
import type { RelayEvent } from '../events/event.ts';
import type { BreakerChange } from '../notify/breaker.ts';
import type { IngestStore } from '../store/store.ts';
import { newId } from '../util/ids.ts';

export interface BreakerNoticeOptions {
  readonly store: Pick<IngestStore, 'ingest'>;
  /** `read_by_people`: a circuit opening or closing is told there (chats, email). */
  readonly destinations: ReadonlyArray<{ readonly name: string; readonly read_by_people?: boolean; readonly fallback?: string }>;
  readonly logger: Logger;
  /** New work committed for these destinations. */
  readonly notify: (destinations: readonly string[]) => void;
  /** The server's clock: the notice's event and receipt times. */
  readonly now: () => number;
}

/**
 * Tells people when a destination stops (its circuit opens) and when it comes back: an event of
 * source `hookrelay`, stored and delivered like any other (so it is durable, logged and
 * replayable), to every destination people read (Slack, Teams, Discord, Google Chat, email)
 * but the one that failed.
 */
export function breakerNotice(options: BreakerNoticeOptions): (change: BreakerChange) => void {
  const { now } = options;
  return (change) => {
    const to = options.destinations.filter((destination) => destination.read_by_people === true && destination.name !== change.destination);
    if (to.length === 0) return;
    const at = now();
    const open = change.state === 'open';
    // With a fallback (notify/fallback.ts) its alerts do not wait: they go there meanwhile.
    const fallback = options.destinations.find((destination) => destination.name === change.destination)?.fallback;
    const meanwhile = fallback === undefined ? 'Its alerts wait, nothing is dropped' : `Its alerts go to ${fallback} meanwhile, marked "via fallback"`;
    const event: RelayEvent = {
      id: newId('evt'),
      source: 'hookrelay',
      external_id: null,
      type: open ? 'hookrelay.destination.disabled' : 'hookrelay.destination.enabled',
      severity: open ? 'error' : 'info',
      status: open ? 'firing' : 'resolved',
      title: open ? `Destination "${change.destination}" is disabled` : `Destination "${change.destination}" is delivering again`,
      summary: open
        ? `${change.consecutive_failures} attempts in a row failed (last: ${change.last_error ?? 'unknown error'}). ${meanwhile}; ${
            change.probe_at === null ? `enable it with POST /api/v1/destinations/${change.destination}/enable once fixed` : `hookrelay probes it and resumes by itself`
          }.`
        : fallback === undefined
          ? 'It answered again; the alerts that waited go out in order.'
          : `It answered again; new alerts go to it again (those sent through ${fallback} are not sent twice).`,
      dedup_key: `hookrelay:circuit:${change.destination}`,
      occurred_at: new Date(at).toISOString(),
      received_at: new Date(at).toISOString(),
      data: { ...change, probe_at: change.probe_at === null ? null : new Date(change.probe_at).toISOString() },
    };
    options.store
      .ingest({
        receipt: { id: newId('rcp'), source: 'hookrelay', received_at: at, headers: {}, body: JSON.stringify(event.data) },
        events: [
          {
            event,
            deliveries: to.map((destination) => ({
              id: newId('dlv'),
              destination: destination.name,
              route: 'hookrelay:circuit',
              status: 'pending' as const,
              incident_key: event.dedup_key,
              priority: SEVERITY_RANK[event.severity],
            })),
          },
        ],
      })
      .then(() => options.notify(to.map((destination) => destination.name)))
      .catch((error: unknown) => options.logger.warn({ err: error, destination: change.destination }, 'could not post the circuit change to Slack'));
  };
}
