import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import { isCanonicalCompactJws } from '../protocol/compact-jws.js';
import { checkJwt } from '../protocol/jwt.js';
import { verifyRouteTicket } from '../protocol/route-ticket.js';
import { verifyInvite } from '../protocol/invite.js';
import { issueInvite } from './invites.js';
import { INVITE_MAX_SECONDS, KeyRing } from './keys.js';
import { MemorySigningKeySecrets } from './signing-key-secrets.js';
import { MemoryStore } from './store/memory-store.js';
import { issueJoinToken, issueRouteTicket, verifyJoinTokenOnce } from './tickets.js';
import { codeOf } from '../protocol/code-of.fixture.js';

/** A key store and the secrets beside it: what one broker's data directory holds. */
function dataDir(): { store: MemoryStore; secrets: MemorySigningKeySecrets } {
  return { store: new MemoryStore(), secrets: new MemorySigningKeySecrets() };
}

/** Loads a ring on `dir`, as a broker starting on it would. */
function open(dir: ReturnType<typeof dataDir>, clock: () => Date, retiredGraceSeconds?: number): Promise<KeyRing> {
  return KeyRing.load(dir.store, clock, { secrets: dir.secrets, ...(retiredGraceSeconds === undefined ? {} : { retiredGraceSeconds }) });
}

/** A ring on a data directory of its own. */
function freshRing(clock: () => Date, retiredGraceSeconds?: number): Promise<KeyRing> {
  return open(dataDir(), clock, retiredGraceSeconds);
}

/** A clock the test moves by hand. */
function manualClock(start = '2026-03-01T12:00:00Z'): { clock: () => Date; advance: (seconds: number) => void } {
  let now = new Date(start).getTime();
  return { clock: () => new Date(now), advance: (s) => (now += s * 1000) };
}


const signOpts = { audience: 'test:aud', subject: 'p-1', expiresInSeconds: 60, type: 'test+jwt' } as const;

const CODES = { invalid: 'TOKEN_INVALID', expired: 'TOKEN_EXPIRED', revoked: 'KEY_REVOKED', unavailable: 'JWKS_UNAVAILABLE' } as const;

/**
 * Checks a token against the ring's live keys as src/protocol's verifiers do
 * (`typ` test+jwt unless given), at `now` — by default the token's own `iat`,
 * so only the tests of expiry move time; refusals reject with a code.
 */
async function verify(ring: KeyRing, token: string, options: { audience: string; issuer?: string; type?: string }, now?: Date): Promise<JWTPayload> {
  const at = now ?? new Date(Number(decodeJwt(token).iat) * 1000);
  const check = await checkJwt(token, ring, { type: 'test+jwt', ...options, now: at });
  if (check.ok) return check.payload;
  throw Object.assign(new Error(check.detail), { code: CODES[check.reason] });
}

