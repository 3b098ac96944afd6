/**
 * `npm run bench -- merkle`: the transparency log's Merkle tree (src/translog,
 * RFC 9162 §2.1) on the in-memory node store.
 *
 * - Appends/s against hashing the same entries only (SHA-256(0x00 || data),
 *   no tree), same loop shape: `appendRatio = appendsPerSec / leafHashesPerSec`,
 *   the share of the bare leaf-hash throughput the tree keeps. Each timed call
 *   starts a fresh tree, so growing the store's buffers is in the figure.
 * - A log of 10^6 leaves (10^5 with --quick), built for real: inclusion and
 *   consistency proof sizes over 1,000 random indices / older sizes, and the
 *   median µs to generate and to verify one.
 * - 10^8 leaves by computation only: proof lengths from the RFC's recursions
 *   on sizes (no tree, nothing timed).
 */
import { seededRandom } from '../src/sim/random.js';
import { HASH_SIZE, MerkleTree, hashLeaf, verifyConsistency, verifyInclusion } from '../src/translog/index.js';
import type { BenchOptions, LoopSpec } from './harness.js';

const LEAF_BYTES = 256;
const ENTRIES = 4096;
const SAMPLES = 1000;
const SEED = 13;

export function run(opts: BenchOptions): Promise<Record<string, unknown>> {
  return Promise.resolve(measure(opts));
}

function measure(opts: BenchOptions): Record<string, unknown> {
  const random = seededRandom(SEED);
  const entries = Array.from({ length: ENTRIES }, () => Uint8Array.from({ length: LEAF_BYTES }, () => Math.floor(random() * 256)));

  const { append, leafHash } = opts.measureLoops(
    {
      append: {
        warmupOps: ENTRIES,
        run: (ops: number): number => {
          const tree = new MerkleTree();
          for (let i = 0; i < ops; i++) tree.append(entries[i % ENTRIES] as Uint8Array);
          return tree.size;
        },
      },
      leafHash: {
        warmupOps: ENTRIES,
        run: (ops: number): number => {
          let sink = 0;
          for (let i = 0; i < ops; i++) sink += hashLeaf(entries[i % ENTRIES] as Uint8Array)[0] ?? 0;
          return sink;
        },
      },
    },
    'append',
  );

  const leaves = opts.quick ? 100_000 : 1_000_000;
  opts.log(`building a log of ${String(leaves)} leaves…`);
  const started = performance.now();
  const tree = new MerkleTree();
  for (let i = 0; i < leaves; i++) tree.append(entries[i % ENTRIES] as Uint8Array);
  const buildMs = performance.now() - started;
  const head = tree.head();

  const inclusions = Array.from({ length: SAMPLES }, () => {
    const index = Math.floor(random() * leaves);
    return { index, leafHash: hashLeaf(entries[index % ENTRIES] as Uint8Array), proof: tree.inclusionProof(index) };
  });
  const consistencies = Array.from({ length: SAMPLES }, () => {
    const first = 1 + Math.floor(random() * (leaves - 1));
    return { first: tree.head(first), proof: tree.consistencyProof(first) };
  });
  for (const c of inclusions) {
    if (!verifyInclusion(c.leafHash, c.index, c.proof, head).ok) throw new Error(`inclusion proof of ${String(c.index)} does not verify`);
    if (c.proof.length !== pathLength(c.index, leaves)) throw new Error('inclusion proof length differs from the recursion');
  }
  for (const c of consistencies) {
    if (!verifyConsistency(c.first, head, c.proof).ok) throw new Error(`consistency proof from ${String(c.first.size)} does not verify`);
    if (c.proof.length !== proofLength(c.first.size, leaves)) throw new Error('consistency proof length differs from the recursion');
  }

  const cycle = <T>(cases: readonly T[], fn: (c: T) => number): LoopSpec => ({
    warmupOps: cases.length,
    run: (ops: number): number => {
      let sink = 0;
      for (let i = 0; i < ops; i++) sink += fn(cases[i % cases.length] as T);
      return sink;
    },
  });
  const timed = opts.measureLoops(
    {
      proveInclusion: cycle(inclusions, (c) => tree.inclusionProof(c.index).length),
      verifyInclusion: cycle(inclusions, (c) => (verifyInclusion(c.leafHash, c.index, c.proof, head).ok ? 1 : 0)),
      proveConsistency: cycle(consistencies, (c) => tree.consistencyProof(c.first.size).length),
      verifyConsistency: cycle(consistencies, (c) => (verifyConsistency(c.first, head, c.proof).ok ? 1 : 0)),
    },
    'proofs',
  );

  return {
    appendRatio: leafHash.nsPerOp / append.nsPerOp,
    appendsPerSec: 1e9 / append.nsPerOp,
    leafHashesPerSec: 1e9 / leafHash.nsPerOp,
    nsPerAppend: append.nsPerOp,
    nsPerLeafHash: leafHash.nsPerOp,
    leafBytes: LEAF_BYTES,
    log: {
      leaves,
      buildMs,
      inclusion: { ...sizes(inclusions.map((c) => c.proof.length)), proveUs: timed.proveInclusion.nsPerOp / 1000, verifyUs: timed.verifyInclusion.nsPerOp / 1000 },
      consistency: { ...sizes(consistencies.map((c) => c.proof.length)), proveUs: timed.proveConsistency.nsPerOp / 1000, verifyUs: timed.verifyConsistency.nsPerOp / 1000 },
    },
    computed1e8: computed(1e8, random),
  };
}

/** Median and largest proof of a sample, in nodes and bytes. */
function sizes(lengths: readonly number[]): Record<string, number> {
  const sorted = [...lengths].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const max = sorted[sorted.length - 1] ?? 0;
  return { nodesMedian: median, nodesMax: max, bytesMedian: median * HASH_SIZE, bytesMax: max * HASH_SIZE };
}

/** Proof sizes of a log of `leaves`, from the recursions alone: the largest exactly (leaf 0; the worst older size by its bound) and medians over random samples. */
function computed(leaves: number, random: () => number): Record<string, unknown> {
  const inclusion = Array.from({ length: SAMPLES }, () => pathLength(Math.floor(random() * leaves), leaves));
  const consistency = Array.from({ length: SAMPLES }, () => proofLength(1 + Math.floor(random() * (leaves - 1)), leaves));
  const log2 = Math.ceil(Math.log2(leaves));
  return {
    leaves,
    inclusion: { ...sizes(inclusion), nodesMax: pathLength(0, leaves), bytesMax: pathLength(0, leaves) * HASH_SIZE },
    consistency: { ...sizes(consistency), nodesBound: log2 + 1, bytesBound: (log2 + 1) * HASH_SIZE },
  };
}

function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Nodes in PATH(index, D[n]) (§2.1.3.1), by its recursion on sizes. */
function pathLength(index: number, n: number): number {
  let length = 0;
  for (let i = index, size = n; size > 1; length++) {
    const k = splitPoint(size);
    if (i < k) size = k;
    else [i, size] = [i - k, size - k];
  }
  return length;
}

/** Nodes in PROOF(m, D[n]) (§2.1.4.1), 0 < m < n, by the SUBPROOF recursion on sizes. */
function proofLength(m: number, n: number): number {
  let length = 0;
  let b = true;
  for (let mm = m, size = n; mm !== size; length++) {
    const k = splitPoint(size);
    if (mm <= k) size = k;
    else [mm, size, b] = [mm - k, size - k, false];
  }
  return b ? length : length + 1;
}
