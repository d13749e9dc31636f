import { lookup as dnsLookup } from 'node:dns';
import type { LookupAddress, LookupOptions } from 'node:dns';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { IPv4, IPv6 } from 'ipaddr.js';

const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');
/** IPv4/IPv6 translation (RFC 6052 well-known prefix, globally routed): the last 32 bits are the IPv4 address. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR('64:ff9b::/96');

function ipv4From(high: number, low: number): IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function isPublicIPv4(address: IPv4): boolean {
  return address.range() === 'unicast';
}

/**
 * The IPv4 addresses an IPv6 address carries and that a relay or translator on the path would
 * reach: a private one makes the IPv6 address private too. `null` when the address can never be
 * public, whatever it embeds.
 */
function embeddedIPv4(address: IPv6): IPv4[] | null {
  const parts = address.parts;
  const range = address.range();
  // ::ffff:a.b.c.d (RFC 4291 §2.5.5.2): the IPv4 address itself.
  if (range === 'ipv4Mapped') return [ipv4From(parts[6]!, parts[7]!)];
  if (address.match(NAT64_WELL_KNOWN)) return [ipv4From(parts[6]!, parts[7]!)];
  // Everything else outside 2000::/3 is reserved, local or special (IANA IPv6 address space):
  // ::a.b.c.d (IPv4-compatible, deprecated by RFC 4291 §2.5.5.1), ::ffff:0:a.b.c.d (SIIT,
  // RFC 6145, inside a translator's own domain), ::1, fc00::/7, fe80::/10,
  // fec0::/10, ff00::/8, 100::/64, 64:ff9b:1::/48 (local-use NAT64, RFC 8215), 5f00::/16…
  if (!address.match(GLOBAL_UNICAST)) return null;
  const embedded: IPv4[] = [];
  if (range === '6to4') {
    // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD (RFC 3056 §2).
    embedded.push(ipv4From(parts[1]!, parts[2]!));
  } else if (range === 'teredo') {
    // 2001:0:SSSS:SSSS:flags:port:CCCC:CCCC: server, then the client's address with every bit flipped (RFC 4380 §4).
    embedded.push(ipv4From(parts[2]!, parts[3]!), ipv4From(~parts[6]! & 0xffff, ~parts[7]! & 0xffff));
  } else if (range !== 'unicast') {
    // Documentation, benchmarking, ORCHID, AMT, AS112… (IANA special-purpose registry): nothing to send webhooks to.
    return null;
  }
  // ISATAP interface identifier, under any prefix: [02]00:5efe:a.b.c.d (RFC 5214 §6.1).
  if ((parts[4]! & 0xfcff) === 0 && parts[5] === 0x5efe) embedded.push(ipv4From(parts[6]!, parts[7]!));
  return embedded;
}

/**
 * The egress guard: destinations may not reach loopback, private, link-local or other
 * non-public addresses (cloud metadata at 169.254.169.254, the admin API on localhost…)
 * unless `egress.allow_private` is set. Checked at config load and again at connect time,
 * because DNS can change between the two. IPv6 addresses are public only inside 2000::/3 or
 * 64:ff9b::/96, and only when every IPv4 address they embed (mapped, NAT64, 6to4, Teredo,
 * ISATAP) is public too.
 */
export function isPublicAddress(address: string): boolean {
  if (isIP(address) === 6) {
    const parsed = parseIPv6(address);
    const embedded = parsed === null ? null : embeddedIPv4(parsed);
    return embedded !== null && embedded.every(isPublicIPv4);
  }
  return ipaddr.isValid(address) && isPublicIPv4(ipaddr.parse(address) as IPv4);
}

/**
 * ipaddr.js reads a dotted tail as IPv4-mapped (`::127.0.0.1` becomes `::ffff:7f00:1`), so
 * IPv6 text is first written the way a URL host is (`::7f00:1`, WHATWG URL standard) and
 * parsed from there. Zone ids (`fe80::1%eth0`) are not URL hosts: refused.
 */
function parseIPv6(address: string): IPv6 | null {
  let canonical: string;
  try {
    canonical = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return null;
  }
  return ipaddr.IPv6.isValid(canonical) ? ipaddr.IPv6.parse(canonical) : null;
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