describe('KeyRing.load', () => {
  it('generates the first key; kid is the RFC 7638 thumbprint; the store holds only its public half', async () => {
    const dir = dataDir();
    const ring = await open(dir, manualClock().clock);
    const [stored, ...others] = await dir.store.listSigningKeys();
    expect(others).toEqual([]);
    expect(stored?.kid).toBe(ring.currentKid);
    expect(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: stored?.publicJwk.x ?? '' })).toBe(ring.currentKid);
    expect(stored?.publicJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: stored?.publicJwk.x });
    expect((await dir.secrets.load(ring.currentKid))?.asymmetricKeyType).toBe('ed25519');
    expect(ring.jwks()).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: stored?.publicJwk.x, kid: ring.currentKid, alg: 'EdDSA', use: 'sig' }] });
  });

  it('persists keys: a second load on the same data directory uses the same key and verifies its tokens', async () => {
    const dir = dataDir();
    const { clock } = manualClock();
    const first = await open(dir, clock);
    const token = await first.sign({ hello: 'world' }, signOpts);
    const second = await open(dir, clock);
    expect(second.currentKid).toBe(first.currentKid);
    expect(await dir.store.listSigningKeys()).toHaveLength(1);
    expect((await verify(second, token, { audience: 'test:aud' })).hello).toBe('world');
  });

  it('refuses a stored key whose kid is not its thumbprint (SIGNING_KEY_INVALID)', async () => {
    const dir = dataDir();
    const ring = await open(dir, manualClock().clock);
    const [key] = await dir.store.listSigningKeys();
    const forged = dataDir();
    await forged.store.saveSigningKey({ ...(key ?? { publicJwk: {}, createdAt: '' }), kid: 'forged-kid' });
    expect(await codeOf(open(forged, manualClock().clock))).toBe('SIGNING_KEY_INVALID');
    expect(ring.currentKid).not.toBe('forged-kid');
  });

  it("refuses a private key that is another key's (SIGNING_KEY_INVALID)", async () => {
    const dir = dataDir();
    const ring = await open(dir, manualClock().clock);
    await dir.secrets.remove(ring.currentKid);
    await dir.secrets.save(ring.currentKid, generateKeyPairSync('ed25519').privateKey);
    expect(await codeOf(open(dir, manualClock().clock))).toBe('SIGNING_KEY_INVALID');
  });

  it('makes a new key when the current private key is lost; what the lost key signed verifies for the grace period', async () => {
    const dir = dataDir();
    const { clock, advance } = manualClock();
    const ring = await open(dir, clock, 3600);
    const lost = ring.currentKid;
    const token = await ring.sign({}, signOpts);
    await dir.secrets.remove(lost);
    advance(1);
    const again = await open(dir, clock, 3600);
    expect(again.currentKid).not.toBe(lost);
    expect(again.list().map((k) => [k.kid, k.state])).toEqual([
      [again.currentKid, 'current'],
      [lost, 'retired'],
    ]);
    await expect(verify(again, token, { audience: 'test:aud' })).resolves.toBeDefined();
    advance(3600);
    expect(await codeOf(verify(again, token, { audience: 'test:aud' }))).toBe('TOKEN_INVALID');
  });
});

describe('KeyRing.sign, checked by src/protocol', () => {
  it('round-trips claims and sets iat, exp, aud, sub, jti, kid', async () => {
    const { clock } = manualClock();
    const ring = await freshRing(clock);
    const token = await ring.sign({ meeting: 'm-1', list: ['a', 'b'] }, { ...signOpts, issuer: 'https://broker.example', type: 'test+jwt' });
    const payload = await verify(ring, token, { audience: 'test:aud', issuer: 'https://broker.example', type: 'test+jwt' });
    const iat = Math.floor(clock().getTime() / 1000);
    expect(payload).toMatchObject({ meeting: 'm-1', list: ['a', 'b'], aud: 'test:aud', sub: 'p-1', iss: 'https://broker.example', iat, exp: iat + 60 });
    expect(payload.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'EdDSA', kid: ring.currentKid, typ: 'test+jwt' });
  });

  it('gives every token its own jti', async () => {
    const ring = await freshRing(manualClock().clock);
    const a = await verify(ring, await ring.sign({}, signOpts), { audience: 'test:aud' });
    const b = await verify(ring, await ring.sign({}, signOpts), { audience: 'test:aud' });
    expect(a.jti).not.toBe(b.jti);
  });

  it('rejects an expired token (TOKEN_EXPIRED) after the clock tolerance, not before', async () => {
    const { clock, advance } = manualClock();
    const ring = await freshRing(clock);
    const token = await ring.sign({}, signOpts);
    advance(64);
    await expect(verify(ring, token, { audience: 'test:aud' }, clock())).resolves.toBeDefined();
    advance(2);
    expect(await codeOf(verify(ring, token, { audience: 'test:aud' }, clock()))).toBe('TOKEN_EXPIRED');
  });

  it('rejects the wrong audience, issuer or type (TOKEN_INVALID)', async () => {
    const ring = await freshRing(manualClock().clock);
    const token = await ring.sign({}, { ...signOpts, issuer: 'https://a.example', type: 'a+jwt' });
    expect(await codeOf(verify(ring, token, { audience: 'other:aud' }))).toBe('TOKEN_INVALID');
    expect(await codeOf(verify(ring, token, { audience: 'test:aud', issuer: 'https://b.example' }))).toBe('TOKEN_INVALID');
    expect(await codeOf(verify(ring, token, { audience: 'test:aud', type: 'b+jwt' }))).toBe('TOKEN_INVALID');
  });

  it('rejects a token signed by another key ring (forged)', async () => {
    const { clock } = manualClock();
    const ring = await freshRing(clock);
    const forger = await freshRing(clock);
    expect(await codeOf(verify(ring, await forger.sign({}, signOpts), { audience: 'test:aud' }))).toBe('TOKEN_INVALID');
  });

  it('rejects a token whose signature differs only in the unused bits of its last character', async () => {
    const ring = await freshRing(manualClock().clock);
    const token = await ring.sign({}, signOpts);
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = token.at(-1) ?? '';
    const twin = token.slice(0, -1) + (alphabet[alphabet.indexOf(last) ^ 1] ?? '');
    // Both spell the same 64 signature bytes: a lenient decoder would accept the twin.
    expect(Buffer.from(twin.split('.')[2] ?? '', 'base64url')).toEqual(Buffer.from(token.split('.')[2] ?? '', 'base64url'));
    expect(isCanonicalCompactJws(twin)).toBe(false);
    expect(await codeOf(verify(ring, twin, { audience: 'test:aud' }))).toBe('TOKEN_INVALID');
  });

  it('refuses to sign with a lifetime that is not a positive integer (INVALID_TOKEN_REQUEST)', async () => {
    const ring = await freshRing(manualClock().clock);
    for (const expiresInSeconds of [0, -1, 1.5, Number.NaN]) {
      expect(await codeOf(ring.sign({}, { ...signOpts, expiresInSeconds }))).toBe('INVALID_TOKEN_REQUEST');
    }
    expect(await codeOf(ring.sign({}, { ...signOpts, subject: '' }))).toBe('INVALID_TOKEN_REQUEST');
  });
});

