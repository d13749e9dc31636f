import { z } from 'zod';
import { destinationConfigSchema } from '../destinations/index.ts';
import { inhibitRuleSchema } from '../notify/inhibit.ts';
import { routeSchema } from '../routing/routes.ts';
import { sourceConfigSchema } from '../sources/index.ts';
import type { ByteSize } from './byte-size.ts';
import { byteSizeSchema, countSchema, durationSchema, flagSchema, urlSchema } from './common.ts';

/** Sender promises we mirror (Tapemetric doc "Retries"): 30s, 2m, 10m, 1h, 6h, 24h. */
export const DEFAULT_RETRY_SCHEDULE = ['30s', '2m', '10m', '1h', '6h', '24h'];

/**
 * The HTTP server's limits, suited to webhooks (small bodies sent in one go): a sender that
 * has not sent its headers within `headers_timeout`, or its whole request within
 * `request_timeout`, gets 408 and is disconnected; an idle kept-alive connection is closed
 * after `keep_alive_timeout` (above a load balancer's own idle timeout: 60 s on AWS ALB);
 * connections beyond `max_connections` are refused at once.
 */
export const httpSchema = z
  .object({
    request_timeout: durationSchema.prefault('30s'),
    headers_timeout: durationSchema.prefault('10s'),
    keep_alive_timeout: durationSchema.prefault('65s'),
    max_connections: countSchema(1).default(1024),
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
  });

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
        token: z.string().min(1, 'the admin token may not be empty'),
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
