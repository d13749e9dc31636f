import { z } from 'zod';
import { destinationConfigSchema } from '../destinations/index.ts';
import { routeSchema } from '../routing/routes.ts';
import { sourceConfigSchema } from '../sources/index.ts';
import { countSchema, durationSchema, flagSchema, urlSchema } from './common.ts';

/** Sender promises we mirror (Tapemetric doc "Retries"): 30s, 2m, 10m, 1h, 6h, 24h. */
export const DEFAULT_RETRY_SCHEDULE = ['30s', '2m', '10m', '1h', '6h', '24h'];

export const configSchema = z
  .object({
    /** `sqlite:./data/hookrelay.db` (default) or `postgres://…`. */
    store: z.string().min(1).optional(),
    sources: z.array(sourceConfigSchema).default([]),
    destinations: z.array(destinationConfigSchema).default([]),
    routes: z.array(routeSchema).default([]),
    retry: z
      .object({
        schedule: z.array(durationSchema).prefault(DEFAULT_RETRY_SCHEDULE),
        disable_after: countSchema(1).default(6),
      })
      .strict()
      .prefault({}),
    egress: z.object({ allow_private: flagSchema.default(false) }).strict().default({ allow_private: false }),
    slack_app: z.object({ signing_secret: z.string().min(1, 'the signing secret may not be empty') }).strict().optional(),
    admin: z
      .object({
        token: z.string().min(1, 'the admin token may not be empty'),
        /** Where senders reach hookrelay (`https://relay.example.com`): the admin pages' URLs to paste. */
        public_url: urlSchema.optional(),
      })
      .strict()
      .optional(),
    /** A folder of your own templates, searched before the built-in ones (relative to the config file). */
    templates_dir: z.string().min(1).optional(),
  })
  .strict();

export type ConfigInput = z.input<typeof configSchema>;
export type Config = z.output<typeof configSchema> & { store: string };
