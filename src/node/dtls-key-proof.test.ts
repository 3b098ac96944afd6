// A DTLS peer must hold the key of the certificate it presents: two werift
// peers on loopback, honest and impostor (another's certificate, a key of its
// own), in both DTLS roles. Without requireDtlsKeyProof werift connects the
// impostor, and these tests fail.
import { describe, expect, it } from 'vitest';
import { CipherContext, NamedCurveAlgorithm, RTCCertificate, RTCPeerConnection, SignatureAlgorithm, HashAlgorithm } from 'werift';
import { DtlsKeyProofError, onDtlsKeyRefused, proveRemoteKey, requireDtlsKeyProof } from './dtls-key-proof.js';

requireDtlsKeyProof();

async function certificate(): Promise<RTCCertificate> {
  const { certPem, keyPem, signatureHash } = await CipherContext.createSelfSignedCertificateWithKey({ signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 }, NamedCurveAlgorithm.secp256r1_23);
  return new RTCCertificate(keyPem, certPem, signatureHash);
}

/** Someone else's certificate, presented with a key of one's own: what a relay in the middle can show. */
async function impostor(): Promise<RTCCertificate> {
  const [victim, own] = await Promise.all([certificate(), certificate()]);
  return new RTCCertificate(own.privateKey, victim.certPem, own.signatureHash);
}

type Outcome = 'connected' | 'failed';

/** Connects an offerer and an answerer (werift: the offerer is the DTLS server) and says how each ended. */
async function connect(offererCertificate: RTCCertificate, answererCertificate: RTCCertificate): Promise<{ offerer: Outcome; answerer: Outcome }> {
  const offerer = new RTCPeerConnection({ certificates: [offererCertificate] });
  const answerer = new RTCPeerConnection({ certificates: [answererCertificate] });
  // Polled rather than subscribed: a transport werift fails may leave the peer connection "connecting", while its DTLS says "failed".
  const outcome = (pc: RTCPeerConnection): Promise<Outcome> =>
    new Promise((resolve) => {
      const started = Date.now();
      const watch = setInterval(() => {
        const failed = pc.connectionState === 'failed' || pc.getTransceivers()[0]?.dtlsTransport.state === 'failed' || Date.now() - started > 30_000;
        if (!failed && pc.connectionState !== 'connected') return;
        clearInterval(watch);
        resolve(failed ? 'failed' : 'connected');
      }, 50);
    });
  try {
    offerer.addTransceiver('audio', { direction: 'sendrecv' });
    const ended = { offerer: outcome(offerer), answerer: outcome(answerer) };
    await answerer.setRemoteDescription(await offerer.setLocalDescription(await offerer.createOffer()));
    await offerer.setRemoteDescription(await answerer.setLocalDescription(await answerer.createAnswer()));
    return { offerer: await ended.offerer, answerer: await ended.answerer };
  } finally {
    await Promise.all([offerer.close(), answerer.close()]);
  }
}

describe('a werift DTLS peer', () => {
  it('connects to a peer that holds its certificate’s key, in both roles', async () => {
    expect(await connect(await certificate(), await certificate())).toEqual({ offerer: 'connected', answerer: 'connected' });
  });

  it('refuses a DTLS server that presents another’s certificate (its ServerKeyExchange does not verify), and says so to whoever listens', async () => {
    const reasons: string[] = [];
    const stop = onDtlsKeyRefused((reason) => reasons.push(reason));
    try {
      // The impostor offers, so it is the DTLS server; the honest answerer is the client.
      const { answerer } = await connect(await impostor(), await certificate());
      expect(answerer).toBe('failed');
      expect(reasons).toEqual([expect.stringMatching(/ServerKeyExchange signature does not verify/)]);
    } finally {
      stop();
    }
    await connect(await impostor(), await certificate());
    expect(reasons).toHaveLength(1);
  });

  it('still refuses, and tells every listener, when a listener throws', async () => {
    const heard: string[] = [];
    const stops = [onDtlsKeyRefused(() => { throw new Error('a broken logger'); }), onDtlsKeyRefused((reason) => heard.push(reason))];
    try {
      expect((await connect(await impostor(), await certificate())).answerer).toBe('failed');
      expect(heard).toHaveLength(1);
    } finally {
      for (const stop of stops) stop();
    }
  });

  it('refuses a DTLS client that presents another’s certificate (its CertificateVerify does not verify)', async () => {
    const { offerer } = await connect(await certificate(), await impostor());
    expect(offerer).toBe('failed');
  });
});

describe('proveRemoteKey', () => {
  const socket = (over: Partial<Parameters<typeof proveRemoteKey>[0]>): Parameters<typeof proveRemoteKey>[0] => ({
    sessionType: 1,
    remoteCertificate: undefined,
    cipher: {},
    dtls: { sortedHandshakeCache: [] },
    ...over,
  });

  it('refuses a handshake without a certificate, a certificate that does not parse, or without the signed message', async () => {
    const der = new (await import('node:crypto')).X509Certificate((await certificate()).certPem).raw;
    for (const s of [
      socket({}),
      socket({ remoteCertificate: Buffer.from('not a certificate') }),
      socket({ remoteCertificate: der }),
      socket({ remoteCertificate: der, sessionType: 2 }),
      socket({ remoteCertificate: der, sessionType: 0 }),
    ]) {
      expect(() => { proveRemoteKey(s); }).toThrow(DtlsKeyProofError);
    }
  });

  it('refuses malformed signed parts without throwing anything else', async () => {
    const der = new (await import('node:crypto')).X509Certificate((await certificate()).certPem).raw;
    const random = { serialize: () => Buffer.alloc(32) };
    const fragments = [Buffer.alloc(0), Buffer.from([3, 0, 23, 200]), Buffer.from([3, 0, 23, 1, 4, 4, 3, 0, 5]), Buffer.from([1, 0, 23, 0, 4, 3, 0, 0]), Buffer.from([3, 0, 23, 0, 2, 3, 0, 1, 0]), Buffer.from([3, 0, 23, 0, 4, 1, 0, 1, 0]), Buffer.from([3, 0, 23, 0, 4, 3, 0, 1, 0])];
    for (const fragment of fragments) {
      const message = { msg_type: 12, fragment, serialize: () => fragment };
      expect(() => { proveRemoteKey(socket({ remoteCertificate: der, cipher: { localRandom: random, remoteRandom: random }, dtls: { sortedHandshakeCache: [message] } })); }).toThrow(DtlsKeyProofError);
    }
  });
});
