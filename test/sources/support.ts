/**
 * Test helpers for the sources layer. The signer here is independent of src/sources/signature.ts
 * on purpose: verifiers are never tested against their own preset's `sign()`.
 */
import { createHmac } from 'node:crypto';
import { Agent } from 'undici';
import { pino } from 'pino';
import { HookrelayError } from '../../src/errors.ts';
import type { InboundRequest, SourceDeps, Verdict } from '../../src/sources/source.ts';

/** A request as the HTTP layer hands it over: header names lower-cased, body as bytes. */
export function inbound(
  rawBody: string | Buffer,
  headers: Record<string, string> = {},
  query: Record<string, string> = {},
): InboundRequest {
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value;
  return { headers: lower, query, rawBody: typeof rawBody === 'string' ? Buffer.from(rawBody, 'utf8') : rawBody };
}

/** An HMAC over the concatenated parts, written without the code under test. */
export function hmac(
  algorithm: 'sha1' | 'sha256' | 'sha512',
  key: string | Buffer,
  content: string | Buffer,
  encoding: 'hex' | 'base64' = 'hex',
): string {
  return createHmac(algorithm, key).update(content).digest(encoding);
}

/** `ok`, or the error code of a refusal: tests assert codes, never messages. */
export function verdictCode(verdict: Verdict): string {
  return verdict.ok ? 'ok' : verdict.error.code;
}

/** The HookrelayError code `fn` throws, or `no error`. */
export function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof HookrelayError) return error.code;
    throw error;
  }
  return 'no error';
}

export async function rejectedCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HookrelayError) return error.code;
    throw error;
  }
  return 'no error';
}

export function testDeps(): SourceDeps {
  return { http: new Agent(), logger: pino({ level: 'silent' }) };
}

/** Tue, 23 Apr 2026 18:28:00 GMT: the fixed clock the tests inject. */
export const NOW_MS = Date.parse('2026-04-23T18:28:00Z');
export const NOW_SECONDS = NOW_MS / 1_000;
