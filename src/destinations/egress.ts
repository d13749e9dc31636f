import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The egress guard: destinations may not reach loopback, private, link-local or other
 * non-public addresses (cloud metadata at 169.254.169.254, the admin API on localhost…)
 * unless `egress.allow_private` is set. Checked at config load and again at connect time,
 * because DNS can change between the two.
 */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  // process() unwraps IPv4-mapped IPv6 (::ffff:127.0.0.1 is loopback).
  return ipaddr.process(address).range() === 'unicast';
}

export class EgressRefusedError extends Error {
  readonly code = 'EGRESS_REFUSED';
  constructor(host: string, address: string) {
    super(
      `refusing to connect to ${host} (${address}): not a public address; set egress.allow_private: true (or HOOKRELAY_ALLOW_PRIVATE=1) to allow it`,
    );
    this.name = 'EgressRefusedError';
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** A `lookup` for net/tls connect options that fails for non-public addresses. */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) {
      callback(error, []);
      return;
    }
    const refused = addresses.find((entry) => !isPublicAddress(entry.address));
    if (refused) {
      callback(new EgressRefusedError(hostname, refused.address) as NodeJS.ErrnoException, []);
      return;
    }
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]?.address ?? '', addresses[0]?.family ?? 4);
  });
}

/** Literal IPs never reach `lookup`, so they are checked before a request. */
export function refusedLiteral(url: URL): EgressRefusedError | null {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) && !isPublicAddress(host)) return new EgressRefusedError(host, host);
  return null;
}

export type EgressCheck = { ok: true } | { ok: false; reason: string } | { ok: 'unknown'; reason: string };

/** The config-load check: resolves the host now. A name that does not resolve yet is not an error. */
export async function checkDestinationUrl(url: URL): Promise<EgressCheck> {
  const literal = refusedLiteral(url);
  if (literal) return { ok: false, reason: literal.message };
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) return { ok: true };
  return new Promise((resolve) => {
    dnsLookup(host, { all: true }, (error, addresses) => {
      if (error) {
        resolve({ ok: 'unknown', reason: `${host} does not resolve yet (${error.code ?? error.message})` });
        return;
      }
      const refused = addresses.find((entry) => !isPublicAddress(entry.address));
      resolve(refused ? { ok: false, reason: new EgressRefusedError(host, refused.address).message } : { ok: true });
    });
  });
}
