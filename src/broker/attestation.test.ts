import fc from 'fast-check';
import { CompactSign, SignJWT, base64url, importJWK, type CryptoKey, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { ReplayGuard, signBridgeMessage, verifyBridgeMessage } from '../protocol/bridge-message.js';
import { generateBridgeIdentity, importBridgePublicKey, importBridgePublicKeys } from './attestation.js';
import { codeOf } from '../protocol/code-of.fixture.js';

const T0 = new Date('2026-03-01T12:00:00Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
const verifyAt = (now: Date, replayGuard?: ReplayGuard) => ({ now, maxSkewSeconds: 30, ...(replayGuard === undefined ? {} : { replayGuard }) });


let fra: { publicKey: string; privateJwk: JWK };
let nyc: { publicKey: string; privateJwk: JWK };
let keys: Map<string, CryptoKey>;

beforeAll(async () => {
  fra = await generateBridgeIdentity();
  nyc = await generateBridgeIdentity();
  // One key configured as base64url raw bytes, the other as a public JWK.
  keys = await importBridgePublicKeys({ 'eu-fra': fra.publicKey, 'us-nyc': { kty: 'OKP', crv: 'Ed25519', x: nyc.publicKey } });
});

describe('bridge identity', () => {
  it('generates a 32-byte public key and a private JWK', () => {
    expect(base64url.decode(fra.publicKey)).toHaveLength(32);
    expect(fra.privateJwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', x: fra.publicKey });
    expect(fra.privateJwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('rejects unusable configured keys (BRIDGE_KEY_INVALID)', async () => {
    const bad: unknown[] = [
      'short',
      `${fra.publicKey}A`,
      fra.privateJwk, // a private key must not sit in the broker's configuration
      { kty: 'RSA', n: 'AQAB', e: 'AQAB' },
      { kty: 'OKP', crv: 'X25519', x: fra.publicKey },
    ];
    for (const config of bad) expect(await codeOf(importBridgePublicKey('eu-fra', config as string))).toBe('BRIDGE_KEY_INVALID');
  });
});

describe('verifyBridgeMessage', () => {
  it('accepts a message signed by the configured key and returns its body', async () => {
    const body = { kind: 'heartbeat', load: 0.42, meetings: ['m-1'] };
    const jws = await signBridgeMessage(fra.privateJwk, 'eu-fra', body, { now: T0, seq: 1 });
    expect(await verifyBridgeMessage(keys, jws, verifyAt(at(2)))).toEqual({ datacenter: 'eu-fra', seq: 1, at: T0.getTime(), payload: body });
    const nycKey = await importJWK(nyc.privateJwk, 'EdDSA');
    if (nycKey instanceof Uint8Array) throw new Error('symmetric');
    const fromNyc = await signBridgeMessage(nycKey, 'us-nyc', { kind: 'enroll' }, { now: T0, seq: 7 });
    expect((await verifyBridgeMessage(keys, fromNyc, verifyAt(T0))).datacenter).toBe('us-nyc');
  });

  it('rejects a message signed by another key (BRIDGE_BAD_SIGNATURE): a stranger, or another bridge posing as eu-fra', async () => {
    const stranger = await generateBridgeIdentity();
    for (const privateJwk of [stranger.privateJwk, nyc.privateJwk]) {
      const jws = await signBridgeMessage(privateJwk, 'eu-fra', { kind: 'heartbeat' }, { now: T0, seq: 1 });
      expect(await codeOf(verifyBridgeMessage(keys, jws, verifyAt(T0)))).toBe('BRIDGE_BAD_SIGNATURE');
    }
  });

  it('rejects a tampered payload', async () => {
    const jws = await signBridgeMessage(fra.privateJwk, 'eu-fra', { kind: 'admission', admitted: false }, { now: T0, seq: 1 });
    const [header, , signature] = jws.split('.');
    const forged = base64url.encode(JSON.stringify({ datacenter: 'eu-fra', seq: 1, at: T0.getTime(), body: { kind: 'admission', admitted: true } }));
    expect(await codeOf(verifyBridgeMessage(keys, `${header ?? ''}.${forged}.${signature ?? ''}`, verifyAt(T0)))).toBe('BRIDGE_BAD_SIGNATURE');
  });

  it('rejects a datacenter with no configured key (BRIDGE_UNKNOWN)', async () => {
    const jws = await signBridgeMessage(fra.privateJwk, 'ap-syd', { kind: 'enroll' }, { now: T0, seq: 1 });
    expect(await codeOf(verifyBridgeMessage(keys, jws, verifyAt(T0)))).toBe('BRIDGE_UNKNOWN');
  });

  it('rejects a timestamp outside the skew window, either way (BRIDGE_STALE)', async () => {
    const jws = await signBridgeMessage(fra.privateJwk, 'eu-fra', {}, { now: T0, seq: 1 });
    await expect(verifyBridgeMessage(keys, jws, verifyAt(at(30)))).resolves.toBeDefined();
    await expect(verifyBridgeMessage(keys, jws, verifyAt(at(-30)))).resolves.toBeDefined();
    expect(await codeOf(verifyBridgeMessage(keys, jws, verifyAt(at(31))))).toBe('BRIDGE_STALE');
    expect(await codeOf(verifyBridgeMessage(keys, jws, verifyAt(at(-31))))).toBe('BRIDGE_STALE');
  });

  it('rejects a replayed seq, or one below its window, per datacenter (BRIDGE_REPLAYED); failed messages do not advance the guard', async () => {
    const guard = new ReplayGuard(3);
    const sign = (seq: number, jwk = fra.privateJwk, dc = 'eu-fra') => signBridgeMessage(jwk, dc, { seq }, { now: T0, seq });
    const five = await sign(5);
    await verifyBridgeMessage(keys, five, verifyAt(T0, guard));
    expect(await codeOf(verifyBridgeMessage(keys, five, verifyAt(T0, guard)))).toBe('BRIDGE_REPLAYED');
    // Messages in flight side by side arrive out of order: one not seen inside the window is taken, once.
    const four = await sign(4);
    await expect(verifyBridgeMessage(keys, four, verifyAt(T0, guard))).resolves.toMatchObject({ seq: 4 });
    expect(await codeOf(verifyBridgeMessage(keys, four, verifyAt(T0, guard)))).toBe('BRIDGE_REPLAYED');
    expect(await codeOf(verifyBridgeMessage(keys, await sign(2), verifyAt(T0, guard)))).toBe('BRIDGE_REPLAYED');
    // A forged message with a huge seq is refused before the guard sees it.
    expect(await codeOf(verifyBridgeMessage(keys, await sign(1_000_000, nyc.privateJwk), verifyAt(T0, guard)))).toBe('BRIDGE_BAD_SIGNATURE');
    // So is a stale one.
    const staleSix = await signBridgeMessage(fra.privateJwk, 'eu-fra', {}, { now: at(-60), seq: 6 });
    expect(await codeOf(verifyBridgeMessage(keys, staleSix, verifyAt(T0, guard)))).toBe('BRIDGE_STALE');
    await expect(verifyBridgeMessage(keys, await sign(6), verifyAt(T0, guard))).resolves.toMatchObject({ seq: 6 });
    // Each datacenter has its own sequence.
    await expect(verifyBridgeMessage(keys, await sign(1, nyc.privateJwk, 'us-nyc'), verifyAt(T0, guard))).resolves.toMatchObject({ seq: 1 });
    expect(guard.lastSeq('eu-fra')).toBe(6);
  });

  it('takes every seq once, in any order, within its window (random arrivals)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { minLength: 1, maxLength: 100 }), fc.integer({ min: 1, max: 64 }), (arrivals, window) => {
        const guard = new ReplayGuard(window);
        let highest = -Infinity;
        for (const seq of arrivals) {
          const fresh = seq > highest - window;
          expect(guard.isFresh('eu-fra', seq)).toBe(fresh);
          guard.accept('eu-fra', seq);
          // Accepted or not, the same seq never passes twice.
          expect(guard.isFresh('eu-fra', seq)).toBe(false);
          if (fresh) highest = Math.max(highest, seq);
        }
      }),
    );
  });

  it('rejects alg none and HS256 (even keyed with the public key)', async () => {
    const payload = base64url.encode(JSON.stringify({ datacenter: 'eu-fra', seq: 1, at: T0.getTime(), body: {} }));
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', kid: 'eu-fra', typ: 'gb-bridge+jws' }))}.${payload}.AAAA`;
    expect(await codeOf(verifyBridgeMessage(keys, none, verifyAt(T0)))).toBe('BRIDGE_BAD_SIGNATURE');
    const hs = await new CompactSign(new TextEncoder().encode(JSON.stringify({ datacenter: 'eu-fra', seq: 1, at: T0.getTime(), body: {} })))
      .setProtectedHeader({ alg: 'HS256', kid: 'eu-fra', typ: 'gb-bridge+jws' })
      .sign(base64url.decode(fra.publicKey));
    expect(await codeOf(verifyBridgeMessage(keys, hs, verifyAt(T0)))).toBe('BRIDGE_BAD_SIGNATURE');
  });

  it('rejects malformed messages (BRIDGE_MESSAGE_INVALID)', async () => {
    const key = await importJWK(fra.privateJwk, 'EdDSA');
    const signRaw = (header: Record<string, unknown>, payload: unknown) =>
      new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg: 'EdDSA', typ: 'gb-bridge+jws', ...header }).sign(key);
    const good = { datacenter: 'eu-fra', seq: 1, at: T0.getTime(), body: {} };
    const cases = [
      'garbage',
      '',
      'a.b.c',
      await signRaw({ kid: 'eu-fra' }, { ...good, datacenter: 'us-nyc' }), // header and payload disagree
      await signRaw({ kid: 'eu-fra' }, { ...good, seq: -1 }),
      await signRaw({ kid: 'eu-fra' }, { ...good, seq: 1.5 }),
      await signRaw({ kid: 'eu-fra' }, { ...good, at: '2026-03-01T12:00:00Z' }),
      await signRaw({ kid: 'eu-fra' }, [good]),
      await signRaw({ kid: 'eu-fra\nforged log line' }, good),
      await signRaw({}, good),
      await signRaw({ kid: 'eu-fra', typ: 'JWT' }, good), // a JWT is not a bridge message
    ];
    for (const jws of cases) expect(await codeOf(verifyBridgeMessage(keys, jws, verifyAt(T0))), jws).toBe('BRIDGE_MESSAGE_INVALID');
    const jwt = await new SignJWT({ ...good }).setProtectedHeader({ alg: 'EdDSA', kid: 'eu-fra' }).sign(key);
    expect(await codeOf(verifyBridgeMessage(keys, jwt, verifyAt(T0)))).toBe('BRIDGE_MESSAGE_INVALID');
  });

  it('rejects a message whose signature is re-spelled in the unused bits of its last character', async () => {
    const jws = await signBridgeMessage(fra.privateJwk, 'eu-fra', {}, { now: T0, seq: 1 });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const twin = jws.slice(0, -1) + (alphabet[alphabet.indexOf(jws.at(-1) ?? '') ^ 1] ?? '');
    expect(await codeOf(verifyBridgeMessage(keys, twin, verifyAt(T0)))).toBe('BRIDGE_MESSAGE_INVALID');
  });
});
