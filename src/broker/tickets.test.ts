import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { CompactSign, base64url, createLocalJWKSet, createRemoteJWKSet, decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KeyRing, type KeyStore } from './keys.js';
import { verifyControlMessage } from '../protocol/control-message.js';
import { IDENTITY_AUDIENCE, verifyIdentityAssertion } from '../protocol/identity-assertion.js';
import { JOIN_TOKEN_AUDIENCE, verifyJoinToken } from '../protocol/join-token.js';
import { decodeCbor, encodeCbor, type CborMap } from '../protocol/cbor.js';
import { encodeRouteTicketClaims, ROUTE_TICKET_AUDIENCE, ROUTE_TICKET_MAX_CHARS, ROUTE_TICKET_TYPE, ticketJurisdictions, verifyRouteTicket } from '../protocol/route-ticket.js';
import { issueControlMessage, issueIdentityAssertion, issueJoinToken, issueRouteTicket, verifyJoinTokenOnce, type RouteTicketInput } from './tickets.js';
import type { SigningKey } from './store/store.js';
import { parseManifest } from '../core/manifest/parse.js';
import type { Manifest } from '../core/manifest/types.js';
import { codeOf } from '../protocol/code-of.fixture.js';

/** The three key methods of Store, in memory. */
function fakeKeyStore(): KeyStore {
  const keys = new Map<string, SigningKey>();
  return {
    saveSigningKey: (key) => Promise.resolve(void keys.set(key.kid, key)),
    retireSigningKeysExcept: (kid, at) => {
      for (const [k, key] of keys) if (k !== kid && key.retiredAt === undefined) keys.set(k, { ...key, retiredAt: at });
      return Promise.resolve();
    },
    revokeSigningKey: () => Promise.reject(new Error('not used here')),
    listSigningKeys: () => Promise.resolve([...keys.values()].reverse()),
  };
}

