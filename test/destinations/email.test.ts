import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../src/config/load.ts';
import { renderPreview } from '../../src/cli/render-preview.ts';
import { classifySmtp } from '../../src/destinations/email.ts';
import type { Destination } from '../../src/destinations/index.ts';
import { HttpClient } from '../../src/destinations/index.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { buildComponents } from '../../src/runtime.ts';
import { decide } from '../../src/dispatch/retry-policy.ts';
import { ConfigError } from '../../src/errors.ts';
import { SAMPLE_EVENT } from '../../src/templates/index.ts';
import { HOSTILE_TEXT } from '../../src/templates/sample-event.ts';
import { configuredDestination, deliverOnce } from '../support/destinations.ts';
import { FakeSmtp } from '../support/smtp.ts';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const ACCOUNT = { user: 'relay@example.com', password: 'smtp-Pa55word' };

async function started(account: typeof ACCOUNT | null = ACCOUNT): Promise<FakeSmtp> {
  const fake = await FakeSmtp.start(account);
  cleanups.push(() => fake.close());
  return fake;
}

const email = (fake: FakeSmtp, extra: Record<string, unknown> = {}): Destination =>
  configuredDestination({
    name: 'ops-mail',
    type: 'email',
    // The fake speaks plain SMTP on loopback; a real login would insist on TLS (see below).
    smtp: { host: '127.0.0.1', port: fake.port, user: ACCOUNT.user, password: ACCOUNT.password, require_tls: false },
    from: 'hookrelay <alerts@example.com>',
    to: ['oncall@example.com', 'Ops Team <ops@example.com>'],
    ...extra,
  });

