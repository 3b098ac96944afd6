/**
 * Every verifier of a broker JWT, held to the same six cases: a good token
 * verifies to its claims; a wrong `typ`, a wrong audience, an expired token
 * and a bad signature are refused with the kind's code; and a malformed
 * claim is refused naming the claim. Tokens are signed here with jose, not
 * with the broker's key ring, so these tests fix the contract itself.
 */
import { CompactSign, SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWTPayload } from 'jose';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { GeobridgeError, isGeobridgeError } from '../core/errors.js';
import { CONTROL_AUDIENCE, CONTROL_TYPE, verifyControlMessage } from './control-message.js';
import { IDENTITY_AUDIENCE, IDENTITY_TYPE, verifyIdentityAssertion } from './identity-assertion.js';
import { INVITE_AUDIENCE, INVITE_TYPE, verifyInvite } from './invite.js';
import { JOIN_TOKEN_AUDIENCE, JOIN_TOKEN_TYPE, verifyJoinToken } from './join-token.js';
import { CWT, type JwksDocument } from './jwt.js';
import { RELAY_TICKET_AUDIENCE, RELAY_TICKET_TYPE, verifyRelayTicket } from './relay-ticket.js';
import { decodeCbor, encodeCbor, type CborMap, type CborValue } from './cbor.js';
import { encodeRouteTicketClaims, ROUTE_TICKET_AUDIENCE, ROUTE_TICKET_TYPE, verifyRouteTicket, type RouteTicketClaims } from './route-ticket.js';

const T0 = new Date('2026-03-01T12:00:00Z');
const IAT = Math.floor(T0.getTime() / 1000);
const LIFETIME = 120;

/** One token kind: how to make a good one, how to verify it, and the codes it fails with. */
interface Kind {
  readonly name: string;
  readonly audience: string;
  readonly type: string;
  readonly subject: string;
  readonly claims: JWTPayload;
  readonly verify: (keys: JwksDocument, token: string, now: Date) => Promise<unknown>;
  /** What a verified good token answers (the claims, or for an invite its meeting). */
  readonly verified: (payload: JWTPayload) => unknown;
  readonly invalid: string;
  readonly expired: string;
  /** A claim set to a malformed value, and the claim the error must name. */
  readonly malformed: { readonly claims: JWTPayload; readonly names: string };
  /** The payload's bytes when they are not the claims' JSON (route tickets: CBOR, whose `typ` alone names the kind, so no audience). */
  readonly encode?: (payload: JWTPayload) => Uint8Array;
  /** A registered claim the kind requires (default `jti`; route tickets have none). */
  readonly required?: string;
}

/** A route ticket's CBOR for these named claims, as the broker writes it; a registered claim left out is left out of the map. */
function routeTicketCbor(payload: JWTPayload): Uint8Array {
  const map = new Map(decodeCbor(encodeRouteTicketClaims({ sub: 'none', iat: 0, exp: 0, ...payload } as unknown as RouteTicketClaims)) as CborMap);
  for (const [name, key] of Object.entries(CWT)) if (payload[name] === undefined) map.delete(key);
  return encodeCbor(map);
}

const withRegistered = (kind: Pick<Kind, 'audience' | 'subject'>, claims: JWTPayload): JWTPayload => ({
  ...claims,
  aud: kind.audience,
  sub: kind.subject,
  iat: IAT,
  exp: IAT + LIFETIME,
  jti: 'jti-1',
});

