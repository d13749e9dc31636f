import express from 'express';
import type { Router } from 'express';
import { z } from 'zod';
import type { Operations } from '../app/index.ts';
import { durationSchema } from '../util/schemas.ts';
import { parseRequest } from './parse-request.ts';
import { HookrelayError } from '../errors.ts';

const newMuteSchema = z
  .object({
    /** `{ "type": "qos.*", "data.region": "Maharashtra" }` */
    matchers: z.record(z.string(), z.string()),
    /** `"2h"`, or `expires_at` instead. */
    duration: durationSchema.optional(),
    expires_at: z.iso.datetime({ offset: true }).optional(),
    reason: z.string().max(500).default(''),
    created_by: z.string().min(1).max(200).default('admin-api'),
  })
  .strict()
  .refine((body) => (body.duration === undefined) !== (body.expires_at === undefined), {
    message: 'give either duration (e.g. "2h") or expires_at',
  });

/** `GET/POST/DELETE /api/v1/mutes` (mount behind the admin API's bearer auth). */
export function mutesApi(options: { operations: Operations; now: () => number }): Router {
  const { operations, now } = options;
  const router = express.Router();

  router.get('/', async (request, response) => {
    const all = request.query.all === '1' || request.query.all === 'true';
    response.json({ mutes: all ? await operations.allMutes() : operations.activeMutes() });
  });

  router.post('/', async (request, response) => {
    const body = parseRequest(newMuteSchema, request.body ?? {}, 'field');
    const duration = body.duration ?? Date.parse(body.expires_at as string) - now();
    const mute = await operations.mute({ matchers: body.matchers, duration_ms: duration, reason: body.reason, by: body.created_by });
    response.status(201).json(mute);
  });

  router.delete('/:id', async (request, response) => {
    const { id } = request.params as { id: string };
    const mute = await operations.unmute(id);
    if (!mute) throw new HookrelayError('not_found', `no active mute ${id}`);
    response.json(mute);
  });

  return router;
}
