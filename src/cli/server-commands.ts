import type { TestSendResult } from '../dispatch/test-send.ts';
import { EVENT_STATUSES, SEVERITIES } from '../events/event.ts';
import type { DeliveryRecord, EventSummary } from '../store/store.ts';
import { DELIVERY_STATUSES, MAX_EVENT_PAGE } from '../store/store.ts';
import { didYouMean } from '../util/did-you-mean.ts';
import { AdminApiError, AdminClient, URL_OPTION } from './admin-client.ts';
import { defineCommand, UsageError } from './command.ts';

export const JSON_OPTION = { type: 'boolean', description: "print the server's answer as JSON" } as const;

export const deliveriesCommand = defineCommand({
  name: 'deliveries',
  summary: "a destination's delivery log, newest first (from a running server)",
  synopsis: '<destination> [--status failed] [--limit 50] [--url URL] [--json]',
  details: 'Columns: time (UTC), delivery id, event type, status, response code, latency, attempts, and the reason a delivery is held or failed (the rule that held it, or the last error), or which fallback it was sent through, or whose page it carried as a fallback.',
  positionals: [{ name: 'destination', required: true }],
  options: {
    status: { type: 'string', value: 'STATUS', description: `only deliveries with this status (${DELIVERY_STATUSES.join(', ')})` },
    limit: { type: 'string', short: 'n', value: 'N', description: 'how many, 1 to 1000 (default 50)' },
    url: URL_OPTION,
    json: JSON_OPTION,
  },
  async run({ values, positionals }) {
    const destination = positionals[0]!;
    if (values.status !== undefined && !(DELIVERY_STATUSES as readonly string[]).includes(values.status)) {
      throw new UsageError(`--status: "${values.status}" is not a delivery status${didYouMean(values.status, DELIVERY_STATUSES)}`);
    }
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new UsageError(`--limit: "${values.limit}" is not a whole number from 1 to 1000`);
    const client = new AdminClient(values.url, process.env);
    try {
      let deliveries: Array<DeliveryRecord & { event_type?: string }>;
      try {
        ({ deliveries } = await client.get<{ deliveries: typeof deliveries }>('/deliveries', { destination, status: values.status, limit }));
      } catch (error) {
        throw await withDestinationHint(client, error, destination);
      }
      if (values.json) {
        console.log(JSON.stringify({ deliveries }, null, 2));
        return 0;
      }
      if (deliveries.length === 0) {
        console.log(`no deliveries${values.status ? ` with status ${values.status}` : ''} for ${destination} yet`);
        return 0;
      }
      const types = await eventTypes(client, deliveries);
      console.log(
        table(
          ['TIME', 'ID', 'EVENT TYPE', 'STATUS', 'CODE', 'LATENCY', 'ATTEMPTS', 'REASON'],
          deliveries.map((delivery) => [
            utcTime(delivery.created_at),
            delivery.id,
            types.get(delivery.event_id) ?? '–',
            delivery.status,
            delivery.response_code === null ? '–' : String(delivery.response_code),
            delivery.latency_ms === null ? '–' : `${Math.round(delivery.latency_ms)} ms`,
            String(delivery.attempts),
            reasonOf(delivery),
          ]),
        ),
      );
      return 0;
    } finally {
      await client.close();
    }
  },
});

/** A title in the events table is cut here (`--json` has it whole). */
const TITLE_CHARS = 80;

