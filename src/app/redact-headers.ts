/**
 * Headers that prove or carry a secret: credentials (never stored at all, see the ingestor's
 * UNSTORED_HEADERS), tokens, keys, and signatures (with the body, a signature is a request anyone
 * could send again within the sender's tolerance window). Shown to people by name only.
 */
const SECRET_HEADER = /authorization|cookie|signature|token|secret|api[-_]?key|password|credential/i;

/** What the logs write in place of a secret (pino's censor, src/observability/logger.ts). */
export const REDACTED = '[redacted]';

/** The stored request's headers as the API and the pages show them: secret values replaced, names kept. */
export function redactHeaders(headers: Readonly<Record<string, string>>): Record<string, string> {
  const shown: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) shown[name] = SECRET_HEADER.test(name) ? REDACTED : value;
  return shown;
}
