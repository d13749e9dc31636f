import pg from 'pg';
import { realTime } from '../../util/clock.ts';
import { WORK_CHANNEL } from './writes.ts';

/** Reconnecting after the database went away: first try after this, doubling to RECONNECT_MAX_MS (real time: it waits for a socket). */
const RECONNECT_MS = 500;
const RECONNECT_MAX_MS = 10_000;

/**
 * One dedicated connection that LISTENs for work committed by any replica (writes.ts NOTIFYs
 * with the commit), so a dispatcher wakes at once whichever replica took the event. It
 * reconnects by itself; notifications sent while it was away are lost, so on reconnecting it
 * wakes every known destination once (each lane then looks at the store).
 */
export class WorkListener {
  readonly #url: string;
  readonly #listeners: Array<(destinations: readonly string[]) => void> = [];
  readonly #known = new Set<string>();
  #client: pg.Client | null = null;
  #stopped = false;
  /** Cancels the scheduled reconnect, when one is. */
  #timer: (() => void) | null = null;
  #delay = RECONNECT_MS;
  #connectedBefore = false;

  constructor(url: string) {
    this.#url = url;
  }

  onWork(listener: (destinations: readonly string[]) => void): void {
    this.#listeners.push(listener);
  }

  /** Destinations to wake after a reconnect. */
  know(names: Iterable<string>): void {
    for (const name of names) this.#known.add(name);
  }

  start(): void {
    void this.#connect();
  }

  #emit(destinations: readonly string[]): void {
    for (const listener of this.#listeners) listener(destinations);
  }

  async #connect(): Promise<void> {
    if (this.#stopped) return;
    const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5_000, keepAlive: true, application_name: 'hookrelay-listen' });
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (message.channel !== WORK_CHANNEL) return;
      this.#emit(parsePayload(message.payload ?? '', this.#known));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${WORK_CHANNEL}`);
    } catch {
      this.#lost(client);
      return;
    }
    if (this.#stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#delay = RECONNECT_MS;
    if (this.#connectedBefore) this.#emit([...this.#known]);
    this.#connectedBefore = true;
  }

  #lost(client: pg.Client): void {
    if (this.#client !== null && this.#client !== client) return;
    this.#client = null;
    client.end().catch(() => undefined);
    if (this.#stopped || this.#timer) return;
    this.#connectedBefore = true;
    this.#timer = realTime.after(
      this.#delay,
      () => {
        this.#timer = null;
        void this.#connect();
      },
      { unref: true },
    );
    this.#delay = Math.min(this.#delay * 2, RECONNECT_MAX_MS);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#timer?.();
    this.#timer = null;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }
}

/** `["a","b"]` → those destinations; `"*"` (a list too long for a notification) → every known one. */
function parsePayload(payload: string, known: ReadonlySet<string>): string[] {
  try {
    const parsed = JSON.parse(payload) as unknown;
    if (Array.isArray(parsed)) return parsed.filter((name): name is string => typeof name === 'string');
  } catch {
    // Not ours: wake everything rather than miss work.
  }
  return [...known];
}
