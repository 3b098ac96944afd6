/**
 * The tree and the verifiers over random logs, against the recursive
 * reference (reference.fixture.ts): roots and proofs are the RFC's, every
 * proof verifies, every tampering fails with a reason, and the verifiers
 * accept a changed index or size exactly when the RFC's recursion says the
 * given nodes rebuild the given roots for it. Fuzzed input never throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalBytes, hashEmptyTree, hashLeaf } from './hash.js';
import { MemoryNodeStore, type NodeStore } from './node-store.js';
import { isPowerOfTwo, pathRanges, proofRanges, rebuild, refMth, refNodes, type Range } from './reference.fixture.js';
import { MerkleTree, type TreeHead } from './tree.js';
import { verifyConsistency, verifyInclusion, type ProofFailure, type VerifyResult } from './verify.js';

const REASONS: readonly ProofFailure[] = ['invalid-number', 'malformed', 'index-out-of-range', 'sizes-out-of-order', 'proof-too-long', 'proof-too-short', 'root-mismatch', 'first-root-mismatch', 'second-root-mismatch'];

/** Leaf data, made distinct by an index prefix, so that no two leaves share a hash. */
const leavesArb = fc
  .array(fc.uint8Array({ maxLength: 12 }), { minLength: 1, maxLength: 70 })
  .map((list) => list.map((data, i) => Uint8Array.of(i & 0xff, i >> 8, ...data)));

/** A log, a tree size n ≤ its length, an index < n and an older size m ≤ n. */
const caseArb = fc.tuple(leavesArb, fc.nat(), fc.nat(), fc.nat()).map(([leaves, a, b, c]) => {
  const n = 1 + (a % leaves.length);
  return { leaves, n, index: b % n, m: c % (n + 1) };
});

function treeOf(leaves: readonly Uint8Array[]): MerkleTree {
  const tree = new MerkleTree();
  for (const leaf of leaves) tree.append(leaf);
  return tree;
}

function flipped(bytes: Uint8Array, at: number): Uint8Array {
  const out = bytes.slice();
  out[at % out.length] = (out[at % out.length] ?? 0) ^ (1 + (at % 255));
  return out;
}

function failure(result: VerifyResult): ProofFailure | 'ok' {
  if (result.ok) return 'ok';
  expect(result.message).toMatch(/\w/);
  return result.reason;
}

function known(ranges: readonly Range[], hashes: readonly Uint8Array[]): Map<string, Uint8Array> {
  return new Map(ranges.map(([lo, hi], j) => [`${String(lo)}:${String(hi)}`, hashes[j] as Uint8Array]));
}

/** Whether the nodes rebuild `root` from the leaf at `index` of a tree of `size`, by the recursion of §2.1.3.1. */
function rebuildsInclusion(leafHash: Uint8Array, index: number, size: number, proof: readonly Uint8Array[], root: Uint8Array): boolean {
  if (!(index >= 0 && index < size)) return false;
  const ranges = pathRanges(index, size);
  if (ranges.length !== proof.length) return false;
  const nodes = known(ranges, proof).set(`${String(index)}:${String(index + 1)}`, leafHash);
  const r = rebuild(0, size, nodes);
  return r !== undefined && equalBytes(r, root);
}

/** Whether the nodes rebuild both roots for sizes m → n, by the recursion of §2.1.4.1. */
function rebuildsConsistency(first: TreeHead, second: TreeHead, proof: readonly Uint8Array[]): boolean {
  const [m, n] = [first.size, second.size];
  if (!(m >= 0 && m <= n)) return false;
  if (m === 0 || m === n) return proof.length === 0 && (m > 0 || equalBytes(first.rootHash, hashEmptyTree())) && (m < n || equalBytes(first.rootHash, second.rootHash));
  const ranges = proofRanges(m, n);
  if (ranges.length !== proof.length) return false;
  const nodes = known(ranges, proof);
  if (isPowerOfTwo(m)) nodes.set(`0:${String(m)}`, first.rootHash);
  const fr = rebuild(0, m, nodes);
  const sr = rebuild(0, n, nodes);
  return fr !== undefined && sr !== undefined && equalBytes(fr, first.rootHash) && equalBytes(sr, second.rootHash);
}

