// What a bridge hands out: declared, inside the participant's jurisdictions, and configured here, with its credentials.
import { describe, expect, it } from 'vitest';
import { parseManifest } from '../core/manifest/parse.js';
import type { Manifest } from '../core/manifest/types.js';
import { IceConfiguration } from './ice-servers.js';

const MANIFEST = `version: 1
datacenters:
  us-east:
    jurisdiction: US
    location: { lat: 39.04, lon: -77.49 }
    capacity: 100
    ice:
      - urls: [stun:a.example:3478, turn:a.example:3478, turns:a.example:5349]
      - urls: [turns:yul.example:5349]
        jurisdiction: CA
zones:
  all: { countries: ['*'], primaries: [us-east] }
`;

function manifest(): Manifest {
  const parsed = parseManifest(MANIFEST, 't.yaml');
  if (!parsed.manifest) throw new Error('test manifest does not parse');
  return parsed.manifest;
}

const CREDENTIALS = { username: 'u', credential: 'c' };

describe('IceConfiguration', () => {
  const config = new IceConfiguration([{ urls: ['stun:a.example:3478'] }, { urls: ['turn:a.example:3478', 'turns:yul.example:5349'], ...CREDENTIALS }]);

  it('hands out the declared URLs inside the allowed set that it is configured for, each with its own credentials', () => {
    expect(config.handOut(manifest(), 'us-east', ['US', 'CA'])).toEqual([{ urls: ['stun:a.example:3478'] }, { urls: ['turn:a.example:3478'], ...CREDENTIALS }, { urls: ['turns:yul.example:5349'], ...CREDENTIALS }]);
    expect(config.handOut(manifest(), 'us-east', ['US'])).toEqual([{ urls: ['stun:a.example:3478'] }, { urls: ['turn:a.example:3478'], ...CREDENTIALS }]);
    expect(config.handOut(manifest(), 'us-east', ['DE'])).toEqual([]);
  });

  it('hands out nothing without a manifest, for another datacenter, or when configured with nothing', () => {
    expect(config.handOut(undefined, 'us-east', ['US'])).toEqual([]);
    expect(config.handOut(manifest(), 'eu-central', ['US'])).toEqual([]);
    expect(new IceConfiguration().handOut(manifest(), 'us-east', ['US', 'CA'])).toEqual([]);
    expect(new IceConfiguration().configured).toBe(false);
  });

  it('names, and refuses, configured URLs the datacenter does not declare', () => {
    const odd = new IceConfiguration([{ urls: ['turn:a.example:3478', 'turn:a.example:3478?transport=tcp', 'stun:b.example'], ...CREDENTIALS }]);
    expect(odd.undeclared(manifest(), 'us-east')).toEqual(['turn:a.example:3478?transport=tcp', 'stun:b.example']);
    expect(() => { odd.refuseUndeclared(manifest(), 'us-east'); }).toThrow(expect.objectContaining({ code: 'ICE_SERVER_NOT_DECLARED' }));
    expect(() => { config.refuseUndeclared(manifest(), 'us-east'); }).not.toThrow();
    expect(config.undeclared(manifest(), 'mars-1')).toEqual(['stun:a.example:3478', 'turn:a.example:3478', 'turns:yul.example:5349']);
  });
});
