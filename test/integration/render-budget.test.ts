import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { ADMIN_TOKEN, startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const SECRET = 'budget-secret';
const dir = mkdtempSync(join(tmpdir(), 'hookrelay-budget-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Delivery {
  id: string;
  destination: string;
  status: string;
  attempts: number;
  last_error: string | null;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** The reported case: four nested `{{#each}}` over the sender's keys (Tapemetric's `data`). */
const FOUR_NESTED_EACH =
  '{ "fields": "{{#each data.data}}{{#each @root.data.data}}{{#each @root.data.data}}{{#each @root.data.data}}' +
  '{{@key}}={{this}}; {{/each}}{{/each}}{{/each}}{{/each}}" }';

/** 58 keys in the sender's `data`, about 1.4 KB of payload. */
function fiftyEightKeys(): Record<string, unknown> {
  const extra = Object.fromEntries(Array.from({ length: 52 }, (_, i) => [`segment_${String(i).padStart(2, '0')}`, `cohort-${i}`]));
  return extra;
}

describe('a template that would build gigabytes', () => {
  // Without the render budget this delivery blocks the process for about a minute and builds
  // hundreds of megabytes: the test's timeout is the guard; the assertions say what a user sees.
  it('fails its delivery permanently with "template http/x: output over 1 MB", and other deliveries still go', async () => {
    const templates = join(dir, 'templates');
    mkdirSync(join(templates, 'http'), { recursive: true });
    writeFileSync(join(templates, 'http', 'x.hbs'), FOUR_NESTED_EACH);
    const receiver = await FakeReceiver.start();
    cleanups.push(() => receiver.close());
    const relay: TestRelay = await startRelay(`
templates_dir: ${templates}
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
destinations:
  - { name: x, type: http, url: "${receiver.url('/x')}", template: http/x }
  - { name: receiver, type: http, url: "${receiver.url('/envelope')}" }
routes:
  - { to: [x, receiver] }
retry: { schedule: [100ms, 200ms], disable_after: 10 }
admin: { token: ${ADMIN_TOKEN} }
`);
    cleanups.push(() => relay.close());

    const post = async (data: Record<string, unknown>): Promise<string> => {
      const body = JSON.stringify(tapemetricPayload({}, data));
      const response = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
      expect(response.status).toBe(202);
      return response.json.id as string;
    };
    const deliveries = async (eventId: string, settled: (all: Delivery[]) => boolean): Promise<Delivery[]> => {
      const { json } = await relay.until(
        () => relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${eventId}`),
        ({ json }) => json.deliveries.length === 2 && settled(json.deliveries),
      );
      return json.deliveries;
    };

    const payload = fiftyEightKeys();
    const bomb = await post(payload);
    expect(Object.keys(tapemetricPayload({}, payload).data as object)).toHaveLength(58);
    const first = await deliveries(bomb, (all) => all.every((d) => d.status === 'failed' || d.status === 'succeeded'));
    const x = first.find((d) => d.destination === 'x')!;
    expect(x).toMatchObject({ status: 'failed', attempts: 1 });
    expect(x.last_error).toMatch(/^template http\/x: output over 1 MB \(.*x\.hbs\)$/);
    expect(first.find((d) => d.destination === 'receiver')!.status).toBe('succeeded');

    // The relay stays responsive: the next event (six keys) goes through, to both destinations.
    const next = await post({ region: 'Kerala' });
    const second = await deliveries(next, (all) => all.every((d) => d.status === 'succeeded'));
    expect(second.map((d) => d.destination).sort()).toEqual(['receiver', 'x']);
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
    // The over-budget delivery was never sent nor retried.
    expect(receiver.requests.filter((request) => request.path === '/x')).toHaveLength(1);
    const { json } = await relay.admin<{ deliveries: Delivery[] }>(`/deliveries?event_id=${bomb}`);
    expect(json.deliveries.find((d) => d.destination === 'x')).toMatchObject({ status: 'failed', attempts: 1 });
  });
});
