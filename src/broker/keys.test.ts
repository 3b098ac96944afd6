import { calculateJwkThumbprint, decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { KeyRing, isCanonicalCompactJws, type KeyStore } from './keys.js';
import type { SigningKey } from './store/store.js';
import { codeOf } from './code-of.fixture.js';

/** The three key methods of Store, in memory, with MemoryStore's semantics (newest first, first retirement kept). */
class FakeKeyStore implements KeyStore {
  readonly keys = new Map<string, SigningKey>();
  saved = 0;

  saveSigningKey(key: SigningKey): Promise<void> {
    this.keys.set(key.kid, key);
    this.saved++;
    return Promise.resolve();
  }

  retireSigningKeysExcept(kid: string, at: string): Promise<void> {
    for (const [k, key] of this.keys) if (k !== kid && key.retiredAt === undefined) this.keys.set(k, { ...key, retiredAt: at });
    return Promise.resolve();
  }

  listSigningKeys(): Promise<SigningKey[]> {
    return Promise.resolve([...this.keys.values()].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.kid < b.kid ? -1 : 1)));
  }
}

/** A clock the test moves by hand. */
function manualClock(start = '2026-03-01T12:00:00Z'): { clock: () => Date; advance: (seconds: number) => void } {
  let now = new Date(start).getTime();
  return { clock: () => new Date(now), advance: (s) => (now += s * 1000) };
}


const signOpts = { audience: 'test:aud', subject: 'p-1', expiresInSeconds: 60 } as const;

describe('KeyRing.load', () => {
  it('generates and saves the first key when the store has none; kid is the RFC 7638 thumbprint', async () => {
    const store = new FakeKeyStore();
    const ring = await KeyRing.load(store, manualClock().clock);
    expect(store.keys.size).toBe(1);
    const [stored] = [...store.keys.values()];
    expect(stored?.kid).toBe(ring.currentKid);
    expect(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: stored?.publicJwk.x ?? '' })).toBe(ring.currentKid);
    expect(stored?.privateJwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(ring.jwks()).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: stored?.publicJwk.x, kid: ring.currentKid, alg: 'EdDSA', use: 'sig' }] });
  });

  it('persists keys: a second load on the same store uses the same key and verifies its tokens', async () => {
    const store = new FakeKeyStore();
    const { clock } = manualClock();
    const first = await KeyRing.load(store, clock);
    const token = await first.sign({ hello: 'world' }, signOpts);
    const second = await KeyRing.load(store, clock);
    expect(second.currentKid).toBe(first.currentKid);
    expect(store.saved).toBe(1);
    expect((await second.verify(token, { audience: 'test:aud' })).hello).toBe('world');
  });

  it('refuses a stored key whose kid is not its thumbprint (SIGNING_KEY_INVALID)', async () => {
    const store = new FakeKeyStore();
    const ring = await KeyRing.load(store, manualClock().clock);
    const key = store.keys.get(ring.currentKid);
    if (key === undefined) throw new Error('no key');
    store.keys.clear();
    store.keys.set('forged-kid', { ...key, kid: 'forged-kid' });
    expect(await codeOf(KeyRing.load(store, manualClock().clock))).toBe('SIGNING_KEY_INVALID');
  });

  it('refuses a stored key whose private half belongs to another key', async () => {
    const a = new FakeKeyStore();
    const b = new FakeKeyStore();
    const ringA = await KeyRing.load(a, manualClock().clock);
    const ringB = await KeyRing.load(b, manualClock().clock);
    const keyA = a.keys.get(ringA.currentKid);
    const keyB = b.keys.get(ringB.currentKid);
    if (keyA === undefined || keyB === undefined) throw new Error('no key');
    a.keys.set(keyA.kid, { ...keyA, privateJwk: keyB.privateJwk });
    expect(await codeOf(KeyRing.load(a, manualClock().clock))).toBe('SIGNING_KEY_INVALID');
  });
});

