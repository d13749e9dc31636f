import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import { tapePreset } from '../../src/sources/tape.ts';
import { inbound, NOW_MS, rejectedCode, testDeps, thrownCode, verdictCode } from './support.ts';

// Tape's "Webhook" reference (seed 002): an event and the verification request, as documented.
const RECORD_CREATE = `{
  "hook_id": 1,
  "record_id": 100,
  "type": "record.create"
}`;
const HOOK_VERIFY = { hook_id: 1, type: 'hook.verify', code: 'f43d05e6' };

const TOKEN = 'tape-url-token-123';
const API_KEY = 'user_api_key_abc';

function source(options: Record<string, unknown> = {}) {
  const config = tapePreset.schema.parse({ name: 'tape', preset: 'tape', token: TOKEN, api_key: API_KEY, ...options });
  return tapePreset.create(config, testDeps());
}

function handshakeOf(options: Record<string, unknown> = {}) {
  const tape = source(options);
  if (!tape.handshake) throw new Error('the tape preset must answer handshakes');
  return tape.handshake.bind(tape);
}

beforeAll(() => nock.disableNetConnect());
afterAll(() => nock.enableNetConnect());
afterEach(() => nock.cleanAll());

describe('tape verify (URL token)', () => {
  it('?token= matching → ok', () => {
    expect(verdictCode(source().verify(inbound(RECORD_CREATE, {}, { token: TOKEN }), NOW_MS))).toBe('ok');
  });

  it('second token (rotation) verifies', () => {
    const verdict = source({ token: ['new-token', TOKEN] }).verify(inbound(RECORD_CREATE, {}, { token: TOKEN }), NOW_MS);
    expect(verdictCode(verdict)).toBe('ok');
  });

  it('no ?token= → token_missing', () => {
    expect(verdictCode(source().verify(inbound(RECORD_CREATE), NOW_MS))).toBe('token_missing');
  });

  it('empty ?token= → token_missing', () => {
    expect(verdictCode(source().verify(inbound(RECORD_CREATE, {}, { token: '' }), NOW_MS))).toBe('token_missing');
  });

  it('wrong ?token= → token_invalid', () => {
    expect(verdictCode(source().verify(inbound(RECORD_CREATE, {}, { token: 'tape-url-token-124' }), NOW_MS))).toBe('token_invalid');
  });

  it('a prefix of the token → token_invalid (no length shortcut)', () => {
    expect(verdictCode(source().verify(inbound(RECORD_CREATE, {}, { token: TOKEN.slice(0, 5) }), NOW_MS))).toBe('token_invalid');
  });
});

