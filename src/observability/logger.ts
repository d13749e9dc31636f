import { pino } from 'pino';
import type { Logger } from 'pino';

export type { Logger } from 'pino';

/** Structured logs; secrets and credentials are redacted by path wherever they appear. */
export function createLogger(options: { level?: string } = {}): Logger {
  return pino({
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    base: { service: 'hookrelay' },
    redact: {
      paths: [
        'headers.authorization',
        'headers.cookie',
        '*.headers.authorization',
        'config.secrets',
        '*.secret',
        '*.secrets',
        '*.token',
        '*.routing_key',
        '*.signing_secret',
        '*.api_key',
      ],
      censor: '[redacted]',
    },
  });
}

/** A logger that writes nothing (tests, CLI commands that print their own output). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
