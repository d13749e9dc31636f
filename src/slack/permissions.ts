import { LogLevel, WebClient } from '@slack/web-api';
import type { WebClientOptions } from '@slack/web-api';
import type { Logger } from 'pino';
import { systemClock } from '../util/clock.ts';

/** The fetch @slack/web-api calls through (hookrelay's egress-guarded one). */
export type WebApiFetch = NonNullable<WebClientOptions['fetch']>;

/** `slack_app.allow`: who may change state from Slack (any one of them is enough). */
export interface SlackAllowList {
  readonly users: readonly string[];
  readonly usergroups: readonly string[];
  readonly channels: readonly string[];
}

/** Who typed or clicked, and where. */
export interface SlackActor {
  readonly user_id: string;
  readonly channel_id: string | null;
}

export type Permission = { readonly allowed: true; readonly via: string } | { readonly allowed: false; readonly reason: string };

/** Members of a Slack user group, as `usergroups.users.list` gives them. */
export type UsergroupMembers = (usergroup: string) => Promise<readonly string[]>;

/** Membership is cached this long: a removed member keeps the right at most a minute. */
export const USERGROUP_CACHE_MS = 60_000;
/** Slack waits 3 s for a command's acknowledgement; a membership lookup must leave room for it. */
const USERGROUP_LOOKUP_TIMEOUT_MS = 2_000;

/**
 * `usergroups.users.list` through the Web API (needs a bot token with `usergroups:read`),
 * over the egress-guarded fetch like every other outbound call.
 */
export function slackUsergroupMembers(options: { token: string; apiUrl: string; fetch: WebApiFetch }): UsergroupMembers {
  const web = new WebClient(options.token, {
    slackApiUrl: options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/`,
    retryConfig: { retries: 0 },
    rejectRateLimitedCalls: true,
    timeout: USERGROUP_LOOKUP_TIMEOUT_MS,
    logLevel: LogLevel.ERROR,
    fetch: options.fetch,
  });
  return async (usergroup) => {
    const answer = await web.usergroups.users.list({ usergroup });
    return answer.users ?? [];
  };
}

/**
 * Whether a Slack user may run state-changing commands and buttons (mute, unmute, replay,
 * test, Acknowledge). Without an allow list everyone may (today's behaviour, warned about at
 * start-up); with one, the user must be listed, be in a listed user group, or act in a listed
 * channel. A group whose members cannot be read counts as not containing the user.
 */
export class SlackPermissions {
  readonly #allow: SlackAllowList | null;
  readonly #members: UsergroupMembers | null;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #cache = new Map<string, { readonly until: number; readonly members: Promise<ReadonlySet<string>> }>();

  constructor(options: { allow?: SlackAllowList; members?: UsergroupMembers; logger: Logger; now?: () => number }) {
    this.#allow = options.allow ?? null;
    this.#members = options.members ?? null;
    this.#logger = options.logger;
    this.#now = options.now ?? systemClock.now;
    if (this.#allow && this.#allow.usergroups.length > 0 && !this.#members) {
      throw new Error('slack_app.allow.usergroups needs a way to read group members (slack_app.bot_token)');
    }
  }

  get restricted(): boolean {
    return this.#allow !== null;
  }

  async check(actor: SlackActor): Promise<Permission> {
    const allow = this.#allow;
    if (!allow) return { allowed: true, via: 'no slack_app.allow (everyone)' };
    if (allow.users.includes(actor.user_id)) return { allowed: true, via: `user ${actor.user_id}` };
    if (actor.channel_id !== null && allow.channels.includes(actor.channel_id)) return { allowed: true, via: `channel ${actor.channel_id}` };
    let unreadable = false;
    for (const usergroup of allow.usergroups) {
      try {
        if ((await this.#membersOf(usergroup)).has(actor.user_id)) return { allowed: true, via: `user group ${usergroup}` };
      } catch (error) {
        unreadable = true;
        this.#logger.warn({ err: error, usergroup }, 'could not read the members of a Slack user group (usergroups.users.list); counted as not a member');
      }
    }
    return {
      allowed: false,
      reason: unreadable ? 'not in slack_app.allow (and a user group could not be read from Slack)' : 'not in slack_app.allow',
    };
  }

  #membersOf(usergroup: string): Promise<ReadonlySet<string>> {
    const now = this.#now();
    const cached = this.#cache.get(usergroup);
    if (cached && cached.until > now) return cached.members;
    // One lookup in flight per group; a failed one is not cached.
    const members = this.#members!(usergroup).then((users) => new Set(users));
    this.#cache.set(usergroup, { until: now + USERGROUP_CACHE_MS, members });
    members.catch(() => {
      if (this.#cache.get(usergroup)?.members === members) this.#cache.delete(usergroup);
    });
    return members;
  }
}
