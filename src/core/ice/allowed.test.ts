// The runtime rule for STUN/TURN servers: what a participant may be handed, and the client's check of what it was handed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../manifest/parse.js';
import type { DeclaredIceServer, Manifest } from '../manifest/types.js';
import type { IceServer } from './rules.js';
import { allowedIceServers, checkIceServers, iceAllowance, iceServersWithin } from './allowed.js';

const MANIFEST = `version: 1
datacenters:
  us-east:
    jurisdiction: US
    location: { lat: 39.04, lon: -77.49 }
    capacity: 100
    ice:
      - urls: [stun:stun.use1.example.com:3478]
      - urls: [turn:turn.use1.example.com:3478, turns:turn.use1.example.com:5349]
      - urls: [turns:turn.yul.example.com:5349]
        jurisdiction: CA
  eu-central:
    jurisdiction: DE
    location: { lat: 50.11, lon: 8.68 }
    capacity: 100
zones:
  all: { countries: ['*'], primaries: [us-east, eu-central] }
`;

function manifest(): Manifest {
  const parsed = parseManifest(MANIFEST, 't.yaml');
  if (!parsed.manifest) throw new Error(parsed.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`).join('\n'));
  return parsed.manifest;
}

describe('allowedIceServers', () => {
  it('gives the declared servers whose jurisdiction the participant may use, in declared order', () => {
    const m = manifest();
    expect(allowedIceServers(m, 'us-east', ['US', 'CA'])).toEqual(m.datacenters[0]?.ice);
    expect(allowedIceServers(m, 'us-east', ['US']).map((s) => s.urls[0])).toEqual(['stun:stun.use1.example.com:3478', 'turn:turn.use1.example.com:3478']);
    expect(allowedIceServers(m, 'us-east', new Set(['CA']))).toEqual([{ urls: ['turns:turn.yul.example.com:5349'], jurisdiction: 'CA' }]);
  });

  it('gives nothing outside the allowed set, for a datacenter without servers, or for an unknown one', () => {
    const m = manifest();
    expect(allowedIceServers(m, 'us-east', [])).toEqual([]);
    expect(allowedIceServers(m, 'us-east', ['DE', 'CN'])).toEqual([]);
    expect(allowedIceServers(m, 'eu-central', ['DE'])).toEqual([]);
    expect(allowedIceServers(m, 'mars-1', ['US'])).toEqual([]);
  });
});

describe('iceAllowance', () => {
  it('has an entry for every candidate, empty where nothing is allowed', () => {
    const allowance = iceAllowance(manifest(), ['us-east', 'eu-central'], ['CA', 'DE']);
    expect(allowance).toEqual({ 'us-east': [{ urls: ['turns:turn.yul.example.com:5349'], jurisdiction: 'CA' }], 'eu-central': [] });
    expect(JSON.parse(JSON.stringify(allowance))).toEqual(allowance);
  });
});

const CREDENTIALS = { username: 'u', credential: 'secret' } as const;

describe('checkIceServers', () => {
  const allowance: DeclaredIceServer[] = [
    { urls: ['stun:stun.use1.example.com:3478'], jurisdiction: 'US' },
    { urls: ['turn:turn.use1.example.com:3478', 'turns:turn.use1.example.com:5349'], jurisdiction: 'US' },
    { urls: ['turns:turn.yul.example.com:5349'], jurisdiction: 'CA' },
  ];

  it('accepts what the allowance declares, with the bridge’s credentials', () => {
    const handed: IceServer[] = [{ urls: ['stun:stun.use1.example.com:3478'] }, { urls: ['turn:turn.use1.example.com:3478', 'turns:turn.use1.example.com:5349'], ...CREDENTIALS }];
    expect(checkIceServers(handed, allowance)).toEqual({ accepted: handed, rejected: [] });
  });

  it('drops a URL the allowance does not declare, keeping the rest of its server', () => {
    const handed: IceServer[] = [{ urls: ['turn:turn.use1.example.com:3478', 'turn:relay.cn.example.com:3478'], ...CREDENTIALS }, { urls: ['stun:stun.l.example.net:19302'] }];
    expect(checkIceServers(handed, allowance)).toEqual({
      accepted: [{ urls: ['turn:turn.use1.example.com:3478'], ...CREDENTIALS }],
      rejected: [
        { url: 'turn:relay.cn.example.com:3478', reason: 'NOT_DECLARED' },
        { url: 'stun:stun.l.example.net:19302', reason: 'NOT_DECLARED' },
      ],
    });
  });

  it('fails closed on a URL the allowance places in two jurisdictions', () => {
    const twice: DeclaredIceServer[] = [...allowance, { urls: ['turn:turn.use1.example.com:3478'], jurisdiction: 'CN' }];
    const handed: IceServer[] = [{ urls: ['turn:turn.use1.example.com:3478'] }];
    expect(checkIceServers(handed, twice).rejected).toEqual([{ url: 'turn:turn.use1.example.com:3478', reason: 'OUTSIDE_FENCE' }]);
  });
});

// ------------------------------------------------------------ properties

const JURISDICTIONS = ['US', 'CA', 'DE', 'CN', 'HK'] as const;
const URLS = ['stun:a.example:3478', 'turn:a.example:3478', 'turns:a.example:5349', 'turn:b.example', 'turns:c.example', 'stun:d.example'] as const;

const declaredArb: fc.Arbitrary<DeclaredIceServer[]> = fc.array(
  fc.record({ urls: fc.subarray([...URLS], { minLength: 1, maxLength: 3 }), jurisdiction: fc.constantFrom(...JURISDICTIONS) }),
  { maxLength: 6 },
);
const allowedArb = fc.subarray<string>([...JURISDICTIONS]);
const handedArb: fc.Arbitrary<IceServer[]> = fc.array(
  fc.record({ urls: fc.subarray([...URLS, 'turn:rogue.example'], { minLength: 1, maxLength: 3 }), username: fc.constant('u') }),
  { maxLength: 4 },
);

describe('properties', () => {
  it('iceServersWithin never gives a server outside the allowed set, and gives every declared server inside it, in order', () => {
    fc.assert(
      fc.property(declaredArb, allowedArb, (declared, allowed) => {
        const within = iceServersWithin(declared, allowed);
        expect(within.every((s) => allowed.includes(s.jurisdiction))).toBe(true);
        expect(within).toEqual(declared.filter((s) => allowed.includes(s.jurisdiction)));
      }),
    );
  });

  it('checkIceServers accepts only URLs the allowance declares in exactly one jurisdiction, and accounts for every URL handed', () => {
    fc.assert(
      fc.property(handedArb, declaredArb, (handed, allowance) => {
        const { accepted, rejected } = checkIceServers(handed, allowance);
        for (const url of accepted.flatMap((s) => s.urls)) {
          const places = new Set(allowance.filter((s) => s.urls.includes(url)).map((s) => s.jurisdiction));
          expect(places.size).toBe(1);
        }
        expect(accepted.flatMap((s) => s.urls).length + rejected.length).toBe(handed.flatMap((s) => s.urls).length);
        expect(accepted.every((s) => s.urls.length > 0 && s.username === 'u')).toBe(true);
      }),
    );
  });

  it('a bridge that hands exactly iceServersWithin(declared, allowed), with credentials, passes the client’s check in full', () => {
    fc.assert(
      fc.property(declaredArb, allowedArb, (declared, allowed) => {
        const coherent = declared.filter((s) => s.urls.every((u) => declared.every((t) => !t.urls.includes(u) || t.jurisdiction === s.jurisdiction)));
        const handed = iceServersWithin(coherent, allowed).map((s) => ({ urls: s.urls, ...CREDENTIALS }));
        expect(checkIceServers(handed, iceServersWithin(coherent, allowed))).toEqual({ accepted: handed, rejected: [] });
      }),
    );
  });
});