describe('tape hook.verify handshake', () => {
  it('calls verify/validate with the code and basic auth "<api_key>:" → 200 verified', async () => {
    const scope = nock('https://api.tapeapp.com')
      .post('/v1/hook/1/verify/validate', { code: 'f43d05e6' })
      .basicAuth({ user: API_KEY, pass: '' })
      .reply(200, { hook_id: 1, url: 'https://hooks.example.org/hooks/tape', status: 'active' });
    const reply = await handshakeOf()(HOOK_VERIFY, inbound(JSON.stringify(HOOK_VERIFY), {}, { token: TOKEN }));
    expect(reply).toEqual({ status: 200, body: { verified: true, hook_id: 1 } });
    expect(scope.isDone()).toBe(true);
  });

  it('api_url with a path prefix is honoured', async () => {
    const scope = nock('http://tape.test').post('/proxy/v1/hook/7/verify/validate', { code: 'abc' }).reply(200, {});
    const reply = await handshakeOf({ api_url: 'http://tape.test/proxy' })({ hook_id: 7, type: 'hook.verify', code: 'abc' }, inbound('{}'));
    expect(reply?.status).toBe(200);
    expect(scope.isDone()).toBe(true);
  });

  it('Tape refuses the code (4xx) → handshake_failed', async () => {
    const scope = nock('https://api.tapeapp.com').post('/v1/hook/1/verify/validate').reply(400, { error: 'invalid code' });
    expect(await rejectedCode(handshakeOf()(HOOK_VERIFY, inbound('{}')))).toBe('handshake_failed');
    expect(scope.isDone()).toBe(true);
  });

  it('Tape unreachable → handshake_failed', async () => {
    nock('https://api.tapeapp.com').post('/v1/hook/1/verify/validate').replyWithError('connect ECONNREFUSED');
    expect(await rejectedCode(handshakeOf()(HOOK_VERIFY, inbound('{}')))).toBe('handshake_failed');
  });

  it('Tape slower than 5 s → handshake_failed', async () => {
    // A real loopback server that never answers: the 5 s limit is what ends the call.
    nock.enableNetConnect('127.0.0.1');
    const server = createServer(() => undefined);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const started = Date.now();
      const code = await rejectedCode(handshakeOf({ api_url: `http://127.0.0.1:${port}` })(HOOK_VERIFY, inbound('{}')));
      expect(code).toBe('handshake_failed');
      expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      nock.disableNetConnect();
    }
  }, 10_000);

  it('no api_key configured → handshake_failed, and Tape is not called', async () => {
    const scope = nock('https://api.tapeapp.com').post('/v1/hook/1/verify/validate').reply(200, {});
    const config = tapePreset.schema.parse({ name: 'tape', preset: 'tape', token: TOKEN });
    const tape = tapePreset.create(config, testDeps());
    expect(await rejectedCode(tape.handshake?.(HOOK_VERIFY, inbound('{}')) ?? Promise.resolve())).toBe('handshake_failed');
    expect(scope.isDone()).toBe(false);
  });

  it('an ordinary record event is not a handshake → null', async () => {
    expect(await handshakeOf()(JSON.parse(RECORD_CREATE), inbound(RECORD_CREATE))).toBeNull();
  });

  it('hook.verify without a code → invalid_payload', async () => {
    expect(await rejectedCode(handshakeOf()({ hook_id: 1, type: 'hook.verify' }, inbound('{}')))).toBe('invalid_payload');
  });
});

describe('tape normalize', () => {
  it.each([
    ['record.create', 'Record 100 created'],
    ['record.update', 'Record 100 updated'],
    ['record.delete', 'Record 100 deleted'],
  ])('%s → info event "%s", dedup record:100, no external id', (type, title) => {
    const payload = { ...(JSON.parse(RECORD_CREATE) as object), type };
    const [event, ...rest] = source().normalize(payload, inbound('{}'));
    expect(rest).toHaveLength(0);
    expect(event).toMatchObject({ external_id: null, type, severity: 'info', status: 'firing', title, dedup_key: 'record:100' });
    expect(event?.data).toBe(payload);
    // Tape sends no time: ingest puts the receive time in its place.
    expect(event?.occurred_at).toBeNull();
  });

  it('a type Tape adds later → still an info event', () => {
    const [event] = source().normalize({ type: 'comment.create', hook_id: 1 }, inbound('{}'));
    expect([event?.type, event?.severity]).toEqual(['comment.create', 'info']);
  });

  it('a record event without record_id → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ hook_id: 1, type: 'record.update' }, inbound('{}')))).toBe('invalid_payload');
  });

  it('no string type → invalid_payload', () => {
    expect(thrownCode(() => source().normalize({ hook_id: 1, type: 5 }, inbound('{}')))).toBe('invalid_payload');
  });

  it('not an object → invalid_payload', () => {
    expect(thrownCode(() => source().normalize('record.create', inbound('"record.create"')))).toBe('invalid_payload');
  });
});

describe('tape config', () => {
  it('api_url defaults to https://api.tapeapp.com and token becomes a list', () => {
    const config = tapePreset.schema.parse({ name: 'tape', preset: 'tape', token: TOKEN });
    expect([config.api_url, config.token]).toEqual(['https://api.tapeapp.com', [TOKEN]]);
  });

  it('api_url that is not http(s) → config error at api_url', () => {
    const result = tapePreset.schema.safeParse({ name: 'tape', preset: 'tape', token: TOKEN, api_url: 'ftp://x' });
    expect(result.error?.issues[0]?.path).toEqual(['api_url']);
  });
});
