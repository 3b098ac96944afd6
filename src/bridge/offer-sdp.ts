/**
 * The host candidates of the bridge's offers (and of its answers on a
 * cascade hop, relay-link.ts) name the address its sockets are bound to.
 *
 * werift binds every ICE socket to the bind address (`--bind-address`, its
 * `iceInterfaceAddresses.udp4`), but when that address is not one of the
 * machine's external interface addresses (127.0.0.1, as `npm start`, the
 * tests and the benchmarks bind) it announces those interfaces' addresses
 * instead. A client's checks to them go nowhere, so every connection waited
 * for the bridge's own checks toward the client's trickled candidates, and a
 * client whose candidates never arrived could not connect at all. Announced
 * addresses (a public address in front of NAT) are kept as they are.
 */

import type { PeerConfig } from 'werift';

/** Where the bridge's media sockets are. */
export interface OfferNetwork {
  /** The address every ICE socket is bound to; a wildcard (or none) leaves candidates as werift found them. */
  readonly bindAddress?: string | undefined;
  /** Addresses announced on purpose (iceAdditionalHostAddresses): never rewritten. */
  readonly announced?: readonly string[] | undefined;
}

/** The network of a peer connection made with `config` (sfu.ts's peer configuration). */
export function offerNetworkOf(config: Partial<PeerConfig>): OfferNetwork {
  return { bindAddress: config.iceInterfaceAddresses?.udp4, announced: config.iceAdditionalHostAddresses };
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);
/** `a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ host…` */
const HOST_CANDIDATE = /^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ host(?: .*)?)$/;

/** `sdp` with every host candidate not announced on purpose on the bind address; other lines untouched. */
export function bridgeOfferSdp(sdp: string, network: OfferNetwork): string {
  const bind = network.bindAddress;
  if (bind === undefined || WILDCARDS.has(bind)) return sdp;
  const announced = new Set(network.announced ?? []);
  return sdp
    .split('\r\n')
    .map((line) => {
      const m = HOST_CANDIDATE.exec(line);
      return m && !announced.has(m[2] ?? '') ? `${m[1] ?? ''}${bind}${m[3] ?? ''}` : line;
    })
    .join('\r\n');
}
