// One small manifest per diagnostic: each code can fire, at the right place.
import { describe, expect, it } from 'vitest';
import { DIAGNOSTIC_CODES, type DiagnosticCode } from '../diagnostics.js';
import { parseManifest } from '../manifest/parse.js';
import { checkManifest } from './check.js';

const DCS = `datacenters:
  us-east: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 }, capacity: 100 }
  us-west: { jurisdiction: US, location: { lat: 37.34, lon: -121.89 }, capacity: 100 }
  eu-west: { jurisdiction: IE, location: { lat: 53.35, lon: -6.26 }, capacity: 100 }
  eu-central: { jurisdiction: DE, location: { lat: 50.11, lon: 8.68 }, capacity: 100 }
  cn-beijing: { jurisdiction: CN, location: { lat: 39.9, lon: 116.4 }, capacity: 100 }
  cn-shanghai: { jurisdiction: CN, location: { lat: 31.23, lon: 121.47 }, capacity: 100 }
`;
const CHINA_FENCES = `fences:
  - { name: china-stays-in-china, clients: [CN], allow: [CN] }
  - { name: nobody-else-into-china, clients: ['*', '!CN'], deny: [CN] }
`;
const GOOD = `version: 1
${DCS}zones:
  na: { countries: [US, CA], primaries: [us-east, us-west], secondaries: [eu-west, eu-central] }
  cn: { countries: [CN], primaries: [cn-beijing, cn-shanghai] }
  rest: { countries: ['*'], primaries: [eu-west, eu-central], secondaries: [us-east, us-west] }
${CHINA_FENCES}`;

function codes(text: string): DiagnosticCode[] {
  return checkManifest(parseManifest(text, 't.yaml')).map((d) => d.code);
}

function find(text: string, code: DiagnosticCode) {
  return checkManifest(parseManifest(text, 't.yaml')).filter((d) => d.code === code);
}

