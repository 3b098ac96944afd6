// The parser's reading of a datacenter's STUN/TURN servers: defaults, and errors at file:line:col.
import { describe, expect, it } from 'vitest';
import { parseManifest } from './parse.js';

/** A manifest whose one datacenter has `ice` as given (indented under the datacenter). */
function withIce(ice: string): string {
  return `version: 1
datacenters:
  us-east:
    jurisdiction: US
    location: { lat: 39.04, lon: -77.49 }
    capacity: 100
${ice}zones:
  all: { countries: ['*'], primaries: [us-east] }
`;
}

function errors(text: string): { code: string; path: string; line: number; column: number; message: string }[] {
  return parseManifest(text, 'm.yaml').diagnostics.map(({ code, path, line, column, message }) => ({ code, path, line, column, message }));
}

describe('parseManifest: ice', () => {
  it("reads servers, a written jurisdiction, and the datacenter's own where none is written", () => {
    const parsed = parseManifest(
      withIce(`    ice:
      - urls: [turn:turn.use1.example.com:3478, 'turns:turn.use1.example.com:5349']
      - urls: ["turn:[2001:db8::1]:3478?transport=tcp"]
        jurisdiction: CA
`),
    );
    expect(parsed.diagnostics).toEqual([]);
    expect(parsed.manifest?.datacenters[0]?.ice).toEqual([
      { urls: ['turn:turn.use1.example.com:3478', 'turns:turn.use1.example.com:5349'], jurisdiction: 'US' },
      { urls: ['turn:[2001:db8::1]:3478?transport=tcp'], jurisdiction: 'CA' },
    ]);
    expect(parsed.positions.get('datacenters.us-east.ice[1]')).toEqual({ line: 9, column: 9 });
  });

  it('gives a datacenter without `ice` no servers', () => {
    expect(parseManifest(withIce('')).manifest?.datacenters[0]?.ice).toEqual([]);
  });

  it('locates a URL that is not STUN or TURN at the URL, after a non-string entry too', () => {
    expect(errors(withIce('    ice:\n      - urls: [42, https://turn.example.com]\n'))).toEqual([
      { code: 'GB_INVALID_TYPE', path: 'datacenters.us-east.ice[0].urls[0]', line: 8, column: 16, message: expect.any(String) as string },
      { code: 'GB_INVALID_VALUE', path: 'datacenters.us-east.ice[0].urls[1]', line: 8, column: 20, message: expect.stringContaining("'https://turn.example.com' is not a STUN/TURN URL") as string },
    ]);
  });

  it('refuses credentials, at the field, saying where they belong, and still reads the rest', () => {
    const found = errors(withIce('    ice:\n      - urls: [turn:turn.example.com:3478]\n        username: alice\n        credential: s3cret\n        jurisdictoin: US\n'));
    expect(found.map((d) => [d.code, d.path, d.line, d.column])).toEqual([
      ['GB_UNKNOWN_FIELD', 'datacenters.us-east.ice[0].username', 9, 9],
      ['GB_UNKNOWN_FIELD', 'datacenters.us-east.ice[0].credential', 10, 9],
      ['GB_UNKNOWN_FIELD', 'datacenters.us-east.ice[0].jurisdictoin', 11, 9],
    ]);
    expect(found[1]?.message).toContain('TURN credentials never go in the manifest');
    expect(found[2]?.message).toContain("did you mean 'jurisdiction'?");
  });

  it('holds a datacenter to what one `admitted` message can carry: 16 servers of 8 URLs', () => {
    const urls = (n: number): string => `[${Array.from({ length: n }, (_, i) => `stun:s${i}.example.com`).join(', ')}]`;
    expect(errors(withIce(`    ice:\n${`      - urls: ${urls(8)}\n`.repeat(16)}`))).toEqual([]);
    expect(errors(withIce(`    ice:\n${`      - urls: ${urls(1)}\n`.repeat(17)}`)).map((d) => [d.code, d.path])).toEqual([['GB_INVALID_VALUE', 'datacenters.us-east.ice']]);
    expect(errors(withIce(`    ice:\n      - urls: ${urls(9)}\n`)).map((d) => [d.code, d.path, d.line])).toEqual([['GB_INVALID_VALUE', 'datacenters.us-east.ice[0].urls', 8]]);
  });

  it('reports a missing `urls` at the server', () => {
    expect(errors(withIce('    ice:\n      - jurisdiction: US\n')).map((d) => [d.code, d.line, d.column])).toEqual([['GB_MISSING_FIELD', 8, 9]]);
  });
});

describe('parseManifest: a fence’s transit', () => {
  const withTransit = (transit: string): string => `version: 1
datacenters:
  us-east: { jurisdiction: US, location: { lat: 39.04, lon: -77.49 }, capacity: 100 }
zones:
  all: { countries: ['*'], primaries: [us-east] }
fences:
  - name: eea
    clients: [DE]
    allow: [DE]
${transit}`;

  it('reads `e2ee`, and keeps `never` (the default) as no field, so the manifest prints back as written', () => {
    expect(parseManifest(withTransit('    transit: e2ee\n')).manifest?.fences[0]).toEqual({ name: 'eea', clients: ['DE'], allow: ['DE'], transit: 'e2ee' });
    expect(parseManifest(withTransit('    transit: never\n')).manifest?.fences[0]).toEqual({ name: 'eea', clients: ['DE'], allow: ['DE'] });
    expect(parseManifest(withTransit('')).manifest?.fences[0]).toEqual({ name: 'eea', clients: ['DE'], allow: ['DE'] });
  });

  it('reports any other value at file:line:col', () => {
    expect(errors(withTransit('    transit: always\n')).map((d) => [d.code, d.path, d.line, d.column])).toEqual([['GB_INVALID_VALUE', 'fences[0].transit', 10, 14]]);
    expect(errors(withTransit('    transit: [e2ee]\n')).map((d) => [d.code, d.path])).toEqual([['GB_INVALID_TYPE', 'fences[0].transit']]);
  });
});