describe('KeyRing.rotate', () => {
  it('a token signed before rotate() still verifies after it; new tokens use the new key; the old private key is destroyed', async () => {
    const { clock } = manualClock();
    const dir = dataDir();
    const ring = await open(dir, clock);
    const oldKid = ring.currentKid;
    const before = await ring.sign({ n: 1 }, signOpts);
    const newKid = await ring.rotate();
    expect(newKid).not.toBe(oldKid);
    expect(ring.currentKid).toBe(newKid);
    expect(ring.jwks().keys.map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());
    expect((await verify(ring, before, { audience: 'test:aud' })).n).toBe(1);
    const after = await ring.sign({ n: 2 }, signOpts);
    expect(decodeProtectedHeader(after).kid).toBe(newKid);
    const stored = new Map((await dir.store.listSigningKeys()).map((k) => [k.kid, k]));
    expect(stored.get(oldKid)?.retiredAt).toBe(clock().toISOString());
    expect(stored.get(newKid)?.retiredAt).toBeUndefined();
    // A retired key only verifies, with its public half: its private half is gone.
    expect(await dir.secrets.load(oldKid)).toBeUndefined();
    expect(await dir.secrets.load(newKid)).toBeDefined();
  });

  it('rotations persist: a fresh load signs with the newest key and still verifies the old one', async () => {
    const { clock } = manualClock();
    const dir = dataDir();
    const ring = await open(dir, clock);
    const before = await ring.sign({}, signOpts);
    const newKid = await ring.rotate();
    const reloaded = await open(dir, clock);
    expect(reloaded.currentKid).toBe(newKid);
    expect(reloaded.jwks().keys).toHaveLength(2);
    await expect(verify(reloaded, before, { audience: 'test:aud' })).resolves.toBeDefined();
  });

  it('drops a retired key from the JWKS after the grace period, and stops verifying with it', async () => {
    const { clock, advance } = manualClock();
    const ring = await freshRing(clock, 3600);
    const longLived = await ring.sign({}, { ...signOpts, expiresInSeconds: 7 * 24 * 3600 });
    advance(1);
    const newKid = await ring.rotate();
    expect(ring.list()[1]).toMatchObject({ state: 'retired', verifiesUntil: new Date(clock().getTime() + 3600_000).toISOString() });
    advance(3599);
    expect(ring.jwks().keys).toHaveLength(2);
    await expect(verify(ring, longLived, { audience: 'test:aud' })).resolves.toBeDefined();
    advance(1);
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([newKid]);
    expect(await codeOf(verify(ring, longLived, { audience: 'test:aud' }))).toBe('TOKEN_INVALID');
  });

  it('lets a retired key verify the invites it signed for as long as an invite may live, and nothing else past the grace', async () => {
    const { clock, advance } = manualClock();
    const ring = await freshRing(clock);
    const { token: invite } = await issueInvite(ring, 'm1', INVITE_MAX_SECONDS, clock());
    const joinToken = await ring.sign({}, { ...signOpts, expiresInSeconds: INVITE_MAX_SECONDS });
    advance(1);
    await ring.rotate();
    // A day and an hour after the rotation: past the 24 h grace.
    advance(25 * 3600);
    expect(await verifyInvite(ring.inviteKeys(), invite, clock())).toBe('m1');
    expect(await codeOf(verify(ring, joinToken, { audience: 'test:aud' }))).toBe('TOKEN_INVALID');
    expect(await codeOf(verifyInvite(ring, invite, clock())), 'invites checked with the tokens’ keys').toBe('INVITE_INVALID');
    // Past an invite's longest life the key verifies nothing, and the link says so rather than blame the copying.
    advance(INVITE_MAX_SECONDS);
    await expect(verifyInvite(ring.inviteKeys(), invite, clock())).rejects.toMatchObject({ code: 'INVITE_INVALID', message: expect.stringContaining('signed by a key the broker no longer verifies with') as unknown });
  });

  it('converges when two instances raced to create the first key: the newest active key signs, both verify', async () => {
    const { clock, advance } = manualClock();
    const dir = dataDir();
    const a = await open(dir, clock);
    const fromA = await a.sign({}, signOpts);
    advance(1);
    // Instance B, on the same data directory, also saw an empty store and saved its own key there.
    const elsewhere = { store: new MemoryStore(), secrets: dir.secrets };
    const b = await open(elsewhere, clock);
    for (const key of await elsewhere.store.listSigningKeys()) await dir.store.saveSigningKey(key);
    await a.refresh();
    const c = await open(dir, clock);
    expect(a.currentKid).toBe(b.currentKid);
    expect(c.currentKid).toBe(b.currentKid);
    expect(a.jwks().keys).toHaveLength(2);
    await expect(verify(c, fromA, { audience: 'test:aud' })).resolves.toBeDefined();
  });
});

