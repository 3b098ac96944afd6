/**
 * The client's address, for GeoIP and therefore for the fence: a header a
 * client can write must never choose its jurisdiction. `X-Forwarded-For` is
 * read only when the direct peer is a trusted proxy, and only as far as the
 * chain of trusted proxies reaches: walking from the right, the first address
 * that is not a trusted proxy is the client. Entries to its left were written
 * by the client (or by proxies we do not know) and are never looked at.
 */
import { BlockList, isIP } from 'node:net';
import { GeobridgeError } from '../core/errors.js';

/** Input of `resolveClientAddress`. */
export interface ClientAddressInput {
  /** The direct peer (`socket.remoteAddress`). */
  readonly remoteAddress: string;
  /** The `X-Forwarded-For` header; Node joins repeated headers with ', ', an array is joined the same way. */
  readonly forwardedFor?: string | readonly string[] | undefined;
  /** Proxies whose `X-Forwarded-For` is believed: addresses or CIDR ranges, IPv4 or IPv6. */
  readonly trustedProxies: readonly string[];
}

type Family = 'ipv4' | 'ipv6';

interface Ip {
  /** Canonical text: dotted IPv4 (IPv4-mapped IPv6 unwrapped), compressed lower-case IPv6. */
  readonly address: string;
  readonly family: Family;
  /** Written as an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2). */
  readonly mapped: boolean;
}

const MAPPED_HEX = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/;
const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;
const BRACKETED_IPV6 = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/;

/** Parses a bare IP literal into canonical form, or null. */
function parseIp(text: string): Ip | null {
  switch (isIP(text)) {
    case 4:
      return { address: text, family: 'ipv4', mapped: false };
    case 6: {
      if (text.includes('%')) return null;
      // The WHATWG URL host serializer is RFC 5952 canonical form (lower case, longest zero run compressed).
      const canonical = new URL(`http://[${text}]/`).hostname.slice(1, -1);
      const mapped = MAPPED_HEX.exec(canonical);
      if (mapped?.[1] !== undefined && mapped[2] !== undefined) {
        const hi = parseInt(mapped[1], 16);
        const lo = parseInt(mapped[2], 16);
        return { address: `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`, family: 'ipv4', mapped: true };
      }
      return { address: canonical, family: 'ipv6', mapped: false };
    }
    default:
      return null;
  }
}

/** Parses one X-Forwarded-For entry: a bare address, `a.b.c.d:port` or `[v6]:port` (some proxies add ports). */
function parseForwardedEntry(entry: string): Ip | null {
  const withPort = IPV4_WITH_PORT.exec(entry) ?? BRACKETED_IPV6.exec(entry);
  if (withPort === null) return parseIp(entry);
  const [, address = '', port] = withPort;
  if (port !== undefined && Number(port) > 65535) return null;
  // `[1.2.3.4]` is not a thing: brackets are for IPv6 only (RFC 3986 §3.2.2).
  if (entry.startsWith('[') && isIP(address) !== 6) return null;
  return parseIp(address);
}

/** Parses `address` or `address/prefix`; throws INVALID_TRUSTED_PROXY. */
function addTrustedProxy(list: BlockList, entry: string): void {
  const invalid = (): GeobridgeError =>
    new GeobridgeError('INVALID_TRUSTED_PROXY', `Trusted proxy '${entry}' is not an IP address or CIDR range; write e.g. 10.0.0.0/8, 192.0.2.1 or 2001:db8::/32.`);
  const [addressText = '', prefixText, ...rest] = entry.trim().split('/');
  const ip = parseIp(addressText);
  if (ip === null || rest.length > 0) throw invalid();
  if (prefixText === undefined) {
    list.addAddress(ip.address, ip.family);
    return;
  }
  if (!/^\d{1,3}$/.test(prefixText)) throw invalid();
  let prefix = Number(prefixText);
  // ::ffff:10.0.0.0/104 is 10.0.0.0/8 written in IPv6.
  if (ip.mapped) {
    if (prefix < 96) throw invalid();
    prefix -= 96;
  }
  if (prefix > (ip.family === 'ipv4' ? 32 : 128)) throw invalid();
  list.addSubnet(ip.address, prefix, ip.family);
}

const compiled = new WeakMap<readonly string[], BlockList>();

/** The BlockList for a trusted-proxy list, built once per list object. */
function trustedSet(trustedProxies: readonly string[]): BlockList {
  let list = compiled.get(trustedProxies);
  if (list === undefined) {
    list = new BlockList();
    for (const entry of trustedProxies) addTrustedProxy(list, entry);
    compiled.set(trustedProxies, list);
  }
  return list;
}

/** Validates a trusted-proxy list at startup; throws INVALID_TRUSTED_PROXY naming the first bad entry. */
export function checkTrustedProxies(trustedProxies: readonly string[]): void {
  trustedSet(trustedProxies);
}

/** Whether a peer (a socket's remote address) is one of the trusted proxies. */
export function isTrustedProxy(remoteAddress: string, trustedProxies: readonly string[]): boolean {
  if (trustedProxies.length === 0) return false;
  const peer = parseIp(remoteAddress.split('%')[0] ?? '');
  return peer !== null && trustedSet(trustedProxies).check(peer.address, peer.family);
}

/**
 * The client's address: the peer, or — when the peer is a trusted proxy — the
 * first untrusted address of `X-Forwarded-For` from the right. A malformed
 * entry inside the trusted part of the chain makes the whole header ignored
 * (the peer is returned); it never throws for header content. IPv4-mapped
 * IPv6 addresses are returned as plain IPv4, IPv6 in canonical form.
 */
export function resolveClientAddress(input: ClientAddressInput): string {
  // Node reports link-local peers with a zone id (fe80::1%eth0); the zone is not part of the address.
  const peer = parseIp(input.remoteAddress.split('%')[0] ?? '');
  if (peer === null) return input.remoteAddress;
  // No proxies, no lookup: a BlockList check costs microseconds, and this runs on every request (rate-limits.ts).
  if (input.trustedProxies.length === 0) return peer.address;
  const trusted = trustedSet(input.trustedProxies);
  const isTrusted = (ip: Ip): boolean => trusted.check(ip.address, ip.family);
  if (!isTrusted(peer)) return peer.address;

  const header = typeof input.forwardedFor === 'string' ? input.forwardedFor : input.forwardedFor?.join(',');
  if (header === undefined || header.trim() === '') return peer.address;

  const entries = header.split(',');
  let leftmost = peer;
  for (let i = entries.length - 1; i >= 0; i--) {
    const ip = parseForwardedEntry((entries[i] ?? '').trim());
    // Garbage where a trusted proxy should have written an address: believe nothing in the header.
    if (ip === null) return peer.address;
    if (!isTrusted(ip)) return ip.address;
    leftmost = ip;
  }
  // Every hop is a trusted proxy: the furthest one is the best we know.
  return leftmost.address;
}
