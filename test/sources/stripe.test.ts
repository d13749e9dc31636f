import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { formatStripeAmount, stripePreset } from '../../src/sources/stripe.ts';
import { hmac, inbound, NOW_MS, NOW_SECONDS, testDeps, thrownCode, verdictCode } from './support.ts';

// Stripe's own library signs: the verifier is checked against the sender's code, not ours.
const stripe = new Stripe('sk_test_not_used_offline');
const SECRET = 'whsec_test_secret_0123456789abcdef';

// An event as Stripe documents it (the Event object, invoice.payment_failed), abridged.
const EVENT = JSON.stringify({
  id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy',
  object: 'event',
  api_version: '2024-06-20',
  created: NOW_SECONDS - 2,
  livemode: true,
  pending_webhooks: 1,
  request: { id: null, idempotency_key: null },
  type: 'invoice.payment_failed',
  data: {
    object: {
      id: 'in_1NG8Dt2eZvKYlo2C8sP4WxYq',
      object: 'invoice',
      amount_due: 2000,
      currency: 'usd',
      customer: 'cus_NffrFeUfNV2Hib',
      customer_email: 'jenny.rosen@example.com',
      attempt_count: 2,
    },
  },
});

function source(options: Record<string, unknown> = {}) {
  const config = stripePreset.schema.parse({ name: 'stripe', preset: 'stripe', secrets: [SECRET], ...options });
  return stripePreset.create(config, testDeps());
}

function signedByStripe(body: string, timestamp = NOW_SECONDS, secret = SECRET): string {
  return stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp });
}

const withHeader = (body: string, header: string) => inbound(body, { 'Stripe-Signature': header });

describe('stripe verify (signed by the stripe npm package)', () => {
  it('a header from stripe.webhooks.generateTestHeaderString → ok', () => {
    expect(verdictCode(source().verify(withHeader(EVENT, signedByStripe(EVENT)), NOW_MS))).toBe('ok');
  });

  it('our sign() is accepted by Stripe\'s own constructEvent', () => {
    const headers = source().sign(Buffer.from(EVENT), NOW_MS).headers;
    const event = stripe.webhooks.constructEvent(EVENT, headers['Stripe-Signature']!, SECRET, 300, undefined, NOW_MS);
    expect(event.id).toBe('evt_1NG8Du2eZvKYlo2CUI79vXWy');
  });

  it('tampered body (one character) → signature_mismatch', () => {
    const header = signedByStripe(EVENT);
    expect(verdictCode(source().verify(withHeader(EVENT.replace('2000', '2001'), header), NOW_MS))).toBe('signature_mismatch');
  });

  it('right except the last bytes of v1 → signature_mismatch', () => {
    const header = signedByStripe(EVENT);
    const last = header.slice(-2) === '00' ? 'ff' : '00';
    expect(verdictCode(source().verify(withHeader(EVENT, header.slice(0, -2) + last), NOW_MS))).toBe('signature_mismatch');
  });

  it('signed with another endpoint\'s secret → signature_mismatch', () => {
    const header = signedByStripe(EVENT, NOW_SECONDS, 'whsec_another_endpoint');
    expect(verdictCode(source().verify(withHeader(EVENT, header), NOW_MS))).toBe('signature_mismatch');
  });

  it('t 5 minutes and 1 second old → signature_expired', () => {
    const header = signedByStripe(EVENT, NOW_SECONDS - 301);
    expect(verdictCode(source().verify(withHeader(EVENT, header), NOW_MS))).toBe('signature_expired');
  });

  it('t 5 minutes and 1 second ahead → signature_expired', () => {
    const header = signedByStripe(EVENT, NOW_SECONDS + 301);
    expect(verdictCode(source().verify(withHeader(EVENT, header), NOW_MS))).toBe('signature_expired');
  });

  it('t 4 minutes 59 seconds old or ahead → ok (5 minutes both ways)', () => {
    expect(verdictCode(source().verify(withHeader(EVENT, signedByStripe(EVENT, NOW_SECONDS - 299)), NOW_MS))).toBe('ok');
    expect(verdictCode(source().verify(withHeader(EVENT, signedByStripe(EVENT, NOW_SECONDS + 299)), NOW_MS))).toBe('ok');
  });

  it('t changed after signing → signature_mismatch', () => {
    const header = signedByStripe(EVENT).replace(`t=${NOW_SECONDS}`, `t=${NOW_SECONDS - 1}`);
    expect(verdictCode(source().verify(withHeader(EVENT, header), NOW_MS))).toBe('signature_mismatch');
  });

  it('several v1 while Stripe rolls the secret, one valid → ok', () => {
    const stale = hmac('sha256', 'whsec_rolled_away', `${NOW_SECONDS}.${EVENT}`);
    expect(verdictCode(source().verify(withHeader(EVENT, `${signedByStripe(EVENT)},v1=${stale}`), NOW_MS))).toBe('ok');
    const reordered = `t=${NOW_SECONDS},v1=${stale},${signedByStripe(EVENT).split(',')[1]}`;
    expect(verdictCode(source().verify(withHeader(EVENT, reordered), NOW_MS))).toBe('ok');
  });

  it('two configured secrets (our rotation): the older one still verifies', () => {
    const header = signedByStripe(EVENT, NOW_SECONDS, 'whsec_old');
    expect(verdictCode(source({ secrets: [SECRET, 'whsec_old'] }).verify(withHeader(EVENT, header), NOW_MS))).toBe('ok');
  });

  it('a v0 entry (test-mode legacy) is ignored next to a valid v1 → ok', () => {
    expect(verdictCode(source().verify(withHeader(EVENT, `${signedByStripe(EVENT)},v0=${'ab'.repeat(32)}`), NOW_MS))).toBe('ok');
  });

  it('missing Stripe-Signature → signature_missing', () => {
    expect(verdictCode(source().verify(inbound(EVENT), NOW_MS))).toBe('signature_missing');
  });

  it.each([
    ['no t=', (header: string) => header.replace(/^t=\d+,/, '')],
    ['no v1=', () => `t=${NOW_SECONDS}`],
    ['only v0=', (header: string) => header.replace('v1=', 'v0=')],
    ['v1 not 64 hex', (header: string) => header.slice(0, -10)],
    ['t not unix seconds', (header: string) => header.replace(/^t=\d+/, 't=2026-04-23T18:28:00Z')],
    ['a bare hex digest', (header: string) => header.split('v1=')[1]!],
  ])('%s → signature_malformed', (_label, mangle) => {
    expect(verdictCode(source().verify(withHeader(EVENT, mangle(signedByStripe(EVENT))), NOW_MS))).toBe('signature_malformed');
  });
});

