import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDestination, destinationConfigSchema, HttpClient } from '../../src/destinations/index.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { testSend } from '../../src/dispatch/test-send.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { BUILTIN_TEMPLATES_DIR, createTemplateEngine } from '../../src/templates/index.ts';
import { SAMPLE_EVENT } from '../../src/templates/sample-event.ts';
import { FakeReceiver } from '../support/receiver.ts';

/**
 * A destination's dry run (`POST /api/v1/destinations/:name/test`, `test <destination>` in
 * Slack) on its own: real destinations drawing their built-in templates, posting to a loopback
 * receiver, and what the person who asked for the test is told.
 */

const NOW = Date.parse('2026-11-29T10:00:00Z');

let receiver: FakeReceiver;
let http: HttpClient;
/** A user's template folder: templates that show what a dry run hands them. */
let templatesDir: string;

/** The context a template sees, as JSON: the event's id, its events, and hookrelay's own fields. */
const CONTEXT = '"id": {{json id}}, "events": [{{#each events}}{{#if @index}}, {{/if}}{{json id}}{{/each}}], "hookrelay": {{json hookrelay}}';
const PAGERDUTY_EVENT = (details: string): string =>
  `{ "event_action": "{{#if (eq status "resolved")}}resolve{{else}}trigger{{/if}}", "dedup_key": {{json dedup_key}}, ` +
  `"payload": { "summary": {{json title}}, "source": "hookrelay", "severity": "critical", "custom_details": { ${details} } } }`;

beforeAll(async () => {
  templatesDir = mkdtempSync(join(tmpdir(), 'hookrelay-test-send-'));
  mkdirSync(join(templatesDir, 'http'));
  mkdirSync(join(templatesDir, 'pagerduty'));
  writeFileSync(join(templatesDir, 'http', 'context.hbs'), `{ ${CONTEXT} }`);
  writeFileSync(join(templatesDir, 'pagerduty', 'context.hbs'), PAGERDUTY_EVENT(CONTEXT));
  // Draws the trigger, but not the resolve (a value outside quotes that is not JSON).
  writeFileSync(join(templatesDir, 'pagerduty', 'no-resolve.hbs'), PAGERDUTY_EVENT('"resolved": {{#if (eq status "resolved")}}{{title}}{{else}}false{{/if}}'));
  receiver = await FakeReceiver.start();
  http = new HttpClient({ allowPrivate: true, userAgent: 'hookrelay/test' });
});

afterEach(() => {
  receiver.requests.length = 0;
  receiver.respond(() => ({ status: 200, body: 'ok' }));
});

afterAll(async () => {
  await receiver.close();
  await http.close();
  rmSync(templatesDir, { recursive: true, force: true });
});

function destination(config: Record<string, unknown>): Destination {
  const templates = createTemplateEngine({ dirs: [templatesDir, BUILTIN_TEMPLATES_DIR], version: 'test' });
  return createDestination(destinationConfigSchema.parse({ name: 'ops', ...config }), {
    http,
    templates,
    version: 'test',
    logger: silentLogger(),
    store: () => {
      throw new Error('a dry run reads no store');
    },
  });
}

const webhook = (): Destination => destination({ type: 'http', url: receiver.url('/hook') });
const pagerduty = (): Destination => destination({ type: 'pagerduty', routing_key: 'R0UT1NGKEY0123456789012345678901', url: receiver.url('/v2/enqueue') });

interface Envelope {
  readonly event: { readonly id: string; readonly title: string; readonly dedup_key: string; readonly occurred_at: string; readonly received_at: string; readonly severity: string };
}

