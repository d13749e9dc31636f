/**
 * Stripe webhooks (docs.stripe.com, "Check the webhook signatures"): `Stripe-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>[,v1=…][,v0=…]`. The key is the
 * endpoint's signing secret as given (`whsec_…`, used as text, not decoded). Several `v1` may be
 * present while Stripe rolls a secret; `v0` (test-mode legacy) is ignored. `t` must be within
 * `tolerance` (5 minutes, Stripe's own default) in either direction.
 * Event: `{id: "evt_…", object: "event", type, created, livemode, data: {object, previous_attributes}}`;
 * `id` is the event id (Stripe retries with the same id), `type` the type.
 *
 * Severity and status:
 *
 * | type                                                              | severity | status   |
 * |-------------------------------------------------------------------|----------|----------|
 * | charge.dispute.created, radar.early_fraud_warning.created         | critical | firing   |
 * | *.payment_failed, charge.failed, payout.failed, invoice.finalization_failed, invoice.payment_action_required, charge.dispute.funds_withdrawn | error | firing |
 * | customer.subscription.deleted, charge.dispute.updated, *.requires_action, subscription_schedule.aborted | warning | firing |
 * | charge.dispute.closed                                             | info     | resolved |
 * | invoice.paid, invoice.payment_succeeded, payment_intent.succeeded, charge.succeeded | info | resolved |
 * | anything else                                                     | info     | firing   |
 *
 * Dedup key `<object>:<object id>` (`invoice:in_…`, `payment_intent:pi_…`, `dispute:dp_…`), so
 * `invoice.paid` closes the incident its `invoice.payment_failed` opened.
 */
import { z } from 'zod';
import type { EventStatus, IncomingEvent, Severity } from '../events/event.ts';
import { nameSchema, secretListSchema } from '../util/schemas.ts';
import {
  ACCEPTED,
  anySignatureMatches,
  checkTolerance,
  hmacDigest,
  readHeader,
  rejected,
  timestampedContent,
  toleranceSchema,
  parseTimestampedSignatures,
  signTimestampedSignatures,
} from './signature.ts';
import { occurredAt, parsePayload, scalarText } from './fields.ts';
import { formatNumber as formatAmount, humanize } from '../util/format.ts';
import { isRecord, lookupTable } from '../util/objects.ts';
import type { InboundRequest, Source, SourcePreset, Verdict } from './source.ts';

const SIGNATURE_HEADER = 'Stripe-Signature';
const FORMAT = `${SIGNATURE_HEADER} must be "t=<unix seconds>,v1=<64 hex characters>" (several v1= entries allowed)`;

export const STRIPE_TYPE_SEVERITY: Readonly<Record<string, { severity: Severity; status: EventStatus }>> = lookupTable({
  'charge.dispute.created': { severity: 'critical', status: 'firing' },
  'radar.early_fraud_warning.created': { severity: 'critical', status: 'firing' },
  'charge.failed': { severity: 'error', status: 'firing' },
  'payout.failed': { severity: 'error', status: 'firing' },
  'invoice.finalization_failed': { severity: 'error', status: 'firing' },
  'invoice.payment_action_required': { severity: 'error', status: 'firing' },
  'charge.dispute.funds_withdrawn': { severity: 'error', status: 'firing' },
  'customer.subscription.deleted': { severity: 'warning', status: 'firing' },
  'charge.dispute.updated': { severity: 'warning', status: 'firing' },
  'subscription_schedule.aborted': { severity: 'warning', status: 'firing' },
  'charge.dispute.closed': { severity: 'info', status: 'resolved' },
  'invoice.paid': { severity: 'info', status: 'resolved' },
  'invoice.payment_succeeded': { severity: 'info', status: 'resolved' },
  'payment_intent.succeeded': { severity: 'info', status: 'resolved' },
  'charge.succeeded': { severity: 'info', status: 'resolved' },
});

/** By the type's last segment, when the exact type is not in the table. */
const SUFFIX_SEVERITY: Readonly<Record<string, { severity: Severity; status: EventStatus }>> = lookupTable({
  payment_failed: { severity: 'error', status: 'firing' },
  requires_action: { severity: 'warning', status: 'firing' },
});

/** Currencies Stripe counts in whole units (docs.stripe.com, "Zero-decimal currencies"). */
const ZERO_DECIMAL = new Set(['bif', 'clp', 'djf', 'gnf', 'jpy', 'kmf', 'krw', 'mga', 'pyg', 'rwf', 'ugx', 'vnd', 'vuv', 'xaf', 'xof', 'xpf']);

export const stripeSchema = z.strictObject({
  name: nameSchema,
  preset: z.literal('stripe'),
  secrets: secretListSchema,
  tolerance: toleranceSchema,
});
export type StripeConfig = z.output<typeof stripeSchema>;


