/**
 * Sender text used as a key into the presets' lookup tables (type → severity, conclusion →
 * outcome, Content-Encoding → decoder). A plain object answers `toString`, `constructor` or
 * `hasOwnProperty` with a function from its prototype: a signed event of type "toString" then
 * carried a function as its severity, the store's hand-off to its writer thread threw
 * DataCloneError outside any request, and the process died (found by the ingest fuzzer).
 * Each case is a sender's well-formed, signed request: it is accepted and relayed with the
 * severity an unknown value gets, and the relay keeps answering.
 */
import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeReceiver } from '../support/receiver.ts';
import { startRelay } from '../support/hookrelay.ts';
import type { TestRelay } from '../support/hookrelay.ts';
import { tapemetricHeaders, tapemetricPayload } from '../support/signers.ts';

const SECRET = 'prototype-keys-secret';
const TAPE_TOKEN = 'prototype-keys-tape-token';
const STRIPE_SECRET = 'whsec_prototypekeystest';
const PROTOTYPE_KEYS = ['toString', 'constructor', 'hasOwnProperty', '__proto__', 'valueOf'];
const SEVERITIES = ['critical', 'error', 'warning', 'info'];

let relay: TestRelay;
let audit: FakeReceiver;

beforeAll(async () => {
  audit = await FakeReceiver.start();
  relay = await startRelay(`
sources:
  - { name: tapemetric, preset: tapemetric, secrets: ["${SECRET}"] }
  - { name: tape, preset: tape, token: "${TAPE_TOKEN}" }
  - { name: stripe, preset: stripe, secrets: ["${STRIPE_SECRET}"] }
  - { name: github, preset: github, secrets: ["${SECRET}"] }
destinations:
  - { name: audit, type: http, url: "${audit.url('/hook')}", rate: { max: 1000, per: 1s } }
routes:
  - { to: [audit] }
`);
});

afterAll(async () => {
  await relay?.close();
  await audit?.close();
});

const hmacHex = (secret: string, text: string): string => createHmac('sha256', secret).update(text).digest('hex');

/** Stripe-Signature as Stripe's documents describe it: t=<unix>,v1=<hex HMAC of "t.body"> with the whsec_ text as key. */
function stripeHeaders(body: string): Record<string, string> {
  const t = Math.floor(Date.now() / 1000);
  return { 'stripe-signature': `t=${t},v1=${hmacHex(STRIPE_SECRET, `${t}.${body}`)}` };
}

/** Every delivery reached the receiver with a severity an event can have. */
async function relayedWithKnownSeverity(count: number): Promise<void> {
  const received = await audit.waitFor(count, { path: '/hook' });
  for (const request of received) {
    const envelope = JSON.parse(request.body) as { event?: { severity?: unknown } };
    expect(SEVERITIES).toContain(envelope.event?.severity);
  }
}

describe('sender text that names a property of Object.prototype', () => {
  let sent = 0;

  it.each(PROTOTYPE_KEYS)('Tapemetric alert of type "%s" → 202, relayed as a warning', async (type) => {
    const body = JSON.stringify(tapemetricPayload({ id: `evt_proto_${type}`, type }));
    const reply = await relay.post('/hooks/tapemetric', body, tapemetricHeaders(body, SECRET));
    expect(reply.status).toBe(202);
    await relayedWithKnownSeverity((sent += 1));
  });

  it.each(PROTOTYPE_KEYS)('Tape event of type "%s" → 202, relayed as information', async (type) => {
    const body = JSON.stringify({ hook_id: 1234, record_id: 42, type });
    const reply = await relay.post(`/hooks/tape?token=${TAPE_TOKEN}`, body);
    expect(reply.status).toBe(202);
    await relayedWithKnownSeverity((sent += 1));
  });

  it.each(PROTOTYPE_KEYS)('Stripe event of type "%s" → 202', async (type) => {
    const body = JSON.stringify({ id: `evt_proto_${type}`, object: 'event', type, data: { object: { id: 'in_1', object: 'invoice' } } });
    const reply = await relay.post('/hooks/stripe', body, stripeHeaders(body));
    expect(reply.status).toBe(202);
    await relayedWithKnownSeverity((sent += 1));
  });

  it.each(PROTOTYPE_KEYS)('GitHub workflow_run with conclusion "%s" → 202, the title says the word', async (conclusion) => {
    const body = JSON.stringify({
      action: 'completed',
      workflow_run: { id: 7, name: 'CI', conclusion, status: 'completed', head_branch: 'main', run_number: 3 },
      repository: { full_name: 'octo-org/hello-world' },
    });
    const reply = await relay.post('/hooks/github', body, {
      'x-hub-signature-256': `sha256=${hmacHex(SECRET, body)}`,
      'x-github-event': 'workflow_run',
      'x-github-delivery': `proto-${conclusion.replaceAll('_', 'u')}`,
    });
    expect(reply.status).toBe(202);
    await relayedWithKnownSeverity((sent += 1));
    const last = JSON.parse(audit.requests.at(-1)!.body) as { event: { title: string } };
    expect(last.event.title).not.toMatch(/function|native code|\[object/);
  });

  it.each(PROTOTYPE_KEYS)('Content-Encoding "%s" → 415 unsupported_encoding', async (coding) => {
    const body = JSON.stringify(tapemetricPayload({ id: `evt_enc_${coding}` }));
    const reply = await relay.post('/hooks/tapemetric', body, { ...tapemetricHeaders(body, SECRET), 'content-encoding': coding });
    expect(reply.status).toBe(415);
    expect(reply.json).toMatchObject({ error: { code: 'unsupported_encoding' } });
  });

  it('the relay still answers afterwards', async () => {
    const response = await fetch(`${relay.url}/readyz`);
    expect(response.status).toBe(200);
  });
});