describe('KeyRing, brokers sharing one store', () => {
  /** Broker `holder`'s ring on the shared store, with its own data directory's secrets. */
  const broker = (store: MemoryStore, holder: string, clock: () => Date) => KeyRing.load(store, clock, { secrets: new MemorySigningKeySecrets(), holder, retiredGraceSeconds: 3600 });

  it('each broker signs with its own key, verifies the others, and rotating retires only its own', async () => {
    const { clock, advance } = manualClock();
    const store = new MemoryStore();
    const a = await broker(store, 'broker-a', clock);
    advance(1);
    const b = await broker(store, 'broker-b', clock);
    await a.refresh();
    expect(a.currentKid).not.toBe(b.currentKid);
    expect(a.isActive(b.currentKid) && b.isActive(a.currentKid)).toBe(true);
    const fromA = await a.sign({}, signOpts);
    await expect(verify(b, fromA, { audience: 'test:aud' })).resolves.toBeDefined();
    const aKid = a.currentKid;
    advance(1);
    await b.rotate();
    await a.refresh();
    expect(a.currentKid).toBe(aKid);
    expect(a.isActive(aKid)).toBe(true);
    expect(a.list().map((k) => [k.holder, k.state])).toEqual([
      ['broker-b', 'current'],
      ['broker-b', 'retired'],
      ['broker-a', 'current'],
    ]);
    // Hours later A still signs, and what it signs still verifies: B's rotation did not start A's grace period.
    advance(7200);
    await b.refresh();
    await expect(verify(b, await a.sign({}, signOpts), { audience: 'test:aud' })).resolves.toBeDefined();
  });

  it("a broker whose key another broker revoked makes a new one of its own (ensureCurrent); the revoked one verifies nothing", async () => {
    const { clock } = manualClock();
    const store = new MemoryStore();
    const a = await broker(store, 'broker-a', clock);
    const b = await broker(store, 'broker-b', clock);
    const old = a.currentKid;
    const token = await a.sign({}, signOpts);
    await b.refresh();
    await b.revoke(old);
    expect(b.currentKid).not.toBe(old);
    await a.refresh();
    expect(await a.ensureCurrent()).toBe(true);
    expect(a.currentKid).not.toBe(old);
    expect(await a.ensureCurrent()).toBe(false);
    expect(await codeOf(verify(a, token, { audience: 'test:aud' }))).toBe('KEY_REVOKED');
  });
});