export function verifyStripe(secrets: readonly string[], toleranceMs: number, request: InboundRequest, nowMs: number): Verdict {
  const value = readHeader(request, SIGNATURE_HEADER);
  if (value === undefined) return rejected('signature_missing', `the ${SIGNATURE_HEADER} header is required`);
  const parsed = parseTimestampedSignatures(value, FORMAT);
  if (typeof parsed === 'string') return rejected('signature_malformed', parsed);
  const fresh = checkTolerance(`${SIGNATURE_HEADER} t=`, parsed.timestampMs, nowMs, toleranceMs);
  if (!fresh.ok) return fresh;
  // docs.stripe.com: signed_payload = timestamp + "." + the raw request body.
  const content = timestampedContent(parsed.timestamp, request.rawBody);
  return anySignatureMatches(secrets, parsed.signatures, (secret) => hmacDigest('sha256', secret, content))
    ? ACCEPTED
    : rejected(
        'signature_mismatch',
        `no v1= signature in ${SIGNATURE_HEADER} matches an HMAC-SHA256 of "<t>.<body>" with any configured secret ` +
          '(each endpoint has its own whsec_ signing secret; the Stripe CLI\'s "listen" prints another)',
      );
}

const payloadSchema = z.looseObject({
  id: z.string().min(1),
  type: z.string().min(1),
  object: z.literal('event', { error: 'expected "event" (a Stripe event object)' }).optional(),
  created: z.number().optional(),
  livemode: z.boolean().optional(),
  data: z.looseObject({ object: z.record(z.string(), z.unknown()) }),
});
type StripeEvent = z.output<typeof payloadSchema>;

function classify(type: string): { severity: Severity; status: EventStatus } {
  const exact = STRIPE_TYPE_SEVERITY[type];
  if (exact) return exact;
  return SUFFIX_SEVERITY[type.split('.').at(-1) ?? ''] ?? { severity: 'info', status: 'firing' };
}

/** 2000, "usd" → "20.00 USD"; 500, "jpy" → "500 JPY". */
export function formatStripeAmount(amount: number, currency: string): string {
  const whole = ZERO_DECIMAL.has(currency.toLowerCase());
  return `${formatAmount(whole ? amount : amount / 100, { decimals: whole ? 0 : 2 })} ${currency.toUpperCase()}`;
}

function amountOf(object: Readonly<Record<string, unknown>>): string | undefined {
  const currency = scalarText(object['currency']);
  const amount = ['amount_due', 'amount', 'amount_total', 'amount_received'].map((key) => object[key]).find((value) => typeof value === 'number');
  return typeof amount === 'number' && currency !== undefined ? formatStripeAmount(amount, currency) : undefined;
}

/** "invoice.payment_failed" on in_123 for 20.00 USD → "Invoice payment failed: 20.00 USD (in_123)". */
function titleFor(event: StripeEvent): string {
  const object = event.data.object;
  const name = humanize(event.type.replace(/\./g, ' ').replace(/_/g, ' '));
  const amount = amountOf(object);
  const id = scalarText(object['id']);
  return [name, amount === undefined ? '' : `: ${amount}`, id === undefined ? '' : ` (${id})`].join('');
}

/** Who and why: customer, failure reason, attempt count, mode. */
function summaryFor(event: StripeEvent): string {
  const object = event.data.object;
  const lastError = isRecord(object['last_payment_error']) ? object['last_payment_error'] : {};
  const parts = [
    scalarText(object['customer_email']) ?? scalarText(object['receipt_email']) ?? scalarText(object['customer']),
    scalarText(object['failure_message']) ?? scalarText(lastError['message']),
    scalarText(object['reason']) === undefined ? undefined : `reason ${scalarText(object['reason'])}`,
    typeof object['attempt_count'] === 'number' ? `attempt ${object['attempt_count']}` : undefined,
    event.livemode === false ? 'test mode' : undefined,
  ];
  return parts.filter((part) => part !== undefined).join(' · ');
}

function normalizeStripe(payload: unknown): IncomingEvent[] {
  const event = parsePayload('Stripe', payloadSchema, payload);
  const object = event.data.object;
  const kind = scalarText(object['object']) ?? event.type.split('.')[0] ?? 'object';
  const objectId = scalarText(object['id']);
  return [
    {
      external_id: event.id,
      type: event.type,
      ...classify(event.type),
      title: titleFor(event),
      summary: summaryFor(event),
      dedup_key: objectId === undefined ? `event:${event.id}` : `${kind}:${objectId}`,
      occurred_at: occurredAt(event.created),
      data: payload,
    },
  ];
}

export const stripePreset: SourcePreset<typeof stripeSchema> = {
  preset: 'stripe',
  schema: stripeSchema,
  create(config: StripeConfig): Source {
    return {
      name: config.name,
      preset: 'stripe',
      verify: (request, nowMs) => verifyStripe(config.secrets, config.tolerance, request, nowMs),
      normalize: normalizeStripe,
      sign: (rawBody, nowMs) => ({ headers: signTimestampedSignatures(config.secrets, SIGNATURE_HEADER, rawBody, nowMs) }),
    };
  },
};
