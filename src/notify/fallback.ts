/**
 * Fallback destinations (`fallback: <destination>`): while a destination's circuit is open, what
 * it would send goes to its fallback instead — a PagerDuty outage pages through Slack or email.
 *
 * How it goes (the dispatcher applies these rules, the stores persist what they say):
 * - The open destination's lane still claims its due work (and its retries at once: they wait
 *   for a destination that is down), judges it with its own rules (mutes, repeats…), and hands
 *   what would go to the fallback: in one transaction the original is finished (`skipped`, with
 *   where it went) and the fallback gets a new delivery of the same event, which names what it
 *   stands in for. So a delivery is handed over at most once, and what the fallback sends is its
 *   own delivery, retried and logged like any other; the original is never sent later.
 * - The fallback's copy is drawn with the fallback's own template, marked (`fallback` in the
 *   template context: "via fallback: PagerDuty destination `oncall` is unavailable").
 * - The probe of the open circuit is a real delivery tried at the original first; if the probe
 *   fails it is handed over at once. Once a probe (or a person) closes the circuit, new work goes
 *   to the original again; what was handed over stays with the fallback.
 * - Replays and commands (a PagerDuty acknowledge) are a person's ask of that very destination:
 *   they wait for it, as without a fallback.
 * - One exception: a resolve of an incident the original holds open (a PagerDuty incident it
 *   opened before the outage) goes to the fallback and also still waits for the original, so
 *   that incident is closed once it recovers (`waitsForOriginal`); it is never handed over again.
 * - The copy tells the fallback nothing for the notification log (it is not the fallback's own
 *   story of the incident) and the original's log is not told either: after recovery the
 *   original hears the incident's next event as it would have. A resolve that arrives after
 *   recovery therefore goes to the original only (PagerDuty ignores a resolve of a dedup key
 *   it never paged); the fallback is not told, as the original now carries the incident.
 * - A fallback may not have a fallback of its own (no chains, so no cycles), checked by `check`.
 */

/** A destination as the marker names it. */
export interface FallbackOriginal {
  readonly name: string;
  readonly type: string;
}

/** What a copy on the fallback stands in for (ClaimedDelivery.fallback_for). */
export interface FallbackOf {
  /** The destination whose circuit was open. */
  readonly destination: string;
  /** The original delivery, finished when it was handed over. */
  readonly delivery_id: string;
}

/** What templates see as `fallback` when a delivery goes through a fallback. */
export interface FallbackView {
  readonly destination: string;
  readonly type: string;
  readonly delivery_id: string;
  /** The destination's type as people name it: "PagerDuty". */
  readonly label: string;
  /** "via fallback: PagerDuty destination `oncall` is unavailable" */
  readonly marker: string;
}

const TYPE_NAMES: Readonly<Record<string, string>> = {
  pagerduty: 'PagerDuty',
  slack: 'Slack',
  'slack-bot': 'Slack',
  http: 'HTTP',
  teams: 'Microsoft Teams',
  discord: 'Discord',
  google_chat: 'Google Chat',
  email: 'Email',
};

const typeLabel = (type: string): string => TYPE_NAMES[type] ?? type;

/** The visible marker of a message sent through a fallback. */
export function fallbackMarker(original: FallbackOriginal): string {
  return `via fallback: ${typeLabel(original.type)} destination \`${original.name}\` is unavailable`;
}

export function fallbackView(of: FallbackOf, original: FallbackOriginal | undefined): FallbackView {
  const type = original?.type ?? 'unknown';
  return { destination: of.destination, type, delivery_id: of.delivery_id, label: typeLabel(type), marker: fallbackMarker({ name: of.destination, type }) };
}

/**
 * Whether a claimed delivery of an open circuit goes to the fallback: a fallback is configured,
 * and it is neither the probe (tried at the original first) nor a person's ask of this very
 * destination (a replay or a command, which waits for it).
 */
export function handsOff(
  delivery: { readonly probe: boolean; readonly unordered: boolean; readonly sent_via_fallback?: boolean | undefined },
  circuitOpen: boolean,
  fallback: string | null | undefined,
): boolean {
  return circuitOpen && fallback !== null && fallback !== undefined && !delivery.probe && !delivery.unordered && delivery.sent_via_fallback !== true;
}

/**
 * A resolve of an incident the original destination holds open (stateful, and last told it
 * fires: a PagerDuty incident it opened) goes to the fallback and still waits for the original,
 * so the incident is closed there once it recovers; anything else handed over is finished.
 */
export function waitsForOriginal(event: { readonly status: string }, told: { readonly status: string } | null, stateful: boolean): boolean {
  return stateful && event.status === 'resolved' && told?.status === 'firing';
}

/** The original's note: where it went instead. */
export function handedOverNote(fallback: string, fallbackDeliveryId: string): string {
  return `sent via fallback ${fallback} (${fallbackDeliveryId}): the circuit was open`;
}

/** The note of an original that also waits for its own destination (see `waitsForOriginal`). */
export function alsoWaitsNote(fallback: string, fallbackDeliveryId: string): string {
  return `also sent via fallback ${fallback} (${fallbackDeliveryId}) while the circuit was open; waits to close the incident here`;
}

/** The copy's note: what it stands in for. */
export function standsInNote(original: string, originalDeliveryId: string): string {
  return `fallback for ${original} (${originalDeliveryId}), whose circuit was open`;
}

/**
 * A batch handed over goes out as one batch at the fallback too: its copies share a group key
 * of their own (never joining the fallback's own groups), due at once.
 */
export function fallbackGroupKey(leadId: string, size: number): string | null {
  return size > 1 ? `fallback:${leadId}` : null;
}

/** The copy keeps per-incident order at the fallback when the fallback keeps it. */
export function fallbackIncidentKey(fallbackOrdered: boolean, dedupKey: string): string | null {
  return fallbackOrdered ? dedupKey : null;
}

/** A destination's `fallback` as `check` sees the whole list: what is wrong with each, by index. */
export function fallbackProblems(destinations: readonly { readonly name: string; readonly fallback?: string | null | undefined }[]): Array<{ index: number; problem: string }> {
  const byName = new Map(destinations.map((destination) => [destination.name, destination]));
  const problems: Array<{ index: number; problem: string }> = [];
  destinations.forEach((destination, index) => {
    const fallback = destination.fallback;
    if (fallback === undefined || fallback === null) return;
    if (fallback === destination.name) {
      problems.push({ index, problem: `"${fallback}" is this destination itself: a fallback must be another destination` });
      return;
    }
    const target = byName.get(fallback);
    if (!target) {
      problems.push({ index, problem: `unknown destination "${fallback}"` });
      return;
    }
    if (target.fallback !== undefined && target.fallback !== null) {
      problems.push({
        index,
        problem: `"${fallback}" has a fallback of its own ("${target.fallback}"): fallbacks do not chain, so name a destination without one`,
      });
    }
  });
  return problems;
}