describe('stripe normalize', () => {
  const normalize = (payload: unknown) => source().normalize(payload, inbound('{}'));

  it('invoice.payment_failed → error, firing, the invoice as dedup key, amount in the title', () => {
    const payload = JSON.parse(EVENT) as unknown;
    const [event, ...rest] = normalize(payload);
    expect(rest).toHaveLength(0);
    expect(event).toEqual({
      external_id: 'evt_1NG8Du2eZvKYlo2CUI79vXWy',
      type: 'invoice.payment_failed',
      severity: 'error',
      status: 'firing',
      title: 'Invoice payment failed: 20.00 USD (in_1NG8Dt2eZvKYlo2C8sP4WxYq)',
      summary: 'jenny.rosen@example.com · attempt 2',
      dedup_key: 'invoice:in_1NG8Dt2eZvKYlo2C8sP4WxYq',
      occurred_at: new Date((NOW_SECONDS - 2) * 1000).toISOString(),
      data: payload,
    });
  });

  it('invoice.paid for the same invoice → resolved, same dedup key (closes the incident)', () => {
    const payload = JSON.parse(EVENT) as { type: string };
    payload.type = 'invoice.paid';
    const [event] = normalize(payload);
    expect([event?.status, event?.severity, event?.dedup_key]).toEqual(['resolved', 'info', 'invoice:in_1NG8Dt2eZvKYlo2C8sP4WxYq']);
  });

  it.each([
    ['charge.dispute.created', 'critical', 'firing'],
    ['radar.early_fraud_warning.created', 'critical', 'firing'],
    ['payment_intent.payment_failed', 'error', 'firing'],
    ['charge.failed', 'error', 'firing'],
    ['payout.failed', 'error', 'firing'],
    ['customer.subscription.deleted', 'warning', 'firing'],
    ['payment_intent.requires_action', 'warning', 'firing'],
    ['charge.dispute.closed', 'info', 'resolved'],
    ['payment_intent.succeeded', 'info', 'resolved'],
    ['customer.created', 'info', 'firing'],
  ])('%s → %s, %s', (type, severity, status) => {
    const payload = { id: 'evt_1', object: 'event', type, created: NOW_SECONDS, data: { object: { id: 'x_1', object: 'thing' } } };
    const [event] = normalize(payload);
    expect([event?.severity, event?.status]).toEqual([severity, status]);
  });

  it('a dispute and its closing share the dispute as dedup key', () => {
    const dispute = { id: 'dp_1', object: 'dispute', amount: 1000, currency: 'eur', reason: 'fraudulent' };
    const [opened] = normalize({ id: 'evt_a', type: 'charge.dispute.created', data: { object: dispute } });
    const [closed] = normalize({ id: 'evt_b', type: 'charge.dispute.closed', data: { object: dispute } });
    expect([opened?.dedup_key, closed?.dedup_key]).toEqual(['dispute:dp_1', 'dispute:dp_1']);
    expect(opened?.summary).toContain('reason fraudulent');
  });

  it('amounts: minor units, zero-decimal currencies as they are', () => {
    expect(formatStripeAmount(2000, 'usd')).toBe('20.00 USD');
    expect(formatStripeAmount(123456, 'eur')).toBe('1,234.56 EUR');
    expect(formatStripeAmount(500, 'jpy')).toBe('500 JPY');
  });

  it.each([
    ['no id', { type: 'invoice.paid', data: { object: {} } }],
    ['no type', { id: 'evt_1', data: { object: {} } }],
    ['no data.object', { id: 'evt_1', type: 'invoice.paid', data: {} }],
    ['an array', []],
    ['object is not "event"', { id: 'evt_1', object: 'invoice', type: 'invoice.paid', data: { object: {} } }],
  ])('%s → invalid_payload', (_label, payload) => {
    expect(thrownCode(() => normalize(payload))).toBe('invalid_payload');
  });
});
