// What a change to the STUN/TURN servers does, as the exposure diff reports it.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../manifest/parse.js';
import type { Manifest } from '../manifest/types.js';
import { diffManifests, summarizeDiff } from './diff.js';

const BASE = `version: 1
datacenters:
  us-east:
    jurisdiction: US
    location: { lat: 39.04, lon: -77.49 }
    capacity: 100
    ice:
      - urls: [stun:stun.use1.example.com:3478, turn:turn.use1.example.com:3478]
  cn-beijing:
    jurisdiction: CN
    location: { lat: 39.9, lon: 116.4 }
    capacity: 100
zones:
  na: { countries: [US, CA], primaries: [us-east] }
  cn: { countries: [CN], primaries: [cn-beijing] }
fences:
  - { name: china-stays-in-china, clients: [CN], allow: [CN] }
  - { name: nobody-else-into-china, clients: ['*', '!CN'], deny: [CN] }
`;

function manifest(text: string): Manifest {
  const parsed = parseManifest(text, 't.yaml');
  if (!parsed.manifest) throw new Error(parsed.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`).join('\n'));
  return parsed.manifest;
}

/** BASE with one more server on us-east. */
function withServer(server: string): string {
  return BASE.replace('turn:turn.use1.example.com:3478]\n', `turn:turn.use1.example.com:3478]\n${server}`);
}

describe('diffManifests: STUN/TURN servers', () => {
  it('reports no change when nothing changes', () => {
    const d = diffManifests(manifest(BASE), manifest(BASE));
    expect([d.relayExposure, d.iceCrossings, d.ice]).toEqual([[], [], []]);
  });

  it('shows a new relay jurisdiction to the countries whose datacenters hand it out', () => {
    const d = diffManifests(manifest(BASE), manifest(withServer('      - urls: [turns:relay.yyz.example.com:5349]\n        jurisdiction: CA\n')));
    expect(d.relayExposure).toEqual([{ countries: ['CA', 'US'], gained: ['CA'], lost: [] }]);
    expect(d.exposure).toEqual([]);
    expect(d.ice).toEqual([{ datacenter: 'us-east', url: 'turns:relay.yyz.example.com:5349', change: 'added', after: 'CA' }]);
    expect(d.iceCrossings).toEqual([]);
  });

  it('leaves STUN servers out of relay exposure: they relay nothing', () => {
    const d = diffManifests(manifest(BASE), manifest(withServer('      - urls: [stun:stun.yyz.example.com:3478]\n        jurisdiction: CA\n')));
    expect(d.relayExposure).toEqual([]);
    expect(d.ice.map((i) => i.change)).toEqual(['added']);
  });

  it('shows a relay outside a fence as a crossing, not as exposure: the runtime rule withholds it', () => {
    const d = diffManifests(manifest(BASE), manifest(withServer('      - urls: [turn:relay.pek.example.com:3478]\n        jurisdiction: CN\n')));
    expect(d.iceCrossings).toEqual([{ change: 'added', datacenter: 'us-east', urls: ['turn:relay.pek.example.com:3478'], jurisdiction: 'CN', fence: 'nobody-else-into-china' }]);
    expect(d.relayExposure).toEqual([]);
    expect(diffManifests(manifest(withServer('      - urls: [turn:relay.pek.example.com:3478]\n        jurisdiction: CN\n')), manifest(BASE)).iceCrossings.map((c) => c.change)).toEqual(['removed']);
  });

  it('reports a server moved to another jurisdiction per URL, and relays lost', () => {
    const moved = BASE.replace('turn:turn.use1.example.com:3478]\n', 'turn:turn.use1.example.com:3478]\n        jurisdiction: MX\n');
    const d = diffManifests(manifest(BASE), manifest(moved));
    expect(d.ice).toEqual([
      { datacenter: 'us-east', url: 'stun:stun.use1.example.com:3478', change: 'changed', before: 'US', after: 'MX' },
      { datacenter: 'us-east', url: 'turn:turn.use1.example.com:3478', change: 'changed', before: 'US', after: 'MX' },
    ]);
    expect(d.relayExposure).toEqual([{ countries: ['CA', 'US'], gained: ['MX'], lost: ['US'] }]);
    const removed = diffManifests(manifest(BASE), manifest(BASE.replace(/ {4}ice:\n.*\n/, '')));
    expect(removed.ice.map((i) => [i.change, i.before])).toEqual([
      ['removed', 'US'],
      ['removed', 'US'],
    ]);
  });
});

describe('diffManifests: record stores', () => {
  const stores = (lines: string): string => BASE.replace('zones:\n', `stores:\n${lines}zones:\n`);
  it('reports the jurisdictions where each country’s records may be kept, gained and lost', () => {
    const us = '  us: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 } }\n';
    const cn = '  cn: { jurisdiction: CN, location: { lat: 31.23, lon: 121.47 } }\n';
    const ca = '  ca: { jurisdiction: CA, location: { lat: 45.5, lon: -73.57 } }\n';
    expect(diffManifests(manifest(BASE), manifest(BASE)).recordExposure).toEqual([]);
    // Declaring stores: US and CA records may be kept in the US, China's in China; nobody else is zoned.
    expect(diffManifests(manifest(BASE), manifest(stores(us + cn))).recordExposure).toEqual([
      { countries: ['CA', 'US'], gained: ['US'], lost: [] },
      { countries: ['CN'], gained: ['CN'], lost: [] },
    ]);
    // A Canadian store: records of both North American countries may now go there too; China's are untouched.
    expect(diffManifests(manifest(stores(us + cn)), manifest(stores(us + cn + ca))).recordExposure).toEqual([{ countries: ['CA', 'US'], gained: ['CA'], lost: [] }]);
    expect(diffManifests(manifest(stores(us + cn + ca)), manifest(stores(us + cn))).recordExposure).toEqual([{ countries: ['CA', 'US'], gained: [], lost: ['CA'] }]);
  });
});

describe('diffManifests: transit', () => {
  const withTransit = (china: string, extra = ''): string =>
    BASE.replace("- { name: china-stays-in-china, clients: [CN], allow: [CN] }", `- { name: china-stays-in-china, clients: [CN], allow: [CN]${china} }${extra}`);

  it('reports a fence whose transit changed, an added fence only when it lets ciphertext transit, and nothing else', () => {
    expect(diffManifests(manifest(BASE), manifest(BASE)).transit).toEqual([]);
    expect(diffManifests(manifest(BASE), manifest(withTransit(', transit: never'))).transit).toEqual([]);
    expect(diffManifests(manifest(BASE), manifest(withTransit(', transit: e2ee'))).transit).toEqual([{ fence: 'china-stays-in-china', before: 'never', after: 'e2ee' }]);
    expect(diffManifests(manifest(withTransit(', transit: e2ee')), manifest(BASE)).transit).toEqual([{ fence: 'china-stays-in-china', before: 'e2ee', after: 'never' }]);
    const added = (t: string): string => withTransit('', `\n  - { name: us-only, clients: [US], allow: [US]${t} }`);
    expect(diffManifests(manifest(BASE), manifest(added(''))).transit).toEqual([]);
    expect(diffManifests(manifest(BASE), manifest(added(', transit: e2ee'))).transit).toEqual([{ fence: 'us-only', before: null, after: 'e2ee' }]);
    expect(diffManifests(manifest(added(', transit: e2ee')), manifest(BASE)).transit).toEqual([{ fence: 'us-only', before: 'e2ee', after: null }]);
    // The manifest history's one line names it too.
    expect(summarizeDiff(diffManifests(manifest(BASE), manifest(withTransit(', transit: e2ee'))))).toBe('1 fence lets E2EE media transit');
  });
});
