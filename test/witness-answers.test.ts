// `geobridge audit witness` and `receipt verify` against a broker that answers what no honest one would: a
// head that is not one, a consistency proof that is not one, an older head served late. An alarm (exit 1),
// or a pass where the log proves it, never a crash (exit 70).
import { createServer, type Server } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signInclusionPromise, signTreeHead } from '../src/broker/audit/tree-heads.js';
import { ephemeralLogKey, logPublicJwk } from '../src/broker/log-key.js';
import { MerkleTree } from '../src/translog/index.js';
import { runCli as run } from './run-cli.fixture.js';

const base = mkdtempSync(join(tmpdir(), 'geobridge-witness-answers-'));
const key = await ephemeralLogKey();
const honest = tree('r');
const forked = tree('x');
/** What the fake broker answers at /v1/log/sth and /v1/log/consistency (the latter: a proof between the sizes asked, unless set). */
let sth: unknown;
let consistency: unknown;
let server: Server;
let url: string;
let states = 0;

/** A tree of 10 leaves; `prefix` 'x' changes leaf 1 (a fork of 'r'). */
function tree(prefix: string): MerkleTree {
  const t = new MerkleTree();
  for (let i = 0; i < 10; i++) t.append(new TextEncoder().encode(i === 1 ? `${prefix}1` : `r${String(i)}`));
  return t;
}

const base64 = (hashes: readonly Uint8Array[]): string[] => hashes.map((h) => Buffer.from(h).toString('base64'));

beforeAll(async () => {
  server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    res.setHeader('content-type', 'application/json');
    if (u.pathname === '/v1/log/key') return res.end(JSON.stringify(logPublicJwk(key)));
    if (u.pathname === '/v1/log/sth') return res.end(JSON.stringify(sth));
    if (u.pathname === '/v1/log/consistency') {
      const [from, to] = [Number(u.searchParams.get('from')), Number(u.searchParams.get('to'))];
      return res.end(JSON.stringify(consistency ?? { from, to, proof: base64(honest.consistencyProof(from, to)) }));
    }
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${String((server.address() as { port: number }).port)}`;
});

afterAll(() => {
  server.close();
  rmSync(base, { recursive: true, force: true });
});

/** A witness state that has kept the honest head of 5 records, signed at `at`. */
async function witnessAt5(at = Date.now() - 1000): Promise<string> {
  const state = join(base, `state-${String(++states)}`);
  sth = signTreeHead(key, honest.head(5), at);
  consistency = undefined;
  expect((await run('audit', 'witness', '--broker', url, '--state', state, '--once')).code).toBe(0);
  return state;
}

describe('audit witness, shown answers no honest broker gives', () => {
  it('raises an alarm (exit 1), and keeps what it was shown, for a forked head with a proof that is not one, or a head that is not one', async () => {
    const cases: readonly [string, unknown, unknown][] = [
      ['a proof of null', signTreeHead(key, forked.head(8), Date.now()), { from: 5, to: 8, proof: null }],
      ['no proof at all', signTreeHead(key, forked.head(8), Date.now()), {}],
      ['a proof of numbers', signTreeHead(key, forked.head(8), Date.now()), { from: 5, to: 8, proof: [1] }],
      ['a head of null', null, undefined],
    ];
    for (const [label, head, proof] of cases) {
      const state = await witnessAt5();
      sth = head;
      consistency = proof;
      const r = await run('audit', 'witness', '--broker', url, '--state', state, '--once');
      expect([r.code, r.err], label).toEqual([1, '']);
      expect(r.out, label).toMatch(head === null ? /^ALARM \(not a tree head\): The broker's answer to GET \/v1\/log\/sth does not match the protocol/ : /^ALARM \(unproven\): the log showed a head of 8 records and gave no consistency proof/);
      const kept = JSON.parse(readFileSync(join(state, 'alarms.jsonl'), 'utf8').trim()) as { kind: string; lastKept: { size: number } };
      expect(kept, label).toMatchObject({ kind: head === null ? 'not a tree head' : 'unproven', lastKept: { size: 5 } });
    }
  });

  it('lets an older head served late pass when the log proves it a prefix, and calls one signed in the future an alarm', async () => {
    const keptAt = Date.now() - 1000;
    const state = await witnessAt5(keptAt);
    sth = signTreeHead(key, honest.head(3), keptAt - 500);
    const stale = await run('audit', 'witness', '--broker', url, '--state', state, '--once');
    expect([stale.code, stale.out]).toEqual([0, expect.stringMatching(/: 3 records, an older head than the 5 kept \(served late, as by another broker of the log\); the log proves it a prefix of that one\n$/) as unknown]);
    sth = signTreeHead(key, honest.head(8), Date.now() + 3_600_000);
    const future = await run('audit', 'witness', '--broker', url, '--state', state, '--once');
    expect([future.code, future.out]).toEqual([1, expect.stringMatching(/^ALARM \(time\): the tree head of 8 records is signed \S+, in the future/) as unknown]);
  });
});

describe('receipt verify, shown answers that are not the protocol', () => {
  it('is not verified (exit 1), naming the answer, never an internal error', async () => {
    const decided = { decisionId: 'd1', manifestSha256: 'ab'.repeat(32), country: 'DE', candidates: [] };
    const receipt = { manifestSha256: decided.manifestSha256, ...signInclusionPromise(key, 0, 'cd'.repeat(32), decided, Date.now()) };
    const answer = join(base, 'answer.json');
    writeFileSync(answer, JSON.stringify({ ...decided, ticket: 'eyJ.a.b', receipt }));
    consistency = undefined;
    sth = { size: 'many' };
    const badHead = await run('receipt', 'verify', answer, '--broker', url);
    expect([badHead.code, badHead.out]).toEqual([1, expect.stringMatching(/^not verified: The broker's answer to GET \/v1\/log\/sth does not match the protocol: field '\w+'/) as unknown]);
    // A head that does not cover the record after the wait: said so, not a crash.
    sth = signTreeHead(key, honest.head(0), Date.now());
    const notYet = await run('receipt', 'verify', answer, '--broker', url);
    expect([notYet.code, notYet.out]).toEqual([1, expect.stringMatching(/^not verified: the broker's latest signed tree head \(0 records\) does not hold record 1/) as unknown]);
  }, 30_000);
});
