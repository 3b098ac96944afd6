/**
 * `npm run bench -- mls`: MLS commit costs in a meeting group (src/mls) of
 * 3, 10, 50 and 100 members, cipher suite 1 through ts-mls 1.6.4 with
 * WebCrypto (Node 20):
 *
 * - `createMs`: the member at leaf 0 creates a commit that updates its path
 *   (what every join and leave commit also carries), encoded for the wire;
 * - `processMs`: the member at leaf 1 processes it, including our credential
 *   check of the committer's leaf (one Ed25519 JWT verification);
 * - `exportMs`: the SFrame base key from the new epoch (MLS-Exporter).
 *
 * Groups are values, so every run starts from the same two states: the
 * figures are per commit, not a chain. Runs are timed one by one (they are
 * async, unlike timeRuns'), create and process interleaved; medians.
 * Setting up the groups (key packages, one add commit, a join that checks
 * every leaf) is not timed.
 */
import { performance } from 'node:perf_hooks';
import {
  addMembers, commitPending, createMeetingGroup, encodeKeyPackage, exportSframeBaseKey, joinFromWelcome, loadCipherSuite, processHandshake,
  type MeetingGroup,
} from '../src/mls/group.js';
import { createTestBroker, newMember, policyOf } from '../src/mls/test-broker.fixture.js';
import type { BenchOptions } from './harness.js';

const SIZES = [3, 10, 50, 100] as const;

interface SizeFigures {
  readonly members: number;
  readonly createMs: number;
  readonly processMs: number;
  readonly exportMs: number;
  readonly commitBytes: number;
}

async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Sets up a group of `size`: the committer (leaf 0) and a receiver (leaf 1). */
async function groupOf(size: number): Promise<{ committer: MeetingGroup; receiver: MeetingGroup }> {
  const cs = await loadCipherSuite();
  const broker = await createTestBroker();
  const policy = policyOf(broker);
  const bundles = [];
  for (let i = 0; i < size; i++) bundles.push(await newMember(cs, broker, `p-${i}`));
  const [first, second, ...rest] = bundles;
  if (first === undefined || second === undefined) throw new Error('a group needs two members');
  const draft = await addMembers(await createMeetingGroup(policy, first, cs), [second, ...rest].map(encodeKeyPackage));
  if (draft.welcome === undefined) throw new Error('expected a Welcome');
  return { committer: draft.group, receiver: await joinFromWelcome(policy, draft.welcome, second, cs) };
}

/** Runs the benchmark. */
export async function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  const warmup = opts.quick ? 1 : 3;
  const runs = opts.quick ? 3 : 15;
  const groups: SizeFigures[] = [];
  for (const size of SIZES) {
    const { committer, receiver } = await groupOf(size);
    const create: number[] = [];
    const process: number[] = [];
    const exported: number[] = [];
    let commitBytes = 0;
    for (let i = 0; i < warmup + runs; i++) {
      let draft: Awaited<ReturnType<typeof commitPending>> | undefined;
      const c = await timeMs(async () => (draft = await commitPending(committer)));
      if (draft === undefined) throw new Error('no commit');
      const commit = draft.commit;
      let next: MeetingGroup | undefined;
      const p = await timeMs(async () => (next = (await processHandshake(receiver, commit)).group));
      if (next === undefined) throw new Error('not processed');
      const after = next;
      const e = await timeMs(() => exportSframeBaseKey(after));
      commitBytes = commit.length;
      if (i < warmup) continue;
      create.push(c);
      process.push(p);
      exported.push(e);
    }
    const figures = { members: size, createMs: opts.median(create), processMs: opts.median(process), exportMs: opts.median(exported), commitBytes };
    opts.log(`${size} members: create ${figures.createMs.toFixed(1)} ms, process ${figures.processMs.toFixed(1)} ms, export ${figures.exportMs.toFixed(2)} ms, ${commitBytes} B`);
    groups.push(figures);
  }
  return { groups };
}
