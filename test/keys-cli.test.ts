// `geobridge keys list|rotate|revoke` through main(), against a real broker on a data directory: output, exit codes, the token never shown.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseServeSettings } from '../src/broker/config.js';
import { startBroker, type RunningBroker } from '../src/broker/server.js';
import { runKeys } from '../src/cli/commands/keys.js';
import { runCli, type CliRun } from './run-cli.fixture.js';

const root = join(import.meta.dirname, '..');
let data: string;
let broker: RunningBroker;
let tokenFile: string;
let token: string;

beforeAll(async () => {
  data = mkdtempSync(join(tmpdir(), 'geobridge-keys-cli-'));
  const { settings, problems } = parseServeSettings({ manifest: join(root, 'examples/world.yaml'), data, dev: true, listen: '127.0.0.1:0' }, {});
  if (!settings) throw new Error(problems.join('\n'));
  broker = await startBroker(settings, false);
  tokenFile = join(data, 'admin-token');
  token = readFileSync(tokenFile, 'utf8').trim();
}, 30_000);

afterAll(async () => {
  await broker.close();
  rmSync(data, { recursive: true, force: true });
});

async function run(...argv: string[]): Promise<CliRun> {
  const result = await runCli(...argv);
  // The admin token is a bearer secret: no output ever shows it.
  expect(result.out + result.err).not.toContain(token);
  return result;
}

const keys = (sub: string, ...rest: string[]): Promise<CliRun> => run('keys', sub, ...rest, '--broker', broker.url, '--admin-token-file', tokenFile);

/** Kid and state of each row of `keys list`. */
async function listed(): Promise<string[][]> {
  const r = await keys('list');
  expect(r.code).toBe(0);
  const [header, ...rows] = r.out.trimEnd().split('\n');
  expect(header).toMatch(/^KID\s+CREATED\s+HOLDER\s+STATE$/);
  return rows.map((row) => {
    const [kid = '', , holder = '', state = ''] = row.split(/\s{2,}/);
    expect(holder).toMatch(/-[0-9a-f]{8}$/);
    return [kid, state.split(' ')[0] ?? ''];
  });
}

describe('geobridge keys', () => {
  it('lists, rotates and revokes against a real broker', async () => {
    const [first] = await listed();
    expect(first?.[1]).toBe('current');
    const old = first?.[0] ?? '';

    const rotated = await keys('rotate');
    expect(rotated).toMatchObject({ code: 0, out: expect.stringMatching(/^rotated: [A-Za-z0-9_-]{43} now signs/) as unknown });
    const current = /rotated: (\S+)/.exec(rotated.out)?.[1] ?? '';
    expect(await listed()).toEqual([
      [current, 'current'],
      [old, 'retired'],
    ]);
    expect((await keys('list')).out).toContain('retired (verifies until ');

    const revoked = await keys('revoke', old);
    expect(revoked).toMatchObject({ code: 0, out: expect.stringContaining(`revoked: ${old} verifies nothing since `) as unknown });
    expect(await listed()).toEqual([
      [current, 'current'],
      [old, 'revoked'],
    ]);
    const json = await keys('list', '--json');
    expect(JSON.parse(json.out)).toMatchObject({ keys: [{ kid: current, state: 'current' }, { kid: old, state: 'revoked' }] });
  }, 30_000);

  it('revoking the current key says which key signs now', async () => {
    const [current] = await listed();
    const r = await keys('revoke', current?.[0] ?? '', '--json');
    expect(r.code).toBe(0);
    const answer = JSON.parse(r.out) as { kid: string; rotatedTo: string };
    expect(answer.kid).toBe(current?.[0]);
    expect((await listed())[0]).toEqual([answer.rotatedTo, 'current']);
  }, 30_000);

  it('takes the token from GEOBRIDGE_ADMIN_TOKEN', async () => {
    let out = '';
    const code = await runKeys(['list', '--broker', broker.url], { out: (t) => (out += t), err: () => undefined }, { GEOBRIDGE_ADMIN_TOKEN: token });
    expect(code).toBe(0);
    expect(out).toContain('current');
  });

  it('takes a KID that begins with a dash (base64url) for the KID, not a flag, wherever it stands', async () => {
    const dashed = `-${'A'.repeat(42)}`;
    for (const argv of [['keys', 'revoke', dashed, '--broker', broker.url, '--admin-token-file', tokenFile], ['keys', 'revoke', '--broker', broker.url, dashed, '--admin-token-file', tokenFile]]) {
      // Parsed as the KID: the broker looks it up, and knows no such key.
      expect(await run(...argv)).toMatchObject({ code: 1, err: expect.stringContaining('refused (404 NOT_FOUND)') as unknown });
    }
  });

  it('exits 1 when the broker refuses: a wrong token, an unknown kid', async () => {
    const wrong = join(data, '..', `wrong-token-${String(process.pid)}`);
    writeFileSync(wrong, 'not-the-token\n');
    try {
      expect(await run('keys', 'list', '--broker', broker.url, '--admin-token-file', wrong)).toMatchObject({ code: 1, err: expect.stringContaining('refused (401 UNAUTHORIZED)') as unknown });
    } finally {
      rmSync(wrong, { force: true });
    }
    expect(await keys('revoke', 'no-such-kid')).toMatchObject({ code: 1, err: expect.stringContaining('refused (404 NOT_FOUND)') as unknown });
  });

  it('exits 2 on bad input or an unreachable broker, saying what to do', async () => {
    const cases: [string[], string][] = [
      [['keys', 'list', '--broker', broker.url], 'GEOBRIDGE_ADMIN_TOKEN'],
      [['keys', 'list', '--broker', broker.url, '--admin-token-file', join(data, 'missing')], 'cannot read the admin token file'],
      [['keys', 'list', '--admin-token-file', tokenFile], 'give --broker URL'],
      [['keys', 'list', '--broker', 'not a url', '--admin-token-file', tokenFile], 'is not an http(s) URL'],
      [['keys', 'revoke', '--broker', broker.url, '--admin-token-file', tokenFile], 'give exactly one KID'],
      [['keys', 'rotate', 'extra', '--broker', broker.url, '--admin-token-file', tokenFile], "unexpected argument 'extra'"],
      [['keys', 'forget', '--broker', broker.url], "unknown subcommand 'forget'"],
      [['keys', 'list', '--frobnicate'], '--frobnicate'],
      [['keys', 'list', '--broker', 'http://127.0.0.1:1', '--admin-token-file', tokenFile], 'BROKER_UNREACHABLE'],
    ];
    for (const [argv, says] of cases) {
      const r = await run(...argv);
      expect([argv.join(' '), r.code, r.err]).toEqual([argv.join(' '), 2, expect.stringContaining(says)]);
    }
  });

  it('teaches with --help, and is listed in the main help', async () => {
    for (const argv of [['keys', '--help'], ['keys', 'revoke', '--help']]) {
      const r = await run(...argv);
      expect(r.code).toBe(0);
      expect(r.out).toContain('geobridge keys revoke KID');
      expect(r.out).toContain('GEOBRIDGE_ADMIN_TOKEN');
    }
    expect((await run('keys')).code).toBe(2);
    expect((await run('--help')).out).toContain('keys list|rotate|revoke');
  });
});