describe('checkManifest', () => {
  it('accepts a clean manifest', () => {
    expect(codes(GOOD)).toEqual([]);
  });

  it('GB_FENCE_CROSSED: a backup list into China, located at the entry, with the fence and countries', () => {
    const text = GOOD.replace('secondaries: [eu-west, eu-central]', 'secondaries: [eu-west, cn-beijing]');
    const [d, ...rest] = find(text, 'GB_FENCE_CROSSED');
    expect(rest).toEqual([]);
    expect(d?.path).toBe('zones.na.secondaries[1]');
    expect(d?.line).toBe(10);
    expect(d?.message).toContain("fence 'nobody-else-into-china' forbids CN for CA, US");
    expect(d?.related.map((r) => r.path)).toEqual(['fences[1]', 'datacenters.cn-beijing.jurisdiction', 'fences[0]', 'zones.na.countries[0]', 'zones.na.countries[1]']);
  });

  it('GB_FENCE_CROSSED: the enclave leaking outward names the keep-in fence', () => {
    const d = find(GOOD.replace('primaries: [cn-beijing, cn-shanghai]', 'primaries: [cn-beijing, cn-shanghai], secondaries: [us-west]'), 'GB_FENCE_CROSSED');
    expect(d).toHaveLength(1);
    expect(d[0]?.message).toContain("fence 'china-stays-in-china' forbids US for CN");
    expect(d[0]?.related.some((r) => r.message.includes('leaks the two-way enclave'))).toBe(true);
  });

  it("GB_FENCE_CROSSED: a '*' zone names what the wildcard covers", () => {
    const d = find(GOOD.replace('secondaries: [us-east, us-west]', 'secondaries: [us-east, cn-shanghai]'), 'GB_FENCE_CROSSED');
    expect(d).toHaveLength(1);
    expect(d[0]?.related.at(-1)?.message).toMatch(/^'\*' gives zone 'rest' /);
  });

  describe('STUN/TURN servers', () => {
    /** GOOD with `ice` servers (flow YAML) added to one datacenter. */
    const withIce = (text: string, dc: string, ice: string): string => {
      const out = text.replace(new RegExp(`(\n  ${dc}: \\{.*capacity: 100)`), `$1, ice: [${ice}]`);
      if (out === text) throw new Error(`test bug: no datacenter ${dc}`);
      return out;
    };

    it('accepts servers in the datacenter’s own jurisdiction, written or not', () => {
      const text = withIce(withIce(GOOD, 'us-east', '{ urls: [turn:turn.use1.example:3478, turns:turn.use1.example:5349] }'), 'cn-beijing', '{ urls: [turn:turn.bj.example:3478], jurisdiction: CN }');
      expect(codes(text)).toEqual([]);
    });

    it('GB_ICE_OUTSIDE_FENCE: a TURN relay in China on a datacenter that serves North America, at the jurisdiction, with the fence and the zones', () => {
      const text = withIce(GOOD, 'us-west', '{ urls: [turn:relay.cn.example:3478], jurisdiction: CN }');
      const [d, ...rest] = find(text, 'GB_ICE_OUTSIDE_FENCE');
      expect(rest).toEqual([]);
      expect(d?.severity).toBe('error');
      expect(d?.path).toBe('datacenters.us-west.ice[0].jurisdiction');
      const line = text.split('\n')[3] ?? '';
      expect([d?.line, d?.column]).toEqual([4, line.indexOf('jurisdiction: CN') + 'jurisdiction: '.length + 1]);
      expect(d?.message).toContain("us-west may hand out TURN relay turn:relay.cn.example:3478 (jurisdiction CN), but fence 'nobody-else-into-china' forbids CN for AD, AE,");
      expect(d?.message).toContain('their media would be relayed across the fence');
      expect(d?.related.map((r) => r.path)).toEqual(['fences[1]', 'fences[0]', 'zones.na.primaries[1]', 'zones.na.countries[0]', 'zones.na.countries[1]', 'zones.rest.secondaries[1]', 'zones.rest.countries[0]']);
      expect(d?.related[1]?.message).toContain('lets others into CN');
    });

    it('GB_ICE_OUTSIDE_FENCE: a STUN server is held to the same rule', () => {
      const [d] = find(withIce(GOOD, 'us-east', '{ urls: [stun:stun.cn.example:3478], jurisdiction: CN }'), 'GB_ICE_OUTSIDE_FENCE');
      expect(d?.message).toContain('may hand out STUN server stun:stun.cn.example:3478');
      expect(d?.message).toContain('their addresses would be sent across the fence');
    });

    it('GB_ICE_OUTSIDE_FENCE: a relay outside the enclave, for the enclave’s own participants', () => {
      const d = find(withIce(GOOD, 'cn-shanghai', '{ urls: [turns:relay.hk.example:5349], jurisdiction: HK }'), 'GB_ICE_OUTSIDE_FENCE');
      expect(d).toHaveLength(1);
      expect(d[0]?.message).toContain("fence 'china-stays-in-china' forbids HK for CN");
      expect(d[0]?.related.some((r) => r.message.includes('lets CN participants out of CN'))).toBe(true);
    });

    it('counts only participants who can reach the datacenter: a list across a fence is GB_FENCE_CROSSED alone', () => {
      // North America lists cn-beijing (crossing), but its participants never get there, so its relay in CN is no further leak.
      const text = withIce(GOOD.replace('secondaries: [eu-west, eu-central]', 'secondaries: [eu-west, cn-beijing]'), 'cn-beijing', '{ urls: [turn:turn.bj.example:3478] }');
      expect(codes(text)).toContain('GB_FENCE_CROSSED');
      expect(codes(text)).not.toContain('GB_ICE_OUTSIDE_FENCE');
    });

    it('ignores servers of a datacenter no zone lists', () => {
      const spare = '  spare: { jurisdiction: DE, location: { lat: 50.11, lon: 8.68 }, capacity: 100, ice: [{ urls: [turn:relay.cn.example:3478], jurisdiction: CN }] }\n';
      expect(codes(GOOD.replace('zones:\n', `${spare}zones:\n`))).toEqual([]);
    });

    it('holds an exclusive plan’s datacenters to the fences of the countries that list them', () => {
      const text = `${withIce(GOOD.replace('  us-west: { jurisdiction: US, location: { lat: 37.34, lon: -121.89 }, capacity: 100', '  us-west: { jurisdiction: US, location: { lat: 37.34, lon: -121.89 }, tags: [gov], capacity: 100'), 'us-west', '{ urls: [turn:relay.cn.example:3478], jurisdiction: CN }')}plans:\n  gov: { tags: [gov], exclusive: true }\n`;
      expect(codes(text)).toContain('GB_ICE_OUTSIDE_FENCE');
    });

    it('GB_ICE_JURISDICTION_CONFLICT: one host in two jurisdictions, whatever the scheme and port', () => {
      const text = withIce(withIce(GOOD, 'us-east', '{ urls: [turn:relay.example.com:3478] }'), 'eu-west', '{ urls: [turns:Relay.Example.com:5349] }');
      const [d, ...rest] = find(text, 'GB_ICE_JURISDICTION_CONFLICT');
      expect(rest).toEqual([]);
      expect(d?.path).toBe('datacenters.us-east.ice[0].jurisdiction');
      expect(d?.message).toContain("host 'relay.example.com' is declared in 2 jurisdictions (IE, US)");
      expect(d?.related.map((r) => [r.path, r.message])).toEqual([['datacenters.eu-west.ice[0].jurisdiction', 'declared in IE here']]);
      // The same host in one jurisdiction, from two datacenters, is one server shared.
      expect(codes(withIce(withIce(GOOD, 'us-east', '{ urls: [turn:relay.example.com:3478] }'), 'us-west', '{ urls: [turns:relay.example.com:5349] }'))).toEqual([]);
    });
  });

  it('GB_NO_PRIMARY_IN_FENCE: countries whose every primary is outside their fence', () => {
    const text = GOOD.replace('cn: { countries: [CN], primaries: [cn-beijing, cn-shanghai] }', 'cn: { countries: [CN], primaries: [us-east] }');
    expect(codes(text)).toEqual(expect.arrayContaining(['GB_FENCE_CROSSED', 'GB_NO_PRIMARY_IN_FENCE']));
  });

  it.each<[string, string, string, DiagnosticCode]>([
    ['unknown datacenter', 'primaries: [us-east, us-west]', 'primaries: [us-east, us-wset]', 'GB_UNKNOWN_DATACENTER'],
    ['duplicate list entry', 'secondaries: [eu-west, eu-central]', 'secondaries: [eu-west, us-east]', 'GB_DUPLICATE_LIST_ENTRY'],
    ['country in two zones', 'countries: [US, CA]', 'countries: [US, CA, CN]', 'GB_COUNTRY_IN_TWO_ZONES'],
    ['two wildcard zones', 'countries: [US, CA]', "countries: ['*']", 'GB_MULTIPLE_WILDCARD_ZONES'],
    ['no primaries', 'primaries: [us-east, us-west]', 'primaries: []', 'GB_NO_PRIMARIES'],
    ['unzoned countries', "rest: { countries: ['*']", 'rest: { countries: [FR]', 'GB_COUNTRY_UNZONED'],
    ['fence binding nobody', "clients: ['*', '!CN']", "clients: ['!CN']", 'GB_FENCE_BINDS_NOBODY'],
  ])('%s', (_name, from, to, code) => {
    const text = GOOD.replace(from, to);
    expect(text).not.toBe(GOOD);
    expect(codes(text)).toContain(code);
  });

  it('GB_PLAN_WITHOUT_DATACENTER', () => {
    expect(codes(`${GOOD}plans:\n  gov: { tags: [gov], exclusive: true }\n`)).toEqual(['GB_PLAN_WITHOUT_DATACENTER']);
  });

  it('GB_CAPACITY_N1: N-1 at maxUtilization, with the shortfall', () => {
    const [d] = find(GOOD.replace('secondaries: [eu-west, eu-central] }', 'secondaries: [eu-west, eu-central], demand: 300 }'), 'GB_CAPACITY_N1');
    // 4 × 100 listed, minus the largest (100), × 0.9 = 270 < 300.
    expect(d?.message).toContain('carry 270');
    expect(d?.message).toContain('short by 30');
    expect(codes(GOOD.replace('secondaries: [eu-west, eu-central] }', 'secondaries: [eu-west, eu-central], demand: 270 }'))).toEqual([]);
  });

  it('GB_FEW_SECONDARIES only when in-fence datacenters are left off the lists', () => {
    const few = GOOD.replace('secondaries: [eu-west, eu-central]', 'secondaries: [eu-west]');
    const [d] = find(few, 'GB_FEW_SECONDARIES');
    expect(d?.message).toContain('eu-central');
    // The China enclave has no backups, but nothing in its fence is left to add: no warning.
    expect(codes(GOOD)).toEqual([]);
  });

  it('GB_LOCATION_OUTSIDE_JURISDICTION: a US datacenter placed in Beijing, at its location', () => {
    const text = GOOD.replace('us-east: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 }', 'us-east: { jurisdiction: US, location: { lat: 39.9, lon: 116.41 }');
    expect(codes(text)).toEqual(['GB_LOCATION_OUTSIDE_JURISDICTION']);
    const [d] = find(text, 'GB_LOCATION_OUTSIDE_JURISDICTION');
    expect(d?.severity).toBe('warning');
    expect(d?.path).toBe('datacenters.us-east.location');
    expect([d?.line, d?.column]).toEqual([3, 32]);
    expect(d?.message).toMatch(/^us-east has jurisdiction United States \(US\), but its location \(lat 39\.9, lon 116\.41\) lies in China \(CN\), 4,\d{3} km from US territory\./);
    expect(d?.related.map((r) => [r.path, r.line, r.column])).toEqual([['datacenters.us-east.jurisdiction', 3, 28]]);
  });

  it('GB_LOCATION_OUTSIDE_JURISDICTION: at sea, with the distance and the nearest country', () => {
    // Dublin with the sign of its longitude lost lands in the Netherlands; with its latitude's, in the South Atlantic.
    const text = GOOD.replace('location: { lat: 53.35, lon: -6.26 }', 'location: { lat: -53.35, lon: -6.26 }');
    const [d] = find(text, 'GB_LOCATION_OUTSIDE_JURISDICTION');
    expect(d?.line).toBe(5);
    expect(d?.message).toMatch(/lies at sea, [\d,]+ km from IE territory; the nearest country is .+ \([A-Z]{2}\), [\d,]+ km away\./);
    expect(find(GOOD.replace('location: { lat: 53.35, lon: -6.26 }', 'location: { lat: 53.35, lon: 6.26 }'), 'GB_LOCATION_OUTSIDE_JURISDICTION')[0]?.message).toContain('lies in Netherlands (NL)');
  });

  it('reports every diagnostic with a known code and a real position', () => {
    const broken = GOOD.replace('primaries: [us-east, us-west]', 'primaries: [nope]').replace("clients: ['*', '!CN']", "clients: ['!CN']");
    for (const d of checkManifest(parseManifest(broken, 't.yaml'))) {
      expect(DIAGNOSTIC_CODES[d.code]).toBeDefined();
      expect(d.line).toBeGreaterThan(0);
      expect(d.column).toBeGreaterThan(0);
    }
  });
});