describe('KeyRing.revoke', () => {
  it('a revoked retired key stops verifying at once (KEY_REVOKED), leaves the JWKS, and is listed as revoked', async () => {
    const { clock, advance } = manualClock();
    const ring = await freshRing(clock);
    const old = ring.currentKid;
    const token = await ring.sign({}, signOpts);
    advance(10);
    const current = await ring.rotate();
    expect(await ring.revoke(old)).toEqual({ kid: old, revokedAt: clock().toISOString() });
    expect(await codeOf(verify(ring, token, { audience: 'test:aud' }))).toBe('KEY_REVOKED');
    expect(ring.jwks().keys.map((k) => k.kid)).toEqual([current]);
    expect(ring.isRevoked(old)).toBe(true);
    expect(ring.isActive(old)).toBe(false);
    expect(ring.revokedKids()).toEqual([old]);
    expect(ring.list().map((k) => [k.kid, k.state])).toEqual([
      [current, 'current'],
      [old, 'revoked'],
    ]);
    expect(ring.currentKid).toBe(current);
  });

  it('revoking the current key first makes a new one current: new tokens verify, the old ones do not', async () => {
    const { clock } = manualClock();
    const dir = dataDir();
    const ring = await open(dir, clock);
    const old = ring.currentKid;
    const token = await ring.sign({}, signOpts);
    const revocation = await ring.revoke(old);
    expect(revocation.rotatedTo).toBe(ring.currentKid);
    expect(ring.currentKid).not.toBe(old);
    expect(await codeOf(verify(ring, token, { audience: 'test:aud' }))).toBe('KEY_REVOKED');
    await expect(verify(ring, await ring.sign({}, signOpts), { audience: 'test:aud' })).resolves.toBeDefined();
    expect(await dir.secrets.load(old)).toBeUndefined();
  });

  it('stays revoked across restarts, and a second revocation keeps the first time', async () => {
    const { clock, advance } = manualClock();
    const dir = dataDir();
    const ring = await open(dir, clock);
    const old = ring.currentKid;
    const token = await ring.sign({}, signOpts);
    const first = await ring.revoke(old);
    advance(60);
    const again = await open(dir, clock);
    expect(again.isRevoked(old)).toBe(true);
    expect(await codeOf(verify(again, token, { audience: 'test:aud' }))).toBe('KEY_REVOKED');
    expect(await again.revoke(old)).toEqual({ kid: old, revokedAt: first.revokedAt });
    expect(again.currentKid).toBe(first.rotatedTo);
  });

  it('refuses a kid it does not know (NOT_FOUND) and changes nothing', async () => {
    const ring = await freshRing(manualClock().clock);
    const current = ring.currentKid;
    expect(await codeOf(ring.revoke('no-such-kid'))).toBe('NOT_FOUND');
    expect(ring.currentKid).toBe(current);
    expect(ring.revokedKids()).toEqual([]);
  });

  it('reaches the token verifiers: route tickets and join tokens, even a join token verified and remembered before', async () => {
    const { clock } = manualClock();
    const ring = await freshRing(clock);
    const ticket = await issueRouteTicket(ring, {
      issuer: 'https://b',
      participant: 'p',
      meeting: 'm',
      candidates: ['us-east'],
      candidateJurisdictions: ['US'],
      decision: 'd',
      country: 'US',
      name: 'P',
      manifest: 'a'.repeat(64),
      policy: { hostCountry: 'US' },
      ice: {},
      candidateRoles: ['primary'],
      attempts: { perPrimary: 2, timeoutMs: 1500 },
    });
    const join = await issueJoinToken(ring, { participant: 'p', meeting: 'm', account: 'a', name: 'P' });
    // Verified once: its signature is remembered while its key is active.
    await verifyJoinTokenOnce(ring, join.token, { now: clock() });
    await expect(verifyJoinTokenOnce(ring, join.token, { now: clock() })).resolves.toMatchObject({ meeting: 'm' });
    await ring.revoke(ring.currentKid);
    expect(await codeOf(verifyRouteTicket(ring, ticket.token, { now: clock() }))).toBe('KEY_REVOKED');
    expect(await codeOf(verifyJoinTokenOnce(ring, join.token, { now: clock() }))).toBe('KEY_REVOKED');
    // A revoked key is refused whatever else the token says: also by a verifier given the JWKS alone, which no longer has it.
    expect(await codeOf(verifyRouteTicket(ring.jwks(), ticket.token, { now: clock() }))).toBe('TICKET_INVALID');
  });
});
