import { createRequire } from 'node:module';
import { pino } from 'pino';
import type { DestinationStream, Logger, LoggerOptions } from 'pino';
import type PinoPrettyModule from 'pino-pretty';

/**
 * pino-pretty (and its ~30 modules) is loaded only for a person at a terminal: collected logs
 * are JSON, and a server should not hold a formatter it never runs. createLogger is synchronous,
 * so it is required, not imported.
 */
const requirePretty = (): typeof PinoPrettyModule => createRequire(import.meta.url)('pino-pretty') as typeof PinoPrettyModule;

export type { Logger } from 'pino';

export interface LoggerSetup {
  readonly level?: string;
  /** `json` (production, one object per line) or `pretty` (a person at a terminal). */
  readonly format?: 'json' | 'pretty';
  /** Where lines go (default stdout). */
  readonly destination?: DestinationStream;
}

/**
 * Pretty when a person reads it: `LOG_FORMAT=pretty`, or stdout is a terminal and LOG_FORMAT is
 * not `json`. Collected logs (a pipe, a file, a container) stay JSON.
 */
export function logFormat(env: NodeJS.ProcessEnv = process.env, tty = process.stdout.isTTY === true): 'json' | 'pretty' {
  const asked = env.LOG_FORMAT?.toLowerCase();
  if (asked === 'pretty' || asked === 'json') return asked;
  return tty ? 'pretty' : 'json';
}

export const LOGGER_OPTIONS = {
  base: { service: 'hookrelay' },
  // `"level":"info"`, not `30`: a log collector or a person with grep reads the word. pino turns
  // each level into its JSON once, when the logger is made, so this costs nothing per line.
  formatters: { level: (label: string) => ({ level: label }) },
  // ISO times in both formats: `"time":"2026-11-29T07:21:54.123Z"`.
  timestamp: pino.stdTimeFunctions.isoTime,
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
      '*.password',
    ],
    censor: '[redacted]',
  },
} satisfies LoggerOptions;

/** Structured logs; secrets and credentials are redacted by path wherever they appear. */
export function createLogger(options: LoggerSetup = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const format = options.format ?? logFormat();
  const destination =
    format === 'pretty'
      ? // In-process (no worker thread), synchronous: lines keep their order with the process's own output.
        requirePretty()({
          colorize: options.destination === undefined && process.stdout.isTTY === true,
          // ISO 8601 in UTC, like the JSON lines' time.
          translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
          ignore: 'pid,hostname,service',
          singleLine: false,
          sync: true,
          ...(options.destination ? { destination: options.destination } : {}),
        })
      : options.destination;
  return destination ? pino({ ...LOGGER_OPTIONS, level }, destination) : pino({ ...LOGGER_OPTIONS, level });
}

/**
 * A logger for the lines written per event and per delivery, whose fields are facts the relay
 * chose (ids, names, a title, a status, a latency), never a config, a request's headers or a
 * credential: it writes like `logger` without the redaction by path. Each wildcard path (`*.token`)
 * costs pino about 1.3 µs per line; the seven of them were most of what an accepted event's log
 * line cost (13 µs of 16). Every other line keeps the redaction.
 */
export function factLogger(logger: Logger): Logger {
  return logger.child({}, { redact: [] });
}

/** A title in a log line is cut here (the stored event keeps it whole): lines stay short. */
const LOGGED_TITLE_CHARS = 200;

/** An event's title as log lines carry it: whole up to 200 characters, else cut with "…". */
export function loggedTitle(title: string): string {
  return title.length > LOGGED_TITLE_CHARS ? `${title.slice(0, LOGGED_TITLE_CHARS)}…` : title;
}

/** A logger that writes nothing (tests, CLI commands that print their own output). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