const KINDS: readonly Kind[] = [
  {
    name: 'route ticket',
    audience: ROUTE_TICKET_AUDIENCE,
    type: ROUTE_TICKET_TYPE,
    subject: 'p-42',
    claims: {
      iss: 'https://broker.example',
      meeting: 'm-7',
      candidates: ['eu-fra', 'eu-ams'],
      candidateJurisdictions: ['DE', 'NL'],
      decision: 'd-123',
      country: 'DE',
      name: 'Ada Lovelace',
      manifest: 'a'.repeat(64),
      policy: { hostCountry: 'DE', accountJurisdictions: ['DE', 'NL'] },
      ice: { 'eu-fra': [{ urls: ['turn:turn.fra.example:3478'], jurisdiction: 'DE' }] },
      candidateRoles: ['primary', 'secondary'],
      attempts: { perPrimary: 2, timeoutMs: 1500 },
    },
    verify: (keys, token, now) => verifyRouteTicket(keys, token, { now }),
    verified: ({ jti: _, ...claims }) => claims,
    invalid: 'TICKET_INVALID',
    expired: 'TICKET_EXPIRED',
    malformed: { claims: { candidateJurisdictions: ['DE', 'nl'] }, names: "'candidateJurisdictions'" },
    encode: routeTicketCbor,
    required: 'sub',
  },
  {
    name: 'join token',
    audience: JOIN_TOKEN_AUDIENCE,
    type: JOIN_TOKEN_TYPE,
    subject: 'p-1',
    claims: { meeting: 'm-1', account: 'acme', name: 'Alan Turing' },
    verify: (keys, token, now) => verifyJoinToken(keys, token, { now }),
    verified: (payload) => payload,
    invalid: 'JOIN_TOKEN_INVALID',
    expired: 'JOIN_TOKEN_EXPIRED',
    malformed: { claims: { account: 42 }, names: "'account'" },
  },
  {
    name: 'identity assertion',
    audience: IDENTITY_AUDIENCE,
    type: IDENTITY_TYPE,
    subject: 'p-1',
    claims: { meeting: 'm-1', name: 'Grace Hopper', signatureKey: `${'A'.repeat(42)}E` },
    verify: (keys, token, now) => verifyIdentityAssertion(keys, token, { now }),
    verified: (payload) => payload,
    invalid: 'IDENTITY_ASSERTION_INVALID',
    expired: 'IDENTITY_ASSERTION_EXPIRED',
    // The last character of a 32-byte key carries 2 bits: 'B' sets an unused one.
    malformed: { claims: { signatureKey: `${'A'.repeat(42)}B` }, names: "'signatureKey'" },
  },
  {
    name: 'control message',
    audience: CONTROL_AUDIENCE,
    type: CONTROL_TYPE,
    subject: 'eu-fra',
    claims: { nonce: 'n'.repeat(32), seq: 7, command: { type: 'end', meeting: 'm-7', reason: 'ended by host' } },
    verify: (keys, token, now) => verifyControlMessage(keys, token, { now, datacenter: 'eu-fra', nonce: 'n'.repeat(32) }),
    verified: (payload) => payload,
    invalid: 'CONTROL_MESSAGE_INVALID',
    // A command is good for a minute: an expired one is simply not a valid command.
    expired: 'CONTROL_MESSAGE_INVALID',
    malformed: { claims: { command: { type: 'end', meeting: 'm-7' } }, names: "'reason'" },
  },
  {
    name: 'invite',
    audience: INVITE_AUDIENCE,
    type: INVITE_TYPE,
    subject: 'm-9',
    claims: { meeting: 'm-9' },
    verify: (keys, token, now) => verifyInvite(keys, token, now),
    verified: (payload) => payload.meeting,
    invalid: 'INVITE_INVALID',
    expired: 'INVITE_EXPIRED',
    malformed: { claims: { meeting: 'm-10' }, names: "'meeting'" },
  },
  {
    name: 'relay ticket',
    audience: RELAY_TICKET_AUDIENCE,
    type: RELAY_TICKET_TYPE,
    subject: 'us-east',
    claims: {
      iss: 'https://broker.example',
      meeting: 'm-7',
      from: 'eu-fra',
      to: 'us-east',
      fromKey: 'f'.repeat(43),
      toKey: 't'.repeat(43),
      manifest: 'a'.repeat(64),
      e2ee: true,
      streams: ['p-1', 'p-2'],
    },
    verify: (keys, token, now) => verifyRelayTicket(keys, token, { now }),
    verified: (payload) => payload,
    invalid: 'RELAY_TICKET_INVALID',
    expired: 'RELAY_TICKET_EXPIRED',
    malformed: { claims: { toKey: 'short' }, names: "'toKey'" },
  },
];

let signingKey: CryptoKey;
let otherKey: CryptoKey;
let keys: JwksDocument;

