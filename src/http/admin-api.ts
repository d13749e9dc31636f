import { createHash, timingSafeEqual } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import type { DestinationStatus, Operations } from '../app/index.ts';
import { parseDuration } from '../util/duration.ts';
import { globProblem } from '../routing/glob.ts';
import { ERROR_STATUS, HookrelayError } from '../errors.ts';
import { EVENT_STATUSES, SEVERITIES } from '../events/event.ts';
import { DELIVERY_STATUSES, MAX_EVENT_PAGE } from '../store/store.ts';
import type { EventQuery } from '../store/store.ts';
import { idKind } from '../util/ids.ts';
import { AdminThrottle } from './admin-throttle.ts';
import { parseRequest } from './parse-request.ts';

export interface AdminApiOptions {
  /** No token: the admin API is off (404). */
  readonly token: string | null;
  readonly operations: Operations;
  /** Further routers behind the same auth, by path (`/mutes`). */
  readonly mounts?: ReadonlyArray<readonly [string, Router]>;
  /** The server's clock (`since` given as a duration back from now). */
  readonly now: () => number;
  /** Wrong tokens per client address (shared with the sign-in form); one of its own by default. */
  readonly throttle?: AdminThrottle;
}

/** Every answer, errors included: admin data is never cached, and never sniffed as another type. */
const API_HEADERS = { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' };

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

function tooManyAttempts(response: Response, retryAfterS: number): HookrelayError {
  response.set('Retry-After', String(retryAfterS));
  return new HookrelayError('too_many_attempts', `too many wrong admin tokens from this address: try again in ${retryAfterS} s`);
}

/**
 * `Authorization: Bearer <token>`, compared in constant time (hashing first makes lengths equal).
 * Wrong tokens are counted per client address; over the limit every attempt from that address
 * is 429 before its token is even compared (src/http/admin-throttle.ts says why).
 */
export function bearerAuth(token: string | null, throttle: AdminThrottle | null) {
  const expected = token === null ? null : digest(token);
  return async (request: Request, response: Response, next: NextFunction): Promise<void> => {
    if (expected === null || throttle === null) {
      next(new HookrelayError('admin_disabled', 'the admin API is off: set admin.token (or HOOKRELAY_ADMIN_TOKEN) to turn it on'));
      return;
    }
    const address = request.socket.remoteAddress;
    const blocked = await throttle.blocked(address);
    if (blocked !== null) {
      next(tooManyAttempts(response, blocked));
      return;
    }
    const header = request.get('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!.trim()), expected)) {
      // Only a token that was sent and is wrong is a guess; a missing header is not counted.
      const over = match ? await throttle.failed(address) : null;
      if (over !== null) {
        next(tooManyAttempts(response, over));
        return;
      }
      response.set('WWW-Authenticate', 'Bearer realm="hookrelay"');
      next(new HookrelayError('unauthorized', match ? 'the admin token is wrong' : 'send Authorization: Bearer <admin token>'));
      return;
    }
    next();
  };
}

const deliveryQuery = z
  .object({
    destination: z.string().min(1).optional(),
    status: z.enum(DELIVERY_STATUSES).optional(),
    event_id: z.string().min(1).optional(),
    before: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(1_000).default(50),
  })
  .strict();

/** `refused`, an accepted outcome, or one refusal code (`signature_mismatch`, …). */
const REQUEST_OUTCOMES = ['refused', 'accepted', 'duplicate', 'answered', ...(Object.keys(ERROR_STATUS) as Array<keyof typeof ERROR_STATUS>)] as const;

const requestQuery = z
  .object({
    source: z.string().min(1).max(100).optional(),
    outcome: z.enum(REQUEST_OUTCOMES, { error: `must be one of ${REQUEST_OUTCOMES.join(', ')}` }).optional(),
    before: z.string().min(1).optional(),
    limit: z.coerce.number().int().min(1).max(1_000).default(100),
  })
  .strict();

const TIME_HINT = 'an ISO time (2026-01-01T00:00:00Z) or a duration back from now (2h)';

/** The event explorer's search: every filter optional; `since`/`until` as in replay-failed. */
const eventQuery = z
  .object({
    q: z.string().max(200).optional(),
    source: z.string().min(1).max(100).optional(),
    type: z
      .string()
      .min(1)
      .superRefine((glob, context) => {
        const problem = globProblem(glob);
        if (problem !== null) context.addIssue({ code: 'custom', message: problem });
      })
      .optional(),
    severity: z.enum(SEVERITIES, { error: `must be one of ${SEVERITIES.join(', ')}` }).optional(),
    status: z.enum(EVENT_STATUSES, { error: `must be one of ${EVENT_STATUSES.join(', ')}` }).optional(),
    since: z.string().min(1, `give ${TIME_HINT}`).optional(),
    until: z.string().min(1, `give ${TIME_HINT}`).optional(),
    before: z.string().regex(/^evt_[0-9A-Z]{26}$/, 'must be an event id (evt_…)').optional(),
    limit: z.coerce.number().int().min(1).max(MAX_EVENT_PAGE).default(50),
  })
  .strict();

/** The validated search as the store takes it; times relative to `now`. */
export function eventSearch(input: unknown, now: number): EventQuery {
  const { since, until, ...rest } = parseRequest(eventQuery, input, 'query parameter');
  const query: EventQuery = {
    ...rest,
    ...(since === undefined ? {} : { since: sinceMs(since, now, 'since') }),
    ...(until === undefined ? {} : { until: sinceMs(until, now, 'until') }),
  };
  if (query.since !== undefined && query.until !== undefined && query.until <= query.since) {
    throw new HookrelayError('invalid_request', 'until: must be later than since');
  }
  return query;
}

/** `since`: an ISO time, or a duration back from now (`"2h"`). */
const replayFailedBody = z
  .object({
    since: z.string().min(1, 'give a time (2026-01-01T00:00:00Z) or a duration back from now (2h)'),
  })
  .strict();

function sinceMs(text: string, now: number, name = 'since'): number {
  const back = parseDuration(text);
  if (back !== null) return now - back;
  const parsed = z.iso.datetime({ offset: true }).safeParse(text);
  if (!parsed.success) throw new HookrelayError('invalid_request', `${name}: "${text}" is neither an ISO time (2026-01-01T00:00:00Z) nor a duration (2h)`);
  return Date.parse(text);
}

function describe(state: DestinationStatus) {
  return {
    name: state.name,
    type: state.type,
    enabled: state.enabled,
    consecutive_failures: state.consecutive_failures,
    pending: state.pending,
    disabled_at: state.disabled_at,
    disabled_reason: state.disabled_reason,
    last_error: state.last_error,
    last_success_at: state.last_success_at,
    ...(state.fallback === undefined ? {} : { fallback: state.fallback }),
  };
}

/** The admin API (DESIGN.md "Admin API"): each call is one of the shared operations (src/app). */
export function adminApi(options: AdminApiOptions): Router {
  const { operations } = options;
  const { now } = options;
  const router = express.Router();
  router.use((_request, response, next) => {
    response.set(API_HEADERS);
    next();
  });
  router.use(bearerAuth(options.token, options.throttle ?? (options.token === null ? null : new AdminThrottle())));
  router.use(express.json({ limit: '64kb' }));

  router.get('/destinations', async (_request, response) => {
    response.json({ destinations: (await operations.destinationStates()).map(describe) });
  });

  router.post('/destinations/:name/enable', async (request, response) => {
    const { name } = request.params as { name: string };
    response.json(describe(await operations.enable(name)));
  });

  router.post('/destinations/:name/test', async (request, response) => {
    const { name } = request.params as { name: string };
    response.json(await operations.test(name));
  });

  router.post('/destinations/:name/replay-failed', async (request, response) => {
    const { name } = request.params as { name: string };
    operations.destination(name);
    const body = parseRequest(replayFailedBody, request.body ?? {}, 'field');
    const result = await operations.replayFailedSince(name, sinceMs(body.since, now()));
    response.status(202).json({ destination: result.destination, since: result.since, replayed: result.replays.length, deliveries: result.replays });
  });

  router.post('/secrets', (_request, response) => {
    // Shown once: nothing keeps it, and no cache may either.
    response.set('Cache-Control', 'no-store').status(201).json({ secret: operations.generateSecret() });
  });

  for (const [path, mounted] of options.mounts ?? []) router.use(path, mounted);

  router.get('/deliveries', async (request, response) => {
    const query = parseRequest(deliveryQuery, request.query, 'query parameter');
    response.json({ deliveries: await operations.deliveries(query) });
  });

  router.get('/deliveries/:id', async (request, response) => {
    const { id } = request.params as { id: string };
    response.json(await operations.delivery(id));
  });

  router.post('/deliveries/:id/replay', async (request, response) => {
    const { id } = request.params as { id: string };
    if (idKind(id) === 'evt') throw new HookrelayError('not_found', `no delivery ${id} (to replay an event: POST /api/v1/events/${id}/replay)`);
    const [replay] = await operations.replay(id);
    response.status(202).json(replay);
  });

  router.get('/events', async (request, response) => {
    const query = eventSearch(request.query, now());
    const events = await operations.searchEvents(query);
    // A full page may have more behind it: the next page starts before its last event.
    response.json({ events, next_before: events.length === query.limit ? events.at(-1)!.id : null });
  });

  router.get('/events/:id', async (request, response) => {
    const { id } = request.params as { id: string };
    response.json(await operations.eventTrail(id));
  });

  router.post('/events/:id/replay', async (request, response) => {
    const { id } = request.params as { id: string };
    if (idKind(id) !== 'evt') throw new HookrelayError('not_found', `no event ${id}`);
    response.status(202).json({ deliveries: await operations.replay(id) });
  });

  router.get('/requests', async (request, response) => {
    const query = parseRequest(requestQuery, request.query, 'query parameter');
    response.json({ requests: await operations.requests(query) });
  });

  router.use((request, _response, next) => {
    next(new HookrelayError('not_found', `no admin API route ${request.method} ${request.path}`));
  });
  return router;
}