describe('email destination', () => {
  it('the sample alert: logged in, to every recipient, a subject, a plain-text and an HTML body; the SMTP reply in the log', async () => {
    const fake = await started();
    const { result } = await deliverOnce(email(fake), SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'success', status: 250 });
    const [mail] = await fake.waitFor(1);
    expect(mail).toMatchObject({ from: 'alerts@example.com', to: ['oncall@example.com', 'ops@example.com'], user: ACCOUNT.user });
    expect(mail!.parsed.subject).toBe(`🔴 ${SAMPLE_EVENT.title} (tapemetric)`);
    expect(mail!.parsed.text).toContain(`${SAMPLE_EVENT.title}\n\nStatus: firing\nSeverity: Critical`);
    expect(mail!.parsed.text).toContain(SAMPLE_EVENT.summary);
    expect(mail!.parsed.html).toContain(`<h2 style="margin:0 0 8px">🔴 ${SAMPLE_EVENT.title}</h2>`);
    expect(mail!.parsed.headers.get('x-hookrelay-delivery')).toBe('dlv_test');
  });

  it("one thread per incident: its own Message-ID each, In-Reply-To and References naming the incident's thread", async () => {
    const fake = await started();
    const destination = email(fake);
    await deliverOnce(destination, SAMPLE_EVENT, { deliveryId: 'dlv_1' });
    await deliverOnce(destination, { ...SAMPLE_EVENT, status: 'resolved' }, { deliveryId: 'dlv_2' });
    await deliverOnce(destination, { ...SAMPLE_EVENT, dedup_key: 'tapemetric:qos.rebuffer_spike:Kerala' }, { deliveryId: 'dlv_3' });
    const [first, resolved, other] = (await fake.waitFor(3)).map((mail) => mail.parsed);
    expect(first!.inReplyTo).toMatch(/^<hookrelay-[0-9a-f]{32}@example\.com>$/);
    expect(resolved!.inReplyTo).toBe(first!.inReplyTo);
    expect(resolved!.references).toBe(first!.inReplyTo);
    expect(other!.inReplyTo).not.toBe(first!.inReplyTo);
    expect(new Set([first!.messageId, resolved!.messageId, other!.messageId]).size).toBe(3);
    // A retry of one delivery keeps its Message-ID, so a mail client shows it once.
    expect(first!.messageId).toMatch(/^<hookrelay-[0-9a-f]{32}\.dlv_1@example\.com>$/);
    expect(resolved!.subject).toBe(`✅ Resolved: ${SAMPLE_EVENT.title} (tapemetric)`);
  });

  it('hostile sender text: no markup, link or hidden part in the HTML body; no extra header from a line break in the subject', async () => {
    const fake = await started();
    const hostile = '<a href="http://evil.example">click</a> <img src=x onerror=alert(1)> <script>x()</script> "q" \'s\' &amp;';
    await deliverOnce(email(fake), { ...SAMPLE_EVENT, title: `Title\r\nBcc: victim@example.com\r\nX-Evil: 1 ${hostile}`, summary: `${hostile} ${HOSTILE_TEXT}` });
    const [mail] = await fake.waitFor(1);
    expect(mail!.to).toEqual(['oncall@example.com', 'ops@example.com']);
    expect(mail!.parsed.headers.has('x-evil')).toBe(false);
    expect(mail!.parsed.bcc).toBeUndefined();
    expect(mail!.parsed.subject).toMatch(/^🔴 Title Bcc: victim@example\.com X-Evil: 1 <\u200da href/);
    const html = mail!.parsed.html as string;
    expect(html).not.toMatch(/<(a|img|script)\b/);
    expect(html).toContain('&lt;a href=&quot;http://evil.example&quot;&gt;click&lt;/a&gt;');
    expect(mail!.parsed.text).toContain(`<\u200da href="http://evil.example">click<\u200d/a>`);
  });

  it('a long subject is cut to 250 characters with a visible "…"', async () => {
    const fake = await started();
    await deliverOnce(email(fake), { ...SAMPLE_EVENT, title: 'T'.repeat(1_000) });
    const [mail] = await fake.waitFor(1);
    // The template cuts the title; the destination keeps the whole subject within 250.
    expect(mail!.parsed.subject!.length).toBeLessThanOrEqual(250);
    expect(mail!.parsed.subject).toContain('…');
  });

  it.each([
    [451, '4.3.0 Temporary local problem, try again', 'retry', false],
    [421, '4.7.0 Try again later, closing connection', 'retry', true],
    [450, '4.7.1 Rate limit exceeded for this sender', 'retry', true],
    [550, '5.1.1 The email account that you tried to reach does not exist', 'permanent', false],
    [554, '5.7.1 Message rejected as spam', 'permanent', false],
  ] as const)('RCPT TO answered %i → %s (rate limited: %s), with the server’s words', async (code, text, kind, rateLimited) => {
    const fake = await started();
    fake.answer(() => ({ code, message: text }));
    const { result } = await deliverOnce(email(fake), SAMPLE_EVENT);
    expect(result).toMatchObject({ kind, status: code, rate_limited: rateLimited });
    expect(result.error).toContain(`SMTP ${code}`);
    expect(result.error).toContain(text);
    const decision = decide({ schedule: [30_000], disable_after: 5 }, 1, result, 0);
    expect(decision.outcome).toBe(kind === 'retry' ? 'retry' : 'failed');
    if (rateLimited) expect(decision.health).toBe('neutral');
  });

  it('a wrong password is a permanent failure saying so', async () => {
    const fake = await started();
    const { result } = await deliverOnce(email(fake, { smtp: { host: '127.0.0.1', port: fake.port, user: ACCOUNT.user, password: 'wrong-password', require_tls: false } }), SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'permanent', status: 535 });
    expect(result.error).toMatch(/SMTP 535.*Authentication credentials invalid/);
  });

  it('with a login, a server without STARTTLS gets no password: nothing is sent, and the error says why', async () => {
    const fake = await started();
    const { result } = await deliverOnce(email(fake, { smtp: { host: '127.0.0.1', port: fake.port, user: ACCOUNT.user, password: ACCOUNT.password } }), SAMPLE_EVENT);
    expect(result.kind).not.toBe('success');
    expect(result.error).toMatch(/STARTTLS/);
    expect(fake.mails).toHaveLength(0);
  });

  it('nothing listening: a retry, not a failure', async () => {
    const fake = await started();
    const port = fake.port;
    await fake.close();
    cleanups.pop();
    const closed = configuredDestination({ type: 'email', smtp: { host: '127.0.0.1', port }, from: 'alerts@example.com', to: ['oncall@example.com'] });
    const { result } = await deliverOnce(closed, SAMPLE_EVENT);
    expect(result).toMatchObject({ kind: 'retry', status: null });
    expect(result.error).toMatch(/ECONNECTION|ECONNREFUSED/);
  });

  it('the egress guard: a private SMTP host is refused before connecting, permanently', async () => {
    const guarded = new HttpClient({ allowPrivate: false, userAgent: 'hookrelay/test' });
    cleanups.push(() => guarded.close());
    await expect(guarded.addressFor('127.0.0.1')).rejects.toThrow(/refusing to connect to 127\.0\.0\.1/);
    await expect(guarded.addressFor('localhost')).rejects.toThrow(/refusing to connect to localhost/);
    let error: unknown = null;
    try {
      await guarded.addressFor('10.1.2.3');
    } catch (caught) {
      error = caught;
    }
    expect(classifySmtp(error, 1)).toMatchObject({ kind: 'permanent', error: expect.stringMatching(/refusing to connect to 10\.1\.2\.3/) });
  });
});