beforeAll(async () => {
  const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  signingKey = pair.privateKey;
  otherKey = (await generateKeyPair('EdDSA', { crv: 'Ed25519' })).privateKey;
  keys = { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k-1', alg: 'EdDSA', use: 'sig' }] };
});

/** `payload` signed with `typ` `type`, its bytes as `kind` writes them (JSON unless it says otherwise). */
function sign(payload: JWTPayload, type: string, key: CryptoKey = signingKey, kind?: Pick<Kind, 'encode'>): Promise<string> {
  const header = { alg: 'EdDSA', kid: 'k-1', typ: type };
  return kind?.encode === undefined ? new SignJWT(payload).setProtectedHeader(header).sign(key) : new CompactSign(kind.encode(payload)).setProtectedHeader(header).sign(key);
}

/** The error a promise rejects with (a GeobridgeError, or the test fails). */
async function refusal(promise: Promise<unknown>): Promise<GeobridgeError> {
  try {
    await promise;
  } catch (error) {
    if (isGeobridgeError(error)) return error;
    throw error;
  }
  throw new Error('it verified');
}

describe.each(KINDS)('$name', (kind) => {
  const good = withRegistered(kind, kind.claims);
  const verifyAt = (token: string, now = T0): Promise<unknown> => kind.verify(keys, token, now);

  it('verifies a good token to its claims', async () => {
    expect(await verifyAt(await sign(good, kind.type, signingKey, kind))).toEqual(kind.verified(good));
  });

  it('refuses another `typ`, also that of another kind', async () => {
    for (const type of ['JWT', 'gb-other+jwt', ...KINDS.filter((k) => k !== kind).map((k) => k.type)]) {
      expect((await refusal(verifyAt(await sign(good, type, signingKey, kind)))).code, type).toBe(kind.invalid);
    }
  });

  it.runIf(kind.encode === undefined)('refuses another audience, also that of another kind', async () => {
    for (const audience of ['geobridge:other', ...KINDS.filter((k) => k.audience !== kind.audience).map((k) => k.audience)]) {
      expect((await refusal(verifyAt(await sign({ ...good, aud: audience }, kind.type, signingKey, kind)))).code, audience).toBe(kind.invalid);
    }
  });

  it('refuses it once expired (past the clock tolerance), not before', async () => {
    const token = await sign(good, kind.type, signingKey, kind);
    const after = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);
    await expect(verifyAt(token, after(LIFETIME + 4))).resolves.toBeDefined();
    expect((await refusal(verifyAt(token, after(LIFETIME + 5)))).code).toBe(kind.expired);
  });

  it('refuses a token signed by another key', async () => {
    expect((await refusal(verifyAt(await sign(good, kind.type, otherKey, kind)))).code).toBe(kind.invalid);
  });

  it('refuses a malformed claim, naming it', async () => {
    const error = await refusal(verifyAt(await sign({ ...good, ...kind.malformed.claims }, kind.type, signingKey, kind)));
    expect(error.code).toBe(kind.invalid);
    expect(error.message).toContain(kind.malformed.names);
  });

  it('refuses a token missing a registered claim, naming it', async () => {
    const required = kind.required ?? 'jti';
    const without: JWTPayload = Object.fromEntries(Object.entries(good).filter(([name]) => name !== required));
    const error = await refusal(verifyAt(await sign(without, kind.type, signingKey, kind)));
    expect(error.code).toBe(kind.invalid);
    expect(error.message).toContain(required);
  });
});

const ROUTE = { encode: routeTicketCbor };

