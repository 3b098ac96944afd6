// What operators feed the programs: the broker's config file and environment, the bridge keys file, the
// bridge's private key, a GeoIP database, and argv itself. Whatever the shape, a refusal is exit 2 with an
// error code that names the file (with line:col where YAML gives one) or the flag; never exit 70 or a stack.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ENV_NAMES, parseServeSettings } from '../src/broker/config.js';
import { readConfigFile } from '../src/broker/config-file.js';
import { loadBridgeIdentities } from '../src/broker/server.js';
import { parseCommandArgs } from '../src/cli/args.js';
import { isGeobridgeError } from '../src/core/errors.js';
import { openGeoIp } from '../src/node/geoip.js';
import { runCli, type CliRun } from './run-cli.fixture.js';

const root = join(import.meta.dirname, '..');
const WORLD = join(root, 'examples/world.yaml');
const base = mkdtempSync(join(tmpdir(), 'geobridge-operator-'));
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
});

let n = 0;
const file = (name: string, content: string | Uint8Array): string => {
  const path = join(base, `${String(n++)}-${name}`);
  writeFileSync(path, content);
  return path;
};

/** No run ends in "internal error" or prints a stack frame. */
const expectNoCrash = (r: CliRun, what: string): void => {
  expect(r.code, `${what}\n${r.err}`).not.toBe(70);
  expect(r.out + r.err, what).not.toContain('    at ');
  expect(r.err, what).not.toContain('internal error');
};

const deep = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

/** Whatever an operator's editor, a botched template or a wrong file may leave in a YAML/JSON file. */
const fileContent: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }),
  fc.anything({ maxDepth: 4 }).map((v) => (JSON.stringify(v) as string | undefined) ?? ''),
  // yaml's stringify gives undefined for undefined, whatever its type says.
  fc.anything({ maxDepth: 4 }).map((v) => (stringify(v) as string | undefined) ?? ''),
  fc.dictionary(fc.constantFrom('store', 'listen', 'rate-limit-requests', 'rateLimitRequests', 'manifest', 'us-east', 'eu-west', '__proto__', 'dev', 'key', 'url'), fc.jsonValue({ maxDepth: 3 })).map((v) => stringify(v)),
  // Below the YAML parser's stack (~800 levels here): past it, a regular expression V8 compiles lazily that deep can
  // fail as a fatal out-of-memory instead of a catchable RangeError, ending the worker. 10,000 levels are checked
  // once below, after the parser's expressions are compiled.
  fc.integer({ min: 1, max: 700 }).map((depth) => `store: ${deep(depth)}\n`),
  fc.constantFrom('', '\ufeff', 'a: 1\na: 2\n', 'x: &a [1]\ny: *a\n', '? [a]\n: b\n', 'rate-limit-requests: 1e400\n', `ticket-ttl: ${'9'.repeat(400)}\n`, '---\n---\n', '%YAML 9.9\n---\n'),
);