describe('email config', () => {
  const problemsOf = (entry: Record<string, unknown>): string[] => {
    try {
      parseConfigText(JSON.stringify({ destinations: [{ name: 'm', type: 'email', ...entry }] }), {});
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return [...error.problems];
      throw error;
    }
  };
  const base = { smtp: { host: 'smtp.example.com', port: 587, user: 'u', password: 'p' }, from: 'hookrelay <alerts@example.com>', to: ['oncall@example.com'] };

  it('the contract example is taken', () => {
    expect(problemsOf(base)).toEqual([]);
  });

  it('each mistake is said plainly, at its path', () => {
    expect(problemsOf({ ...base, to: [] })).toEqual(['destinations[0].to: at least one recipient']);
    expect(problemsOf({ ...base, to: ['not an address'] })).toEqual([expect.stringMatching(/^destinations\[0\]\.to\[0\]: must be one email address/)]);
    expect(problemsOf({ ...base, from: 'a@example.com, b@example.com' })).toEqual([expect.stringMatching(/^destinations\[0\]\.from: must be one email address/)]);
    expect(problemsOf({ ...base, smtp: { host: 'smtp.example.com', user: 'u' } })).toEqual([expect.stringMatching(/^destinations\[0\]\.smtp: user and password go together/)]);
    expect(problemsOf({ ...base, smtp: { ...base.smtp, port: 70_000 } })).toEqual([expect.stringMatching(/^destinations\[0\]\.smtp\.port: /)]);
  });

  it('a private SMTP host is a problem at start-up and in check, named at smtp.host', async () => {
    const config = parseConfigText(JSON.stringify({ destinations: [{ name: 'm', type: 'email', ...base, smtp: { host: '10.0.0.25' } }] }), {});
    await expect(buildComponents(config, { baseDir: process.cwd(), logger: silentLogger() })).rejects.toMatchObject({
      problems: [expect.stringMatching(/^destinations\[0\]\.smtp\.host: refusing to connect to 10\.0\.0\.25/)],
    });
  });

  it('zero-config has no email: an SMTP account is more than one variable (write a hookrelay.yaml)', () => {
    expect(() => loadConfig({ file: null, env: { SMTP_HOST: 'smtp.example.com' } })).toThrow(/no chat to relay to/);
  });
});

describe('hookrelay render --template email/default', () => {
  it('previews subject, text, html and the thread', async () => {
    const output = (await renderPreview({ template: 'email/default', source: 'tapemetric', sample: true, loaded: null })) as Record<string, unknown>;
    expect(output).toMatchObject({ subject: expect.stringContaining('🔴'), text: expect.any(String), html: expect.stringContaining('<h2'), thread: expect.stringMatching(/^hookrelay-[0-9a-f]{32}$/) });
  });
});