describe('route ticket claims', () => {
  const base = withRegistered({ audience: ROUTE_TICKET_AUDIENCE, subject: 'p-42' }, KINDS[0]?.claims ?? {});

  it('pairs each candidate with its jurisdiction, and refuses a policy input it does not know rather than widen the fence', async () => {
    const map = new Map(decodeCbor(routeTicketCbor(base)) as CborMap);
    map.set(10, [['eu-fra', 'DE']]);
    const uneven = await refusal(verifyRouteTicket(keys, await new CompactSign(encodeCbor(map)).setProtectedHeader({ alg: 'EdDSA', kid: 'k-1', typ: ROUTE_TICKET_TYPE }).sign(signingKey), { now: T0 }));
    expect([uneven.code, uneven.message]).toEqual(['TICKET_INVALID', expect.stringContaining("claim 'candidates'") as unknown]);
    const unknown = await refusal(verifyRouteTicket(keys, await sign({ ...base, policy: { hostCountry: 'DE', region: 'eu' } }, ROUTE_TICKET_TYPE, signingKey, ROUTE), { now: T0 }));
    expect([unknown.code, unknown.message]).toEqual(['TICKET_INVALID', expect.stringContaining("'policy' has unknown input(s) region") as unknown]);
    map.set(10, [['eu-fra', 'DE', 'primary']]);
    const role = await refusal(verifyRouteTicket(keys, await new CompactSign(encodeCbor(map)).setProtectedHeader({ alg: 'EdDSA', kid: 'k-1', typ: ROUTE_TICKET_TYPE }).sign(signingKey), { now: T0 }));
    expect([role.code, role.message]).toEqual(['TICKET_INVALID', expect.stringContaining("claim 'candidateRoles'") as unknown]);
    map.set(10, [['eu-fra', 'DE', true]]);
    map.set(99, 'narrower');
    const extra = await refusal(verifyRouteTicket(keys, await new CompactSign(encodeCbor(map)).setProtectedHeader({ alg: 'EdDSA', kid: 'k-1', typ: ROUTE_TICKET_TYPE }).sign(signingKey), { now: T0 }));
    expect([extra.code, extra.message]).toEqual(['TICKET_INVALID', expect.stringContaining('unknown claim key(s) 99') as unknown]);
  });

  it('signs the STUN/TURN allowance, and refuses one that is not datacenter → servers with URLs; a `__proto__` datacenter stays a key', async () => {
    const signed = (map: CborMap): Promise<string> => new CompactSign(encodeCbor(map)).setProtectedHeader({ alg: 'EdDSA', kid: 'k-1', typ: ROUTE_TICKET_TYPE }).sign(signingKey);
    const map = new Map(decodeCbor(routeTicketCbor(base)) as CborMap);
    for (const ice of ['turn:x', [], new Map([['eu-fra', []]]), new Map([['eu-fra', [[[], 'DE']]]]), new Map([['eu-fra', [[['turn:x'], 'DE', 'extra']]]]), new Map([[7, [[['turn:x'], 'DE']]]])] as CborValue[]) {
      map.set(15, ice);
      const refused = await refusal(verifyRouteTicket(keys, await signed(map), { now: T0 }));
      expect([refused.code, refused.message]).toEqual(['TICKET_INVALID', expect.stringContaining("claim 'ice'") as unknown]);
    }
    map.set(15, new Map([['__proto__', [[['turn:a.example:3478'], 'DE']]]]));
    const claims = await verifyRouteTicket(keys, await signed(map), { now: T0 });
    expect(Object.getPrototypeOf(claims.ice)).toBe(Object.prototype);
    expect(Object.hasOwn(claims.ice, '__proto__')).toBe(true);
  });

  it('fuzzed: any CBOR payload, or a genuine one with any claim replaced, verifies or is TICKET_INVALID; nothing else is thrown', async () => {
    const genuine = new Map(decodeCbor(routeTicketCbor(base)) as CborMap);
    const leaf = fc.oneof(fc.integer(), fc.boolean(), fc.string({ maxLength: 8 }), fc.uint8Array({ maxLength: 33 }));
    const value: fc.Arbitrary<CborValue> = fc.letrec<{ v: CborValue }>((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('v'), { maxLength: 3 }), fc.array(fc.tuple(fc.oneof(fc.integer({ min: -2, max: 20 }), fc.string({ maxLength: 4 })), tie('v')), { maxLength: 4 }).map((e) => new Map(e))),
    })).v;
    const payload = fc.oneof(value, fc.tuple(fc.integer({ min: 1, max: 18 }), value).map(([key, v]) => new Map(genuine).set(key, v)));
    await fc.assert(
      fc.asyncProperty(payload, async (p) => {
        const token = await new CompactSign(encodeCbor(p)).setProtectedHeader({ alg: 'EdDSA', kid: 'k-1', typ: ROUTE_TICKET_TYPE }).sign(signingKey);
        try {
          await verifyRouteTicket(keys, token, { now: T0 });
        } catch (error) {
          expect(isGeobridgeError(error) && ['TICKET_INVALID', 'TICKET_EXPIRED'].includes(error.code), String(error)).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('carries a cascaded meeting’s policy, and refuses a cascade claim that is not plainly true', async () => {
    const cascaded = await verifyRouteTicket(keys, await sign({ ...base, policy: { hostCountry: 'DE', cascade: true } }, ROUTE_TICKET_TYPE, signingKey, ROUTE), { now: T0 });
    expect(cascaded.policy).toEqual({ hostCountry: 'DE', cascade: true });
    const odd = await refusal(verifyRouteTicket(keys, await sign({ ...base, policy: { hostCountry: 'DE', cascade: 'yes' } }, ROUTE_TICKET_TYPE, signingKey, ROUTE), { now: T0 }));
    expect([odd.code, odd.message]).toEqual(['TICKET_INVALID', expect.stringContaining("'policy.cascade' must be true") as unknown]);
  });

  it('checks the issuer when asked, and the datacenter', async () => {
    const token = await sign(base, ROUTE_TICKET_TYPE, signingKey, ROUTE);
    expect((await refusal(verifyRouteTicket(keys, token, { now: T0, issuer: 'https://other.example' }))).code).toBe('TICKET_INVALID');
    expect((await refusal(verifyRouteTicket(keys, token, { now: T0, datacenter: 'us-east' }))).code).toBe('TICKET_WRONG_DATACENTER');
    await expect(verifyRouteTicket(keys, token, { now: T0, issuer: 'https://broker.example', datacenter: 'eu-ams' })).resolves.toBeDefined();
  });
});

describe('join tokens and identity assertions', () => {
  it('are refused for another meeting when a meeting is asked for', async () => {
    const join = await sign(withRegistered({ audience: JOIN_TOKEN_AUDIENCE, subject: 'p-1' }, KINDS[1]?.claims ?? {}), JOIN_TOKEN_TYPE);
    expect((await refusal(verifyJoinToken(keys, join, { now: T0, meeting: 'm-2' }))).code).toBe('JOIN_TOKEN_WRONG_MEETING');
    const identity = await sign(withRegistered({ audience: IDENTITY_AUDIENCE, subject: 'p-1' }, KINDS[2]?.claims ?? {}), IDENTITY_TYPE);
    expect((await refusal(verifyIdentityAssertion(keys, identity, { now: T0, meeting: 'm-2' }))).code).toBe('IDENTITY_ASSERTION_WRONG_MEETING');
  });
});

describe('relay tickets', () => {
  const base = withRegistered({ audience: RELAY_TICKET_AUDIENCE, subject: 'us-east' }, KINDS[5]?.claims ?? {});

  it('are good at their two ends only, each on its side', async () => {
    const token = await sign(base, RELAY_TICKET_TYPE);
    await expect(verifyRelayTicket(keys, token, { now: T0, datacenter: { id: 'eu-fra', side: 'from' } })).resolves.toBeDefined();
    await expect(verifyRelayTicket(keys, token, { now: T0, datacenter: { id: 'us-east', side: 'to' } })).resolves.toBeDefined();
    expect((await refusal(verifyRelayTicket(keys, token, { now: T0, datacenter: { id: 'us-east', side: 'from' } }))).code).toBe('RELAY_TICKET_WRONG_DATACENTER');
    expect((await refusal(verifyRelayTicket(keys, token, { now: T0, datacenter: { id: 'ap-tyo', side: 'to' } }))).code).toBe('RELAY_TICKET_WRONG_DATACENTER');
  });

  it('names the streams whose senders do not encrypt (`clear`), none when absent', async () => {
    expect((await verifyRelayTicket(keys, await sign(base, RELAY_TICKET_TYPE), { now: T0 })).clear).toBeUndefined();
    const streams = (base.streams as string[] | undefined) ?? [];
    const clear = streams.slice(0, 1);
    expect((await verifyRelayTicket(keys, await sign({ ...base, clear }, RELAY_TICKET_TYPE), { now: T0 })).clear).toEqual(clear);
  });

  it('refuses a subject other than the receiving bridge, a hop to itself, a stream named twice, a missing e2ee and a clear stream it does not carry', async () => {
    const cases: readonly [JWTPayload, string][] = [
      [{ sub: 'eu-fra' }, "'sub'"],
      [{ to: 'eu-fra', sub: 'eu-fra' }, "'from' and 'to'"],
      [{ streams: ['p-1', 'p-1'] }, 'twice'],
      [{ e2ee: 'yes' }, "'e2ee'"],
      [{ streams: [] }, "'streams'"],
      [{ clear: ['someone-else'] }, "'clear'"],
      [{ clear: [] }, "'clear'"],
    ];
    for (const [claims, names] of cases) {
      const error = await refusal(verifyRelayTicket(keys, await sign({ ...base, ...claims }, RELAY_TICKET_TYPE), { now: T0 }));
      expect([error.code, error.message], names).toEqual(['RELAY_TICKET_INVALID', expect.stringContaining(names) as unknown]);
    }
  });
});

describe('control messages', () => {
  const base = withRegistered({ audience: CONTROL_AUDIENCE, subject: 'eu-fra' }, KINDS[3]?.claims ?? {});

  it('are good on their bridge and connection only, and carry a command the bridge knows', async () => {
    const token = await sign(base, CONTROL_TYPE);
    expect((await refusal(verifyControlMessage(keys, token, { now: T0, datacenter: 'eu-ams', nonce: 'n'.repeat(32) }))).code).toBe('CONTROL_MESSAGE_INVALID');
    expect((await refusal(verifyControlMessage(keys, token, { now: T0, datacenter: 'eu-fra', nonce: 'm'.repeat(32) }))).code).toBe('CONTROL_MESSAGE_INVALID');
    const unknown = await sign({ ...base, command: { type: 'reboot' } }, CONTROL_TYPE);
    expect((await refusal(verifyControlMessage(keys, unknown, { now: T0, datacenter: 'eu-fra', nonce: 'n'.repeat(32) }))).message).toContain("claim 'command'");
  });
});