export const eventsCommand = defineCommand({
  name: 'events',
  summary: 'search stored events, newest first (from a running server)',
  synopsis: '[--q TEXT] [--source S] [--type T] [--severity S] [--status S] [--since 2h] [--until TIME] [--before ID] [--limit 50] [--url URL] [--json]',
  details:
    'Every filter given must match: --q is text the title contains (any case, taken literally). Times are an ISO time (2026-12-06T14:00:00Z) or a duration back from now (2h). Columns: received (UTC), event id, source, type, severity, status, its deliveries by status, title. A full page ends with the --before that lists the older ones.',
  options: {
    q: { type: 'string', value: 'TEXT', description: 'text the title contains (any case)' },
    source: { type: 'string', value: 'S', description: 'only events of this source' },
    type: { type: 'string', value: 'T', description: 'only events of this type, or matching this glob (qos.*)' },
    severity: { type: 'string', value: 'S', description: `only events of this severity (${SEVERITIES.join(', ')})` },
    status: { type: 'string', value: 'S', description: `only events with this status (${EVENT_STATUSES.join(', ')})` },
    since: { type: 'string', value: 'TIME', description: 'received at or after: an ISO time or a duration back from now (2h)' },
    until: { type: 'string', value: 'TIME', description: 'received before: an ISO time or a duration back from now' },
    before: { type: 'string', value: 'ID', description: 'only events older than this event id (the next page)' },
    limit: { type: 'string', short: 'n', value: 'N', description: `how many, 1 to ${MAX_EVENT_PAGE} (default 50)` },
    url: URL_OPTION,
    json: JSON_OPTION,
  },
  async run({ values }) {
    if (values.severity !== undefined && !(SEVERITIES as readonly string[]).includes(values.severity)) {
      throw new UsageError(`--severity: "${values.severity}" is not a severity${didYouMean(values.severity, SEVERITIES)}`);
    }
    if (values.status !== undefined && !(EVENT_STATUSES as readonly string[]).includes(values.status)) {
      throw new UsageError(`--status: "${values.status}" is not an event status${didYouMean(values.status, EVENT_STATUSES)}`);
    }
    const limit = values.limit === undefined ? 50 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_EVENT_PAGE) throw new UsageError(`--limit: "${values.limit}" is not a whole number from 1 to ${MAX_EVENT_PAGE}`);
    const client = new AdminClient(values.url, process.env);
    try {
      const { q, source, type, severity, status, since, until, before } = values;
      const answer = await client.get<{ events: EventSummary[]; next_before: string | null }>('/events', { q, source, type, severity, status, since, until, before, limit });
      if (values.json) {
        console.log(JSON.stringify(answer, null, 2));
        return 0;
      }
      if (answer.events.length === 0) {
        console.log(before === undefined ? 'no events match' : `no events match before ${before}`);
        return 0;
      }
      console.log(
        table(
          ['RECEIVED', 'ID', 'SOURCE', 'TYPE', 'SEVERITY', 'STATUS', 'DELIVERIES', 'TITLE'],
          answer.events.map((event) => {
            const title = event.title.replace(/\s+/g, ' ').trim();
            const deliveries = DELIVERY_STATUSES.flatMap((status) => (event.deliveries[status] ? [`${event.deliveries[status]} ${status}`] : [])).join(', ') || '–';
            return [utcTime(event.received_at), event.id, event.source, event.type, event.severity, event.status, deliveries, title.length > TITLE_CHARS ? `${title.slice(0, TITLE_CHARS)}…` : title];
          }),
        ),
      );
      if (answer.next_before !== null) console.log(`older events: the same search with --before ${answer.next_before}`);
      return 0;
    } finally {
      await client.close();
    }
  },
});

export const replayCommand = defineCommand({
  name: 'replay',
  summary: 'send a delivery again, as a new delivery (through a running server)',
  synopsis: '<delivery-id> [--url URL] [--json]',
  positionals: [{ name: 'delivery-id', required: true }],
  options: { url: URL_OPTION, json: JSON_OPTION },
  async run({ values, positionals }) {
    const id = positionals[0]!;
    const client = new AdminClient(values.url, process.env);
    try {
      const replay = await client.post<DeliveryRecord>(`/deliveries/${encodeURIComponent(id)}/replay`);
      console.log(values.json ? JSON.stringify(replay, null, 2) : `replaying ${id} to ${replay.destination} as ${replay.id} (${replay.status}); see: hookrelay deliveries ${replay.destination}`);
      return 0;
    } finally {
      await client.close();
    }
  },
});

