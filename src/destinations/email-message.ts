import { z } from 'zod';
import { TemplateRenderError, truncateToLength } from '../templates/index.ts';
import { formatPath } from '../util/objects.ts';
import type { Rendering } from './destination.ts';
import { threadKeyOf } from './incident-thread.ts';

/**
 * Checks a rendered email template (`subject`, `text`, optional `html`) and adds its incident's
 * thread key; the email destination turns that into Message-ID / In-Reply-To / References.
 */

// RFC 5322 §2.1.1: a line is at most 998 characters; a subject is kept far shorter, so mail
// clients show it whole and it never needs folding mid-word.
const MAX_SUBJECT = 250;

const emailSchema = z.looseObject({
  subject: z.string().min(1, 'an email needs a subject'),
  text: z.string().min(1, 'an email needs a plain-text body (text)'),
  html: z.string().optional(),
});

export interface EmailMessage {
  subject: string;
  text: string;
  html?: string | undefined;
  /** The incident's thread (see incident-thread.ts). */
  thread: string;
}

export interface FittedEmailMessage {
  readonly message: EmailMessage;
  readonly truncated: string[];
}

/**
 * Validates a rendered email: a subject of one line (line breaks from sender text become
 * spaces: a header cannot be split, or added to) cut to 250 characters with a visible "…", a
 * plain-text body, an optional HTML body. Throws TemplateRenderError naming the path.
 */
export function fitEmailMessage(payload: unknown, template: string, thread: string): FittedEmailMessage {
  const parsed = emailSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new TemplateRenderError(template, `not a valid email: ${formatPath(issue?.path ?? [])}: ${issue?.message ?? 'invalid'}`);
  }
  const truncated: string[] = [];
  const oneLine = parsed.data.subject.replace(/[\r\n\u2028\u2029\t]+/g, ' ');
  const subject = truncateToLength(oneLine, MAX_SUBJECT);
  if (subject !== oneLine) truncated.push('subject');
  const { text, html } = parsed.data;
  return { message: { subject, text, ...(html === undefined ? {} : { html }), thread }, truncated };
}

/** Email templates: HTML escaping (for the html body; subject and text use {{plain}}), in the incident's thread. */
export const emailRendering: Rendering = {
  mode: 'html',
  fit: (payload, template, context) => fitEmailMessage(payload, template, threadKeyOf(context)).message,
};