const T0 = new Date('2026-03-01T12:00:00Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);


const WORLD_TEXT = readFileSync(new URL('../../examples/world.yaml', import.meta.url), 'utf8');
const WORLD_SHA256 = createHash('sha256').update(WORLD_TEXT).digest('hex');
const world = parseManifest(WORLD_TEXT, 'world.yaml').manifest as Manifest;
/** The manifests a verifier knows: world.yaml only. */
const known = (sha256: string): Manifest | undefined => (sha256 === WORLD_SHA256 ? world : undefined);
const fence = (code: string): { code: string; manifests: typeof known } => ({ code, manifests: known });

const ticketInput: RouteTicketInput = {
  issuer: 'https://broker.example',
  participant: 'p-42',
  meeting: 'm-7',
  candidates: ['eu-fra', 'eu-ams'],
  candidateJurisdictions: ['DE', 'NL'],
  name: 'Ada Lovelace',
  decision: 'd-123',
  country: 'DE',
  manifest: WORLD_SHA256,
  policy: { hostCountry: 'DE' },
  ice: { 'eu-fra': [{ urls: ['turn:turn.fra.example:3478'], jurisdiction: 'DE' }] },
  candidateRoles: ['primary', 'secondary'],
  attempts: { perPrimary: 2, timeoutMs: 1500 },
};

let ring: KeyRing;
let forger: KeyRing;

beforeAll(async () => {
  ring = await KeyRing.load(fakeKeyStore(), () => T0);
  forger = await KeyRing.load(fakeKeyStore(), () => T0);
});

describe('route tickets', () => {
  it('issue → verify returns the claims, with every accepted form of keys', async () => {
    const { token, claims } = await issueRouteTicket(ring, ticketInput);
    const iat = T0.getTime() / 1000;
    expect(claims).toEqual({
      iss: 'https://broker.example',
      sub: 'p-42',
      aud: ROUTE_TICKET_AUDIENCE,
      meeting: 'm-7',
      candidates: ['eu-fra', 'eu-ams'],
      candidateJurisdictions: ['DE', 'NL'],
      decision: 'd-123',
      country: 'DE',
      name: 'Ada Lovelace',
      manifest: WORLD_SHA256,
      policy: { hostCountry: 'DE' },
      ice: ticketInput.ice,
      candidateRoles: ['primary', 'secondary'],
      attempts: { perPrimary: 2, timeoutMs: 1500 },
      iat,
      exp: iat + 120,
    });
    for (const keys of [ring, ring.jwks(), createLocalJWKSet({ keys: ring.jwks().keys.map((k) => ({ ...k })) })]) {
      expect(await verifyRouteTicket(keys, token, { now: T0, datacenter: 'eu-ams', jurisdiction: fence('NL'), issuer: 'https://broker.example' })).toEqual(claims);
    }
  });

  it('checks the bridge: a datacenter not among the candidates, a jurisdiction outside the fence, or an unknown manifest, is refused', async () => {
    const { token } = await issueRouteTicket(ring, ticketInput);
    expect(await codeOf(verifyRouteTicket(ring, token, { now: T0, datacenter: 'us-east' }))).toBe('TICKET_WRONG_DATACENTER');
    expect(await codeOf(verifyRouteTicket(ring, token, { now: T0, datacenter: 'eu-fra', jurisdiction: fence('CN') }))).toBe('TICKET_OUTSIDE_FENCE');
    expect(await codeOf(verifyRouteTicket(ring, token, { now: T0, jurisdiction: fence('de') }))).toBe('TICKET_OUTSIDE_FENCE');
    expect(await codeOf(verifyRouteTicket(ring, token, { now: T0, jurisdiction: { code: 'DE', manifests: () => undefined } }))).toBe('TICKET_UNKNOWN_MANIFEST');
  });

  it('derives the fence from the manifest and the policy inputs, through the decider: narrowing inputs narrow it', async () => {
    expect(ticketJurisdictions(world, ticketInput)).toContain('NL');
    expect(ticketJurisdictions(world, ticketInput)).not.toContain('CN');
    const narrowed = { ...ticketInput, policy: { hostCountry: 'DE', meetingJurisdictions: ['DE'] } };
    expect(ticketJurisdictions(world, narrowed)).toEqual(['DE']);
    const { token } = await issueRouteTicket(ring, narrowed);
    await expect(verifyRouteTicket(ring, token, { now: T0, jurisdiction: fence('DE') })).resolves.toBeDefined();
    expect(await codeOf(verifyRouteTicket(ring, token, { now: T0, jurisdiction: fence('NL') }))).toBe('TICKET_OUTSIDE_FENCE');
  });

  it('is compact: a typical ticket is a few hundred characters, whatever the manifest', async () => {
    // The broker's own ids go as their UUID's 16 bytes (in JSON: 1,008 characters for such a ticket), and read back as they were.
    const ids = { participant: 'ptc_0b5e6d25-7ee4-4ee8-a236-b4fd4c47d410', meeting: 'mtg_03b9f256-3604-4ea0-8bd3-9c2504ac939a', decision: 'dec_01a24b7e-efa1-7303-ade8-8650eaec40e7' };
    const real = await issueRouteTicket(ring, { ...ticketInput, ...ids });
    expect([real.claims.sub, real.claims.meeting, real.claims.decision]).toEqual([ids.participant, ids.meeting, ids.decision]);
    expect(real.token.length).toBeLessThan(560);
    expect(await verifyRouteTicket(ring, real.token, { now: T0 })).toEqual(real.claims);
  });

  it('expires after 120 s (plus the clock tolerance)', async () => {
    const { token } = await issueRouteTicket(ring, ticketInput);
    await expect(verifyRouteTicket(ring, token, { now: at(124) })).resolves.toBeDefined();
    expect(await codeOf(verifyRouteTicket(ring, token, { now: at(126) }))).toBe('TICKET_EXPIRED');
    const short = await issueRouteTicket(ring, { ...ticketInput, expiresInSeconds: 10 });
    expect(await codeOf(verifyRouteTicket(ring, short.token, { now: at(16) }))).toBe('TICKET_EXPIRED');
  });

  it('rejects a ticket signed by another key (forged)', async () => {
    const { token } = await issueRouteTicket(forger, ticketInput);
    expect(await codeOf(verifyRouteTicket(ring, token, { now: T0 }))).toBe('TICKET_INVALID');
    expect(await codeOf(verifyRouteTicket(ring.jwks(), token, { now: T0 }))).toBe('TICKET_INVALID');
  });

  it('rejects a ticket from another issuer when an issuer is expected', async () => {
    const { token } = await issueRouteTicket(ring, { ...ticketInput, issuer: 'https://evil.example' });
    expect(await codeOf(verifyRouteTicket(ring, token, { now: T0, issuer: 'https://broker.example' }))).toBe('TICKET_INVALID');
  });

  it('rejects a tampered payload (a candidate added, the signature kept)', async () => {
    const { token } = await issueRouteTicket(ring, ticketInput);
    const [header, payload, signature] = token.split('.');
    const claims = new Map(decodeCbor(base64url.decode(payload ?? '')) as CborMap);
    claims.set(10, [...(claims.get(10) as string[][]), ['us-east', 'US']]);
    const forged = base64url.encode(encodeCbor(claims));
    expect(payload).not.toBe(forged);
    expect(await codeOf(verifyRouteTicket(ring, `${header ?? ''}.${forged}.${signature ?? ''}`, { now: T0, datacenter: 'us-east' }))).toBe('TICKET_INVALID');
  });

  it('rejects alg none, with or without a signature segment', async () => {
    const { claims } = await issueRouteTicket(ring, ticketInput);
    const payload = base64url.encode(encodeRouteTicketClaims(claims));
    for (const header of [{ alg: 'none', typ: ROUTE_TICKET_TYPE }, { alg: 'none', kid: ring.currentKid, typ: ROUTE_TICKET_TYPE }]) {
      const encoded = base64url.encode(JSON.stringify(header));
      for (const unsecured of [`${encoded}.${payload}.`, `${encoded}.${payload}.AAAA`]) expect(await codeOf(verifyRouteTicket(ring, unsecured, { now: T0 }))).toBe('TICKET_INVALID');
    }
  });

  it('rejects HS256, including one keyed with the public key (algorithm confusion)', async () => {
    const { claims } = await issueRouteTicket(ring, ticketInput);
    const publicBytes = base64url.decode(ring.jwks().keys[0]?.x ?? '');
    for (const secret of [publicBytes, new TextEncoder().encode(JSON.stringify(ring.jwks()))]) {
      const hs = await new CompactSign(encodeRouteTicketClaims(claims)).setProtectedHeader({ alg: 'HS256', kid: ring.currentKid, typ: ROUTE_TICKET_TYPE }).sign(secret);
      expect(await codeOf(verifyRouteTicket(ring, hs, { now: T0 }))).toBe('TICKET_INVALID');
      expect(await codeOf(verifyRouteTicket(ring.jwks(), hs, { now: T0 }))).toBe('TICKET_INVALID');
    }
  });

  it('rejects a token with the right audience but no route-ticket typ header, and a ticket signed as another kind', async () => {
    const token = await ring.sign({ ...ticketInput }, { audience: ROUTE_TICKET_AUDIENCE, subject: 'p-42', expiresInSeconds: 60, issuer: 'https://broker.example' });
    expect(await codeOf(verifyRouteTicket(ring, token, { now: T0 }))).toBe('TICKET_INVALID');
    const { claims } = await issueRouteTicket(ring, ticketInput);
    const { token: asJoin } = await ring.signPayload('gb-join+jwt', () => encodeRouteTicketClaims(claims));
    expect(await codeOf(verifyRouteTicket(ring, asJoin, { now: T0 }))).toBe('TICKET_INVALID');
  });

  it('rejects garbage', async () => {
    for (const token of ['', 'a.b', 'a.b.c', '...', 'not a token', 'eyJhbGciOiJFZERTQSJ9.e30.'] as const) {
      expect(await codeOf(verifyRouteTicket(ring, token, { now: T0 }))).toBe('TICKET_INVALID');
    }
  });

  it('refuses to issue a ticket it would not accept (INVALID_TOKEN_REQUEST)', async () => {
    const badInputs: Partial<RouteTicketInput>[] = [
      { candidates: [] },
      { candidateJurisdictions: ['de', 'NL'] },
      { candidateJurisdictions: ['DE'] },
      { country: 'Germany' },
      { meeting: '' },
      { issuer: '' },
      { decision: '' },
      { manifest: 'AB'.repeat(32) },
      { policy: { hostCountry: 'de' } },
      { policy: { hostCountry: 'DE', meetingJurisdictions: [] } },
      { ice: { 'eu-fra': [] } },
      { ice: { 'eu-fra': [{ urls: [], jurisdiction: 'DE' }] } },
    ];
    for (const bad of badInputs) {
      expect(await codeOf(issueRouteTicket(ring, { ...ticketInput, ...bad }))).toBe('INVALID_TOKEN_REQUEST');
    }
    expect(await codeOf(issueRouteTicket(ring, { ...ticketInput, participant: '' }))).toBe('INVALID_TOKEN_REQUEST');
  });

  it('refuses to issue a ticket no bridge would take (ROUTE_TICKET_TOO_LARGE): an allowance past its limit, as a manifest may declare', async () => {
    const servers = Array.from({ length: 16 }, (_, s) => ({ urls: Array.from({ length: 8 }, (_, u) => `turn:${'r'.repeat(400)}${String(s)}-${String(u)}.example:3478`), jurisdiction: 'DE' }));
    expect(await codeOf(issueRouteTicket(ring, { ...ticketInput, ice: { 'eu-fra': servers, 'eu-ams': servers } }))).toBe('ROUTE_TICKET_TOO_LARGE');
    const { token } = await issueRouteTicket(ring, { ...ticketInput, ice: { 'eu-fra': servers.slice(0, 8) } });
    expect(token.length).toBeGreaterThan(30_000);
    expect(token.length).toBeLessThanOrEqual(ROUTE_TICKET_MAX_CHARS);
  });

  it('refuses policy inputs it does not know: one could narrow the fence on the broker and be ignored here', async () => {
    const input = { ...ticketInput, policy: { hostCountry: 'DE', tomorrow: ['DE'] } as RouteTicketInput['policy'] };
    expect(await codeOf(issueRouteTicket(ring, input))).toBe('INVALID_TOKEN_REQUEST');
  });
});

describe('route tickets through a remote JWKS', () => {
  let server: Server;
  let url: URL;

  beforeAll(async () => {
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(ring.jwks()));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`);
  });

  afterAll(async () => {
    await new Promise<void>((resolve, reject) => {
      server.close((e) => {
        if (e) reject(e);
        else resolve();
      });
    });
  });

  it('verifies with createRemoteJWKSet, and tells forged tickets from an unreachable key set', async () => {
    const jwks = createRemoteJWKSet(url);
    const { token, claims } = await issueRouteTicket(ring, ticketInput);
    expect(await verifyRouteTicket(jwks, token, { now: T0, datacenter: 'eu-fra', jurisdiction: fence('DE') })).toEqual(claims);
    const forged = await issueRouteTicket(forger, ticketInput);
    expect(await codeOf(verifyRouteTicket(jwks, forged.token, { now: T0 }))).toBe('TICKET_INVALID');

    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = new URL(`http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks.json`);
    await new Promise<void>((resolve) => closed.close(() => { resolve(); }));
    expect(await codeOf(verifyRouteTicket(createRemoteJWKSet(deadUrl), token, { now: T0 }))).toBe('JWKS_UNAVAILABLE');
  });
});

describe('join tokens', () => {
  const input = { participant: 'p-1', meeting: 'm-1', account: 'acme', name: 'Ada Lovelace' };

  it('round-trips, and checks the meeting when one is expected', async () => {
    const { token, claims } = await issueJoinToken(ring, input);
    expect(claims).toMatchObject({ sub: 'p-1', aud: JOIN_TOKEN_AUDIENCE, meeting: 'm-1', account: 'acme', name: 'Ada Lovelace', exp: claims.iat + 600 });
    expect(await verifyJoinToken(ring, token, { now: T0, meeting: 'm-1' })).toEqual(claims);
    expect(await codeOf(verifyJoinToken(ring, token, { now: T0, meeting: 'm-2' }))).toBe('JOIN_TOKEN_WRONG_MEETING');
  });

  it('expires after 10 minutes', async () => {
    const { token } = await issueJoinToken(ring, input);
    await expect(verifyJoinToken(ring, token, { now: at(600) })).resolves.toBeDefined();
    expect(await codeOf(verifyJoinToken(ring, token, { now: at(606) }))).toBe('JOIN_TOKEN_EXPIRED');
  });

  it('rejects forged join tokens', async () => {
    const { token } = await issueJoinToken(forger, input);
    expect(await codeOf(verifyJoinToken(ring, token, { now: T0 }))).toBe('JOIN_TOKEN_INVALID');
  });
});

describe('join tokens verified before (the signature is checked once per token text)', () => {
  const input = { participant: 'p-2', meeting: 'm-1', account: 'acme', name: 'Alan Turing' };

  it('still expires: a token verified before is refused after its exp plus the tolerance', async () => {
    const { token } = await issueJoinToken(ring, input);
    await expect(verifyJoinTokenOnce(ring, token, { now: T0 })).resolves.toBeDefined();
    await expect(verifyJoinTokenOnce(ring, token, { now: at(604) })).resolves.toBeDefined();
    expect(await codeOf(verifyJoinTokenOnce(ring, token, { now: at(605) }))).toBe('JOIN_TOKEN_EXPIRED');
    expect(await codeOf(verifyJoinTokenOnce(ring, token, { now: at(3600) }))).toBe('JOIN_TOKEN_EXPIRED');
  });

  it('never serves a forged token: another signature, or another payload under the same signature, is checked in full', async () => {
    const { token } = await issueJoinToken(ring, input);
    const other = await issueJoinToken(ring, { ...input, participant: 'p-3' });
    await expect(verifyJoinTokenOnce(ring, token, { now: T0 })).resolves.toMatchObject({ sub: 'p-2' });
    await expect(verifyJoinTokenOnce(ring, other.token, { now: T0 })).resolves.toMatchObject({ sub: 'p-3' });
    const [header, payload, signature] = token.split('.') as [string, string, string];
    const otherPayload = other.token.split('.')[1] ?? '';
    const flipped = `${signature.slice(0, 10)}${signature[10] === 'A' ? 'B' : 'A'}${signature.slice(11)}`;
    for (const forged of [`${header}.${payload}.${flipped}`, `${header}.${otherPayload}.${signature}`, (await issueJoinToken(forger, input)).token]) {
      expect(await codeOf(verifyJoinTokenOnce(ring, forged, { now: T0 }))).toBe('JOIN_TOKEN_INVALID');
      expect(await codeOf(verifyJoinTokenOnce(ring, forged, { now: T0 }))).toBe('JOIN_TOKEN_INVALID');
    }
  });

  it('checks the meeting on every use', async () => {
    const { token } = await issueJoinToken(ring, input);
    await expect(verifyJoinTokenOnce(ring, token, { now: T0, meeting: 'm-1' })).resolves.toBeDefined();
    expect(await codeOf(verifyJoinTokenOnce(ring, token, { now: T0, meeting: 'm-2' }))).toBe('JOIN_TOKEN_WRONG_MEETING');
  });

  it('refuses a token whose key was retired and is past its grace period, though it verified before', async () => {
    let now = T0;
    const rotating = await KeyRing.load(fakeKeyStore(), () => now, { retiredGraceSeconds: 60 });
    const { token } = await issueJoinToken(rotating, input);
    await expect(verifyJoinTokenOnce(rotating, token, { now })).resolves.toBeDefined();
    await rotating.rotate();
    // Within the grace period the retired key still verifies (in full: nothing it signed is served from the cache).
    await expect(verifyJoinTokenOnce(rotating, token, { now })).resolves.toBeDefined();
    now = at(60);
    expect(await codeOf(verifyJoinTokenOnce(rotating, token, { now }))).toBe('JOIN_TOKEN_INVALID');
  });

  it('refuses at once a token whose key was retired with no grace period', async () => {
    const rotating = await KeyRing.load(fakeKeyStore(), () => T0, { retiredGraceSeconds: 0 });
    const { token } = await issueJoinToken(rotating, input);
    await expect(verifyJoinTokenOnce(rotating, token, { now: T0 })).resolves.toBeDefined();
    await rotating.rotate();
    expect(await codeOf(verifyJoinTokenOnce(rotating, token, { now: T0 }))).toBe('JOIN_TOKEN_INVALID');
  });
});

describe('identity assertions', () => {
  const input = { participant: 'p-1', meeting: 'm-1', name: 'Grace Hopper' };

  it('round-trips, checks the meeting, expires after an hour', async () => {
    const { token, claims } = await issueIdentityAssertion(ring, input);
    expect(claims).toMatchObject({ sub: 'p-1', aud: IDENTITY_AUDIENCE, meeting: 'm-1', name: 'Grace Hopper', exp: claims.iat + 3600 });
    expect(await verifyIdentityAssertion(ring.jwks(), token, { now: T0, meeting: 'm-1' })).toEqual(claims);
    expect(await codeOf(verifyIdentityAssertion(ring, token, { now: T0, meeting: 'm-2' }))).toBe('IDENTITY_ASSERTION_WRONG_MEETING');
    expect(await codeOf(verifyIdentityAssertion(ring, token, { now: at(3606) }))).toBe('IDENTITY_ASSERTION_EXPIRED');
    const forged = await issueIdentityAssertion(forger, input);
    expect(await codeOf(verifyIdentityAssertion(ring, forged.token, { now: T0 }))).toBe('IDENTITY_ASSERTION_INVALID');
  });

  it('carries no signatureKey unless one is given', async () => {
    const { token, claims } = await issueIdentityAssertion(ring, input);
    expect(claims).not.toHaveProperty('signatureKey');
    expect(decodeJwt(token)).not.toHaveProperty('signatureKey');
  });

  it('binds an MLS signature key (raw Ed25519, base64url), issued and verified', async () => {
    const signatureKey = base64url.encode(new Uint8Array(32).fill(7));
    const { token, claims } = await issueIdentityAssertion(ring, { ...input, signatureKey });
    expect(claims.signatureKey).toBe(signatureKey);
    expect(decodeJwt(token)['signatureKey']).toBe(signatureKey);
    expect((await verifyIdentityAssertion(ring, token, { now: T0, meeting: 'm-1' })).signatureKey).toBe(signatureKey);
  });

  it('refuses to issue, and refuses to verify, a signatureKey that is not 32 bytes of base64url', async () => {
    const bad = [base64url.encode(new Uint8Array(31)), base64url.encode(new Uint8Array(33)), `${base64url.encode(new Uint8Array(32)).slice(0, 42)}B`, 'x'.repeat(42) + '=', ''];
    for (const signatureKey of bad) expect(await codeOf(issueIdentityAssertion(ring, { ...input, signatureKey }))).toBe('INVALID_TOKEN_REQUEST');
    // Signed by the broker's own key but around the issuer's check: the verifier must still refuse it.
    const { token } = await ring.signJwt({ meeting: 'm-1', name: 'Grace Hopper', signatureKey: 42 }, { audience: IDENTITY_AUDIENCE, subject: 'p-1', type: 'gb-identity+jwt', expiresInSeconds: 60 });
    expect(await codeOf(verifyIdentityAssertion(ring, token, { now: T0 }))).toBe('IDENTITY_ASSERTION_INVALID');
  });
});

describe('one kind of token never passes as another', () => {
  it('each verifier refuses the other two kinds', async () => {
    const route = (await issueRouteTicket(ring, ticketInput)).token;
    const join = (await issueJoinToken(ring, { participant: 'p-42', meeting: 'm-7', account: 'acme', name: 'Ada' })).token;
    const identity = (await issueIdentityAssertion(ring, { participant: 'p-42', meeting: 'm-7', name: 'Ada' })).token;
    for (const token of [join, identity]) expect(await codeOf(verifyRouteTicket(ring, token, { now: T0 }))).toBe('TICKET_INVALID');
    for (const token of [route, identity]) expect(await codeOf(verifyJoinToken(ring, token, { now: T0 }))).toBe('JOIN_TOKEN_INVALID');
    for (const token of [route, join]) expect(await codeOf(verifyIdentityAssertion(ring, token, { now: T0 }))).toBe('IDENTITY_ASSERTION_INVALID');
  });
});

describe('control messages', () => {
  const input = { datacenter: 'eu-fra', nonce: 'n'.repeat(32), seq: 7, command: { type: 'end', meeting: 'm-7', reason: 'ended by host' } } as const;

  it('issue → verify gives the command, for that bridge and connection only', async () => {
    const { token } = await issueControlMessage(ring, input);
    const claims = await verifyControlMessage(ring, token, { now: T0, datacenter: 'eu-fra', nonce: input.nonce });
    expect(claims).toMatchObject({ sub: 'eu-fra', nonce: input.nonce, seq: 7, command: input.command, aud: 'geobridge:control' });
    expect(await codeOf(verifyControlMessage(ring, token, { now: T0, datacenter: 'eu-ams', nonce: input.nonce }))).toBe('CONTROL_MESSAGE_INVALID');
    expect(await codeOf(verifyControlMessage(ring, token, { now: T0, datacenter: 'eu-fra', nonce: 'm'.repeat(32) }))).toBe('CONTROL_MESSAGE_INVALID');
    expect(await codeOf(verifyControlMessage(ring, token, { now: at(120), datacenter: 'eu-fra', nonce: input.nonce }))).toBe('CONTROL_MESSAGE_INVALID');
  });

  it('refuses a forged one, and any other kind of token', async () => {
    const forged = (await issueControlMessage(forger, input)).token;
    expect(await codeOf(verifyControlMessage(ring, forged, { now: T0, datacenter: 'eu-fra', nonce: input.nonce }))).toBe('CONTROL_MESSAGE_INVALID');
    const route = (await issueRouteTicket(ring, ticketInput)).token;
    expect(await codeOf(verifyControlMessage(ring, route, { now: T0, datacenter: 'eu-fra', nonce: input.nonce }))).toBe('CONTROL_MESSAGE_INVALID');
  });
});

describe('properties', () => {
  const id = fc.string({ minLength: 1, maxLength: 24, unit: 'grapheme' });
  const country = fc.stringMatching(/^[A-Z]{2}$/);
  const ticketInputs: fc.Arbitrary<RouteTicketInput> = fc.record({
    issuer: fc.webUrl(),
    participant: id,
    meeting: id,
    candidates: fc.array(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), country, fc.constantFrom('primary' as const, 'secondary' as const)), { minLength: 1, maxLength: 6 }),
    name: id,
    decision: id,
    country,
    manifest: fc.stringMatching(/^[0-9a-f]{64}$/),
    policy: fc.record(
      { hostCountry: country, plan: id, accountJurisdictions: fc.array(country, { minLength: 1, maxLength: 4 }), meetingJurisdictions: fc.array(country, { minLength: 1, maxLength: 4 }) },
      { requiredKeys: ['hostCountry'] },
    ),
    ice: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/), fc.array(fc.record({ urls: fc.array(fc.webUrl(), { minLength: 1, maxLength: 3 }), jurisdiction: country }), { minLength: 1, maxLength: 2 }), { maxKeys: 3 }),
    attempts: fc.record({ perPrimary: fc.integer({ min: 1, max: 10 }), timeoutMs: fc.integer({ min: 1, max: 60_000 }) }),
    expiresInSeconds: fc.integer({ min: 1, max: 86_400 }),
  }).map(({ candidates, ...rest }) => ({ ...rest, candidates: candidates.map(([c]) => c), candidateJurisdictions: candidates.map(([, j]) => j), candidateRoles: candidates.map(([, , role]) => role) }));

  it('issue → verify returns the same claims', async () => {
    await fc.assert(
      fc.asyncProperty(ticketInputs, async (input) => {
        const { token, claims } = await issueRouteTicket(ring, input);
        const verified = await verifyRouteTicket(ring.jwks(), token, { now: T0, issuer: input.issuer });
        expect(verified).toEqual(claims);
        expect(verified).toMatchObject({
          iss: input.issuer,
          sub: input.participant,
          meeting: input.meeting,
          candidates: input.candidates,
          candidateJurisdictions: input.candidateJurisdictions,
          decision: input.decision,
          manifest: input.manifest,
          policy: input.policy,
          country: input.country,
          ice: input.ice,
          candidateRoles: input.candidateRoles,
          attempts: input.attempts,
          exp: verified.iat + (input.expiresInSeconds ?? 0),
        });
      }),
      { numRuns: 100 },
    );
  });

  const tokenChars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';

  it('any single-character change makes verification fail', async () => {
    await fc.assert(
      fc.asyncProperty(ticketInputs, fc.nat(), fc.constantFrom(...Array.from(tokenChars)), async (input, position, replacement) => {
        const { token } = await issueRouteTicket(ring, input);
        const i = position % token.length;
        fc.pre(token[i] !== replacement);
        const changed = token.slice(0, i) + replacement + token.slice(i + 1);
        expect(await codeOf(verifyRouteTicket(ring, changed, { now: T0 }))).toBe('TICKET_INVALID');
      }),
      { numRuns: 300 },
    );
  });

  it('every position, changed to the character that differs only in its lowest bit, fails (covers the unused bits of the last character)', async () => {
    const alphabet = tokenChars.slice(0, 64);
    const { token } = await issueRouteTicket(ring, ticketInput);
    for (let i = 0; i < token.length; i++) {
      const c = token[i] ?? '';
      const replacement = c === '.' ? 'A' : (alphabet[alphabet.indexOf(c) ^ 1] ?? '');
      const changed = token.slice(0, i) + replacement + token.slice(i + 1);
      expect(await codeOf(verifyRouteTicket(ring, changed, { now: T0 })), `position ${i}`).toBe('TICKET_INVALID');
    }
  });
});
