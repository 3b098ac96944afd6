// Bad input to the CLI, as a review found it: each is an exit 2 with a message that names the flag or file and says
// what to do, never "internal error" (exit 70), a silent guess, or hours of work lost to a mistyped path.
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as run } from './run-cli.fixture.js';

const root = join(import.meta.dirname, '..');
const base = mkdtempSync(join(tmpdir(), 'geobridge-cli-bad-'));
let html: Server;
let htmlUrl: string;

beforeAll(async () => {
  // A web server where the broker should be: it answers 200 with a page.
  html = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'));
  await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve));
  htmlUrl = `http://127.0.0.1:${String((html.address() as AddressInfo).port)}`;
});
afterAll(() => {
  html.close();
  rmSync(base, { recursive: true, force: true });
});

const file = (name: string, text: string): string => {
  const path = join(base, name);
  writeFileSync(path, text);
  return path;
};

describe('the CLI on bad input', () => {
  it('refuses a --broker that is not an http(s) URL, and a broker that answers with something that is not JSON', async () => {
    const token = file('token', 'secret\n');
    const answer = file('answer.json', JSON.stringify({ receipt: { index: 0, recordHash: 'a', timestamp: 1, keyId: 'k', signature: 's' } }));
    for (const argv of [['keys', 'list', '--broker', 'localhost:18431', '--admin-token-file', token], ['receipt', 'verify', answer, '--broker', 'localhost:18431'], ['audit', 'witness', '--broker', 'localhost:18431', '--state', join(base, 'w1'), '--once']]) {
      const r = await run(...argv);
      expect([r.code, r.err], argv.join(' ')).toEqual([2, expect.stringContaining("--broker 'localhost:18431' is not an http(s) URL") as unknown]);
    }
    for (const argv of [['keys', 'list', '--broker', htmlUrl, '--admin-token-file', token], ['audit', 'witness', '--broker', htmlUrl, '--state', join(base, 'w2'), '--once']]) {
      const r = await run(...argv);
      expect([r.code, r.err], argv.join(' ')).toEqual([2, expect.stringMatching(/^error BROKER_UNREACHABLE: \S+ answered 200 with something that is not JSON/) as unknown]);
    }
  });

  it('refuses a witness --state that is a file, or holds files a witness did not write', async () => {
    const notDir = file('state-file', 'x');
    const asFile = await run('audit', 'witness', '--broker', htmlUrl, '--state', notDir, '--once');
    expect([asFile.code, asFile.err]).toEqual([2, expect.stringContaining(`--state '${notDir}' cannot be the witness's directory`) as unknown]);
    const state = join(base, 'state');
    mkdirSync(state);
    writeFileSync(join(state, 'heads.jsonl'), '{"size": 3, "root');
    const truncated = await run('audit', 'witness', '--broker', htmlUrl, '--state', state, '--once');
    expect([truncated.code, truncated.err]).toEqual([2, expect.stringContaining(`${join(state, 'heads.jsonl')} is not what a witness keeps`) as unknown]);
  });

  it('checks simulate’s output files before it runs, and refuses an empty --seed and an agent-mode run of hours', async () => {
    const scenario = join(root, 'examples/scenarios/april-2020.yaml');
    const started = Date.now();
    const toDir = await run('simulate', scenario, '--json', base);
    expect([toDir.code, toDir.err]).toEqual([2, expect.stringContaining(`error UNWRITABLE_FILE: --json '${base}' cannot be written: it is a directory`) as unknown]);
    const nowhere = await run('simulate', scenario, '--report', join(base, 'missing', 'r.html'));
    expect([nowhere.code, nowhere.err]).toEqual([2, expect.stringContaining('is missing or not writable') as unknown]);
    // Refused before simulating: no progress line.
    expect(nowhere.err).not.toContain('simulating');
    expect((await run('simulate', scenario, '--seed', '')).err).toContain("--seed '' must be a whole number");
    const agent = await run('simulate', join(root, 'examples/scenarios/outage-eu.yaml'), '--mode', 'agent');
    expect([agent.code, agent.err]).toEqual([2, expect.stringMatching(/error INVALID_SCENARIO: agent mode samples every join, and this scenario's demand asks for about 90,000,000 joins per run/) as unknown]);
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it('says why a broker or a bridge cannot start: a port in use, a --data that is a file, a missing manifest', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    try {
      const r = await run('serve', '--dev', '--manifest', join(root, 'examples/world.yaml'), '--data', join(base, 'data-serve'), '--listen', `127.0.0.1:${String(port)}`);
      expect([r.code, r.err]).toEqual([2, expect.stringContaining(`error LISTEN_FAILED: cannot listen on 127.0.0.1:${String(port)} (EADDRINUSE): another process already listens there`) as unknown]);
    } finally {
      busy.close();
    }
    const dataFile = file('data-file', 'x');
    const asFile = await run('serve', '--dev', '--manifest', join(root, 'examples/world.yaml'), '--data', dataFile, '--listen', '127.0.0.1:0');
    expect([asFile.code, asFile.err]).toEqual([2, expect.stringContaining(`--data '${dataFile}' cannot be the broker's data directory`) as unknown]);
    const up = await run('up', '--manifest', join(base, 'nope.yaml'));
    expect([up.code, up.err]).toEqual([2, expect.stringContaining("error UNREADABLE_FILE: cannot read manifest") as unknown]);
  });

  it('does not summarize a manifest it could not read as clean, on stdout or in JSON', async () => {
    const missing = join(base, 'nope.yaml');
    const text = await run('check', missing);
    expect([text.code, text.out]).toEqual([2, '']);
    const json = await run('check', '--json', missing);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.out)).toMatchObject({ errors: 0, unreadable: [{ file: missing, code: 'UNREADABLE_FILE' }] });
    const two = await run('check', missing, join(root, 'examples/world.yaml'));
    expect(two.out).toMatch(/2 manifests: 0 errors, \d+ warnings?, 1 not read\n$/);
  });

  it('refuses a capacity or demand beyond a trillion, which would break the sums of the capacity check', async () => {
    const world = readFileSync(join(root, 'examples/world.yaml'), 'utf8');
    const huge = file('huge.yaml', world.replace(/capacity: \d+/, 'capacity: 100000000000000000000'));
    const r = await run('check', huge);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/error GB_INVALID_VALUE: `datacenters\.[a-z-]+\.capacity` is 100000000000000000000; it must be a whole number at least 0 and at most 1000000000000\./);
  });

  it('reports a missing required field once, and names the document it is in', async () => {
    const world = readFileSync(join(root, 'examples/world.yaml'), 'utf8');
    const noZones = file('no-zones.yaml', world.slice(0, world.indexOf('\nzones:')));
    const r = await run('check', '--json', noZones);
    const zones = (JSON.parse(r.out) as { diagnostics: { code: string; message: string }[] }).diagnostics.filter((d) => d.message.includes('zones'));
    expect(zones.map((d) => d.code)).toEqual(['GB_MISSING_FIELD']);
    const scenario = file('scenario.yaml', 'name: x\nmanifest: ../world.yaml\nduration: 1h\ndemand: []\n');
    const s = await run('simulate', scenario);
    expect([s.code, s.err]).toEqual([2, expect.stringContaining("`the scenario` is missing the required field") as unknown]);
  });

  it('refuses what it would otherwise ignore or guess: a stray argument, a flag given twice, a malformed --utilization', async () => {
    const world = join(root, 'examples/world.yaml');
    const stray = await run('route', '--manifest', world, '--country', 'US', 'stray-arg');
    expect([stray.code, stray.err]).toEqual([2, "error USAGE: route: unexpected argument 'stray-arg' (it takes flags only); see 'geobridge route --help'.\n"]);
    const twice = await run('route', '--manifest', world, '--country', 'US', '--country', 'CN');
    expect([twice.code, twice.err]).toEqual([2, "error USAGE: route: --country was given 2 times ('US', 'CN'); give it once; see 'geobridge route --help'.\n"]);
    const table = await run('table', world, world);
    expect([table.code, table.err]).toEqual([2, expect.stringContaining(`unexpected argument '${world}'`) as unknown]);
    const load = await run('route', '--manifest', world, '--country', 'US', '--utilization', 'us-east=0.5=9');
    expect([load.code, load.err]).toEqual([2, expect.stringContaining("--utilization: 'us-east=0.5=9' must be DC=U") as unknown]);
  });
});
