import { createHash, timingSafeEqual } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import { z } from 'zod';
import { HookrelayError } from '../errors.ts';
import type { Destination } from '../destinations/destination.ts';
import type { Dispatcher } from '../dispatch/dispatcher.ts';
import { DELIVERY_STATUSES } from '../store/store.ts';
import type { DestinationState, Store } from '../store/store.ts';
import { testSend } from '../dispatch/test-send.ts';
import { parseRequest } from './parse-request.ts';
import { newId } from '../util/ids.ts';

export interface AdminApiOptions {
  /** No token: the admin API is off (404). */
  readonly token: string | null;
  readonly store: Store;
  readonly dispatcher: Dispatcher;
  readonly destinations: readonly Destination[];
  readonly version: string;
  /** Further routers behind the same auth, by path (`/mutes`). */
  readonly mounts?: ReadonlyArray<readonly [string, Router]>;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** `Authorization: Bearer <token>`, compared in constant time (hashing first makes lengths equal). */
export function bearerAuth(token: string | null) {
  const expected = token === null ? null : digest(token);
  return (request: Request, response: Response, next: NextFunction): void => {
    if (expected === null) {
      next(new HookrelayError('admin_disabled', 'the admin API is off: set admin.token (or HOOKRELAY_ADMIN_TOKEN) to turn it on'));
      return;
    }
    const header = request.get('authorization') ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match || !timingSafeEqual(digest(match[1]!.trim()), expected)) {
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


/** The admin API (DESIGN.md "Admin API"). Later capabilities mount their routes on the returned router. */
export function adminApi(options: AdminApiOptions): Router {
  const { store, dispatcher } = options;
  const configured = new Map(options.destinations.map((destination) => [destination.name, destination]));
  const router = express.Router();
  router.use(bearerAuth(options.token));
  router.use(express.json({ limit: '64kb' }));

  const describe = (state: DestinationState) => ({
    name: state.name,
    type: configured.get(state.name)?.type ?? null,
    enabled: state.enabled,
    consecutive_failures: state.consecutive_failures,
    pending: state.pending,
    disabled_at: state.disabled_at,
    disabled_reason: state.disabled_reason,
    last_error: state.last_error,
    last_success_at: state.last_success_at,
  });

  router.get('/destinations', async (_request, response) => {
    const states = await store.destinationStates();
    response.json({ destinations: states.filter((state) => configured.has(state.name)).map(describe) });
  });

  router.post('/destinations/:name/enable', async (request, response) => {
    const { name } = request.params as { name: string };
    if (!configured.has(name)) throw new HookrelayError('not_found', `no destination is named "${name}"`);
    const state = await store.enableDestination(name, Date.now());
    if (!state) throw new HookrelayError('not_found', `no destination is named "${name}"`);
    dispatcher.enabled(name);
    response.json(describe(state));
  });

  router.post('/destinations/:name/test', async (request, response) => {
    const { name } = request.params as { name: string };
    const destination = configured.get(name);
    if (!destination) throw new HookrelayError('not_found', `no destination is named "${name}"`);
    response.json(await testSend(destination, options.version));
  });

  for (const [path, mounted] of options.mounts ?? []) router.use(path, mounted);

  router.get('/deliveries', async (request, response) => {
    const query = parseRequest(deliveryQuery, request.query, 'query parameter');
    if (query.destination !== undefined && !configured.has(query.destination)) {
      throw new HookrelayError('not_found', `no destination is named "${query.destination}"`);
    }
    const deliveries = await store.listDeliveries(query);
    response.json({ deliveries });
  });

  router.get('/deliveries/:id', async (request, response) => {
    const { id } = request.params as { id: string };
    const delivery = await store.getDelivery(id);
    if (!delivery) throw new HookrelayError('not_found', `no delivery ${id}`);
    response.json(delivery);
  });

  router.post('/deliveries/:id/replay', async (request, response) => {
    const { id } = request.params as { id: string };
    const original = await store.getDelivery(id);
    if (!original) throw new HookrelayError('not_found', `no delivery ${id}`);
    if (original.destination !== null && !configured.has(original.destination)) {
      throw new HookrelayError('conflict', `destination "${original.destination}" is no longer configured`);
    }
    const replay = await store.replayDelivery(id, newId('dlv'), Date.now());
    if (!replay) throw new HookrelayError('not_found', `no delivery ${id}`);
    if (replay.destination) dispatcher.notify([replay.destination]);
    response.status(202).json(replay);
  });

  router.get('/events/:id', async (request, response) => {
    const { id } = request.params as { id: string };
    const stored = await store.getEvent(id);
    if (!stored) throw new HookrelayError('not_found', `no event ${id}`);
    response.json(stored);
  });

  router.use((request, _response, next) => {
    next(new HookrelayError('not_found', `no admin API route ${request.method} ${request.path}`));
  });
  return router;
}