describe('the tree against the recursive reference', () => {
  it('every root is MTH, every proof is PATH or PROOF, and each verifies', () => {
    fc.assert(
      fc.property(caseArb, ({ leaves, n, index, m }) => {
        const tree = treeOf(leaves);
        for (let size = 0; size <= leaves.length; size++) expect(tree.head(size).rootHash).toEqual(refMth(leaves.slice(0, size)));
        const head = tree.head(n);
        const path = tree.inclusionProof(index, n);
        expect(path).toEqual(refNodes(leaves, pathRanges(index, n)));
        expect(verifyInclusion(hashLeaf(leaves[index] as Uint8Array), index, path, head)).toEqual({ ok: true });
        const proof = tree.consistencyProof(m, n);
        expect(proof).toEqual(m === 0 || m === n ? [] : refNodes(leaves, proofRanges(m, n)));
        expect(verifyConsistency(tree.head(m), head, proof)).toEqual({ ok: true });
      }),
      { numRuns: 150 },
    );
  });

  it('reads O(log n) stored hashes per root and proof, and writes fewer than 2 per append', () => {
    const store = new MemoryNodeStore();
    let reads = 0;
    let writes = 0;
    const counting: NodeStore = {
      get: (level, index) => {
        reads++;
        return store.get(level, index);
      },
      put: (level, index, hash) => {
        writes++;
        store.put(level, index, hash);
      },
      size: () => store.size(),
    };
    const tree = new MerkleTree(counting);
    for (let i = 0; i < 1000; i++) tree.append(Uint8Array.of(i & 0xff, i >> 8));
    expect(writes).toBeLessThan(2000);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.nat(), fc.nat(), (n, a, b) => {
        const bound = 2 * Math.ceil(Math.log2(n)) + 2;
        for (const call of [() => tree.head(n), () => tree.inclusionProof(a % n, n), () => tree.consistencyProof(b % (n + 1), n)]) {
          reads = 0;
          call();
          expect(reads).toBeLessThanOrEqual(bound);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('tampering with an inclusion proof', () => {
  it('a changed leaf, root or node, or a node dropped or added, fails with its reason', () => {
    fc.assert(
      fc.property(caseArb, fc.nat(), fc.uint8Array({ minLength: 32, maxLength: 32 }), ({ leaves, n, index }, at, extra) => {
        const tree = treeOf(leaves);
        const head = tree.head(n);
        const path = tree.inclusionProof(index, n);
        const leaf = leaves[index] as Uint8Array;
        const changedLeaf = leaf.length > 2 ? flipped(leaf, 2 + (at % (leaf.length - 2))) : Uint8Array.of(...leaf, 0);
        expect(failure(verifyInclusion(hashLeaf(changedLeaf), index, path, head))).toBe('root-mismatch');
        expect(failure(verifyInclusion(hashLeaf(leaf), index, path, { size: n, rootHash: flipped(head.rootHash, at) }))).toBe('root-mismatch');
        path.forEach((_, j) => {
          expect(failure(verifyInclusion(hashLeaf(leaf), index, path.with(j, flipped(path[j] as Uint8Array, at)), head))).toBe('root-mismatch');
          expect(failure(verifyInclusion(hashLeaf(leaf), index, path.toSpliced(j, 1), head))).toBe('proof-too-short');
        });
        for (let j = 0; j <= path.length; j++) expect(failure(verifyInclusion(hashLeaf(leaf), index, path.toSpliced(j, 0, extra), head))).toBe('proof-too-long');
      }),
      { numRuns: 150 },
    );
  });

  it('a changed index or size fails, except where the recursion rebuilds the same root from the same nodes', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: -2, max: 150 }), fc.integer({ min: -2, max: 150 }), ({ leaves, n, index }, otherIndex, otherSize) => {
        const tree = treeOf(leaves);
        const head = tree.head(n);
        const path = tree.inclusionProof(index, n);
        const leafHash = hashLeaf(leaves[index] as Uint8Array);
        for (const [i, size] of [[otherIndex, n], [index, otherSize], [otherIndex, otherSize], [index + 1, n], [index - 1, n], [index, n + 1], [index, n - 1]] as const) {
          const result = verifyInclusion(leafHash, i, path, { size, rootHash: head.rootHash });
          expect(result.ok, `index ${String(i)}, size ${String(size)}`).toBe(rebuildsInclusion(leafHash, i, size, path, head.rootHash));
          // In a tree of one size the path's shape names the index (leaf 4 of 5 and leaf 1 of 2 share one).
          if (size === n && i !== index) expect(result.ok, `index ${String(i)} instead of ${String(index)}`).toBe(false);
          if (!result.ok) expect(REASONS).toContain(failure(result));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('tampering with a consistency proof', () => {
  const properArb = caseArb.filter(({ m, n }) => m > 0 && m < n);

  it('a changed root or node, or a node dropped or added, fails with its reason', () => {
    fc.assert(
      fc.property(properArb, fc.nat(), fc.uint8Array({ minLength: 32, maxLength: 32 }), ({ leaves, n, m }, at, extra) => {
        const tree = treeOf(leaves);
        const [first, second] = [tree.head(m), tree.head(n)];
        const proof = tree.consistencyProof(m, n);
        const roots = ['first-root-mismatch', 'second-root-mismatch'];
        expect(roots).toContain(failure(verifyConsistency({ size: m, rootHash: flipped(first.rootHash, at) }, second, proof)));
        expect(failure(verifyConsistency(first, { size: n, rootHash: flipped(second.rootHash, at) }, proof))).toBe('second-root-mismatch');
        proof.forEach((_, j) => {
          expect(roots).toContain(failure(verifyConsistency(first, second, proof.with(j, flipped(proof[j] as Uint8Array, at)))));
          expect(failure(verifyConsistency(first, second, proof.toSpliced(j, 1)))).toBe('proof-too-short');
        });
        for (let j = 0; j <= proof.length; j++) expect(failure(verifyConsistency(first, second, proof.toSpliced(j, 0, extra)))).toBe('proof-too-long');
      }),
      { numRuns: 150 },
    );
  });

  it('changed sizes fail, except where the recursion rebuilds both roots from the same nodes', () => {
    fc.assert(
      fc.property(properArb, fc.integer({ min: -2, max: 150 }), fc.integer({ min: -2, max: 150 }), ({ leaves, n, m }, otherM, otherN) => {
        const tree = treeOf(leaves);
        const [first, second] = [tree.head(m), tree.head(n)];
        const proof = tree.consistencyProof(m, n);
        for (const [a, b] of [[otherM, n], [m, otherN], [otherM, otherN], [m + 1, n], [m - 1, n], [m, n + 1], [m, n - 1], [0, n], [n, n]] as const) {
          const f = { size: a, rootHash: first.rootHash };
          const s = { size: b, rootHash: second.rootHash };
          const result = verifyConsistency(f, s, proof);
          expect(result.ok, `${String(a)} → ${String(b)}`).toBe(rebuildsConsistency(f, s, proof));
          if (!result.ok) expect(REASONS).toContain(failure(result));
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('verification of arbitrary input', () => {
  const badNumber = fc.oneof(
    fc.constantFrom(Number.NaN, Infinity, -Infinity, -1, -0.5, 0.5, 2 ** 53, 2 ** 64, Number.MAX_VALUE, -(2 ** 53)),
    fc.double().filter((x) => !Number.isSafeInteger(x) || x < 0),
    fc.integer({ max: -1 }),
    fc.bigInt(),
    fc.string(),
    fc.constant(null),
    fc.constant(undefined),
  );
  const count = fc.oneof(fc.nat(200), fc.maxSafeNat(), fc.constantFrom(0, 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1));
  const hash = fc.uint8Array({ minLength: 32, maxLength: 32 });
  const badHash = fc.oneof(fc.uint8Array({ maxLength: 31 }), fc.uint8Array({ minLength: 33, maxLength: 64 }), fc.anything());
  const anyNumber = fc.oneof(count, badNumber);
  const anyHash = fc.oneof(hash, badHash);
  const anyProof = fc.oneof(fc.array(anyHash, { maxLength: 70 }), fc.anything());
  const anyHead = fc.oneof(fc.record({ size: anyNumber, rootHash: anyHash }), fc.anything());
  const isCount = (x: unknown): boolean => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  const isHash32 = (x: unknown): boolean => x instanceof Uint8Array && x.length === 32;
  const isHead = (x: unknown): x is TreeHead => typeof x === 'object' && x !== null && isCount((x as TreeHead).size) && isHash32((x as TreeHead).rootHash);
  const isProof = (x: unknown): boolean => Array.isArray(x) && x.every(isHash32);

  it('malformed input: ok false with invalid-number or malformed, never a throw', () => {
    fc.assert(
      fc.property(anyHash, anyNumber, anyProof, anyHead, anyHead, (leaf, index, proof, head, head2) => {
        fc.pre(!(isHash32(leaf) && isCount(index) && isProof(proof) && isHead(head)));
        const inclusion = verifyInclusion(leaf as Uint8Array, index as number, proof as Uint8Array[], head as TreeHead);
        expect(['invalid-number', 'malformed']).toContain(failure(inclusion));
        if (!(isProof(proof) && isHead(head) && isHead(head2))) {
          expect(['invalid-number', 'malformed']).toContain(failure(verifyConsistency(head as TreeHead, head2 as TreeHead, proof as Uint8Array[])));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('well-formed random claims, sizes up to 2^53 − 1: never a throw, and accepted exactly when the recursion rebuilds the roots', () => {
    fc.assert(
      fc.property(hash, count, fc.array(hash, { maxLength: 60 }), count, hash, count, hash, (leaf, index, proof, size, root, size2, root2) => {
        const head = { size, rootHash: root };
        expect(verifyInclusion(leaf, index, proof, head).ok).toBe(rebuildsInclusion(leaf, index, size, proof, root));
        const second = { size: size2, rootHash: root2 };
        expect(verifyConsistency(head, second, proof).ok).toBe(rebuildsConsistency(head, second, proof));
        expect(verifyConsistency(second, head, proof).ok).toBe(rebuildsConsistency(second, head, proof));
      }),
      { numRuns: 500 },
    );
  });
});
