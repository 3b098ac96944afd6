// Configuration is validated once, with every problem reported together.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_RATE_LIMITS, parseServeSettings } from './config.js';

describe('parseServeSettings', () => {
  it('takes defaults, then environment, then flags', () => {
    const { settings, problems } = parseServeSettings({ manifest: 'm.yaml', listen: '[::1]:9090' }, { GEOBRIDGE_DATA: '/var/lib/gb', GEOBRIDGE_LISTEN: '0.0.0.0:1', GEOBRIDGE_DEV: 'true' });
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({ manifestPath: 'm.yaml', host: '::1', port: 9090, dataDir: '/var/lib/gb', dev: true, issuer: 'http://[::1]:9090', heartbeatTimeoutMs: 5000, routeTicketSeconds: 120 });
    expect(Object.isFrozen(settings)).toBe(true);
  });

  it('reports every problem at once', () => {
    const { settings, problems } = parseServeSettings(
      { listen: 'localhost', trustedProxies: '10.0.0.0/99', heartbeatTimeoutMs: 'soon', ticketTtl: '0', issuer: 'broker' },
      { GEOBRIDGE_ADMIN_TOKEN: 'short' },
    );
    expect(settings).toBeUndefined();
    expect(problems).toHaveLength(7);
    expect(problems.join('\n')).toMatch(/--manifest FILE/);
    expect(problems.join('\n')).toMatch(/--listen/);
    expect(problems.join('\n')).toMatch(/--trusted-proxies/);
    expect(problems.join('\n')).toMatch(/GEOBRIDGE_ADMIN_TOKEN/);
  });

  it('sheds load only when --shed-at gives a share from 0.5 to 1', () => {
    expect(parseServeSettings({ manifest: 'm.yaml' }, {}).settings?.shedAt).toBeUndefined();
    expect(parseServeSettings({ manifest: 'm.yaml', shedAt: '0.9' }, {}).settings?.shedAt).toBe(0.9);
    expect(parseServeSettings({ manifest: 'm.yaml' }, { GEOBRIDGE_SHED_AT: '1' }).settings?.shedAt).toBe(1);
    for (const bad of ['0.2', '90', 'busy', '']) {
      expect(parseServeSettings({ manifest: 'm.yaml', shedAt: bad }, {}).problems, bad).toEqual([`--shed-at (GEOBRIDGE_SHED_AT) is '${bad}'; it must be a share from 0.5 to 1, e.g. 0.9 (a bridge whose event loop is busy 90 % of the time takes no new participants).`]);
    }
  });

  it('keeps the store in SQLite unless --store names a PostgreSQL URL, and never echoes a bad one', () => {
    expect(parseServeSettings({ manifest: 'm.yaml' }, {}).settings?.storeUrl).toBeUndefined();
    expect(parseServeSettings({ manifest: 'm.yaml', store: 'sqlite' }, {}).settings?.storeUrl).toBeUndefined();
    const url = 'postgres://gb:secret@db.example.com:5432/geobridge';
    expect(parseServeSettings({ manifest: 'm.yaml' }, { GEOBRIDGE_STORE: url }).settings?.storeUrl).toBe(url);
    expect(parseServeSettings({ manifest: 'm.yaml', store: 'postgresql://db/gb' }, { GEOBRIDGE_STORE: url }).settings?.storeUrl).toBe('postgresql://db/gb');
    for (const bad of ['mysql://gb:hunter2@db/gb', 'hunter2', 'postgres:///gb']) {
      const { settings, problems } = parseServeSettings({ manifest: 'm.yaml', store: bad }, {});
      expect(settings).toBeUndefined();
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/--store \(GEOBRIDGE_STORE\)/);
      expect(problems[0]).not.toContain('hunter2');
    }
  });

  it('cascades with one broker only: --cascade with --bus is refused, naming both', () => {
    expect(parseServeSettings({ manifest: 'm.yaml', cascade: true }, {}).settings?.cascade).toBe(true);
    const { settings, problems } = parseServeSettings({ manifest: 'm.yaml', cascade: true, store: 'postgres://db/gb' }, { GEOBRIDGE_BUS: 'redis://127.0.0.1:6379' });
    expect(settings).toBeUndefined();
    expect(problems).toEqual([expect.stringMatching(/--cascade \(GEOBRIDGE_CASCADE\) runs with one broker.*drop --bus \(GEOBRIDGE_BUS\) or --cascade/)]);
  });

  it('reads the per-address rate limits, defaults first, and rejects ones that are not whole numbers', () => {
    expect(parseServeSettings({ manifest: 'm.yaml' }, {}).settings?.rateLimits).toEqual(DEFAULT_RATE_LIMITS);
    const { settings } = parseServeSettings({ manifest: 'm.yaml', rateLimitFailures: '10' }, { GEOBRIDGE_RATE_LIMIT_FAILURES: '99', GEOBRIDGE_RATE_LIMIT_PRESENCE: '5' });
    expect(settings?.rateLimits).toEqual({ ...DEFAULT_RATE_LIMITS, failures: 10, presence: 5 });
    expect(Object.isFrozen(settings?.rateLimits)).toBe(true);
    expect(parseServeSettings({ manifest: 'm.yaml' }, {}).settings?.maxConnectionsPerAddress).toBe(1024);
    expect(parseServeSettings({ manifest: 'm.yaml' }, { GEOBRIDGE_MAX_CONNECTIONS_PER_ADDRESS: '64' }).settings?.maxConnectionsPerAddress).toBe(64);
    expect(parseServeSettings({ manifest: 'm.yaml', maxConnectionsPerAddress: '0' }, {}).problems.join('\n')).toMatch(/--max-connections-per-address \(GEOBRIDGE_MAX_CONNECTIONS_PER_ADDRESS\) is '0'/);
    const bad = parseServeSettings({ manifest: 'm.yaml', rateLimitRequests: '0', rateLimitInvites: 'lots' }, {});
    expect(bad.settings).toBeUndefined();
    expect(bad.problems.join('\n')).toMatch(/--rate-limit-requests \(GEOBRIDGE_RATE_LIMIT_REQUESTS\)/);
    expect(bad.problems.join('\n')).toMatch(/--rate-limit-invites/);
  });
});

