import { z } from 'zod';
import { destinationConfigSchema } from '../destinations/index.ts';
import { configMuteSchema } from '../mutes/config-mutes.ts';
import { inhibitRuleSchema } from '../notify/inhibit.ts';
import { timeIntervalSchema } from '../notify/time-intervals.ts';
import { routeSchema } from '../routing/routes.ts';
import { sourceConfigSchema } from '../sources/index.ts';
import type { ByteSize } from '../util/byte-size.ts';
import { byteSizeSchema, countSchema, durationSchema, flagSchema, urlSchema } from '../util/schemas.ts';

/** Sender promises we mirror (Tapemetric doc "Retries"): 30s, 2m, 10m, 1h, 6h, 24h. */
export const DEFAULT_RETRY_SCHEDULE = ['30s', '2m', '10m', '1h', '6h', '24h'];

/** The default per-address cap is this fraction of `max_connections` (1024 → 64). */
const PER_ADDRESS_SHARE = 16;

/**
 * The HTTP server's limits, suited to webhooks (small bodies sent in one go): a sender that
 * has not sent its headers within `headers_timeout`, or its whole request within
 * `request_timeout`, gets 408 and is disconnected (a connection that sends nothing at all
 * included); an idle kept-alive connection is closed after `keep_alive_timeout`; connections
 * beyond `max_connections` are refused at once, and so are those of one client beyond
 * `max_connections_per_address` (default a sixteenth of `max_connections`: no fewer than 16
 * clients can fill the server, so one cannot shut the others out).
 */
export const httpSchema = z
  .object({
    request_timeout: durationSchema.prefault('30s'),
    headers_timeout: durationSchema.prefault('10s'),
    // Senders open a connection per webhook or reuse it within seconds; an idle socket held
    // longer only holds a slot (behind a load balancer, set it above the balancer's idle timeout).
    keep_alive_timeout: durationSchema.prefault('5s'),
    max_connections: countSchema(1).default(1024),
    max_connections_per_address: countSchema(1).optional(),
  })
  .strict()
  .superRefine((http, ctx) => {
    for (const key of ['request_timeout', 'headers_timeout', 'keep_alive_timeout'] as const) {
      if (http[key] < 1) ctx.addIssue({ code: 'custom', path: [key], message: 'must be at least 1ms' });
    }
    // Node refuses a header deadline later than the whole request's.
    if (http.headers_timeout > http.request_timeout) {
      ctx.addIssue({ code: 'custom', path: ['headers_timeout'], message: 'may not be longer than request_timeout' });
    }
    if (http.max_connections_per_address !== undefined && http.max_connections_per_address > http.max_connections) {
      ctx.addIssue({ code: 'custom', path: ['max_connections_per_address'], message: `may not be more than max_connections (${http.max_connections})` });
    }
  })
  .transform((http) => ({
    ...http,
    max_connections_per_address: http.max_connections_per_address ?? Math.max(1, Math.floor(http.max_connections / PER_ADDRESS_SHARE)),
  }));

/** Slack ids: users `U…`/`W…` (Enterprise Grid), user groups `S…`, channels `C…`, `G…` (private), `D…` (DMs). */
const slackIds = (initials: string, what: string, example: string) =>
  z.array(z.string().regex(new RegExp(`^[${initials}][A-Z0-9]{2,}$`), `expected a Slack ${what} id such as ${example} (not a name)`)).default([]);

export const slackAppSchema = z
  .object({
    signing_secret: z.string().min(1, 'the signing secret may not be empty'),
    /** Who may run state-changing commands and buttons; without it, everyone (warned at start-up). */
    allow: z
      .object({
        users: slackIds('UW', 'user', 'U024BE7LH'),
        usergroups: slackIds('S', 'user group', 'S0614TZR7'),
        channels: slackIds('CGD', 'channel', 'C2147483705'),
      })
      .strict()
      .optional(),
    /** A bot token (`xoxb-…`) with `usergroups:read`: needed to resolve allow.usergroups. */
    bot_token: z.string().min(1, 'the bot token may not be empty').optional(),
    /** Slack's Web API; overridable for tests. */
    api_url: urlSchema.default('https://slack.com/api/'),
  })
  .strict()
  .superRefine((slackApp, context) => {
    if ((slackApp.allow?.usergroups.length ?? 0) > 0 && !slackApp.bot_token) {
      context.addIssue({
        code: 'custom',
        path: ['bot_token'],
        message: 'required when allow.usergroups is set: group members are read with usergroups.users.list (scope usergroups:read)',
      });
    }
  });

export type SlackAppConfig = z.output<typeof slackAppSchema>;

/**
 * The admin token guards every admin action; failed guesses are throttled per address
 * (src/http/admin-throttle.ts), and a long token makes guessing hopeless even from many
 * addresses (`hookrelay secret` prints 32 random bytes).
 */
export const ADMIN_TOKEN_MIN_LENGTH = 16;

/**
 * `store: <url>`, or `store: { url, min_free }` to set the SQLite store's disk reserve as well
 * (the URL may then come from DATABASE_URL or the data folder, as without `store:`).
 */
export const storeSchema = z.union([
  z.string().min(1),
  z
    .object({
      url: z.string().min(1).optional(),
      /** Free space kept on the SQLite store's volume: new events are refused (503) below it. */
      min_free: byteSizeSchema.optional(),
    })
    .strict(),
]);

export const configSchema = z
  .object({
    /** `sqlite:./data/hookrelay.db` (default) or `postgres://…`; or `{ url, min_free }`. */
    store: storeSchema.optional(),
    sources: z.array(sourceConfigSchema).default([]),
    destinations: z.array(destinationConfigSchema).default([]),
    routes: z.array(routeSchema).default([]),
    /** Named sets of times (Alertmanager's `time_intervals`), for routes' `muted_during` / `active_during`. */
    time_intervals: z.array(timeIntervalSchema).default([]),
    /** Named, read-only mutes (src/mutes/config-mutes.ts), always on or only `during` some time_intervals. */
    mutes: z.array(configMuteSchema).default([]),
    /** Alertmanager-style inhibition, evaluated when a delivery is about to go out (src/notify/inhibit.ts). */
    inhibit: z.array(inhibitRuleSchema).default([]),
    retry: z
      .object({
        schedule: z.array(durationSchema).prefault(DEFAULT_RETRY_SCHEDULE),
        disable_after: countSchema(1).default(6),
      })
      .strict()
      .prefault({}),
    egress: z.object({ allow_private: flagSchema.default(false) }).strict().default({ allow_private: false }),
    slack_app: slackAppSchema.optional(),
    admin: z
      .object({
        /** Guessable tokens are refused: at least ADMIN_TOKEN_MIN_LENGTH characters (`hookrelay secret` makes one). */
        token: z.string().min(ADMIN_TOKEN_MIN_LENGTH, `must be at least ${ADMIN_TOKEN_MIN_LENGTH} characters (use "hookrelay secret" to make one)`),
        /** Where senders reach hookrelay (`https://relay.example.com`): the admin pages' URLs to paste. */
        public_url: urlSchema.optional(),
      })
      .strict()
      .optional(),
    http: httpSchema.prefault({}),
    /** A folder of your own templates, searched before the built-in ones (relative to the config file). */
    templates_dir: z.string().min(1).optional(),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = Omit<z.output<typeof configSchema>, 'store'> & {
  /** The store's URL: `store:` (or `store.url`), else DATABASE_URL, else the data folder's SQLite file. */
  store: string;
  /** `store.min_free`; null: the default (SqliteStore's share of the volume). */
  store_min_free: ByteSize | null;
};
