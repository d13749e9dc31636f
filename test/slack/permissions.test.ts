import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { SlackPermissions, USERGROUP_CACHE_MS } from '../../src/slack/permissions.ts';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { logger: pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) }), lines };
}

const allow = { users: ['U0ADMIN01'], usergroups: ['S0ONCALL1'], channels: ['C0OPSROOM'] };

describe('SlackPermissions', () => {
  it('no allow list: everyone', async () => {
    const permissions = new SlackPermissions({ logger: capture().logger });
    expect(permissions.restricted).toBe(false);
    expect(await permissions.check({ user_id: 'U0ANYONE1', channel_id: null })).toMatchObject({ allowed: true });
  });

  it('a listed user, a listed channel, or a member of a listed group', async () => {
    const permissions = new SlackPermissions({ allow, members: async () => ['U0ONCALL1'], logger: capture().logger });
    expect(await permissions.check({ user_id: 'U0ADMIN01', channel_id: null })).toEqual({ allowed: true, via: 'user U0ADMIN01' });
    expect(await permissions.check({ user_id: 'U0ANYONE1', channel_id: 'C0OPSROOM' })).toEqual({ allowed: true, via: 'channel C0OPSROOM' });
    expect(await permissions.check({ user_id: 'U0ONCALL1', channel_id: 'C0ELSEWHR' })).toEqual({ allowed: true, via: 'user group S0ONCALL1' });
    expect(await permissions.check({ user_id: 'U0ANYONE1', channel_id: 'C0ELSEWHR' })).toEqual({ allowed: false, reason: 'not in slack_app.allow' });
  });

  it('membership is cached for a minute of the injected clock, then read again (a removed member loses the right)', async () => {
    let now = 1_000_000;
    let members = ['U0ONCALL1'];
    let calls = 0;
    const permissions = new SlackPermissions({ allow, members: async () => (calls++, members), logger: capture().logger, now: () => now });
    const oncall = { user_id: 'U0ONCALL1', channel_id: null };
    expect((await permissions.check(oncall)).allowed).toBe(true);
    members = [];
    now += USERGROUP_CACHE_MS - 1;
    expect((await permissions.check(oncall)).allowed).toBe(true);
    expect(calls).toBe(1);
    now += 1;
    expect((await permissions.check(oncall)).allowed).toBe(false);
    expect(calls).toBe(2);
  });

  it('concurrent checks share one lookup', async () => {
    let calls = 0;
    const permissions = new SlackPermissions({ allow, members: async () => (calls++, ['U0ONCALL1']), logger: capture().logger });
    const results = await Promise.all(Array.from({ length: 5 }, () => permissions.check({ user_id: 'U0ONCALL1', channel_id: null })));
    expect(results.every((result) => result.allowed)).toBe(true);
    expect(calls).toBe(1);
  });

  it('a group Slack cannot list counts as not containing the user: refused, warned, and not cached', async () => {
    const { logger, lines } = capture();
    let fail = true;
    const permissions = new SlackPermissions({
      allow,
      members: async () => {
        if (fail) throw new Error('An API error occurred: missing_scope');
        return ['U0ONCALL1'];
      },
      logger,
    });
    const oncall = { user_id: 'U0ONCALL1', channel_id: null };
    expect(await permissions.check(oncall)).toEqual({ allowed: false, reason: 'not in slack_app.allow (and a user group could not be read from Slack)' });
    expect(lines.find((line) => line.usergroup === 'S0ONCALL1')).toMatchObject({ level: 40, msg: expect.stringContaining('usergroups.users.list') });
    fail = false;
    expect((await permissions.check(oncall)).allowed).toBe(true);
  });

  it('user groups without a way to read them are refused at construction', () => {
    expect(() => new SlackPermissions({ allow, logger: capture().logger })).toThrow(/bot_token/);
  });
});
