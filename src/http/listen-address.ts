import { isIP } from 'node:net';
import type { AddressInfo } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Every IPv4 interface: senders on other machines must reach a webhook receiver. */
export const DEFAULT_LISTEN_HOST = '0.0.0.0';

/** A host name as DNS spells it (RFC 1123): letters, digits and hyphens in dot-separated labels. */
const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i;

/**
 * What `--host` / `HOST` may say: an IPv4 or IPv6 address (brackets allowed, `[::1]`) or a host
 * name that resolves to an address of this machine (`localhost`). Anything else (a URL, a port
 * after the host) is refused with what to write instead, before anything starts.
 */
export function parseListenHost(text: string): { host: string } | { problem: string } {
  const value = text.trim();
  const unbracketed = /^\[.*\]$/.test(value) ? value.slice(1, -1) : value;
  if (isIP(unbracketed) !== 0) return { host: unbracketed };
  if (HOST_NAME.test(value) && !/^[\d.]+$/.test(value)) return { host: value };
  const hint = /^[a-z]+:\/\//i.test(value)
    ? ' (an address, not a URL)'
    : /:\d+$/.test(value) && isIP(value) === 0
      ? ' (the port goes in --port or PORT)'
      : '';
  return { problem: `"${text}" is not an address or host name to listen on${hint}; e.g. 127.0.0.1 (this machine only), 0.0.0.0 (every IPv4 interface) or :: (every interface)` };
}

/**
 * Where the server really listens, as the URL a person would type (IPv6 in brackets), and who
 * can reach it: every interface, this machine only, or one address.
 */
export function describeListener(address: AddressInfo): { url: string; scope: string; detail: string } {
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  const exposed = 'other machines can reach the webhooks, /admin, /api/v1 and /metrics';
  const narrow = 'HOST=127.0.0.1 (or --host) keeps them to this machine, behind a proxy';
  if (address.address === '0.0.0.0') return { url, scope: 'every IPv4 interface', detail: `every IPv4 interface: ${exposed}; ${narrow}` };
  if (address.address === '::') return { url, scope: 'every interface', detail: `every interface (IPv6, and IPv4 where the system maps it): ${exposed}; ${narrow}` };
  if (ipaddr.isValid(address.address) && ipaddr.process(address.address).range() === 'loopback') {
    return { url, scope: 'this machine only', detail: 'loopback: only this machine can connect; senders elsewhere need a proxy on this machine in front' };
  }
  return { url, scope: `${address.address} only`, detail: `the interface with address ${address.address} only` };
}

/** A URL this process can use to reach its own server: the loopback address where it listens on every interface. */
export function selfUrl(address: AddressInfo): string {
  if (address.address === '0.0.0.0' || address.address === '::') return `http://127.0.0.1:${address.port}`;
  return describeListener(address).url;
}

/**
 * Where a server started on this machine with the same `HOST` and `PORT` answers (the CLI's
 * commands that talk to a running server): its address, or loopback when it listens on every
 * interface (or HOST is not set).
 */
export function localServerUrl(env: Readonly<Record<string, string | undefined>>): string | { problem: string } {
  const port = env.PORT || '3000';
  if (!env.HOST) return `http://127.0.0.1:${port}`;
  const parsed = parseListenHost(env.HOST);
  if ('problem' in parsed) return parsed;
  if (parsed.host === '0.0.0.0' || parsed.host === '::') return `http://127.0.0.1:${port}`;
  return `http://${isIP(parsed.host) === 6 ? `[${parsed.host}]` : parsed.host}:${port}`;
}
