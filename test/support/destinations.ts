import { afterAll } from 'vitest';
import { parseConfigText } from '../../src/config/load.ts';
import { createDestination, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import type { RelayEvent } from '../../src/events/event.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Store } from '../../src/store/store.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine, sampleContext } from '../../src/templates/index.ts';

const http = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
afterAll(() => http.close());

/** A destination as the config would make it (one `destinations:` entry), prepared, with the built-in templates after `dirs`. */
export function configuredDestination(entry: Record<string, unknown>, dirs: readonly string[] = []): Destination {
  const config = parseConfigText(JSON.stringify({ destinations: [{ name: 'dest', ...entry }] }), {}).destinations[0]!;
  const templates = createTemplateEngine({ dirs: [...dirs, BUILTIN_TEMPLATES_DIR], version: '9.9.9' });
  const destination = createDestination(config, { http, templates, version: '9.9.9', logger: silentLogger(), store: () => ({}) as Store });
  destination.prepare();
  return destination;
}

/** Renders the event as the dispatcher would for one delivery and sends it once (attempt 1 of delivery `dlv_test` unless told). */
export async function deliverOnce(destination: Destination, event: RelayEvent, options: { attempt?: number; deliveryId?: string } = {}) {
  const body = await destination.render(sampleContext(event));
  return { body, result: await destination.send({ delivery_id: options.deliveryId ?? 'dlv_test', attempt: options.attempt ?? 1, body, event }) };
}

/** What `render` throws for the event (a test that expects a refusal), or null. */
export async function renderRefusal(destination: Destination, event: RelayEvent): Promise<Error | null> {
  try {
    await destination.render(sampleContext(event));
    return null;
  } catch (error) {
    return error as Error;
  }
}