describe('a dry run of a destination', () => {
  it('sends the sample event now, marked as a test, and says what was sent and what came back', async () => {
    receiver.respond(() => ({ status: 201, body: 'created' }));
    const result = await testSend(webhook(), '1.2.3', NOW);
    const [request] = receiver.requests;
    expect(receiver.requests).toHaveLength(1);
    expect(result).toEqual({
      destination: 'ops',
      ok: true,
      request_body: request!.body,
      response: { status: 201, body: 'created', latency_ms: expect.any(Number), error: null },
    });
    const { event } = request!.json<Envelope>();
    expect(event.title).toBe(`Test from hookrelay: ${SAMPLE_EVENT.title}`);
    expect(event.severity).toBe(SAMPLE_EVENT.severity);
    // Dated now, not when the sample was written.
    expect([event.occurred_at, event.received_at]).toEqual(['2026-11-29T10:00:00.000Z', '2026-11-29T10:00:00.000Z']);
  });

  it('each test is an incident of its own: a fresh event id and dedup key, never a real incident\'s', async () => {
    await testSend(webhook(), 'test', NOW);
    await testSend(webhook(), 'test', NOW);
    const [first, second] = receiver.requests.map((request) => request.json<Envelope>().event);
    expect(first!.dedup_key).toMatch(/^hookrelay-test:\S+$/);
    expect(second!.dedup_key).toMatch(/^hookrelay-test:\S+$/);
    expect(second!.dedup_key).not.toBe(first!.dedup_key);
    expect(second!.id).not.toBe(first!.id);
    expect(first!.id).not.toBe(SAMPLE_EVENT.id);
  });

  it("a template sees what a real delivery's would: the event with its events, and hookrelay's version, destination and delivery id", async () => {
    await testSend(destination({ type: 'http', url: receiver.url('/hook'), template: 'http/context' }), '1.2.3', NOW);
    const [request] = receiver.requests;
    const context = request!.json<{ id: string; events: string[]; hookrelay: Record<string, string> }>();
    expect(context.id).toMatch(/^evt_/);
    expect(context.events).toEqual([context.id]);
    // The delivery id is the one the request goes out under (the receiver's idempotency key).
    expect(context.hookrelay).toEqual({ version: '1.2.3', destination: 'ops', delivery_id: request!.headers['webhook-id'] });
    expect(context.hookrelay.delivery_id).toMatch(/^dlv_/);
  });

  it("PagerDuty's resolve is an event and a delivery of its own, drawn like the trigger", async () => {
    receiver.respond(() => ({ status: 202, body: '{"status":"success"}' }));
    await testSend(destination({ type: 'pagerduty', routing_key: 'R0UT1NGKEY0123456789012345678901', url: receiver.url('/v2/enqueue'), template: 'pagerduty/context' }), '1.2.3', NOW);
    type Details = { id: string; events: string[]; hookrelay: Record<string, string> };
    const [trigger, resolve] = receiver.requests.map((request) => request.json<{ payload: { custom_details: Details } }>().payload.custom_details);
    expect(resolve!.id).toMatch(/^evt_/);
    expect(resolve!.id).not.toBe(trigger!.id);
    expect(resolve!.events).toEqual([resolve!.id]);
    expect(resolve!.hookrelay).toMatchObject({ version: '1.2.3', destination: 'ops', delivery_id: expect.stringMatching(/^dlv_/) });
    expect(resolve!.hookrelay.delivery_id).not.toBe(trigger!.hookrelay.delivery_id);
  });

  it('at PagerDuty, a resolve the template cannot draw is reported, not thrown: the trigger went, and the person is told', async () => {
    receiver.respond(() => ({ status: 202, body: '{"status":"success"}' }));
    const result = await testSend(destination({ type: 'pagerduty', routing_key: 'R0UT1NGKEY0123456789012345678901', url: receiver.url('/v2/enqueue'), template: 'pagerduty/no-resolve' }), 'test', NOW);
    expect(receiver.requests).toHaveLength(1);
    expect(result.ok).toBe(true);
    expect(result.resolved).toEqual({ ok: false, error: expect.stringContaining('pagerduty/no-resolve') });
  });

  it('a destination that refuses the test: not ok, with its status, its answer and why', async () => {
    receiver.respond(() => ({ status: 400, body: 'invalid_payload' }));
    const result = await testSend(webhook(), 'test', NOW);
    expect(result).toMatchObject({ destination: 'ops', ok: false, response: { status: 400, body: 'invalid_payload' } });
    expect(result.response.error).toEqual(expect.stringContaining('400'));
    expect(result.request_body).toBe(receiver.requests[0]!.body);
    expect(result).not.toHaveProperty('resolved');
  });

  it('a template that cannot draw the sample: nothing is sent, and the answer names the template', async () => {
    const result = await testSend(destination({ type: 'http', url: receiver.url('/hook'), template: 'http/missing' }), 'test', NOW);
    expect(receiver.requests).toHaveLength(0);
    expect(result).toMatchObject({ destination: 'ops', ok: false, request_body: null, response: { status: null, body: null, latency_ms: null } });
    expect(result.response.error).toMatch(/^template http\/missing: /);
  });

  it('at PagerDuty the sample is resolved right after it triggered: no incident stays open', async () => {
    receiver.respond(() => ({ status: 202, body: '{"status":"success"}' }));
    const result = await testSend(pagerduty(), 'test', NOW);
    const [trigger, resolve] = receiver.requests.map((request) => request.json<{ event_action: string; dedup_key: string }>());
    expect([trigger?.event_action, resolve?.event_action]).toEqual(['trigger', 'resolve']);
    expect(resolve!.dedup_key).toBe(trigger!.dedup_key);
    expect(result).toMatchObject({ ok: true, resolved: { ok: true, error: null }, response: { status: 202 } });
    // What was sent is shown (the trigger), without the routing key, a secret.
    expect(JSON.parse(result.request_body!)).toMatchObject({ event_action: 'trigger', dedup_key: trigger!.dedup_key });
    expect(result.request_body).not.toContain('R0UT1NGKEY');
  });

  it('at PagerDuty, a resolve that fails is reported: the person knows an incident may be open', async () => {
    receiver.respond((request) =>
      request.json<{ event_action: string }>().event_action === 'trigger' ? { status: 202, body: '{"status":"success"}' } : { status: 400, body: '{"status":"invalid event"}' },
    );
    const result = await testSend(pagerduty(), 'test', NOW);
    expect(result.ok).toBe(true);
    expect(result.resolved?.ok).toBe(false);
    expect(result.resolved?.error).toEqual(expect.stringContaining('400'));
  });

  it('at PagerDuty, a trigger that failed is not followed by a resolve', async () => {
    receiver.respond(() => ({ status: 400, body: '{"status":"invalid event"}' }));
    const result = await testSend(pagerduty(), 'test', NOW);
    expect(receiver.requests).toHaveLength(1);
    expect(result.ok).toBe(false);
    expect(result).not.toHaveProperty('resolved');
  });
});
