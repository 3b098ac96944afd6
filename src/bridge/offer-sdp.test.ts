/**
 * The bridge's offers announce the address its sockets are bound to: werift's
 * own offer, made as a bridge makes it, names a machine interface instead
 * when bound to 127.0.0.1; the rewrite leaves announced addresses, other
 * candidate types and every other line alone.
 */
import fc from 'fast-check';
import { RTCPeerConnection } from 'werift';
import { describe, expect, it } from 'vitest';
import { bridgeOfferSdp } from './offer-sdp.js';

const OFFER = [
  'v=0',
  'o=- 1 0 IN IP4 0.0.0.0',
  's=-',
  't=0 0',
  'm=video 9 UDP/TLS/RTP/SAVPF 98',
  'c=IN IP4 0.0.0.0',
  'a=candidate:32b1 1 udp 2116026367 192.0.2.2 41433 typ host generation 0 ufrag 84b8',
  'a=candidate:77aa 1 udp 2116026367 203.0.113.7 41434 typ host generation 0 ufrag 84b8',
  'a=candidate:99cc 1 udp 1677729535 198.51.100.4 41435 typ srflx raddr 192.0.2.2 rport 41433',
  'a=end-of-candidates',
  'a=ice-ufrag:84b8',
  '',
].join('\r\n');

function hostAddresses(sdp: string): string[] {
  return sdp
    .split('\r\n')
    .filter((l) => l.startsWith('a=candidate:') && l.includes(' typ host'))
    .map((l) => l.split(' ')[4] ?? '');
}

describe('bridgeOfferSdp', () => {
  it('puts host candidates on the bind address, keeps announced ones and other types', () => {
    const out = bridgeOfferSdp(OFFER, { bindAddress: '127.0.0.1', announced: ['203.0.113.7'] });
    expect(hostAddresses(out)).toEqual(['127.0.0.1', '203.0.113.7']);
    expect(out).toContain('a=candidate:32b1 1 udp 2116026367 127.0.0.1 41433 typ host generation 0 ufrag 84b8');
    expect(out).toContain('typ srflx raddr 192.0.2.2 rport 41433');
    expect(out.split('\r\n').length).toBe(OFFER.split('\r\n').length);
  });

  it('leaves the offer as it is without a bind address, or bound to a wildcard', () => {
    for (const bindAddress of [undefined, '0.0.0.0', '::']) expect(bridgeOfferSdp(OFFER, { bindAddress })).toBe(OFFER);
  });

  it('changes nothing but host candidates\' addresses, whatever the lines', () => {
    const line = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...OFFER.split('\r\n')));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 20 }), (lines) => {
        const sdp = lines.join('\r\n');
        const out = bridgeOfferSdp(sdp, { bindAddress: '127.0.0.1' }).split('\r\n');
        const before = sdp.split('\r\n');
        expect(out.length).toBe(before.length);
        out.forEach((l, i) => {
          const was = before[i] ?? '';
          if (l !== was) expect(l).toBe(was.replace(/^(a=candidate:\S+ \d+ \S+ \d+ )\S+/, '$1127.0.0.1'));
        });
      }),
    );
  });

  it('corrects werift\'s own offer when bound to 127.0.0.1', async () => {
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', iceUseIpv6: false, iceInterfaceAddresses: { udp4: '127.0.0.1' } });
    try {
      pc.addTransceiver('video', { direction: 'sendonly' });
      const offer = await pc.createOffer();
      for (const t of pc.iceTransports) Object.assign(t.connection, { stunServer: undefined });
      await pc.setLocalDescription(offer);
      const sdp = pc.localDescription?.sdp ?? '';
      expect(hostAddresses(sdp).length).toBeGreaterThan(0);
      expect(hostAddresses(bridgeOfferSdp(sdp, { bindAddress: '127.0.0.1' }))).toEqual(hostAddresses(sdp).map(() => '127.0.0.1'));
    } finally {
      await pc.close();
    }
  });
});
