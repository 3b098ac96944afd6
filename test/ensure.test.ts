// scripts/ensure.js's decisions (the set-up `npm start` and `npm test` do first), on made-up files and times.
import { describe, expect, it } from 'vitest';
import { dependenciesAction, findChromium, installedMatchesLock } from '../scripts/ensure.js';

const LOCK = {
  packages: {
    '': { version: '0.1.0' },
    'node_modules/yaml': { version: '2.9.1' },
    'node_modules/@esbuild/darwin-arm64': { version: '0.28.2', optional: true },
  },
};
const INSTALLED = { packages: { 'node_modules/yaml': { version: '2.9.1' } } };

describe('dependenciesAction', () => {
  const state = { installedMtimeMs: 2_000, lockMtimeMs: 1_000, linked: false, sameAsLock: () => false };

  it('installs when node_modules is missing, and does nothing when it was installed after the lock changed', () => {
    expect(dependenciesAction({ ...state, installedMtimeMs: undefined })).toBe('install');
    expect(dependenciesAction(state)).toBe('none');
  });

  it('installs when the lock is newer and names other packages, not when it only looks newer (a fresh checkout of the same lock)', () => {
    expect(dependenciesAction({ ...state, lockMtimeMs: 3_000 })).toBe('install');
    expect(dependenciesAction({ ...state, lockMtimeMs: 3_000, sameAsLock: () => true })).toBe('none');
  });

  it('never installs into a linked node_modules (npm ci would empty the folder it points to)', () => {
    expect(dependenciesAction({ ...state, lockMtimeMs: 3_000, linked: true })).toBe('linked');
    expect(dependenciesAction({ ...state, installedMtimeMs: undefined, linked: true })).toBe('linked');
  });
});

describe('installedMatchesLock', () => {
  it("matches the lock's packages at its versions; optional packages for other platforms may be missing", () => {
    expect(installedMatchesLock(LOCK, INSTALLED)).toBe(true);
    expect(installedMatchesLock(LOCK, { packages: { 'node_modules/yaml': { version: '2.9.0' } } })).toBe(false);
    expect(installedMatchesLock(LOCK, { packages: {} })).toBe(false);
    expect(installedMatchesLock(LOCK, { packages: { ...INSTALLED.packages, 'node_modules/left-pad': { version: '1.3.0' } } })).toBe(false);
  });
});

describe('findChromium', () => {
  it('prefers /usr/bin/chromium, then the first chromium on PATH', () => {
    expect(findChromium('/opt/bin:/snap/bin', (f) => f === '/usr/bin/chromium' || f === '/snap/bin/chromium')).toBe('/usr/bin/chromium');
    expect(findChromium('/opt/bin::/snap/bin', (f) => f === '/snap/bin/chromium')).toBe('/snap/bin/chromium');
    expect(findChromium('/opt/bin', () => false)).toBeUndefined();
  });
});