describe('the broker config file (serve --config)', () => {
  const settings = (Object.keys(ENV_NAMES) as (keyof typeof ENV_NAMES)[]).filter((k) => k !== 'config');

  it('reads any content into settings or problems that name the file and line:col, never throwing', () => {
    fc.assert(
      fc.property(fileContent, (content) => {
        const path = file('config.yaml', content);
        const read = readConfigFile(path, settings);
        for (const p of read.problems) expect(p).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
        // The whole validation, as serve runs it: values or problems, nothing thrown.
        const parsed = parseServeSettings({ config: path }, {});
        expect(parsed.settings !== undefined || parsed.problems.length > 0).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('refuses a setting given under two spellings, not keeping one silently', () => {
    const path = file('two.yaml', 'rate-limit-requests: 5\nrateLimitRequests: 6\n');
    const read = readConfigFile(path, settings);
    expect(read.problems).toEqual([`${path}:2:1: 'rateLimitRequests' sets 'rate-limit-requests' again; keep one of them.`]);
  });

  it('places a key that is not a name where it is, not at 1:1', () => {
    const path = file('complex.yaml', 'listen: 127.0.0.1:1\n? [a]\n: b\n');
    expect(readConfigFile(path, settings).problems).toEqual([`${path}:2:3: unknown setting (a key that is not a name); the settings are serve's flags without '--' (see 'geobridge serve --help').`]);
  });

  it('refuses through the CLI with exit 2, naming the file: a directory, garbage, deep nesting, duplicates', async () => {
    const dir = join(base, 'a-dir');
    mkdirSync(dir);
    const cases: [string, RegExp][] = [
      [dir, /--config: cannot read '.*a-dir'/],
      [file('garbage.yaml', new Uint8Array([0, 0xff, 0x3a, 0x20, 0x3a, 0x0a, 0x7b])), /garbage\.yaml:\d+:\d+: /],
      [file('deep.yaml', `store: ${deep(10_000)}\n`), /deep\.yaml:1:\d+: it nests too deep/],
      [file('dup.yaml', 'store: sqlite\nstore: sqlite\n'), /dup\.yaml:2:1: Map keys must be unique/],
      [file('list.yaml', '- store\n'), /list\.yaml:1:1: the config file must be a mapping/],
    ];
    for (const [path, message] of cases) {
      const r = await runCli('serve', '--config', path);
      expectNoCrash(r, path);
      expect([r.code, r.err], path).toEqual([2, expect.stringMatching(message) as unknown]);
      expect(r.err).toContain('error USAGE: serve:');
    }
  });

  it('reports every environment value that is not a setting, never throwing', () => {
    const names = Object.values(ENV_NAMES).filter((name) => name !== ENV_NAMES.config);
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom(...names), fc.oneof(fc.string({ maxLength: 40 }), fc.double().map(String), fc.bigInt().map(String))), (env) => {
        const parsed = parseServeSettings({ manifest: WORLD }, env);
        expect(parsed.settings !== undefined || parsed.problems.length > 0).toBe(true);
        for (const p of parsed.problems) expect(p).toMatch(/--[a-z-]+|GEOBRIDGE_/);
      }),
      { numRuns: 300 },
    );
  });
});

describe('the bridge keys file (serve --bridge-keys)', () => {
  const datacenters = new Set(['us-east', 'eu-west']);

  it('loads any content or refuses it with a code and the file, never with another error', async () => {
    await fc.assert(
      fc.asyncProperty(fileContent, async (content) => {
        const path = file('bridge-keys.yaml', content);
        try {
          await loadBridgeIdentities(path, datacenters);
        } catch (error) {
          expect(isGeobridgeError(error), String(error)).toBe(true);
          expect((error as Error).message.startsWith(path)).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('refuses YAML errors, empty entries, alias bombs and deep nesting through serve with exit 2 and the file’s line:col', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => {
      warnings.push(`${warning.name}: ${warning.message}`);
    };
    process.on('warning', onWarning);
    const bomb = `a: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [${Array(10).fill('*a').join(',')}]\nc: [${Array(120).fill('*b').join(',')}]\n`;
    const cases: [string, RegExp][] = [
      ['us-east: [\n', /^error INVALID_BRIDGE_KEYS: \S+:2:1: Flow sequence/],
      ['us-east: a\nus-east: b\n', /^error INVALID_BRIDGE_KEYS: \S+:2:1: Map keys must be unique/],
      ['us-east:\n', /^error BRIDGE_KEY_INVALID: \S+: The public key configured for datacenter 'us-east' is unusable/],
      ['us-east: {key: null}\n', /^error BRIDGE_KEY_INVALID: \S+: The public key configured for datacenter 'us-east' is unusable/],
      [bomb, /^error INVALID_BRIDGE_KEYS: \S+: Excessive alias count/],
      [`us-east: ${deep(10_000)}\n`, /^error INVALID_BRIDGE_KEYS: \S+:1:\d+: it nests too deep/],
      // yaml only warns of an unknown version; the operator hears of the error, not of a Node process warning.
      ['%YAML 9.9\n---\nus-east:\n', /^error BRIDGE_KEY_INVALID: \S+: The public key configured for datacenter 'us-east' is unusable/],
    ];
    for (const [content, message] of cases) {
      const keys = file('keys.yaml', content);
      const r = await runCli('serve', '--manifest', WORLD, '--data', join(base, `data-${String(n++)}`), '--bridge-keys', keys, '--listen', '127.0.0.1:0');
      expectNoCrash(r, content.slice(0, 40));
      expect([r.code, r.err], content.slice(0, 40)).toEqual([2, expect.stringMatching(message) as unknown]);
      expect(r.err).toContain(keys);
    }
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
    expect(warnings).toEqual([]);
  });
});

describe("the bridge's private key (bridge --key)", () => {
  const x = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

  it('refuses a JWK that has the right shape but does not import, before the bridge listens', async () => {
    for (const jwk of [{ kty: 'OKP', crv: 'Ed25519', x, d: 'garbage' }, { kty: 'OKP', crv: 'Ed25519', x, d: x }]) {
      const key = file('bridge.jwk', JSON.stringify(jwk));
      // Port 1 on loopback: nothing listens there, and the bridge must not get as far as trying.
      const r = await runCli('bridge', '--datacenter', 'us-east', '--broker', 'http://127.0.0.1:1', '--key', key, '--listen', '127.0.0.1:0');
      expectNoCrash(r, JSON.stringify(jwk));
      expect([r.code, r.err]).toEqual([2, expect.stringContaining(`--key ${key} does not import as an Ed25519 private key`) as unknown]);
    }
  });

  it('refuses any other content with exit 2 naming --key', async () => {
    await fc.assert(
      fc.asyncProperty(fileContent, async (content) => {
        const key = file('bridge.jwk', content);
        const r = await runCli('bridge', '--datacenter', 'us-east', '--broker', 'http://127.0.0.1:1', '--key', key, '--listen', '127.0.0.1:0');
        expectNoCrash(r, key);
        expect([r.code, r.err]).toEqual([2, expect.stringContaining(`--key ${key} `) as unknown]);
      }),
      { numRuns: 100 },
    );
  });
});

describe("up's own files (up --data)", () => {
  it('refuses a --data that is a file, and a bridge key a crash truncated, with exit 2 naming it, before starting anything', async () => {
    const notDir = file('data-file', 'x');
    const asFile = await runCli('up', '--data', notDir, '--listen', '127.0.0.1:0', '--datacenters', 'us-east');
    expectNoCrash(asFile, 'up --data FILE');
    expect([asFile.code, asFile.err]).toEqual([2, expect.stringContaining(`up: --data cannot hold the bridges' keys in '${join(notDir, 'bridges')}' (ENOTDIR)`) as unknown]);
    for (const content of ['', 'null', '{"kty":"OKP","crv":"Ed25519","x":"AAAA', '{}']) {
      const data = join(base, `up-${String(n++)}`);
      mkdirSync(join(data, 'bridges'), { recursive: true });
      writeFileSync(join(data, 'bridges', 'us-east.jwk'), content);
      const r = await runCli('up', '--data', data, '--listen', '127.0.0.1:0', '--datacenters', 'us-east');
      expectNoCrash(r, `up with us-east.jwk ${content}`);
      expect([r.code, r.err]).toEqual([2, expect.stringContaining(`error USAGE: up: ${join(data, 'bridges', 'us-east.jwk')} is not a bridge key 'geobridge up' wrote`) as unknown]);
      expect(r.err).not.toContain('starting the broker');
    }
  });
});

describe('a GeoIP database (serve --geoip, route --geoip)', () => {
  /** A minimal MMDB (no search tree) whose metadata says it was built at `epoch` seconds (MaxMind DB format 2.0, §metadata). */
  const mmdb = (epoch: bigint): Uint8Array => {
    const str = (s: string): Buffer => Buffer.concat([Buffer.from([(2 << 5) | Buffer.byteLength(s)]), Buffer.from(s)]);
    const u16 = (v: number): Buffer => Buffer.from([(5 << 5) | 2, v >> 8, v & 255]);
    const u64 = Buffer.alloc(10);
    u64.set([8, 2]); // extended type 9 (uint64), 8 bytes
    u64.writeBigUInt64BE(epoch, 2);
    const entries = [str('node_count'), u16(0), str('record_size'), u16(24), str('ip_version'), u16(4), str('database_type'), str('GeoLite2-Country'), str('build_epoch'), u64];
    return Buffer.concat([Buffer.alloc(16), Buffer.from('ABCDEF4D61784D696E642E636F6D', 'hex'), Buffer.from([(7 << 5) | 5]), ...entries]);
  };

  it('opens a database whose build date no Date holds, instead of crashing on it', async () => {
    const path = file('future.mmdb', mmdb(2n ** 64n - 1n));
    const geoip = await openGeoIp(path);
    expect(geoip.source).toBe(`GeoLite2-Country of unknown build date from ${path}`);
    const r = await runCli('route', '--manifest', WORLD, '--ip', '192.0.2.1', '--geoip', path);
    expectNoCrash(r, 'route --geoip');
    expect([r.code, r.err]).toEqual([2, expect.stringContaining('error IP_NOT_LOCATED: 192.0.2.1 is not in GeoLite2-Country of unknown build date') as unknown]);
  });

  it('refuses any other content with GEOIP_UNREADABLE naming the file', async () => {
    await fc.assert(
      fc.asyncProperty(fileContent, async (content) => {
        const path = file('x.mmdb', content);
        await expect(openGeoIp(path)).rejects.toMatchObject({ code: 'GEOIP_UNREADABLE', message: expect.stringContaining(path) as unknown });
      }),
      { numRuns: 100 },
    );
  });
});

describe('argv', () => {
  const flags = ['--manifest', '--country', '--ip', '--geoip', '--json', '--strict', '--down', '--utilization', '--participant', '--location', '--allow', '--help', '-h', '--', '-', '--x', '-j', '--json=1', '--manifest=', '--plan'];
  const values = [WORLD, base, join(base, 'missing.yaml'), '', ' ', '-', 'US', 'us-east', '1.2.3.4', '999.1.1.1', 'a'.repeat(300), '\u0000', '\ud800', '%s', '__proto__', 'constructor'];
  const argv = fc.array(fc.oneof(fc.constantFrom(...flags), fc.constantFrom(...values), fc.string({ maxLength: 8 })), { maxLength: 8 });

  it('parses any argv into values or a USAGE error', () => {
    fc.assert(
      fc.property(argv, fc.integer({ min: 0, max: 2 }), (args, max) => {
        try {
          parseCommandArgs('route', args, { manifest: { type: 'string' }, json: { type: 'boolean' }, down: { type: 'string', multiple: true } }, max);
        } catch (error) {
          expect(error).toMatchObject({ code: 'USAGE' });
        }
      }),
      { numRuns: 500 },
    );
  });

  it('runs check, route, plan, table and diff on any argv without crashing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('check', 'route', 'plan', 'table', 'diff', 'schema'), argv, async (command, args) => {
        const r = await runCli(command, ...args);
        expectNoCrash(r, [command, ...args].join(' '));
        if (r.code === 2) expect(r.err).toMatch(/^error( [A-Z_]+)?: /m);
      }),
      { numRuns: 120 },
    );
  });
});
