import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { simpleParser } from 'mailparser';
import type { ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A received email, parsed as a mail client would, with the envelope it came in. */
export interface ReceivedMail {
  readonly from: string;
  readonly to: string[];
  readonly user: string | null;
  readonly raw: string;
  readonly parsed: ParsedMail;
}

/** How the server answers RCPT TO next: accept, or an SMTP reply code and text. */
type Answer = null | { code: number; message: string };

/**
 * A real SMTP server on loopback (smtp-server): takes LOGIN/PLAIN with the given account,
 * records each message parsed with mailparser, and answers RCPT TO as the test scripts it
 * (a 4xx or 5xx reply), as a mail provider would.
 */
export class FakeSmtp {
  readonly mails: ReceivedMail[] = [];
  #answer: () => Answer = () => null;
  readonly #server: SMTPServer;
  readonly #waiters: Array<{ count: number; resolve: () => void }> = [];

  private constructor(server: SMTPServer) {
    this.#server = server;
  }

  static async start(account: { user: string; password: string } | null = null): Promise<FakeSmtp> {
    let fake: FakeSmtp | null = null;
    const server = new SMTPServer({
      // Plain SMTP on loopback (no certificate to trust in a test); login allowed without TLS here only.
      disabledCommands: ['STARTTLS', ...(account ? [] : ['AUTH'])],
      allowInsecureAuth: true,
      authOptional: account === null,
      logger: false,
      onAuth(auth, _session, callback) {
        if (account && auth.username === account.user && auth.password === account.password) callback(null, { user: auth.username });
        else callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
      },
      onRcptTo(_address, _session, callback) {
        const answer = fake!.#answer();
        callback(answer ? Object.assign(new Error(answer.message), { responseCode: answer.code }) : undefined);
      },
      onData(stream, session, callback) {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => {
          const raw = Buffer.concat(chunks).toString('utf8');
          void simpleParser(raw).then((parsed) => {
            fake!.mails.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((rcpt) => rcpt.address),
              user: typeof session.user === 'string' ? session.user : null,
              raw,
              parsed,
            });
            fake!.#notify();
            callback();
          });
        });
      },
    });
    fake = new FakeSmtp(server);
    server.listen(0, '127.0.0.1');
    await once(server.server, 'listening');
    return fake;
  }

  get port(): number {
    return (this.#server.server.address() as AddressInfo).port;
  }

  answer(next: () => Answer): void {
    this.#answer = next;
  }

  async waitFor(count: number): Promise<ReceivedMail[]> {
    if (this.mails.length < count) await new Promise<void>((resolve) => this.#waiters.push({ count, resolve }));
    return this.mails;
  }

  #notify(): void {
    for (const waiter of this.#waiters.filter((candidate) => this.mails.length >= candidate.count)) waiter.resolve();
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
