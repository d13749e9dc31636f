import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import express from 'express';
import type { ErrorRequestHandler, NextFunction, Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { parseDuration } from '../util/duration.ts';
import { formatDuration } from '../util/format.ts';
import type { Operations } from '../app/index.ts';
import { HookrelayError } from '../errors.ts';
import { EVENT_STATUSES, SEVERITIES } from '../events/event.ts';
import { eventSearch } from '../http/admin-api.ts';
import { AdminThrottle } from '../http/admin-throttle.ts';
import { DELIVERY_STATUSES } from '../store/store.ts';
import type { DeliveryRecord, DeliveryStatus, RequestQuery } from '../store/store.ts';
import { idKind } from '../util/ids.ts';
import { deliveryChart } from './delivery-chart.ts';
import { AdminSessions, sameSecret } from './sessions.ts';
import type { AdminSession, Flash } from './sessions.ts';
import { publicBaseUrl, sourceListings } from './source-urls.ts';
import { createViews, VIEWS_DIR } from './views.ts';
import type { PageFrame } from './views.ts';

export interface AdminPagesOptions {
  /** No token: the pages are off and say how to turn them on. */
  readonly token: string | null;
  /** Where senders reach this server (`https://relay.example.com`); else taken from the request. */
  readonly publicUrl: string | null;
  readonly config: Config;
  /** The operations every front end shares (src/app): the pages gather form fields and show results. */
  readonly operations: Operations;
  readonly logger: Logger;
  /** The server's clock: sessions' expiry, `since` windows. */
  readonly now: () => number;
  /** How long a sign-in lasts (default 12 h). */
  readonly sessionTtlMs?: number;
  /** Wrong tokens per client address (shared with the admin API); one of its own by default. */
  readonly throttle?: AdminThrottle;
}

export const SESSION_COOKIE = 'hookrelay_admin';
const COOKIE_PATH = '/admin';
const DAY_MS = 86_400_000;
/** The destination page lists this many deliveries (the log keeps at least 200 per destination). */
const LISTED_DELIVERIES = 200;
/** The requests page shows at most this many of the last 24 h (the requests log is bounded too). */
const LISTED_REQUESTS = 500;
/** The requests page's filter: every refusal, or one outcome. */
const REQUEST_FILTERS = ['refused', 'accepted', 'duplicate', 'answered'] as const;
/** The chart reads at most this many deliveries of the last 24 h. */
const CHARTED_DELIVERIES = 20_000;
/** Pages stay text-sized: bodies longer than this are cut in the page (the API has them whole). */
const SHOWN_BODY_CHARS = 64 * 1024;

/** The events page lists this many a page. */
const LISTED_EVENTS = 50;
/** The search form's fields, in the order of its query string. */
const EVENT_FIELDS = ['q', 'source', 'type', 'severity', 'status', 'since', 'until'] as const;

/** Strict by default: no script at all, styles only from our own sheet, no framing. */
const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

interface AdminRequest extends Request {
  adminSession?: AdminSession;
}

function cookieValue(request: Request, name: string): string | undefined {
  for (const part of (request.get('cookie') ?? '').split(';')) {
    const index = part.indexOf('=');
    if (index > 0 && part.slice(0, index).trim() === name) return part.slice(index + 1).trim();
  }
  return undefined;
}

/** Secure when the page was reached over https, directly or through a TLS-terminating proxy. */
function overHttps(request: Request, publicUrl: string | null): boolean {
  return request.secure || request.get('x-forwarded-proto')?.split(',')[0]?.trim() === 'https' || (publicUrl?.startsWith('https:') ?? false);
}

const field = (request: Request, name: string): string => {
  const value = (request.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
};

const prettyBody = (body: string | null): string | null => {
  if (body === null) return null;
  let shown = body;
  try {
    shown = JSON.stringify(JSON.parse(body), null, 2);
  } catch {
    // not JSON: shown as sent
  }
  return shown.length > SHOWN_BODY_CHARS ? `${shown.slice(0, SHOWN_BODY_CHARS)}\n… (${shown.length - SHOWN_BODY_CHARS} more characters)` : shown;
};

/** `2026-11-29T07:00` from a datetime-local field is UTC here (the page says so); a zone may be given. */
export function parseSince(text: string): number | null {
  const trimmed = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/.test(trimmed)) return null;
  const ms = Date.parse(/(Z|[+-]\d{2}:\d{2})$/.test(trimmed) ? trimmed : `${trimmed}Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** `field=glob` per line (or separated by spaces), as in `/hookrelay mute`. */
export function parseMatchers(text: string): Record<string, string> {
  const matchers: Record<string, string> = {};
  for (const item of text.split(/\s+/).filter(Boolean)) {
    const index = item.indexOf('=');
    if (index <= 0) throw new HookrelayError('invalid_request', `"${item}" is not field=glob (e.g. type=qos.*)`);
    matchers[item.slice(0, index)] = item.slice(index + 1);
  }
  return matchers;
}

/** The admin pages at `/admin` (DESIGN.md "Admin pages"): server-rendered, readable without JS. */
export function adminPages(options: AdminPagesOptions): Router {
  const { operations, logger } = options;
  const { now } = options;
  const render = createViews();
  const stylesheet = readFileSync(join(VIEWS_DIR, 'admin.css'), 'utf8');
  const sessions = new AdminSessions({ ttlMs: options.sessionTtlMs ?? DAY_MS / 2, max: 1_000, now });
  const router = express.Router();

  const page = (response: Response, status: number, view: string, frame: PageFrame, data?: Record<string, unknown>): void => {
    response.status(status).type('html').send(render(view, frame, data));
  };
  /** A page of a signed-in session: its CSRF token goes into every form, its flash is shown once. */
  const sessionPage = (request: AdminRequest, response: Response, view: string, frame: PageFrame, data?: Record<string, unknown>, status = 200): void => {
    const session = request.adminSession!;
    const flash = session.flash;
    session.flash = null;
    page(response, status, view, { ...frame, csrf: session.csrf, flash: frame.flash ?? flash }, data);
  };
  /** Post/Redirect/Get: the outcome is shown on the next page. */
  const redirect = (request: AdminRequest, response: Response, to: string, flash: Flash): void => {
    request.adminSession!.flash = flash;
    response.redirect(303, to);
  };

  router.use((_request, response, next) => {
    response.set(SECURITY_HEADERS);
    next();
  });
  router.get('/assets/admin.css', (_request, response) => {
    response.set('Cache-Control', 'public, max-age=300').type('css').send(stylesheet);
  });

  if (options.token === null) {
    router.use((_request, response) => page(response, 404, 'off', { title: 'Admin pages are off' }));
    return router;
  }
  const token = options.token;

  router.use(express.urlencoded({ extended: false, limit: '32kb', parameterLimit: 50 }));

  router.get('/sign-in', (request, response) => {
    if (sessions.get(cookieValue(request, SESSION_COOKIE))) {
      response.redirect(303, '/admin');
      return;
    }
    page(response, 200, 'sign-in', { title: 'Sign in' });
  });

  const throttle = options.throttle ?? new AdminThrottle({ logger });
  /** 429: the form again, saying why and for how long (the token is not even compared meanwhile). */
  const tooManyAttempts = (response: Response, retryAfterS: number): void => {
    response.set('Retry-After', String(retryAfterS));
    page(response, 429, 'sign-in', {
      title: 'Sign in',
      flash: { kind: 'error', text: `Too many wrong admin tokens from your address. Sign-in is paused: try again in ${formatDuration(retryAfterS * 1_000)}.` },
    });
  };

  router.post('/sign-in', async (request, response) => {
    const address = request.socket.remoteAddress;
    const blocked = await throttle.blocked(address);
    if (blocked !== null) {
      tooManyAttempts(response, blocked);
      return;
    }
    const given = field(request, 'token');
    if (!given || !sameSecret(given, token)) {
      logger.warn({ ip: request.ip }, 'admin sign-in refused: wrong token');
      // An empty form is not a guess; a wrong token is counted against the address.
      const over = given ? await throttle.failed(address) : null;
      if (over !== null) {
        tooManyAttempts(response, over);
        return;
      }
      page(response, 401, 'sign-in', { title: 'Sign in', flash: { kind: 'error', text: given ? 'That is not the admin token.' : 'Enter the admin token.' } });
      return;
    }
    const session = sessions.create();
    response.cookie(SESSION_COOKIE, session.id, {
      httpOnly: true,
      sameSite: 'strict',
      secure: overHttps(request, options.publicUrl),
      path: COOKIE_PATH,
      maxAge: sessions.ttlMs,
    });
    response.redirect(303, '/admin');
  });

  // Everything below needs a session; every POST also needs the session's CSRF token.
  router.use((request: AdminRequest, response: Response, next: NextFunction) => {
    const session = sessions.get(cookieValue(request, SESSION_COOKIE));
    if (!session) {
      if (request.method === 'GET' || request.method === 'HEAD') response.redirect(303, '/admin/sign-in');
      else page(response, 401, 'error', { title: 'Signed out' }, { message: 'Your session has ended: sign in again.' });
      return;
    }
    if (request.method === 'POST' && !sameSecret(field(request, '_csrf'), session.csrf)) {
      logger.warn({ ip: request.ip, path: request.path }, 'admin form refused: missing or wrong CSRF token');
      page(response, 403, 'error', { title: 'Refused' }, { message: 'This form is out of date or did not come from these pages (CSRF token missing or wrong). Reload the page and try again.' });
      return;
    }
    request.adminSession = session;
    next();
  });

  router.post('/sign-out', (request: AdminRequest, response) => {
    sessions.delete(request.adminSession!.id);
    response.clearCookie(SESSION_COOKIE, { path: COOKIE_PATH, httpOnly: true, sameSite: 'strict', secure: overHttps(request, options.publicUrl) });
    page(response, 200, 'sign-in', { title: 'Sign in', flash: { kind: 'ok', text: 'Signed out.' } });
  });

  router.get('/', async (request: AdminRequest, response) => {
    sessionPage(request, response, 'overview', { title: 'Overview', section: 'overview' }, {
      sources: sourceListings(options.config, publicBaseUrl(request, options.publicUrl)),
      destinations: await operations.destinationStates(),
      mutes: operations.activeMutes(),
    });
  });

  const destinationPage = async (request: AdminRequest, response: Response, name: string, extra: Record<string, unknown> = {}, status = 200) => {
    const destination = operations.destination(name);
    const filter = typeof request.query.status === 'string' && request.query.status !== '' ? request.query.status : null;
    if (filter !== null && !(DELIVERY_STATUSES as readonly string[]).includes(filter)) {
      throw new HookrelayError('invalid_request', `"${filter}" is not a delivery status (${DELIVERY_STATUSES.join(', ')})`);
    }
    const at = now();
    const state = (await operations.destinationStates()).find((candidate) => candidate.name === name) ?? null;
    const recent = await operations.deliveries({ destination: name, limit: CHARTED_DELIVERIES });
    const chart = deliveryChart(recent.filter((delivery) => Date.parse(delivery.created_at) > at - DAY_MS), at);
    const listed =
      filter === null
        ? recent.slice(0, LISTED_DELIVERIES)
        : await operations.deliveries({ destination: name, status: filter as DeliveryStatus, limit: LISTED_DELIVERIES });
    const types = await eventTypes(operations, listed);
    sessionPage(request, response, 'destination', { title: `Destination ${name}`, section: 'overview' }, {
      destination: { name, type: destination.type, fallback: destination.fallback ?? null },
      state,
      chart: chart.svg,
      summary: chart.summary,
      statuses: DELIVERY_STATUSES.map((value) => ({ value, selected: value === filter })),
      filter,
      deliveries: listed.map((delivery) => ({ ...delivery, event_type: types.get(delivery.event_id) ?? '–' })),
      since_default: new Date(at - DAY_MS).toISOString().slice(0, 19),
      ...extra,
    }, status);
  };

  router.get('/destinations/:name', async (request: AdminRequest, response) => {
    await destinationPage(request, response, (request.params as { name: string }).name);
  });

  router.post('/destinations/:name/enable', async (request: AdminRequest, response) => {
    const { name } = request.params as { name: string };
    operations.destination(name);
    await operations.enable(name);
    redirect(request, response, `/admin/destinations/${encodeURIComponent(name)}`, { kind: 'ok', text: `${name} is enabled again; its pending deliveries go out now.` });
  });

  router.post('/destinations/:name/test', async (request: AdminRequest, response) => {
    const { name } = request.params as { name: string };
    operations.destination(name);
    const result = await operations.test(name);
    await destinationPage(request, response, name, {
      test: { ...result, request_body: prettyBody(result.request_body), response: { ...result.response, body: prettyBody(result.response.body) } },
    });
  });

  router.post('/destinations/:name/replay-failed', async (request: AdminRequest, response) => {
    const { name } = request.params as { name: string };
    operations.destination(name);
    const since = parseSince(field(request, 'since'));
    if (since === null) throw new HookrelayError('invalid_request', 'give the time to replay from as 2026-01-31T14:00 (UTC)');
    const { replays } = await operations.replayFailedSince(name, since);
    redirect(request, response, `/admin/destinations/${encodeURIComponent(name)}`, {
      kind: 'ok',
      text: replays.length === 0
        ? `No failed deliveries since ${new Date(since).toISOString()} to replay.`
        : `Replaying ${replays.length} failed ${replays.length === 1 ? 'delivery' : 'deliveries'} since ${new Date(since).toISOString()}.`,
    });
  });

  router.get('/deliveries/:id', async (request: AdminRequest, response) => {
    const { id } = request.params as { id: string };
    const delivery = await operations.delivery(id);
    const stored = await operations.event(delivery.event_id).catch(() => null);
    sessionPage(request, response, 'delivery', { title: `Delivery ${id}`, section: 'overview' }, {
      delivery: { ...delivery, request_body: prettyBody(delivery.request_body), response_body: prettyBody(delivery.response_body) },
      event: stored?.event ?? null,
      attempts: delivery.attempt_log.map((attempt) => ({ ...attempt, response_body: prettyBody(attempt.response_body) })),
    });
  });

  router.post('/deliveries/:id/replay', async (request: AdminRequest, response) => {
    const { id } = request.params as { id: string };
    const [replay] = await operations.replay(id);
    if (!replay) throw new HookrelayError('not_found', `no delivery ${id}`);
    redirect(request, response, `/admin/deliveries/${encodeURIComponent(replay.id)}`, { kind: 'ok', text: `Replaying ${id} as ${replay.id}.` });
  });

  router.get('/requests', async (request: AdminRequest, response) => {
    const outcome = typeof request.query.outcome === 'string' && request.query.outcome !== '' ? request.query.outcome : null;
    if (outcome !== null && !(REQUEST_FILTERS as readonly string[]).includes(outcome)) {
      throw new HookrelayError('invalid_request', `"${outcome}" is not one of ${REQUEST_FILTERS.join(', ')}`);
    }
    const source = typeof request.query.source === 'string' && request.query.source !== '' ? request.query.source.slice(0, 100) : null;
    const since = now() - DAY_MS;
    const requests = (
      await operations.requests({
        limit: LISTED_REQUESTS,
        ...(outcome === null ? {} : { outcome: outcome as RequestQuery['outcome'] }),
        ...(source === null ? {} : { source }),
      })
    ).filter((entry) => Date.parse(entry.received_at) > since);
    sessionPage(request, response, 'requests', { title: 'Requests', section: 'requests' }, {
      requests,
      source,
      outcomes: REQUEST_FILTERS.map((value) => ({ value, selected: value === outcome })),
      sources: options.config.sources.map((configured) => ({ name: configured.name, selected: configured.name === source })),
      limit: LISTED_REQUESTS,
    });
  });

  router.get('/events', async (request: AdminRequest, response) => {
    const form: Record<string, string> = {};
    for (const name of EVENT_FIELDS) {
      const value = request.query[name];
      if (typeof value === 'string' && value.trim() !== '') form[name] = value.trim();
    }
    const before = typeof request.query.before === 'string' && request.query.before !== '' ? request.query.before : null;
    const pageUrl = (from: string | null): string => `/admin/events?${new URLSearchParams({ ...form, ...(from === null ? {} : { before: from }) }).toString()}`;
    let events: Awaited<ReturnType<Operations['searchEvents']>> = [];
    let flash: Flash | null = null;
    let status = 200;
    try {
      events = await operations.searchEvents(eventSearch({ ...form, ...(before === null ? {} : { before }), limit: String(LISTED_EVENTS) }, now()));
    } catch (error) {
      // A search that cannot run comes back to the form with what was typed, saying why.
      if (!(error instanceof HookrelayError) || error.code !== 'invalid_request') throw error;
      flash = { kind: 'error', text: error.message };
      status = 400;
    }
    sessionPage(request, response, 'events', { title: 'Events', section: 'events', flash }, {
      form,
      events: events.map((event) => ({
        ...event,
        outcomes: DELIVERY_STATUSES.flatMap((value) => (event.deliveries[value] ? [{ status: value, count: event.deliveries[value] }] : [])),
      })),
      sources: options.config.sources.map((configured) => ({ name: configured.name, selected: configured.name === form.source })),
      severities: SEVERITIES.map((value) => ({ value, selected: value === form.severity })),
      statuses: EVENT_STATUSES.map((value) => ({ value, selected: value === form.status })),
      paged: before !== null,
      first_page: pageUrl(null),
      next_page: events.length === LISTED_EVENTS ? pageUrl(events.at(-1)!.id) : null,
    }, status);
  });

  router.get('/events/:id', async (request: AdminRequest, response) => {
    const { id } = request.params as { id: string };
    const trail = await operations.eventTrail(id);
    sessionPage(request, response, 'event', { title: `Event ${trail.event.title}`, section: 'events' }, {
      event: trail.event,
      headers: Object.entries(trail.raw.headers).map(([name, value]) => ({ name, value })),
      raw_body: prettyBody(trail.raw.body),
      data: prettyBody(JSON.stringify(trail.event.data)),
      deliveries: trail.deliveries,
      replayable: trail.deliveries.some((delivery) => delivery.destination !== null),
    });
  });

  router.post('/events/:id/replay', async (request: AdminRequest, response) => {
    const { id } = request.params as { id: string };
    if (idKind(id) !== 'evt') throw new HookrelayError('not_found', `no event ${id}`);
    const replays = await operations.replay(id);
    redirect(request, response, `/admin/events/${encodeURIComponent(id)}`, {
      kind: 'ok',
      text: `Replaying to ${replays.map((replay) => replay.destination).join(', ')}: ${replays.map((replay) => replay.id).join(', ')}.`,
    });
  });

  const mutesPage = (request: AdminRequest, response: Response, form: Record<string, string> = {}, flash: Flash | null = null, status = 200) => {
    sessionPage(request, response, 'mutes', { title: 'Mutes', section: 'mutes', flash }, { mutes: operations.activeMutes(), form }, status);
  };
  router.get('/mutes', (request: AdminRequest, response) => mutesPage(request, response, { duration: '1h' }));
  router.post('/mutes', async (request: AdminRequest, response) => {
    const form = { matchers: field(request, 'matchers'), duration: field(request, 'duration'), reason: field(request, 'reason') };
    try {
      const matchers = parseMatchers(form.matchers);
      const duration = parseDuration(form.duration.trim());
      if (duration === null) throw new HookrelayError('invalid_request', `"${form.duration}" is not a duration (use 30m, 2h, 1d)`);
      if (form.reason.length > 500) throw new HookrelayError('invalid_request', 'the reason is longer than 500 characters');
      const mute = await operations.mute({ matchers, duration_ms: duration, reason: form.reason.trim(), by: 'admin pages' });
      redirect(request, response, '/admin/mutes', { kind: 'ok', text: `Mute ${mute.id} is on until ${mute.expires_at}.` });
    } catch (error) {
      // A refused mute comes back to the form with what was typed, so it can be corrected.
      if (!(error instanceof HookrelayError) || error.code !== 'invalid_request') throw error;
      mutesPage(request, response, form, { kind: 'error', text: error.message }, 400);
    }
  });
  router.post('/mutes/:id/delete', async (request: AdminRequest, response) => {
    const { id } = request.params as { id: string };
    const mute = await operations.unmute(id);
    if (!mute) throw new HookrelayError('not_found', `no active mute ${id}`);
    redirect(request, response, '/admin/mutes', { kind: 'ok', text: `Mute ${id} ended.` });
  });

  router.get('/secrets', (request: AdminRequest, response) => sessionPage(request, response, 'secrets', { title: 'Secrets', section: 'secrets' }, { secret: null }));
  router.post('/secrets', (request: AdminRequest, response) => {
    // Shown once, in this response only: never stored, never in a URL, never cached (no-store).
    sessionPage(request, response, 'secrets', { title: 'Secrets', section: 'secrets' }, { secret: operations.generateSecret() });
  });

  router.use((request, _response, next) => {
    next(new HookrelayError('not_found', `no admin page ${request.method} ${request.originalUrl}`));
  });
  router.use(adminErrorPage(logger, (response, status, message) => page(response, status, 'error', { title: status === 404 ? 'Not found' : 'Error' }, { message })));
  return router;
}

/** The distinct events' types, for the deliveries table (the delivery log stores only the event id). */
async function eventTypes(operations: Operations, deliveries: readonly DeliveryRecord[]): Promise<Map<string, string>> {
  const types = new Map<string, string>();
  for (const id of new Set(deliveries.map((delivery) => delivery.event_id))) {
    const stored = await operations.event(id).catch(() => null);
    if (stored) types.set(id, stored.event.type);
  }
  return types;
}

/** Errors as pages: a coded error says what was wrong with its status; anything else is logged and 500. */
function adminErrorPage(logger: Logger, show: (response: Response, status: number, message: string) => void): ErrorRequestHandler {
  return (error: unknown, request, response, next) => {
    if (response.headersSent) {
      next(error);
      return;
    }
    if (error instanceof HookrelayError) {
      show(response, error.status, error.message);
      return;
    }
    const parserError = error as { type?: string; status?: number };
    if (parserError?.type === 'entity.too.large') {
      show(response, 413, 'The form is too large.');
      return;
    }
    if (typeof parserError?.status === 'number' && parserError.status >= 400 && parserError.status < 500) {
      show(response, parserError.status, 'The form could not be read.');
      return;
    }
    logger.error({ err: error, method: request.method, path: request.path }, 'admin page failed');
    show(response, 500, 'Something went wrong; the server log has the details.');
  };
}
