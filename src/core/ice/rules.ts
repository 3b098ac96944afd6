/**
 * The shape rules of ICE servers (RFC 7064 `stun:`/`stuns:`, RFC 7065
 * `turn:`/`turns:`), written once for the manifest parser, its JSON Schema and
 * the signalling protocol, so that what the manifest accepts is what a bridge
 * may send in `admitted.iceServers`.
 */

/** A STUN or TURN server the client should use to reach the bridge (the RTCIceServer shape). */
export interface IceServer {
  readonly urls: readonly string[];
  readonly username?: string;
  readonly credential?: string;
}

/** Servers one `admitted` message may carry, so also servers one datacenter may declare. */
export const ICE_SERVERS_MAX = 16;

/** URLs of one server. */
export const ICE_URLS_PER_SERVER_MAX = 8;

/** An ICE server URL: a STUN or TURN scheme, then no whitespace (the JSON Schema uses the same pattern). */
export const ICE_URL_PATTERN = '^(stun|stuns|turn|turns):\\S+$';

/** Longest URL accepted, in UTF-16 code units. */
export const ICE_URL_MAX_LENGTH = 512;

const ICE_URL = new RegExp(ICE_URL_PATTERN);

/** True for a `stun:`, `stuns:`, `turn:` or `turns:` URL of at most ICE_URL_MAX_LENGTH characters. */
export function isIceUrl(value: unknown): boolean {
  return typeof value === 'string' && value.length <= ICE_URL_MAX_LENGTH && ICE_URL.test(value);
}

/** True for a TURN URL: a server that relays media, where a STUN server only answers address queries. */
export function isRelayUrl(url: string): boolean {
  return url.startsWith('turn:') || url.startsWith('turns:');
}

/**
 * The host of an ICE URL, lower-cased (`turn:[2001:db8::1]:3478?transport=tcp`
 * → `[2001:db8::1]`): one host is one place, whatever the scheme, port or
 * transport (RFC 7065 §3.1).
 */
export function iceUrlHost(url: string): string {
  const rest = url.slice(url.indexOf(':') + 1).split('?')[0] ?? '';
  const end = rest.startsWith('[') ? rest.indexOf(']') + 1 : rest.indexOf(':');
  return (end > 0 ? rest.slice(0, end) : rest).toLowerCase();
}