export const sendTestCommand = defineCommand({
  name: 'send-test',
  summary: "send a sample event to a destination now and show its answer (a dry run, not logged)",
  synopsis: '<destination> [--url URL] [--json]',
  details: 'Exit code 1 when the destination refuses the test event. PagerDuty test incidents are resolved at once.',
  positionals: [{ name: 'destination', required: true }],
  options: { url: URL_OPTION, json: JSON_OPTION },
  async run({ values, positionals }) {
    const destination = positionals[0]!;
    const client = new AdminClient(values.url, process.env);
    try {
      let result: TestSendResult;
      try {
        result = await client.post<TestSendResult>(`/destinations/${encodeURIComponent(destination)}/test`);
      } catch (error) {
        throw await withDestinationHint(client, error, destination);
      }
      if (values.json) {
        console.log(JSON.stringify(result, null, 2));
      } else {
        const { response } = result;
        const answer = [response.status === null ? null : `HTTP ${response.status}`, response.latency_ms === null ? null : `in ${Math.round(response.latency_ms)} ms`]
          .filter(Boolean)
          .join(' ');
        const lines = [`${result.destination}: ${result.ok ? 'ok' : 'failed'}${answer ? `, ${answer}` : ''}${response.error ? ` — ${response.error}` : ''}`];
        if (response.body) lines.push(`response: ${response.body.length > 2_000 ? `${response.body.slice(0, 2_000)}…` : response.body}`);
        if (result.resolved) lines.push(`resolved the test incident: ${result.resolved.ok ? 'ok' : `failed — ${result.resolved.error}`}`);
        (result.ok ? console.log : console.error)(lines.join('\n'));
      }
      return result.ok ? 0 : 1;
    } finally {
      await client.close();
    }
  },
});

/** "no destination is named "ops-slak"" gains "(did you mean "ops-slack"?)" from the server's list. */
async function withDestinationHint(client: AdminClient, error: unknown, name: string): Promise<unknown> {
  if (!(error instanceof AdminApiError) || error.code !== 'not_found') return error;
  try {
    const { destinations } = await client.get<{ destinations: Array<{ name: string }> }>('/destinations');
    return new AdminApiError(client.base, error.status, error.code, `${error.message}${didYouMean(name, destinations.map((destination) => destination.name))}`);
  } catch {
    return error;
  }
}

/** Event types for the table: from the listing when the server includes them, else one lookup per event. */
async function eventTypes(client: AdminClient, deliveries: ReadonlyArray<DeliveryRecord & { event_type?: string }>): Promise<Map<string, string>> {
  const types = new Map<string, string>();
  for (const delivery of deliveries) if (delivery.event_type !== undefined) types.set(delivery.event_id, delivery.event_type);
  const missing = [...new Set(deliveries.map((delivery) => delivery.event_id))].filter((id) => !types.has(id));
  // A few at a time: the server is serving its senders meanwhile.
  const LOOKUPS_IN_FLIGHT = 8;
  for (let start = 0; start < missing.length; start += LOOKUPS_IN_FLIGHT) {
    await Promise.all(
      missing.slice(start, start + LOOKUPS_IN_FLIGHT).map(async (id) => {
        try {
          const stored = await client.get<{ event: { type: string } }>(`/events/${encodeURIComponent(id)}`);
          types.set(id, stored.event.type);
        } catch (error) {
          // An event pruned since (older than the log keeps) leaves its delivery without a type.
          if (!(error instanceof AdminApiError && error.code === 'not_found')) throw error;
        }
      }),
    );
  }
  return types;
}

/** A reason in the table is cut here (`--json` has it whole). */
const REASON_CHARS = 120;

/**
 * Why a delivery is held or failed, as the delivery log recorded it: the rule that held it
 * (`muted by mut_…`, `repeat within 4h of dlv_…`, `inhibited by …`) or the last error (a failed
 * delivery's, or a pending one's that waits for its retry, with the retry's time). On one line.
 */
function reasonOf(delivery: DeliveryRecord): string {
  // A fallback's copy says whose page it carried (the original's reason says where it went).
  if (delivery.status === 'succeeded') return delivery.fallback_for ? `fallback for ${delivery.fallback_for.destination} (${delivery.fallback_for.delivery_id})` : '–';
  const recorded = delivery.status === 'failed' ? (delivery.last_error ?? delivery.note) : (delivery.note ?? delivery.last_error);
  if (!recorded) return '–';
  const text = recorded.replace(/\s+/g, ' ').trim();
  const reason = text.length > REASON_CHARS ? `${text.slice(0, REASON_CHARS)}…` : text;
  const retry = delivery.status === 'pending' && delivery.last_error !== null && delivery.next_attempt_at !== null;
  return retry ? `${reason} (retry at ${utcTime(delivery.next_attempt_at!)})` : reason;
}

/** Columns padded to their widest cell, two spaces apart. */
export function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** `2026-12-06T20:08:37.123Z` → `2026-12-06 20:08:37Z`, as the tables show times. */
export function utcTime(iso: string): string {
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
