import { isIP } from 'node:net';
import type { Transporter } from 'nodemailer';
import type * as Nodemailer from 'nodemailer';
import addressparser from 'nodemailer/lib/addressparser';
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import { z } from 'zod';
import { countSchema, flagSchema } from '../util/schemas.ts';
import { realTime } from '../util/clock.ts';
import type { DestinationType } from './destination.ts';
import { commonDestinationKeys, limitsOf, stormOf, templateRenderer } from './destination.ts';
import { DEFAULT_STORM } from '../notify/digest.ts';
import { emailRendering } from './email-message.ts';
import type { EmailMessage } from './email-message.ts';
import { findEgressRefusal, failure } from './http-client.ts';
import type { SendResult } from './http-client.ts';

/** One address, `alerts@example.com` or `hookrelay <alerts@example.com>`. */
const addressSchema = z.string().refine((text) => {
  const parsed = addressparser(text, { flatten: true });
  return parsed.length === 1 && /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(parsed[0]!.address);
}, 'must be one email address, such as alerts@example.com or "hookrelay <alerts@example.com>"');

const schema = z
  .object({
    ...commonDestinationKeys,
    type: z.literal('email'),
    smtp: z
      .object({
        host: z.string().min(1, 'the SMTP host may not be empty'),
        /** 587 (submission, STARTTLS) by default; 465 with `secure: true`. */
        port: countSchema(1, 65_535).default(587),
        /** TLS from the first byte (port 465); false: STARTTLS when the server offers it. */
        secure: flagSchema.default(false),
        user: z.string().min(1).optional(),
        password: z.string().min(1).optional(),
        /** STARTTLS required before anything is sent; default: when logging in (a password never goes in clear). */
        require_tls: flagSchema.optional(),
      })
      .strict()
      .refine((smtp) => (smtp.user === undefined) === (smtp.password === undefined), { message: 'user and password go together (or neither, for a relay that needs no login)' }),
    from: addressSchema,
    to: z.array(addressSchema).min(1, 'at least one recipient'),
  })
  .strict();

/** SMTP replies of a server that asks to be tried later for sending too much (RFC 3463 4.7.x, 421). */
function rateLimited(code: number, response: string): boolean {
  return code === 421 || /^4\d\d[ -]4\.7\.\d+/.test(response);
}

/**
 * What an SMTP attempt came to, for the retry policy: a 2xx/3xx reply is a success, 4xx (and a
 * connection that failed or timed out) is worth another attempt, 5xx is permanent (RFC 5321
 * §4.2.1). `status` is the SMTP reply code.
 */
export function classifySmtp(error: unknown, latency: number): SendResult {
  const refusal = findEgressRefusal(error);
  if (refusal) return failure('permanent', refusal.message, latency);
  const smtp = error as SMTPConnection.SMTPError;
  const code = smtp.responseCode;
  const response = typeof smtp.response === 'string' ? smtp.response : '';
  if (code === undefined) return failure('retry', `${smtp.code ?? 'SMTP'}: ${smtp.message}`, latency);
  return {
    kind: code >= 500 ? 'permanent' : 'retry',
    status: code,
    body: response.slice(0, 2_048),
    retry_after_ms: null,
    rate_limited: code < 500 && rateLimited(code, response),
    error: `SMTP ${code}${smtp.command ? ` after ${smtp.command}` : ''}: ${response || smtp.message}`,
    latency_ms: latency,
  };
}

/**
 * nodemailer (~7 MB of heap once loaded) is loaded with the first mail sent: a relay without an
 * email destination never holds it.
 */
let nodemailerModule: Promise<typeof Nodemailer> | undefined;
const loadNodemailer = async (): Promise<typeof Nodemailer> => (nodemailerModule ??= import('nodemailer'));

/**
 * Email through SMTP (nodemailer): a plain-text and an HTML body from the template (default
 * `email/default`), one thread per incident — each message has its own Message-ID, and
 * In-Reply-To / References name the incident's thread, so mail clients group an alert with its
 * updates and resolution. The connection goes to the address the egress guard approved.
 */
export const emailDestination: DestinationType<typeof schema> = {
  type: 'email',
  schema,
  rendering: emailRendering,
  create(config, deps) {
    const template = config.template ?? 'email/default';
    // A mail server takes a few messages a second from one sender before it throttles.
    const limits = limitsOf(config, { concurrency: 1, rate: { max: 10, per_ms: 60_000 } });
    const from = addressparser(config.from, { flatten: true })[0]!;
    const domain = from.address.slice(from.address.lastIndexOf('@') + 1);
    const { smtp } = config;
    return {
      name: config.name,
      type: 'email',
      template,
      limits,
      auto_enable: config.auto_enable !== false,
      storm: stormOf(config, DEFAULT_STORM),
      read_by_people: true,
      urls: [new URL(`smtp://${smtp.host.includes(':') ? `[${smtp.host}]` : smtp.host}:${smtp.port}`)],
      urls_key: 'smtp.host',
      ...templateRenderer(deps, template, emailRendering),
      async send(request) {
        const stopwatch = realTime.stopwatch();
        const elapsed = (): number => Math.round(stopwatch());
        const message = JSON.parse(request.body) as EmailMessage;
        const thread = `<${message.thread}@${domain}>`;
        let transport: Transporter | null = null;
        try {
          const host = await deps.http.addressFor(smtp.host);
          transport = (await loadNodemailer()).createTransport({
            host,
            port: smtp.port,
            secure: smtp.secure,
            requireTLS: smtp.require_tls ?? smtp.user !== undefined,
            ...(smtp.user !== undefined ? { auth: { user: smtp.user, pass: smtp.password! } } : {}),
            // The certificate is checked against the name, not the address connected to (an
            // address is no server name: TLS has no SNI for it, RFC 6066 §3).
            ...(isIP(smtp.host) === 0 ? { tls: { servername: smtp.host } } : {}),
            connectionTimeout: limits.timeout_ms,
            greetingTimeout: limits.timeout_ms,
            socketTimeout: limits.timeout_ms,
          });
          const sent = await transport.sendMail({
            from: config.from,
            to: config.to,
            subject: message.subject,
            text: message.text,
            ...(message.html === undefined ? {} : { html: message.html }),
            messageId: `<${message.thread}.${request.delivery_id}@${domain}>`,
            inReplyTo: thread,
            references: [thread],
            headers: { 'X-Hookrelay-Delivery': request.delivery_id },
          });
          const reply = typeof sent.response === 'string' ? sent.response : '';
          const code = Number(/^\d{3}/.exec(reply)?.[0] ?? 250);
          return { kind: 'success', status: code, body: reply, retry_after_ms: null, rate_limited: false, error: null, latency_ms: elapsed() };
        } catch (error) {
          return classifySmtp(error, elapsed());
        } finally {
          transport?.close();
        }
      },
    };
  },
};