describe('KeyRing.sign / verify', () => {
  it('round-trips claims and sets iat, exp, aud, sub, jti, kid', async () => {
    const { clock } = manualClock();
    const ring = await KeyRing.load(new FakeKeyStore(), clock);
    const token = await ring.sign({ meeting: 'm-1', list: ['a', 'b'] }, { ...signOpts, issuer: 'https://broker.example', type: 'test+jwt' });
    const payload = await ring.verify(token, { audience: 'test:aud', issuer: 'https://broker.example', type: 'test+jwt' });
    const iat = Math.floor(clock().getTime() / 1000);
    expect(payload).toMatchObject({ meeting: 'm-1', list: ['a', 'b'], aud: 'test:aud', sub: 'p-1', iss: 'https://broker.example', iat, exp: iat + 60 });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', kid: ring.currentKid, typ: 'test+jwt' });
  });

  it('gives every token its own jti', async () => {
    const ring = await KeyRing.load(new FakeKeyStore(), manualClock().clock);
    const a = await ring.verify(await ring.sign({}, signOpts), { audience: 'test:aud' });
    const b = await ring.verify(await ring.sign({}, signOpts), { audience: 'test:aud' });
    expect(a.jti).not.toBe(b.jti);
  });

  it('rejects an expired token (TOKEN_EXPIRED) after the clock tolerance, not before', async () => {
    const { clock, advance } = manualClock();
    const ring = await KeyRing.load(new FakeKeyStore(), clock);
    const token = await ring.sign({}, signOpts);
    advance(64);
    await expect(ring.verify(token, { audience: 'test:aud' })).resolves.toBeDefined();
    advance(2);
    expect(await codeOf(ring.verify(token, { audience: 'test:aud' }))).toBe('TOKEN_EXPIRED');
  });

  it('rejects the wrong audience, issuer or type (TOKEN_INVALID)', async () => {
    const ring = await KeyRing.load(new FakeKeyStore(), manualClock().clock);
    const token = await ring.sign({}, { ...signOpts, issuer: 'https://a.example', type: 'a+jwt' });
    expect(await codeOf(ring.verify(token, { audience: 'other:aud' }))).toBe('TOKEN_INVALID');
    expect(await codeOf(ring.verify(token, { audience: 'test:aud', issuer: 'https://b.example' }))).toBe('TOKEN_INVALID');
    expect(await codeOf(ring.verify(token, { audience: 'test:aud', type: 'b+jwt' }))).toBe('TOKEN_INVALID');
  });

  it('rejects a token signed by another key ring (forged)', async () => {
    const { clock } = manualClock();
    const ring = await KeyRing.load(new FakeKeyStore(), clock);
    const forger = await KeyRing.load(new FakeKeyStore(), clock);
    expect(await codeOf(ring.verify(await forger.sign({}, signOpts), { audience: 'test:aud' }))).toBe('TOKEN_INVALID');
  });

  it('rejects a token whose signature differs only in the unused bits of its last character', async () => {
    const ring = await KeyRing.load(new FakeKeyStore(), manualClock().clock);
    const token = await ring.sign({}, signOpts);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = token.at(-1) ?? '';
    const twin = token.slice(0, -1) + (alphabet[alphabet.indexOf(last) ^ 1] ?? '');
    // Both spell the same 64 signature bytes: a lenient decoder would accept the twin.
    expect(Buffer.from(twin.split('.')[2] ?? '', 'base64url')).toEqual(Buffer.from(token.split('.')[2] ?? '', 'base64url'));
    expect(isCanonicalCompactJws(twin)).toBe(false);
    expect(await codeOf(ring.verify(twin, { audience: 'test:aud' }))).toBe('TOKEN_INVALID');
  });

  it('refuses to sign with a lifetime that is not a positive integer (INVALID_TOKEN_REQUEST)', async () => {
    const ring = await KeyRing.load(new FakeKeyStore(), manualClock().clock);
    for (const expiresInSeconds of [0, -1, 1.5, Number.NaN]) {
      expect(await codeOf(ring.sign({}, { ...signOpts, expiresInSeconds }))).toBe('INVALID_TOKEN_REQUEST');
    }
    expect(await codeOf(ring.sign({}, { ...signOpts, subject: '' }))).toBe('INVALID_TOKEN_REQUEST');
  });
});

describe('KeyRing.rotate', () => {
  it('a token signed before rotate() still verifies after it; new tokens use the new key', async () => {
    const { clock } = manualClock();
    const store = new FakeKeyStore();
    const ring = await KeyRing.load(store, clock);
    const oldKid = ring.currentKid;
    const before = await ring.sign({ n: 1 }, signOpts);
    const newKid = await ring.rotate();
    expect(newKid).not.toBe(oldKid);
    expect(ring.currentKid).toBe(newKid);
    expect(ring.jwks().keys.map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());
    expect((await ring.verify(before, { audience: 'test:aud' })).n).toBe(1);
    const after = await ring.sign({ n: 2 }, signOpts);
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    expect(store.keys.get(oldKid)?.retiredAt).toBe(clock().toISOString());
    expect(store.keys.get(newKid)?.retiredAt).toBeUndefined();
  });

  it('rotations persist: a fresh load signs with the newest key and still verifies the old one', async () => {
    const { clock } = manualClock();
    const store = new FakeKeyStore();
    const ring = await KeyRing.load(store, clock);
    const before = await ring.sign({}, signOpts);
    const newKid = await ring.rotate();
    const reloaded = await KeyRing.load(store, clock);
    expect(reloaded.currentKid).toBe(newKid);
    expect(reloaded.jwks().keys).toHaveLength(2);
    await expect(reloaded.verify(before, { audience: 'test:aud' })).resolves.toBeDefined();
  });

  it('drops a retired key from the JWKS after the grace period, and stops verifying with it', async () => {
    const { clock, advance } = manualClock();
    const ring = await KeyRing.load(new FakeKeyStore(), clock, { retiredGraceSeconds: 3600 });
    const longLived = await ring.sign({}, { ...signOpts, expiresInSeconds: 7 * 24 * 3600 });
    const newKid = await ring.rotate();
    advance(3599);
    expect(ring.jwks().keys).toHaveLength(2);
    await expect(ring.verify(longLived, { audience: 'test:aud' })).resolves.toBeDefined();
    advance(1);
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([newKid]);
    expect(await codeOf(ring.verify(longLived, { audience: 'test:aud' }))).toBe('TOKEN_INVALID');
  });

  it('converges when two instances raced to create the first key: the newest active key signs, both verify', async () => {
    const { clock, advance } = manualClock();
    const store = new FakeKeyStore();
    const a = await KeyRing.load(store, clock);
    const fromA = await a.sign({}, signOpts);
    advance(1);
    // Instance B also saw an empty store and saved its own key there.
    const elsewhere = new FakeKeyStore();
    const b = await KeyRing.load(elsewhere, clock);
    for (const key of elsewhere.keys.values()) await store.saveSigningKey(key);
    await a.refresh();
    const c = await KeyRing.load(store, clock);
    expect(a.currentKid).toBe(b.currentKid);
    expect(c.currentKid).toBe(b.currentKid);
    expect(a.jwks().keys).toHaveLength(2);
    await expect(c.verify(fromA, { audience: 'test:aud' })).resolves.toBeDefined();
  });
});