describe('serve --config FILE', () => {
  const write = (text: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'geobridge-config-'));
    const file = join(dir, 'broker.yaml');
    writeFileSync(file, text);
    return file;
  };

  it('takes settings from the file, its paths from its own directory; the environment and the flags win over it', () => {
    const file = write('manifest: world.yaml\ndata: state\nstore: postgres://db.example.com/gb\nbus: redis://redis.example.com:6379\nrate-limit-requests: 900\ndev: true\nlisten: 127.0.0.1:9000\n');
    const dir = dirname(file);
    const { settings, problems } = parseServeSettings({ config: file, listen: '127.0.0.1:9100' }, { GEOBRIDGE_RATE_LIMIT_REQUESTS: '700' });
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({ manifestPath: join(dir, 'world.yaml'), dataDir: join(dir, 'state'), storeUrl: 'postgres://db.example.com/gb', busUrl: 'redis://redis.example.com:6379', dev: true, port: 9100 });
    expect(settings?.rateLimits?.requests).toBe(700);
    expect(parseServeSettings({}, { GEOBRIDGE_CONFIG: file }).settings?.rateLimits?.requests).toBe(900);
  });

  it('names the place of each problem in the file, with the other problems, and sets nothing from a file that is not a mapping', () => {
    const file = write('manifest: world.yaml\nstor: postgres://db/gb\nbridge-keys:\n  us-east: abc\n');
    const { settings, problems } = parseServeSettings({ config: file, listen: 'nowhere' }, {});
    expect(settings).toBeUndefined();
    expect(problems).toEqual([
      expect.stringMatching(new RegExp(`^${file}:2:1: unknown setting 'stor'`)),
      expect.stringMatching(new RegExp(`^${file}:3:1: 'bridge-keys' needs a single value`)),
      expect.stringMatching(/^--listen/),
    ]);
    expect(parseServeSettings({ config: write('- a\n- b\n') }, {}).problems[0]).toMatch(/:1:1: the config file must be a mapping/);
    expect(parseServeSettings({ config: write('manifest: [\n') }, {}).problems[0]).toMatch(/broker\.yaml:\d+:\d+: .*fix the YAML/);
    expect(parseServeSettings({ config: '/nonexistent/broker.yaml' }, {}).problems[0]).toMatch(/--config: cannot read '\/nonexistent\/broker\.yaml'/);
  });
});
