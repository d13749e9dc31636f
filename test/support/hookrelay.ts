import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../../src/config/load.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { startServer } from '../../src/server.ts';
import type { Logger } from 'pino';
import type { RunningServer } from '../../src/server.ts';
import type { Store } from '../../src/store/store.ts';
import type { Clock } from '../../src/util/clock.ts';
import { WAIT_MS } from './wait.ts';

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

export interface TestRelay {
  readonly url: string;
  readonly server: RunningServer;
  readonly dataDir: string;
  /** POST a webhook body (string, sent byte-exact) with headers. */
  post(path: string, body: string | Buffer, headers?: Record<string, string>): Promise<{ status: number; json: Record<string, unknown> }>;
  /** Admin API call with the admin token. */
  admin<T = Record<string, unknown>>(path: string, init?: { method?: string; body?: unknown; token?: string | null }): Promise<{ status: number; json: T }>;
  /** Polls the admin API until `check` passes (delivery state lives in the store). */
  until<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** Where relays keep their data: a store URL for a data folder, and how to drop it when that folder goes. */
export interface RelayStores {
  storeFor(dataDir: string): Promise<string>;
  dropped(dataDir: string): Promise<void>;
}

let relayStores: RelayStores | null = null;

/** Every relay started from now on in this test file uses these stores (e.g. PostgreSQL: use-postgres.ts). */
export function useRelayStores(stores: RelayStores): void {
  relayStores = stores;
}

/**
 * Starts the real server in this process on port 0, with a fresh SQLite file (or the store
 * `useRelayStores` set, or `env.DATABASE_URL`) and the given YAML; `dataDir` reuses a folder
 * (restarts) and its store, which are then left in place; `logger` to read its log; `clock` is
 * the server's one clock (a ManualClock: the test drives every time the server reads or waits for);
 * `wrapStore` stands in for the opened store (test/support/stopping-store.ts).
 */
export async function startRelay(
  yaml: string,
  env: Record<string, string> = {},
  options: { dataDir?: string; logger?: Logger; clock?: Clock; wrapStore?: (store: Store) => Store } = {},
): Promise<TestRelay> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'hookrelay-it-'));
  const stores = relayStores;
  const storeEnv: Record<string, string> = stores ? { DATABASE_URL: await stores.storeFor(dataDir) } : {};
  const config = parseConfigText(yaml, { HOOKRELAY_ALLOW_PRIVATE: '1', HOOKRELAY_DATA_DIR: dataDir, ...storeEnv, ...env });
  const server = await startServer({
    config,
    baseDir: process.cwd(),
    port: 0,
    host: '127.0.0.1',
    logger: options.logger ?? silentLogger(),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.wrapStore ? { wrapStore: options.wrapStore } : {}),
  });
  const url = server.url;
  return {
    url,
    server,
    dataDir,
    async post(path, body, headers = {}) {
      const response = await fetch(`${url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body,
      });
      const text = await response.text();
      return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    },
    async admin<T>(path: string, init: { method?: string; body?: unknown; token?: string | null } = {}) {
      const token = init.token === undefined ? ADMIN_TOKEN : init.token;
      const response = await fetch(`${url}/api/v1${path}`, {
        method: init.method ?? 'GET',
        headers: {
          ...(token === null ? {} : { authorization: `Bearer ${token}` }),
          ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await response.text();
      return { status: response.status, json: (text ? JSON.parse(text) : {}) as T };
    },
    async until(read, check, timeoutMs = WAIT_MS) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await read();
        if (check(value)) return value;
        if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value).slice(0, 2_000)}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async close() {
      await server.close();
      if (!options.dataDir) {
        rmSync(dataDir, { recursive: true, force: true });
        await stores?.dropped(dataDir);
      }
    },
  };
}
